"""Transfer limits: grades of security media, an institution's limit table, and the
per-KST-day ledger that keeps every customer inside it.

**Grades.** Each kind of medium has a grade in an institution's :class:`LimitTable`, and
the table maps each grade to a per-transfer and a per-day limit in KRW. The default is
Hana's published table (korean-pki.md section 9): hardware and digital OTP 100,000,000 /
500,000,000; mobile OTP 10,000,000 / 50,000,000; security card 10,000,000 / 10,000,000.
``kb`` is the same table in which a private certificate counts like an OTP (KB's own
numbers are not published per medium: *setting*). An institution picks its table with its
settings (:class:`pki.bank.institutions.BankSettings`).

**What remains.** A customer's limits are those of the medium used, which must be usable
(issued, not lost, not locked): losing or locking a medium leaves the limits of the media
that remain (:meth:`LimitLedger.limits_for` names the best of them).

**The ledger.** A charge is decided under the store's write lock and recorded in the same
transaction, with its audit row: the per-transfer limit first, then the day's sum (KST days,
:func:`pki.clock.kst_today`). However many charges arrive at once, the day's sum never
crosses the limit, and a refused charge records nothing (:class:`LimitExceededError` with
``over_transfer_limit`` or ``over_day_limit``). A transfer's authorisation charges inside
its own transaction with :func:`charge_in`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..clock import Clock, kst_today
from ..errors import BankNotFoundError, BankRequestError, LimitExceededError, NoMediumError
from ..faults import fault_point
from ..store import (
    AuditAction,
    BankCustomer,
    BankLookups,
    Institution,
    Store,
    StoreTransaction,
)
from ..store.protocols import OtpLookups
from .media import MediumKind

__all__ = [
    "HANA",
    "KB",
    "LIMIT_TABLES",
    "LimitCharge",
    "LimitLedger",
    "LimitTable",
    "Limits",
    "MediaLookups",
    "MediaSource",
    "card_media",
    "charge_in",
    "check_within",
]

MILLION = 1_000_000


@dataclass(frozen=True)
class Limits:
    """What one grade may transfer, in KRW."""

    per_transfer: int
    per_day: int


@dataclass(frozen=True)
class LimitTable:
    """An institution's grades of media and the limits of each grade (1 is the best)."""

    name: str
    grades: Mapping[MediumKind, int]
    """The grade of each kind of medium the institution accepts."""
    limits: Mapping[int, Limits]

    def limits_of(self, kind: MediumKind) -> Limits | None:
        """The limits of a transfer made with ``kind``; None if the table has no grade
        for it (the institution does not accept that medium)."""
        grade = self.grades.get(kind)
        return None if grade is None else self.limits[grade]

    def best(self, kinds: Iterable[MediumKind]) -> tuple[MediumKind, Limits] | None:
        """The medium among ``kinds`` with the best grade, and its limits."""
        graded = sorted((self.grades[k], k.value, k) for k in set(kinds) if k in self.grades)
        if not graded:
            return None
        kind = graded[0][2]
        return kind, self.limits[graded[0][0]]


_HANA_LIMITS = {1: Limits(100 * MILLION, 500 * MILLION), 2: Limits(10 * MILLION, 50 * MILLION),
                3: Limits(10 * MILLION, 10 * MILLION)}

HANA = LimitTable("hana", {MediumKind.HARDWARE_OTP: 1, MediumKind.DIGITAL_OTP: 1,
                           MediumKind.MOBILE_OTP: 2, MediumKind.SECURITY_CARD: 3},
                  _HANA_LIMITS)
"""Hana's table (card 10M / 10M, mobile OTP 10M / 50M, OTP 100M / 500M KRW)."""

KB = LimitTable("kb", {MediumKind.HARDWARE_OTP: 1, MediumKind.DIGITAL_OTP: 1,
                       MediumKind.PRIVATE_CERTIFICATE: 1, MediumKind.MOBILE_OTP: 2,
                       MediumKind.SECURITY_CARD: 3}, _HANA_LIMITS)
"""KB-like: a private certificate counts like an OTP (the numbers are Hana's: *setting*)."""

LIMIT_TABLES: Mapping[str, LimitTable] = {table.name: table for table in (HANA, KB)}
"""The tables an institution's settings can name."""


class MediaLookups(BankLookups, OtpLookups, Protocol):
    """What a media source reads, through a transaction or the store: the bank's records
    and the OTP centre's."""


MediaSource = Callable[[MediaLookups, BankCustomer], Iterable[MediumKind]]
"""Tells which media of a customer are usable now (issued, not lost, not locked), read
through a transaction or the store. The bank asks every source it has; a new kind of
medium brings its source."""


def card_media(lookups: BankLookups, customer: BankCustomer) -> Iterable[MediumKind]:
    """The customer's security card, if it is active and not locked."""
    card = lookups.active_security_card(customer.id)
    return (MediumKind.SECURITY_CARD,) if card is not None and not card.locked else ()


