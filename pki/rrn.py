"""Resident registration numbers (주민등록번호): validation and synthetic test values.

An RRN is ``YYMMDD-SXXXXXX``: the birth date, a digit ``S`` that gives the century of the
birth, the sex and whether the holder is a foreign resident, then six more digits. kpki only
ever needs the 13 digits; a hyphen after the sixth is accepted on input.

The seventh digit (:data:`SEVENTH_DIGITS`)::

    born      Korean M/F   foreign resident M/F
    1800s     9 / 0        -
    1900s     1 / 2        5 / 6
    2000s     3 / 4        7 / 8

The six digits after it depend on when the number was assigned:

* **before October 2020**: four digits of the registering office (the first two a region,
  00-95), a sequence digit, and a check digit computed from the first twelve
  (:func:`check_digit`: weights 2-9, 2-5, then ``(11 - sum mod 11) mod 10``);
* **from October 2020** (the amended 주민등록법 시행규칙; births, naturalisations and
  changed numbers): six random digits, so *no check digit*.

A number does not say when it was assigned. A birth date from October 2020 on
(:data:`RANDOM_DIGITS_SINCE`) proves the new scheme, and kpki checks no digit there; for
everyone born earlier it checks the digit, since that catches the typos of the numbers test
suites use. A number assigned since to someone born earlier (a late birth registration,
a naturalisation, a changed number) can fail that check: there is no way to tell it from a
typo. kpki computes a foreign resident's check digit like a Korean's, as python-stdnum
does. Synthetic numbers (:func:`synthetic_rrn`, :func:`random_rrns`) always carry a correct
check digit and a region code up to 95, so validators of either era accept them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .entropy import Entropy, below
from .errors import InvalidRRNError

__all__ = [
    "MAX_RANDOM_RRNS",
    "RANDOM_DIGITS_SINCE",
    "RRN",
    "SEVENTH_DIGITS",
    "check_digit",
    "random_rrns",
    "synthetic_rrn",
]

_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)

RANDOM_DIGITS_SINCE = dt.date(2020, 10, 1)
"""Numbers of people born on or after this day were assigned with six random digits after
the seventh, and carry no check digit."""


@dataclass(frozen=True)
class _Seventh:
    century: int
    female: bool
    foreigner: bool


SEVENTH_DIGITS: Mapping[str, _Seventh] = MappingProxyType({
    "9": _Seventh(1800, False, False), "0": _Seventh(1800, True, False),
    "1": _Seventh(1900, False, False), "2": _Seventh(1900, True, False),
    "3": _Seventh(2000, False, False), "4": _Seventh(2000, True, False),
    "5": _Seventh(1900, False, True), "6": _Seventh(1900, True, True),
    "7": _Seventh(2000, False, True), "8": _Seventh(2000, True, True),
})
"""The seventh digit: century of birth, sex, foreign resident."""

_SERIALS = 96_000
"""Middle five digits ``00000``-``95999``: a region code (the first two) up to 95, which
strict validators check."""
MAX_RANDOM_RRNS = _SERIALS
"""How many distinct synthetic numbers one birth date, sex and nationality have."""


def check_digit(first12: str) -> int:
    """The check digit for the first twelve digits of an RRN assigned before October 2020."""
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
        ``"check-digit"`` (then ``found`` and ``expected`` hold the two digits); the
        check digit is checked only for births before :data:`RANDOM_DIGITS_SINCE`.
        """
        if not isinstance(text, str):
            raise TypeError("an RRN is a str")
        raw = text.strip()
        if len(raw) == 14 and raw[6] == "-":
            raw = raw[:6] + raw[7:]
        if len(raw) != 13 or not raw.isascii() or not raw.isdigit():
            raise InvalidRRNError("an RRN has 13 digits (YYMMDD-NNNNNNN)", rule="format")
        rrn = cls(raw)
        try:
            birth = rrn.birth_date
        except ValueError:
            raise InvalidRRNError(
                "the first six digits of the RRN are not a real date of birth", rule="date"
            ) from None
        if birth < RANDOM_DIGITS_SINCE:
            expected, found = check_digit(raw[:12]), int(raw[12])
            if expected != found:
                raise InvalidRRNError(
                    f"the RRN's check digit is {found}, expected {expected} (the last of "
                    "the 13 digits, computed from the first twelve)",
                    rule="check-digit", found=found, expected=expected)
        return rrn

    @property
    def birth_date(self) -> dt.date:
        century = SEVENTH_DIGITS[self.digits[6]].century
        return dt.date(century + int(self.digits[0:2]), int(self.digits[2:4]),
                       int(self.digits[4:6]))

    @property
    def female(self) -> bool:
        return SEVENTH_DIGITS[self.digits[6]].female

    @property
    def foreigner(self) -> bool:
        """A foreign resident's number (seventh digit 5 to 8)."""
        return SEVENTH_DIGITS[self.digits[6]].foreigner

    @property
    def check_digit_applies(self) -> bool:
        """False for births from October 2020 on: their last six digits are random."""
        return self.birth_date < RANDOM_DIGITS_SINCE

    def __str__(self) -> str:
        return f"{self.digits[:6]}-{self.digits[6]}******"

    def __repr__(self) -> str:
        return f"RRN('{self}')"


