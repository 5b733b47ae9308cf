"""The joint-certificate password rules (korean-pki.md section 1).

At least 10 characters, mixing letters, digits and special characters, as Korean CAs and
banks state the rule (영문, 숫자, 특수문자): *letters* means the Latin letters A-Z and a-z and
*digits* 0-9. Hangul (and any other printable character) may appear in a password but
counts as none of the three, so ``비밀번호는열자리이상1!`` is refused for want of a Latin
letter. The error names the first rule that failed, so a user knows what to change.

A password outside ASCII opens a ``signPri.key`` (its UTF-8 bytes are what is hashed),
but Java's and Windows' PKCS #12 readers refuse a PFX protected by one; see
:func:`is_portable_pfx_password`.
"""

from __future__ import annotations

import string

from ..errors import PasswordPolicyError

__all__ = ["MIN_LENGTH", "check_password", "is_portable_pfx_password"]

MIN_LENGTH = 10
_LATIN_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)


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
    if not any(c in _LATIN_LETTERS for c in password):
        raise PasswordPolicyError(
            "the password needs at least one Latin letter (A-Z or a-z; Hangul does not "
            "count as a letter)", rule="letters")
    if not any(c in _DIGITS for c in password):
        raise PasswordPolicyError("the password needs at least one digit (0-9)",
                                  rule="digits")
    if not any(not c.isalnum() and not c.isspace() for c in password):
        raise PasswordPolicyError(
            "the password needs at least one special character (e.g. ! @ # $ %)",
            rule="special")
    return password


def is_portable_pfx_password(password: str) -> bool:
    """Whether every PKCS #12 reader opens a PFX under ``password``: Java's refuses a
    password that is not ASCII ("Password is not ASCII"), and Windows' import fails too."""
    return password.isascii()
