"""Sessions and transfers in the SQLite store: simple-authentication keys, login challenges,
internet-banking sessions, and every transfer asked for with its outcome.

:class:`TransferWritesSQL` is mixed into the store's transaction, :class:`TransferReadsSQL`
into the store. The decisions (who may log in, which signature a transfer takes, the order
of its checks) are :mod:`pki.bank.sessions`' and :mod:`pki.bank.transfers`'; these are
their records. A transfer's signature digest is unique among transfers (a partial unique
index), so a signature authorises at most one transfer whatever the code above does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from .bank import CHALLENGE_AND_CARD_COLUMNS, challenge_and_card_of
from .common import SQLiteConnection, opt_ts, parse_ts, ts, ts_or_none
from .devices import DEVICE_COLUMNS, DEVICE_JOINS, DEVICE_ORDER, designated_devices

if TYPE_CHECKING:
    from ..bankrecords import (
        BankSession,
        LoginChallengeRecord,
        SimpleAuthKey,
        TransferRecord,
        TransferState,
    )

__all__ = ["TransferReadsSQL", "TransferWritesSQL"]

_KEY_COLUMNS = "id, institution_id, customer_id, device, public_key, registered_at, removed_at"
_CHALLENGE_COLUMNS = "id, institution_id, customer_id, nonce, issued_at, expires_at, used_at"
_SESSION_COLUMNS = ("id, institution_id, customer_id, method, key_id, started_at, expires_at, "
                    "ended_at")
_TRANSFER_COLUMNS = ("id, institution_id, customer_id, from_account, to_account, amount, "
                     "medium, device, signature, signature_digest, outcome, reason, at")


def _key(row: Sequence[Any]) -> SimpleAuthKey:
    from ..bankrecords import SimpleAuthKey

    return SimpleAuthKey(id=row[0], institution_id=int(row[1]), customer_id=row[2],
                         device=row[3], public_key=bytes(row[4]),
                         registered_at=parse_ts(row[5]), removed_at=opt_ts(row[6]))


def _challenge(row: Sequence[Any]) -> LoginChallengeRecord:
    from ..bankrecords import LoginChallengeRecord

    return LoginChallengeRecord(id=row[0], institution_id=int(row[1]), customer_id=row[2],
                                nonce=row[3], issued_at=parse_ts(row[4]),
                                expires_at=parse_ts(row[5]), used_at=opt_ts(row[6]))


def _session(row: Sequence[Any]) -> BankSession:
    from ..bankrecords import BankSession, SessionMethod

    return BankSession(id=row[0], institution_id=int(row[1]), customer_id=row[2],
                       method=SessionMethod(row[3]), key_id=row[4],
                       started_at=parse_ts(row[5]), expires_at=parse_ts(row[6]),
                       ended_at=opt_ts(row[7]))


def _transfer(row: Sequence[Any]) -> TransferRecord:
    from ..bankrecords import TransferOutcome, TransferRecord

    return TransferRecord(id=row[0], institution_id=int(row[1]), customer_id=row[2],
                          from_account=row[3], to_account=row[4], amount=int(row[5]),
                          medium=row[6], device=row[7], signature=row[8],
                          signature_digest=row[9], outcome=TransferOutcome(row[10]),
                          reason=row[11], at=parse_ts(row[12]))


class _TransferLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def simple_auth_key(self, key_id: str) -> SimpleAuthKey | None:
        rows = self._query(f"SELECT {_KEY_COLUMNS} FROM bank_simple_auth_keys WHERE id = ?",
                           (key_id,))
        return _key(rows[0]) if rows else None

    def login_challenge(self, challenge_id: str) -> LoginChallengeRecord | None:
        rows = self._query(f"SELECT {_CHALLENGE_COLUMNS} FROM bank_login_challenges "
                           "WHERE id = ?", (challenge_id,))
        return _challenge(rows[0]) if rows else None

    def bank_session(self, session_id: str) -> BankSession | None:
        rows = self._query(f"SELECT {_SESSION_COLUMNS} FROM bank_sessions WHERE id = ?",
                           (session_id,))
        return _session(rows[0]) if rows else None

    def transfer_signature_used(self, digest: str) -> bool:
        return bool(self._query("SELECT 1 FROM bank_transfers WHERE signature_digest = ?",
                                (digest,)))

    def transfer_state(self, customer_id: str, *, digest: str, day: dt.date,
                       institution_id: int, from_account: str, to_account: str,
                       challenge_id: str | None = None) -> TransferState | None:
        # one statement where there were five (the replay, the day's sum, the two
        # accounts, the challenge with its card, the devices): what is one row each
        # repeated on each device's row
        from ..bankrecords import TransferState

        rows = self._query(
            "SELECT (SELECT 1 FROM bank_transfers WHERE signature_digest = ?), "
            "(SELECT used FROM bank_limit_days WHERE customer_id = c.id AND day = ?), "
            "(SELECT balance FROM bank_accounts WHERE institution_id = ? AND number = ?), "
            "(SELECT balance FROM bank_accounts WHERE institution_id = ? AND number = ?), "
            f"{CHALLENGE_AND_CARD_COLUMNS}, {DEVICE_COLUMNS} {DEVICE_JOINS} "
            "LEFT JOIN bank_card_challenges h ON h.id = ? "
            "LEFT JOIN bank_cards k ON k.id = h.card_id "
            f"WHERE c.id = ? {DEVICE_ORDER}",
            (digest, day.isoformat(), institution_id, from_account, institution_id,
             to_account, challenge_id, customer_id))
        if not rows:
            return None
        first = rows[0]
        used, balance, payee = first[1:4]
        return TransferState(first[0] is not None, 0 if used is None else int(used),
                             designated_devices(rows),
                             None if balance is None else int(balance),
                             None if payee is None else int(payee),
                             challenge_and_card_of(first[4:]))


class TransferWritesSQL(_TransferLookupsSQL):
    """Session and transfer writes; mixed into the store's transaction."""

    def add_simple_auth_key(self, key: SimpleAuthKey) -> None:
        self._conn.execute(
            f"INSERT INTO bank_simple_auth_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key.id, key.institution_id, key.customer_id, key.device, key.public_key,
             ts(key.registered_at), ts_or_none(key.removed_at)))

    def remove_simple_auth_key(self, key_id: str, *, at: dt.datetime) -> bool:
        removed = self._conn.execute("UPDATE bank_simple_auth_keys SET removed_at = ? "
                                     "WHERE id = ? AND removed_at IS NULL",
                                     (ts(at), key_id)).rowcount == 1
        if removed:
            self._conn.execute("UPDATE bank_sessions SET ended_at = ? WHERE key_id = ? "
                               "AND ended_at IS NULL", (ts(at), key_id))
        return removed

    def add_login_challenge(self, challenge: LoginChallengeRecord) -> None:
        self._conn.execute(
            f"INSERT INTO bank_login_challenges ({_CHALLENGE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (challenge.id, challenge.institution_id, challenge.customer_id, challenge.nonce,
             ts(challenge.issued_at), ts(challenge.expires_at), ts_or_none(challenge.used_at)))

    def use_login_challenge(self, challenge_id: str, *, at: dt.datetime) -> bool:
        return self._conn.execute("UPDATE bank_login_challenges SET used_at = ? WHERE id = ? "
                                  "AND used_at IS NULL", (ts(at), challenge_id)).rowcount == 1

    def add_bank_session(self, session: BankSession) -> None:
        self._conn.execute(
            f"INSERT INTO bank_sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session.id, session.institution_id, session.customer_id, session.method.value,
             session.key_id, ts(session.started_at), ts(session.expires_at),
             ts_or_none(session.ended_at)))

    def end_bank_session(self, session_id: str, *, at: dt.datetime) -> bool:
        return self._conn.execute("UPDATE bank_sessions SET ended_at = ? WHERE id = ? "
                                  "AND ended_at IS NULL", (ts(at), session_id)).rowcount == 1

    def add_transfer(self, record: TransferRecord) -> None:
        added = self._conn.execute(
            f"INSERT INTO bank_transfers ({_TRANSFER_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (record.id, record.institution_id, record.customer_id, record.from_account,
             record.to_account, record.amount, record.medium, record.device,
             record.signature, record.signature_digest, record.outcome.value,
             record.reason, ts(record.at))).rowcount
        if added != 1:
            raise StoreError("this signature authorised another transfer already")


class TransferReadsSQL(_TransferLookupsSQL):
    """Session and transfer reads; mixed into the store."""

    def simple_auth_keys_of(self, customer_id: str) -> list[SimpleAuthKey]:
        return [_key(r) for r in self._query(
            f"SELECT {_KEY_COLUMNS} FROM bank_simple_auth_keys WHERE customer_id = ? "
            "ORDER BY rowid", (customer_id,))]

    def transfer(self, transfer_id: str) -> TransferRecord | None:
        rows = self._query(f"SELECT {_TRANSFER_COLUMNS} FROM bank_transfers WHERE id = ?",
                           (transfer_id,))
        return _transfer(rows[0]) if rows else None

    def transfers_of(self, customer_id: str) -> list[TransferRecord]:
        return [_transfer(r) for r in self._query(
            f"SELECT {_TRANSFER_COLUMNS} FROM bank_transfers WHERE customer_id = ? "
            "ORDER BY rowid", (customer_id,))]
