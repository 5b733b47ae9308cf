"""Phone verification's part of the SQLite store (migrations 11 and 12): the carriers'
lines, verifications with their current code, every code sent, every request that did not
match its line, and the carrier app of push protection.

:class:`PhoneWritesSQL` is mixed into the store's transaction, :class:`PhoneReadsSQL` into
the store. The decisions (eligibility, limits, counting) are :mod:`pki.bank.phone`'s;
these are its records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from .common import SQLiteConnection, opt_ts, parse_ts, ts, ts_or_none

if TYPE_CHECKING:
    from ..bankrecords import (
        PhoneApp,
        PhoneVerificationRecord,
        SubscriberLine,
    )
    from ..cloudrecords import Via

__all__ = ["PhoneReadsSQL", "PhoneWritesSQL"]

_LINE_COLUMNS = ("phone, carrier, mvno, name, rrn, line_type, state, other_name, ars_blocked, "
                 "added_at")
_VERIFICATION_COLUMNS = ("id, institution_id, phone, method, via, name, rrn7, code_hash, "
                         "expires_at, created_at, tries, sends, verified_at, ci, di")
_APP_COLUMNS = "phone, password_hash, enrolled_at, failures, locked_at"


def _line(row: Sequence[Any]) -> SubscriberLine:
    from ..bankrecords import Carrier, LineState, LineType, SubscriberLine

    return SubscriberLine(phone=row[0], carrier=Carrier(row[1]), mvno=row[2], name=row[3],
                          rrn=row[4], line_type=LineType(row[5]), state=LineState(row[6]),
                          other_name=bool(row[7]), ars_blocked=bool(row[8]),
                          added_at=parse_ts(row[9]))


def _verification(row: Sequence[Any]) -> PhoneVerificationRecord:
    from ..bankrecords import PhoneVerificationRecord, VerificationMethod
    from ..cloudrecords import Via

    return PhoneVerificationRecord(
        id=row[0], institution_id=int(row[1]), phone=row[2],
        method=VerificationMethod(row[3]), via=Via(row[4]), name=row[5], rrn7=row[6],
        code_hash=row[7], expires_at=parse_ts(row[8]), created_at=parse_ts(row[9]),
        tries=int(row[10]), sends=int(row[11]), verified_at=opt_ts(row[12]), ci=row[13],
        di=row[14])


def _app(row: Sequence[Any]) -> PhoneApp:
    from ..bankrecords import PhoneApp

    return PhoneApp(phone=row[0], password_hash=row[1], enrolled_at=parse_ts(row[2]),
                    failures=int(row[3]), locked_at=opt_ts(row[4]))


class _PhoneLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def subscriber_line(self, phone: str) -> SubscriberLine | None:
        rows = self._query(f"SELECT {_LINE_COLUMNS} FROM phone_lines WHERE phone = ?",
                           (phone,))
        return _line(rows[0]) if rows else None

    def phone_verification(self, verification_id: str) -> PhoneVerificationRecord | None:
        rows = self._query(f"SELECT {_VERIFICATION_COLUMNS} FROM phone_verifications "
                           "WHERE id = ?", (verification_id,))
        return _verification(rows[0]) if rows else None

    def phone_sends(self, phone: str, since: dt.datetime) -> int:
        return int(self._query("SELECT count(*) FROM phone_sends WHERE phone = ? AND at >= ?",
                               (phone, ts(since)))[0][0])

    def phone_app(self, phone: str) -> PhoneApp | None:
        rows = self._query(f"SELECT {_APP_COLUMNS} FROM phone_apps WHERE phone = ?", (phone,))
        return _app(rows[0]) if rows else None

    def phone_mismatches(self, phone: str, since: dt.datetime) -> int:
        return int(self._query("SELECT count(*) FROM phone_mismatches WHERE phone = ? AND "
                               "at >= ?", (phone, ts(since)))[0][0])


class PhoneWritesSQL(_PhoneLookupsSQL):
    """Phone-verification writes, inside the store's transaction."""

    def add_subscriber_line(self, line: SubscriberLine) -> None:
        added = self._conn.execute(
            f"INSERT INTO phone_lines ({_LINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (line.phone, line.carrier.value, line.mvno, line.name, line.rrn,
             line.line_type.value, line.state.value, int(line.other_name),
             int(line.ars_blocked), ts(line.added_at))).rowcount
        if added != 1:
            raise StoreError(f"the phone {line.phone} has a line already")

    def update_subscriber_line(self, line: SubscriberLine) -> None:
        self._conn.execute(
            "UPDATE phone_lines SET carrier = ?, mvno = ?, name = ?, rrn = ?, line_type = ?, "
            "state = ?, other_name = ?, ars_blocked = ? WHERE phone = ?",
            (line.carrier.value, line.mvno, line.name, line.rrn, line.line_type.value,
             line.state.value, int(line.other_name), int(line.ars_blocked), line.phone))

    def add_phone_verification(self, record: PhoneVerificationRecord) -> None:
        self._conn.execute(
            f"INSERT INTO phone_verifications ({_VERIFICATION_COLUMNS}) VALUES (?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.institution_id, record.phone, record.method.value,
             record.via.value, record.name, record.rrn7, record.code_hash,
             ts(record.expires_at), ts(record.created_at), record.tries, record.sends,
             ts_or_none(record.verified_at), record.ci,
             record.di))
        self._conn.execute("INSERT INTO phone_sends (phone, verification_id, at) VALUES "
                           "(?, ?, ?)", (record.phone, record.id, ts(record.created_at)))

    def resend_phone_code(self, verification_id: str, code_hash: str, *,
                          expires_at: dt.datetime, at: dt.datetime) -> None:
        self._conn.execute("UPDATE phone_verifications SET code_hash = ?, expires_at = ?, "
                           "tries = 0, sends = sends + 1 WHERE id = ?",
                           (code_hash, ts(expires_at), verification_id))
        self._conn.execute("INSERT INTO phone_sends (phone, verification_id, at) SELECT "
                           "phone, id, ? FROM phone_verifications WHERE id = ?",
                           (ts(at), verification_id))

    def count_phone_mismatch(self, phone: str, institution_id: int, *, at: dt.datetime
                             ) -> None:
        self._conn.execute("INSERT INTO phone_mismatches (phone, institution_id, at) VALUES "
                           "(?, ?, ?)", (phone, institution_id, ts(at)))

    def count_phone_try(self, verification_id: str) -> None:
        self._conn.execute("UPDATE phone_verifications SET tries = tries + 1 WHERE id = ?",
                           (verification_id,))

    def verify_phone(self, verification_id: str, *, at: dt.datetime, ci: str,
                     di: str) -> None:
        self._conn.execute("UPDATE phone_verifications SET verified_at = ?, ci = ?, di = ? "
                           "WHERE id = ?", (ts(at), ci, di, verification_id))

    def put_phone_app(self, app: PhoneApp) -> None:
        self._conn.execute(
            f"INSERT INTO phone_apps ({_APP_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET password_hash = excluded.password_hash, "
            "enrolled_at = excluded.enrolled_at, failures = excluded.failures, "
            "locked_at = excluded.locked_at",
            (app.phone, app.password_hash, ts(app.enrolled_at), app.failures,
             ts_or_none(app.locked_at)))

    def set_phone_app_failures(self, phone: str, failures: int, *,
                               locked_at: dt.datetime | None) -> None:
        self._conn.execute("UPDATE phone_apps SET failures = ?, locked_at = ? WHERE phone = ?",
                           (failures, ts_or_none(locked_at), phone))

    def remove_phone_app(self, phone: str) -> bool:
        return self._conn.execute("DELETE FROM phone_apps WHERE phone = ?",
                                  (phone,)).rowcount > 0


class PhoneReadsSQL(_PhoneLookupsSQL):
    """Phone-verification reads of the store."""

    def phone_verifications(self, phone: str, *, via: Via | None = None,
                            since: dt.datetime | None = None, limit: int = 20
                            ) -> list[PhoneVerificationRecord]:
        clauses, params = ["phone = ?"], [phone]
        if via is not None:
            clauses.append("via = ?")
            params.append(via.value)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(ts(since))
        return [_verification(r) for r in self._query(
            f"SELECT {_VERIFICATION_COLUMNS} FROM phone_verifications WHERE "
            f"{' AND '.join(clauses)} ORDER BY created_at DESC, rowid DESC LIMIT ?",
            [*params, limit])]
