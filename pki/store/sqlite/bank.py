"""The bank's part of the SQLite store (migrations 9 and 19): institution codes and settings,
customers, accounts, security cards and their challenges, and the daily limit ledger.

:class:`BankWritesSQL` is mixed into the store's transaction, so bank rows commit with the
audit rows of the same unit of work; :class:`BankReadsSQL` into the store. The decisions
(limits, locking, isolation) are the bank's (:mod:`pki.bank`); these are its records.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from .common import SQLiteConnection, opt_ts, parse_ts, ts, ts_or_none

if TYPE_CHECKING:
    from ..bankrecords import (
        Account,
        BankCustomer,
        CardChallenge,
        Carrier,
        LineType,
        SecurityCardRecord,
    )
    from ..cloudrecords import Institution

__all__ = ["CHALLENGE_AND_CARD_COLUMNS", "INSTITUTION_COLUMNS", "BankReadsSQL", "BankWritesSQL",
           "challenge_and_card_of", "institution_of"]

INSTITUTION_COLUMNS = "id, name, created_at, code, settings"
_CUSTOMER_COLUMNS = ("id, institution_id, name, rrn, phone, carrier, mvno, line_type, "
                     "created_at, signed_up_at, activated_at")
_ACCOUNT_COLUMNS = ("institution_id, number, customer_id, password_hash, balance, opened_at, "
                    "failures, locked_at")
_CARD_COLUMNS = ("id, institution_id, customer_id, serial, codes, issued_at, failures, "
                 "locked_at, retired_at")
_CHALLENGE_COLUMNS = "id, card_id, first, second, issued_at, expires_at, answered_at"
_CHALLENGE_COLUMNS_H = ", ".join("h." + c for c in _CHALLENGE_COLUMNS.split(", "))
_CHALLENGE_WIDTH = _CHALLENGE_COLUMNS.count(",") + 1
CHALLENGE_AND_CARD_COLUMNS = ", ".join(
    [_CHALLENGE_COLUMNS_H, *("k." + c for c in _CARD_COLUMNS.split(", "))])
"""A card challenge (``h``) and its card (``k``) on one row:
:func:`challenge_and_card_of` reads them."""
_CUSTOMER_COLUMNS_C = ", ".join("c." + c for c in _CUSTOMER_COLUMNS.split(", "))


def institution_of(row: Sequence[Any]) -> Institution:
    """An institution from a row of :data:`INSTITUTION_COLUMNS`."""
    from ..cloudrecords import Institution

    return Institution(int(row[0]), str(row[1]), parse_ts(row[2]), row[3],
                       json.loads(row[4]) if row[4] else {})


def _customer(row: Sequence[Any]) -> BankCustomer:
    from ..bankrecords import BankCustomer

    return BankCustomer(id=row[0], institution_id=int(row[1]), name=row[2], rrn=row[3],
                        phone=row[4], carrier=_carrier(row[5]), mvno=row[6],
                        line_type=_line_type(row[7]), created_at=parse_ts(row[8]),
                        signed_up_at=opt_ts(row[9]), activated_at=opt_ts(row[10]))


# a customer's carrier and line type by their stored names, from a cache: Enum's own
# look-up by value is a call through its metaclass (0.7 us each, in every transfer)
@functools.lru_cache(maxsize=64)
def _carrier(value: str) -> Carrier:
    from ..bankrecords import Carrier

    return Carrier(value)


@functools.lru_cache(maxsize=64)
def _line_type(value: str) -> LineType:
    from ..bankrecords import LineType

    return LineType(value)


def _account(row: Sequence[Any]) -> Account:
    from ..bankrecords import Account

    return Account(institution_id=int(row[0]), number=row[1], customer_id=row[2],
                   password_hash=row[3], balance=int(row[4]), opened_at=parse_ts(row[5]),
                   failures=int(row[6]), locked_at=opt_ts(row[7]))


def _card(row: Sequence[Any]) -> SecurityCardRecord:
    from ..bankrecords import SecurityCardRecord

    return SecurityCardRecord(id=row[0], institution_id=int(row[1]), customer_id=row[2],
                              serial=row[3], codes=_codes(row[4]),
                              issued_at=parse_ts(row[5]), failures=int(row[6]),
                              locked_at=opt_ts(row[7]), retired_at=opt_ts(row[8]))


@functools.lru_cache(maxsize=256)
def _codes(text: str) -> tuple[str, ...]:
    # the stored codes (4 digits each, run together) cut once per card, not once per
    # challenge read: 35 slices were 4.5 us of every transfer answered with a card
    return tuple(text[i:i + 4] for i in range(0, len(text), 4))


_fromisoformat = dt.datetime.fromisoformat
"""A stored time (:func:`pki.store.sqlite.common.ts`; its Z read since Python 3.11)."""


def _challenge(row: Sequence[Any]) -> CardChallenge:
    from ..bankrecords import CardChallenge

    # a challenge's times are its own (no other row repeats them): read without
    # parse_ts's cache, whose miss cost 1.9 us where the parse alone costs 0.8
    return CardChallenge(id=row[0], card_id=row[1], first=int(row[2]), second=int(row[3]),
                         issued_at=_fromisoformat(row[4]), expires_at=_fromisoformat(row[5]),
                         answered_at=None if row[6] is None else _fromisoformat(row[6]))


def challenge_and_card_of(row: Sequence[Any]) -> tuple[CardChallenge, SecurityCardRecord] | None:
    """The challenge and card of :data:`CHALLENGE_AND_CARD_COLUMNS` (the row's first
    columns); None when they are NULL (an outer join found none)."""
    if row[0] is None:
        return None
    return _challenge(row[:_CHALLENGE_WIDTH]), _card(row[_CHALLENGE_WIDTH:])


class _BankLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def institution(self, institution_id: int) -> Institution | None:
        rows = self._query(f"SELECT {INSTITUTION_COLUMNS} FROM institutions WHERE id = ?",
                           (institution_id,))
        return institution_of(rows[0]) if rows else None

    def institution_by_code(self, code: str) -> Institution | None:
        rows = self._query(f"SELECT {INSTITUTION_COLUMNS} FROM institutions WHERE code = ?",
                           (code,))
        return institution_of(rows[0]) if rows else None

    def bank_customer(self, customer_id: str) -> BankCustomer | None:
        rows = self._query(f"SELECT {_CUSTOMER_COLUMNS} FROM bank_customers WHERE id = ?",
                           (customer_id,))
        return _customer(rows[0]) if rows else None

    def bank_customer_and_holder(self, customer_id: str, institution_id: int, number: str
                                 ) -> tuple[BankCustomer, str | None] | None:
        rows = self._query(f"SELECT {_CUSTOMER_COLUMNS_C}, a.customer_id FROM bank_customers c "
                           "LEFT JOIN bank_accounts a ON a.institution_id = ? AND a.number = ? "
                           "WHERE c.id = ?", (institution_id, number, customer_id))
        return (_customer(rows[0]), rows[0][-1]) if rows else None

    def bank_customer_by_rrn(self, institution_id: int, rrn: str) -> BankCustomer | None:
        rows = self._query(f"SELECT {_CUSTOMER_COLUMNS} FROM bank_customers "
                           "WHERE institution_id = ? AND rrn = ?", (institution_id, rrn))
        return _customer(rows[0]) if rows else None

    def account(self, institution_id: int, number: str) -> Account | None:
        rows = self._query(f"SELECT {_ACCOUNT_COLUMNS} FROM bank_accounts "
                           "WHERE institution_id = ? AND number = ?", (institution_id, number))
        return _account(rows[0]) if rows else None

    def security_card(self, card_id: str) -> SecurityCardRecord | None:
        rows = self._query(f"SELECT {_CARD_COLUMNS} FROM bank_cards WHERE id = ?", (card_id,))
        return _card(rows[0]) if rows else None

    def active_security_card(self, customer_id: str) -> SecurityCardRecord | None:
        rows = self._query(f"SELECT {_CARD_COLUMNS} FROM bank_cards WHERE customer_id = ? "
                           "AND retired_at IS NULL", (customer_id,))
        return _card(rows[0]) if rows else None

    def card_challenge(self, challenge_id: str) -> CardChallenge | None:
        rows = self._query(f"SELECT {_CHALLENGE_COLUMNS} FROM bank_card_challenges "
                           "WHERE id = ?", (challenge_id,))
        return _challenge(rows[0]) if rows else None

    def card_challenge_and_card(self, challenge_id: str
                                ) -> tuple[CardChallenge, SecurityCardRecord] | None:
        rows = self._query(f"SELECT {CHALLENGE_AND_CARD_COLUMNS} "
                           "FROM bank_card_challenges h JOIN bank_cards k ON k.id = h.card_id "
                           "WHERE h.id = ?", (challenge_id,))
        return challenge_and_card_of(rows[0]) if rows else None

    def accounts_numbered(self, institution_id: int, numbers: Sequence[str]
                          ) -> dict[str, Account]:
        if not numbers:
            return {}
        marks = ", ".join("?" * len(numbers))
        rows = self._query(f"SELECT {_ACCOUNT_COLUMNS} FROM bank_accounts "
                           f"WHERE institution_id = ? AND number IN ({marks})",
                           (institution_id, *numbers))
        return {account.number: account for account in map(_account, rows)}

    def limit_used(self, customer_id: str, day: dt.date) -> int:
        # the day's total, kept with every charge (add_limit_use): one row, however many
        # charges the day has
        rows = self._query("SELECT used FROM bank_limit_days WHERE customer_id = ? AND day = ?",
                           (customer_id, day.isoformat()))
        return int(rows[0][0]) if rows else 0


class BankWritesSQL(_BankLookupsSQL):
    """Bank writes; mixed into the store's transaction."""

    def set_institution_settings(self, institution_id: int, settings: Mapping[str, Any]
                                 ) -> None:
        self._conn.execute("UPDATE institutions SET settings = ? WHERE id = ?",
                           (json.dumps(dict(settings), sort_keys=True), institution_id))

    def add_bank_customer(self, customer: BankCustomer) -> None:
        added = self._conn.execute(
            f"INSERT INTO bank_customers ({_CUSTOMER_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (customer.id, customer.institution_id, customer.name, customer.rrn,
             customer.phone, customer.carrier.value, customer.mvno,
             customer.line_type.value, ts(customer.created_at),
             ts_or_none(customer.signed_up_at),
             ts_or_none(customer.activated_at))).rowcount
        if added != 1:
            raise StoreError("the institution has a customer with this RRN already")

    def set_customer_line(self, customer_id: str, *, phone: str, carrier: Carrier,
                          mvno: str | None, line_type: LineType) -> None:
        self._conn.execute("UPDATE bank_customers SET phone = ?, carrier = ?, mvno = ?, "
                           "line_type = ? WHERE id = ?",
                           (phone, carrier.value, mvno, line_type.value, customer_id))

    def set_enrolment(self, customer_id: str, *, signed_up_at: dt.datetime | None,
                      activated_at: dt.datetime | None) -> None:
        self._conn.execute("UPDATE bank_customers SET signed_up_at = ?, activated_at = ? "
                           "WHERE id = ?",
                           (ts_or_none(signed_up_at),
                            ts_or_none(activated_at), customer_id))

    def add_account(self, account: Account) -> None:
        added = self._conn.execute(
            f"INSERT INTO bank_accounts ({_ACCOUNT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (account.institution_id, account.number, account.customer_id,
             account.password_hash, account.balance, ts(account.opened_at),
             account.failures,
             ts_or_none(account.locked_at))).rowcount
        if added != 1:
            raise StoreError(f"the account number {account.number} is taken")

    def set_account_failures(self, institution_id: int, number: str, failures: int, *,
                             locked_at: dt.datetime | None) -> None:
        self._conn.execute("UPDATE bank_accounts SET failures = ?, locked_at = ? "
                           "WHERE institution_id = ? AND number = ?",
                           (failures, ts_or_none(locked_at),
                            institution_id, number))

    def set_account_password(self, institution_id: int, number: str, password_hash: str
                             ) -> None:
        self._conn.execute("UPDATE bank_accounts SET password_hash = ? WHERE institution_id "
                           "= ? AND number = ?", (password_hash, institution_id, number))

    def set_balance(self, institution_id: int, number: str, balance: int) -> None:
        self._conn.execute("UPDATE bank_accounts SET balance = ? WHERE institution_id = ? "
                           "AND number = ?", (balance, institution_id, number))

    def set_balances(self, institution_id: int, balances: Mapping[str, int]) -> None:
        # one plain UPDATE an account: SQLite runs two of them in less time than one UPDATE
        # of both (a CASE over the numbers, WHERE number IN (...))
        for number, balance in balances.items():
            self.set_balance(institution_id, number, balance)

    def add_security_card(self, record: SecurityCardRecord) -> None:
        added = self._conn.execute(
            f"INSERT INTO bank_cards ({_CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (record.id, record.institution_id, record.customer_id, record.serial,
             "".join(record.codes), ts(record.issued_at), record.failures,
             ts_or_none(record.locked_at),
             ts_or_none(record.retired_at))).rowcount
        if added != 1:
            raise StoreError("the card serial is taken, or the customer has an active card")

    def retire_security_card(self, card_id: str, *, at: dt.datetime) -> bool:
        return self._conn.execute("UPDATE bank_cards SET retired_at = ? WHERE id = ? AND "
                                  "retired_at IS NULL", (ts(at), card_id)).rowcount == 1

    def set_card_failures(self, card_id: str, failures: int, *,
                          locked_at: dt.datetime | None) -> None:
        self._conn.execute("UPDATE bank_cards SET failures = ?, locked_at = ? WHERE id = ?",
                           (failures, ts_or_none(locked_at), card_id))

    def add_card_challenge(self, challenge: CardChallenge) -> None:
        self._conn.execute(
            f"INSERT INTO bank_card_challenges ({_CHALLENGE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (challenge.id, challenge.card_id, challenge.first, challenge.second,
             ts(challenge.issued_at), ts(challenge.expires_at),
             ts_or_none(challenge.answered_at)))

    def answer_card_challenge(self, challenge_id: str, *, at: dt.datetime) -> bool:
        return self._conn.execute("UPDATE bank_card_challenges SET answered_at = ? WHERE id = ? "
                                  "AND answered_at IS NULL", (ts(at), challenge_id)
                                  ).rowcount == 1

    def add_limit_use(self, customer_id: str, day: dt.date, amount: int) -> None:
        # the day's total only: each charge is told by its audit row (a transfer's names
        # the limit charged), so the old per-charge rows of bank_limit_use are no more
        # written (one statement and two pages fewer in every transfer's commit)
        self._conn.execute("INSERT INTO bank_limit_days (customer_id, day, used) VALUES (?, ?, ?) "
                           "ON CONFLICT (customer_id, day) "
                           "DO UPDATE SET used = bank_limit_days.used + excluded.used",
                           (customer_id, day.isoformat(), amount))


class BankReadsSQL(_BankLookupsSQL):
    """Bank reads; mixed into the store."""

    def bank_customers(self, institution_id: int) -> list[BankCustomer]:
        return [_customer(r) for r in self._query(
            f"SELECT {_CUSTOMER_COLUMNS} FROM bank_customers WHERE institution_id = ? "
            "ORDER BY rowid", (institution_id,))]

    def accounts_of(self, customer_id: str) -> list[Account]:
        return [_account(r) for r in self._query(
            f"SELECT {_ACCOUNT_COLUMNS} FROM bank_accounts WHERE customer_id = ? "
            "ORDER BY rowid", (customer_id,))]

    def security_cards_of(self, customer_id: str) -> list[SecurityCardRecord]:
        return [_card(r) for r in self._query(
            f"SELECT {_CARD_COLUMNS} FROM bank_cards WHERE customer_id = ? ORDER BY rowid",
            (customer_id,))]
