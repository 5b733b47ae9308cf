"""Issuance fees as data: what a certificate costs at a bank's registration authority.

A fee is charged to the account the flow verified, in the transaction that issues the
certificate (:mod:`pki.ra.joint`), so a certificate is issued exactly when it is paid for.
The numbers are the banks' published prices at the time of writing, and *settings*: a flow
takes a :class:`FeeTable` (:data:`DEFAULT_FEES` unless given), so a test set-up can price
things otherwise without touching code.

* A general-purpose (범용) joint certificate: 4,400 KRW including VAT (4,000 + 10 %), for a
  first issuance, a reissue and a renewal alike.
* A banking-only (은행·보험용) joint certificate: free.
* A financial certificate (금융인증서): free.
* A private certificate: free.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DEFAULT_FEES", "FeeTable", "Operation"]


class Operation(enum.Enum):
    """What a flow does with a certificate."""

    ISSUE = "issue"
    REISSUE = "reissue"
    RENEW = "renew"


_PRICES: Mapping[str, int] = MappingProxyType({
    "joint-general": 4_400,
    "joint-banking": 0,
    "financial-personal": 0,
    "financial-business": 0,
    "private": 0,
})
"""KRW including VAT, by profile name (:data:`pki.profiles.PROFILES`)."""


@dataclass(frozen=True)
class FeeTable:
    """Fees in KRW (VAT included) by profile name and operation. ``prices`` gives one price
    for every operation on a profile; ``exceptions`` a price for one (profile, operation)
    pair. A profile not listed is free."""

    prices: Mapping[str, int] = field(default_factory=lambda: _PRICES)
    exceptions: Mapping[tuple[str, Operation], int] = field(
        default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for value in (*self.prices.values(), *self.exceptions.values()):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError("a fee is a whole number of KRW, 0 or more")

    def fee(self, profile: str, operation: Operation) -> int:
        """What ``operation`` on a certificate of ``profile`` costs (KRW, VAT included)."""
        found = self.exceptions.get((profile, operation))
        return found if found is not None else self.prices.get(profile, 0)


DEFAULT_FEES = FeeTable()
