"""PIN rules of the financial-certificate cloud (korean-pki.md sections 1 and 9).

Exactly six digits, entered twice when set; not all the same digit, not an ascending or
descending run, not the holder's birth date (YYMMDD). A million values is all a PIN has,
so these rules only remove the guesses tried first; the protection is the vault's design.
"""

from __future__ import annotations

import datetime as dt
import itertools

from ..errors import PKIError

__all__ = ["PinPolicyError", "check_pin"]


class PinPolicyError(PKIError, ValueError):
    """A new PIN breaks a rule; ``rule`` names which."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def check_pin(pin: str, *, confirm: str | None = None, birth_date: dt.date | None = None
              ) -> str:
    """Return ``pin`` if it may be set; :class:`PinPolicyError` otherwise (``rule``:
    ``format``, ``mismatch``, ``repeated``, ``sequence``, ``birth-date``)."""
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise PinPolicyError("a PIN is exactly 6 digits", rule="format")
    if confirm is not None and confirm != pin:
        raise PinPolicyError("the two PINs differ", rule="mismatch")
    if len(set(pin)) == 1:
        raise PinPolicyError("a PIN may not repeat one digit", rule="repeated")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        raise PinPolicyError("a PIN may not be an ascending or descending run",
                             rule="sequence")
    if birth_date is not None and pin == birth_date.strftime("%y%m%d"):
        raise PinPolicyError("a PIN may not be the holder's birth date", rule="birth-date")
    return pin
