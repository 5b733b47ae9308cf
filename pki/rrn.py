"""Resident registration numbers (주민등록번호): validation and synthetic test values.

An RRN is ``YYMMDD-SNNNNNC``: the birth date, a digit ``S`` that gives sex and century
(and whether the holder is a foreign resident), five digits and a check digit. kpki only
ever needs the 13 digits; a hyphen after the sixth is accepted on input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .errors import InvalidRRNError

__all__ = ["RRN", "check_digit", "synthetic_rrn"]

_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)

# Seventh digit -> century of the birth year.
_CENTURY = {"9": 1800, "0": 1800, "1": 1900, "2": 1900, "5": 1900, "6": 1900,
            "3": 2000, "4": 2000, "7": 2000, "8": 2000}


def check_digit(first12: str) -> int:
    """The check digit for the first twelve digits of an RRN."""
    total = sum(int(d) * w for d, w in zip(first12, _WEIGHTS, strict=True))
    return (11 - total % 11) % 10


@dataclass(frozen=True)
class RRN:
    """A validated resident registration number.

    ``str()`` and ``repr()`` mask the last six digits so an RRN does not leak into logs;
    ``digits`` gives all thirteen where they are needed (the VID).
    """

    digits: str

    @classmethod
    def parse(cls, text: str) -> RRN:
        """Validate ``text`` (13 digits, optionally ``YYMMDD-NNNNNNN``).

        Raises :class:`InvalidRRNError` with ``rule`` ``"format"``, ``"date"`` or
        ``"check-digit"``.
        """
        if not isinstance(text, str):
            raise TypeError("an RRN is a str")
        raw = text.strip()
        if len(raw) == 14 and raw[6] == "-":
            raw = raw[:6] + raw[7:]
        if len(raw) != 13 or not raw.isascii() or not raw.isdigit():
            raise InvalidRRNError("an RRN has 13 digits (YYMMDD-NNNNNNN)", rule="format")
        century = _CENTURY[raw[6]]
        try:
            dt.date(century + int(raw[0:2]), int(raw[2:4]), int(raw[4:6]))
        except ValueError:
            raise InvalidRRNError(
                "the first six digits of the RRN are not a real date of birth", rule="date"
            ) from None
        if check_digit(raw[:12]) != int(raw[12]):
            raise InvalidRRNError("the RRN's check digit is wrong", rule="check-digit")
        return cls(raw)

    @property
    def birth_date(self) -> dt.date:
        century = _CENTURY[self.digits[6]]
        return dt.date(century + int(self.digits[0:2]), int(self.digits[2:4]),
                       int(self.digits[4:6]))

    def __str__(self) -> str:
        return f"{self.digits[:6]}-{self.digits[6]}******"

    def __repr__(self) -> str:
        return f"RRN('{self}')"


def synthetic_rrn(birth: dt.date, *, female: bool = False, serial: int = 0,
                  foreigner: bool = False) -> RRN:
    """A well-formed RRN for tests: real date, correct check digit, no real person's.

    ``serial`` (0..99999) fills the five middle digits so tests can make many distinct ones.
    """
    if not 0 <= serial <= 99999:
        raise ValueError("serial must be between 0 and 99999")
    if birth.year >= 2000:
        s = 7 if foreigner else 3
    elif birth.year >= 1900:
        s = 5 if foreigner else 1
    else:
        raise ValueError("synthetic RRNs start at 1900")
    s += int(female)
    first12 = f"{birth:%y%m%d}{s}{serial:05d}"
    return RRN(first12 + str(check_digit(first12)))