def _seventh_digit(birth: dt.date, *, female: bool, foreigner: bool) -> str:
    for digit, meaning in SEVENTH_DIGITS.items():
        if meaning == _Seventh(birth.year // 100 * 100, female, foreigner):
            return digit
    who = "a foreign resident" if foreigner else "a Korean"
    first = 1900 if foreigner else 1800
    raise InvalidRRNError(
        f"no resident number for {who} born in {birth.year}: the seventh digit knows births "
        f"from {first} to 2099", rule="date")


def synthetic_rrn(birth: dt.date, *, female: bool = False, serial: int = 0,
                  foreigner: bool = False) -> RRN:
    """A well-formed RRN for tests: real date, correct check digit, no real person's.

    ``serial`` (0..99999) fills the five middle digits so tests can make many distinct ones
    (below 96000 the region code is one strict validators accept). Raises
    :class:`InvalidRRNError` (``rule="date"``) for a birth the seventh digit cannot express.
    """
    if not 0 <= serial <= 99999:
        raise ValueError("serial must be between 0 and 99999")
    first12 = f"{birth:%y%m%d}{_seventh_digit(birth, female=female, foreigner=foreigner)}" \
              f"{serial:05d}"
    return RRN(first12 + str(check_digit(first12)))


def random_rrns(birth: dt.date, *, count: int, entropy: Entropy, female: bool = False,
                foreigner: bool = False) -> list[RRN]:
    """``count`` distinct synthetic RRNs of one birth date, sex and nationality, drawn from
    ``entropy`` (unpredictable with :class:`pki.entropy.SystemEntropy`).

    Raises :class:`ValueError` when ``count`` is not 1 to :data:`MAX_RANDOM_RRNS`, and
    :class:`InvalidRRNError` as :func:`synthetic_rrn` does.
    """
    if not 1 <= count <= MAX_RANDOM_RRNS:
        raise ValueError(f"count must be between 1 and {MAX_RANDOM_RRNS}")
    _seventh_digit(birth, female=female, foreigner=foreigner)
    # The first `count` steps of a Fisher-Yates shuffle of 0..95999, the moved entries kept
    # in a dict: distinct serials in O(count) draws.
    moved: dict[int, int] = {}
    serials = []
    for i in range(count):
        j = i + below(_SERIALS - i, entropy)
        serials.append(moved.get(j, j))
        moved[j] = moved.get(i, i)
    return [synthetic_rrn(birth, female=female, foreigner=foreigner, serial=s)
            for s in serials]
