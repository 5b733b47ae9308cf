"""The joint-certificate password rules (korean-pki.md section 1).

At least 10 characters, mixing letters, digits and special characters. The error names
the first rule that failed, so a user knows what to change.
"""

from __future__ import annotations

from ..errors import PasswordPolicyError

__all__ = ["MIN_LENGTH", "check_password"]

MIN_LENGTH = 10


def check_password(password: str) -> str:
    """Return ``password`` if it follows the rules; :class:`PasswordPolicyError` otherwise
    (``rule`` is ``length``, ``letters``, ``digits``, ``special`` or ``characters``)."""
    if not isinstance(password, str):
        raise TypeError("a password is a str")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(
            f"the password has {len(password)} characters; at least {MIN_LENGTH} are needed",
            rule="length")
    if any(not c.isprintable() for c in password):
        raise PasswordPolicyError("the password contains control characters",
                                  rule="characters")
    if not any(c.isalpha() for c in password):
        raise PasswordPolicyError("the password needs at least one letter", rule="letters")
    if not any(c.isdigit() for c in password):
        raise PasswordPolicyError("the password needs at least one digit", rule="digits")
    if not any(not c.isalnum() and not c.isspace() for c in password):
        raise PasswordPolicyError(
            "the password needs at least one special character (e.g. ! @ # $ %)",
            rule="special")
    return password