@dataclass(frozen=True)
class LimitCharge:
    """A charge recorded against a customer's limits."""

    customer_id: str
    amount: int
    medium: MediumKind
    limits: Limits
    day: dt.date
    """The KST day charged."""
    used: int
    """The day's sum, this charge included."""

    @property
    def left_today(self) -> int:
        return self.limits.per_day - self.used


def _limits(table: LimitTable, kinds: Iterable[MediumKind], customer: BankCustomer,
            medium: MediumKind | None) -> tuple[MediumKind, Limits]:
    usable = set(kinds)
    if medium is None:
        best = table.best(usable)
        if best is None:
            raise NoMediumError(customer_id=customer.id)
        return best
    limits = table.limits_of(medium)
    if medium not in usable or limits is None:
        raise NoMediumError(customer_id=customer.id)
    return medium, limits


def _check_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise BankRequestError("an amount is a positive whole number of KRW", field="amount")
    return amount


def check_within(limits: Limits, amount: int, used: int) -> None:
    """Raise :class:`LimitExceededError` unless ``amount`` KRW fits ``limits`` per transfer
    and, with the ``used`` KRW of its KST day, per day."""
    if amount > limits.per_transfer:
        raise LimitExceededError(amount=amount, limit=limits.per_transfer, used=used,
                                 per_day=False)
    if used + amount > limits.per_day:
        raise LimitExceededError(amount=amount, limit=limits.per_day, used=used, per_day=True)


def charge_in(tx: StoreTransaction, customer: BankCustomer, amount: int, *, table: LimitTable,
              sources: Sequence[MediaSource], at: dt.datetime,
              medium: MediumKind | None = None, audited: bool = True,
              used: int | None = None) -> LimitCharge:
    """Charge ``amount`` KRW against the customer's limits inside ``tx`` (under its write
    lock), for a transfer made with ``medium`` (None: the best usable one). Raises
    :class:`LimitExceededError` or :class:`NoMediumError`, having recorded nothing.
    ``audited=False``: no audit row of its own (the caller's row in ``tx`` carries the
    charge: a transfer's). ``used``: the KST day's sum as the caller has read it in
    ``tx`` already (under the same lock, so nothing has changed it since); None reads it."""
    amount = _check_amount(amount)
    kinds = [kind for source in sources for kind in source(tx, customer)]
    used_medium, limits = _limits(table, kinds, customer, medium)
    day = kst_today(at)
    if used is None:
        used = tx.limit_used(customer.id, day)
    check_within(limits, amount, used)
    tx.add_limit_use(customer.id, day, amount)
    if audited:
        tx.audit(AuditAction.BANK_LIMIT_CHARGED, at=at,
                 detail={"customer": customer.id, "amount": amount, "day": day.isoformat(),
                         "medium": used_medium.value})
    fault_point("bank.limit.charged")
    return LimitCharge(customer.id, amount, used_medium, limits, day, used + amount)


class LimitLedger:
    """The limits of one store's customers (see the module doc). ``table_of`` gives an
    institution's table (its settings'), ``sources`` the media that count (by default
    the security card and the OTP tokens: :func:`card_media`,
    :func:`pki.bank.otp.otp_media`)."""

    def __init__(self, store: Store, *, clock: Clock,
                 table_of: Callable[[Institution], LimitTable],
                 sources: Sequence[MediaSource] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.table_of = table_of
        if sources is None:
            from .otp import otp_media  # pki.bank.otp reads this module's MediaLookups

            sources = (card_media, otp_media)
        self.sources = tuple(sources)

    def _customer(self, institution: Institution, customer_id: object) -> BankCustomer:
        customer = (self.store.bank_customer(customer_id) if isinstance(customer_id, str)
                    else None)
        if customer is None or customer.institution_id != institution.id:
            raise BankNotFoundError("customer")
        return customer

    def usable_media(self, institution: Institution, customer_id: str) -> frozenset[MediumKind]:
        customer = self._customer(institution, customer_id)
        return frozenset(k for source in self.sources for k in source(self.store, customer))

    def limits_for(self, institution: Institution, customer_id: str,
                   medium: MediumKind | None = None) -> tuple[MediumKind, Limits]:
        """The limits of a transfer made now with ``medium`` (None: the best usable
        medium), and that medium; :class:`NoMediumError` when none is usable."""
        customer = self._customer(institution, customer_id)
        kinds = [k for source in self.sources for k in source(self.store, customer)]
        return _limits(self.table_of(institution), kinds, customer, medium)

    def used_today(self, institution: Institution, customer_id: str) -> int:
        customer = self._customer(institution, customer_id)
        return self.store.limit_used(customer.id, kst_today(self.clock.now()))

    def charge(self, institution: Institution, customer_id: str, amount: int, *,
               medium: MediumKind | None = None) -> LimitCharge:
        """Charge ``amount`` KRW now, in one transaction (:func:`charge_in`)."""
        customer = self._customer(institution, customer_id)
        table = self.table_of(institution)
        with self.store.transaction() as tx:
            return charge_in(tx, customer, amount, table=table, sources=self.sources,
                             at=self.clock.now(), medium=medium)
