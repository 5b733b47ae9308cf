"""The OTP centre's part of the SQLite store: OTP tokens (one row per token, whatever
number of institutions it is registered with) and their registrations.

:class:`OtpWritesSQL` is mixed into the store's transaction, :class:`OtpReadsSQL` into the
store. The decisions (windows, replays, the failure count, locking) are
:mod:`pki.bank.otp`'s; these are its records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from .common import SQLiteConnection, opt_ts, parse_ts, ts, ts_or_none

if TYPE_CHECKING:
    from ..bankrecords import OtpRegistration, OtpToken

__all__ = ["OtpReadsSQL", "OtpWritesSQL"]

_TOKEN_COLUMNS = ("serial, kind, person, issuer_id, sealed_seed, issued_at, device, "
                  "activated_at, drift, last_step, failures, locked_at, lost_at, disabled_at")
_TOKEN_COLUMNS_T = ", ".join("t." + c.strip() for c in _TOKEN_COLUMNS.split(","))


def _token(row: Sequence[Any]) -> OtpToken:
    from ..bankrecords import OtpKind, OtpToken

    return OtpToken(serial=row[0], kind=OtpKind(row[1]), person=row[2],
                    issuer_id=int(row[3]), sealed_seed=bytes(row[4]),
                    issued_at=parse_ts(row[5]), device=row[6], activated_at=opt_ts(row[7]),
                    drift=int(row[8]), last_step=None if row[9] is None else int(row[9]),
                    failures=int(row[10]), locked_at=opt_ts(row[11]),
                    lost_at=opt_ts(row[12]), disabled_at=opt_ts(row[13]))


def _registration(row: Sequence[Any]) -> OtpRegistration:
    from ..bankrecords import OtpRegistration

    return OtpRegistration(serial=row[0], institution_id=int(row[1]), customer_id=row[2],
                           at=parse_ts(row[3]))


class _OtpLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def otp_token(self, serial: str) -> OtpToken | None:
        rows = self._query(f"SELECT {_TOKEN_COLUMNS} FROM bank_otp_tokens WHERE serial = ?",
                           (serial,))
        return _token(rows[0]) if rows else None

    def otp_token_of(self, serial: str, *, institution_id: int, customer_id: str
                     ) -> tuple[OtpToken, bool] | None:
        # one statement where a verification read the token, then its registrations
        rows = self._query(
            f"SELECT {_TOKEN_COLUMNS_T}, EXISTS (SELECT 1 FROM bank_otp_registrations r "
            "WHERE r.serial = t.serial AND r.institution_id = ? AND r.customer_id = ?) "
            "FROM bank_otp_tokens t WHERE t.serial = ?", (institution_id, customer_id, serial))
        return (_token(rows[0]), bool(rows[0][-1])) if rows else None

    def otp_registrations(self, serial: str) -> list[OtpRegistration]:
        return [_registration(r) for r in self._query(
            "SELECT serial, institution_id, customer_id, at FROM bank_otp_registrations "
            "WHERE serial = ? ORDER BY at, institution_id", (serial,))]

    def otp_tokens(self, *, person: str | None = None, institution_id: int | None = None,
                   customer_id: str | None = None) -> list[OtpToken]:
        clauses: list[str] = []
        params: list[Any] = []
        if person is not None:
            clauses.append("t.person = ?")
            params.append(person)
        if institution_id is not None or customer_id is not None:
            inner: list[str] = []
            inner_params: list[Any] = []
            for column, value in (("institution_id", institution_id),
                                  ("customer_id", customer_id)):
                if value is not None:
                    inner.append(f"r.{column} = ?")
                    inner_params.append(value)
            clauses.append("EXISTS (SELECT 1 FROM bank_otp_registrations r WHERE "
                           f"r.serial = t.serial AND {' AND '.join(inner)})")
            params.extend(inner_params)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_token(r) for r in self._query(
            f"SELECT {_TOKEN_COLUMNS_T} FROM bank_otp_tokens t {where} ORDER BY t.rowid",
            params)]


class OtpWritesSQL(_OtpLookupsSQL):
    """OTP writes; mixed into the store's transaction."""

    def put_otp_token(self, token: OtpToken) -> None:
        added = self._conn.execute(
            f"INSERT INTO bank_otp_tokens ({_TOKEN_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (token.serial, token.kind.value, token.person, token.issuer_id,
             token.sealed_seed, ts(token.issued_at), token.device,
             ts_or_none(token.activated_at), token.drift, token.last_step, token.failures,
             ts_or_none(token.locked_at), ts_or_none(token.lost_at),
             ts_or_none(token.disabled_at))).rowcount
        if added != 1:
            raise StoreError(f"an OTP token with serial {token.serial} exists already")

    def update_otp_token(self, token: OtpToken) -> None:
        self._conn.execute(
            "UPDATE bank_otp_tokens SET device = ?, activated_at = ?, drift = ?, "
            "last_step = ?, failures = ?, locked_at = ?, lost_at = ?, disabled_at = ? "
            "WHERE serial = ?",
            (token.device, ts_or_none(token.activated_at), token.drift, token.last_step,
             token.failures, ts_or_none(token.locked_at), ts_or_none(token.lost_at),
             ts_or_none(token.disabled_at), token.serial))

    def use_otp_step(self, serial: str, *, step: int, drift: int,
                     activated_at: dt.datetime | None) -> None:
        self._conn.execute(
            "UPDATE bank_otp_tokens SET last_step = ?, drift = ?, failures = 0, "
            "activated_at = ? WHERE serial = ?",
            (step, drift, ts_or_none(activated_at), serial))

    def register_otp(self, registration: OtpRegistration) -> bool:
        return self._conn.execute(
            "INSERT INTO bank_otp_registrations (serial, institution_id, customer_id, at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (registration.serial, registration.institution_id, registration.customer_id,
             ts(registration.at))).rowcount == 1

    def unregister_otp(self, serial: str, institution_id: int) -> bool:
        return self._conn.execute(
            "DELETE FROM bank_otp_registrations WHERE serial = ? AND institution_id = ?",
            (serial, institution_id)).rowcount == 1


class OtpReadsSQL(_OtpLookupsSQL):
    """OTP reads; mixed into the store."""
