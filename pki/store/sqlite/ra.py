"""Issuance flows, private media and simple authentication in the SQLite store (migration
15): the registration authority's step sessions and every step asked for, private
certificates registered as a bank's security medium, and simple authentication's apps and
requests.

:class:`RaWritesSQL` is mixed into the store's transaction, :class:`RaReadsSQL` into the
store. The rules are :mod:`pki.ra`'s, :mod:`pki.bank.private_media`'s and
:mod:`pki.simpleauth`'s; these are their records. Serials are stored as hex text like
every serial of the store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .common import SQLiteConnection, hex_serial, opt_ts, parse_ts, ts, ts_or_none

if TYPE_CHECKING:
    from ..rarecords import (
        PrivateMediumRecord,
        RaSessionRecord,
        RaStepRecord,
        SimpleAuthRequestRecord,
        SimpleAuthUser,
    )

__all__ = ["RaReadsSQL", "RaWritesSQL"]

_SESSION_COLUMNS = ("id, institution_id, flow, customer_id, steps_done, data, state, "
                    "created_at, expires_at, finished_at")
_MEDIUM_COLUMNS = "customer_id, institution_id, ca, serial, device, registered_at"
_USER_COLUMNS = ("provider, person, name, phone, birth_date, ca, serial, device, "
                 "registered_at")
_REQUEST_COLUMNS = ("id, provider, institution_id, person, nonce, state, created_at, "
                    "expires_at, answered_at, result, ci, data")


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), ensure_ascii=False, sort_keys=True)


def _session(row: Sequence[Any]) -> RaSessionRecord:
    from ..rarecords import RaSessionRecord, RaSessionState

    return RaSessionRecord(id=row[0], institution_id=int(row[1]), flow=row[2],
                           customer_id=row[3],
                           steps_done=tuple(step for step in row[4].split(",") if step),
                           data=json.loads(row[5]), state=RaSessionState(row[6]),
                           created_at=parse_ts(row[7]), expires_at=parse_ts(row[8]),
                           finished_at=opt_ts(row[9]))


def _medium(row: Sequence[Any]) -> PrivateMediumRecord:
    from ..rarecords import PrivateMediumRecord

    return PrivateMediumRecord(customer_id=row[0], institution_id=int(row[1]), ca=row[2],
                               serial=int(row[3], 16), device=row[4],
                               registered_at=parse_ts(row[5]))


def _user(row: Sequence[Any]) -> SimpleAuthUser:
    from ..rarecords import SimpleAuthUser

    return SimpleAuthUser(provider=int(row[0]), person=row[1], name=row[2], phone=row[3],
                          birth_date=dt.date.fromisoformat(row[4]), ca=row[5],
                          serial=int(row[6], 16), device=row[7],
                          registered_at=parse_ts(row[8]))


def _request(row: Sequence[Any]) -> SimpleAuthRequestRecord:
    from ..rarecords import SimpleAuthRequestRecord, SimpleAuthState

    return SimpleAuthRequestRecord(
        id=row[0], provider=int(row[1]), institution_id=int(row[2]), person=row[3],
        nonce=row[4], state=SimpleAuthState(row[5]), created_at=parse_ts(row[6]),
        expires_at=parse_ts(row[7]), answered_at=opt_ts(row[8]),
        result=None if row[9] is None else bytes(row[9]), ci=row[10],
        data=json.loads(row[11]))


class _RaLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def ra_session(self, session_id: str) -> RaSessionRecord | None:
        rows = self._query(f"SELECT {_SESSION_COLUMNS} FROM ra_sessions WHERE id = ?",
                           (session_id,))
        return _session(rows[0]) if rows else None

    def ra_steps(self, session_id: str) -> Sequence[RaStepRecord]:
        from ..rarecords import RaStepRecord

        return [RaStepRecord(session_id=row[0], step=row[1], accepted=bool(row[2]),
                             reason=row[3], at=parse_ts(row[4]))
                for row in self._query("SELECT session_id, step, accepted, reason, at "
                                       "FROM ra_steps WHERE session_id = ? ORDER BY id",
                                       (session_id,))]

    def ra_sessions_of(self, customer_id: str) -> Sequence[RaSessionRecord]:
        return [_session(row) for row in self._query(
            f"SELECT {_SESSION_COLUMNS} FROM ra_sessions WHERE customer_id = ? "
            "ORDER BY created_at, rowid", (customer_id,))]

    def private_medium(self, customer_id: str) -> PrivateMediumRecord | None:
        rows = self._query(f"SELECT {_MEDIUM_COLUMNS} FROM bank_private_media "
                           "WHERE customer_id = ?", (customer_id,))
        return _medium(rows[0]) if rows else None

    def private_medium_of(self, ca: str, serial: int) -> PrivateMediumRecord | None:
        rows = self._query(f"SELECT {_MEDIUM_COLUMNS} FROM bank_private_media "
                           "WHERE ca = ? AND serial = ?", (ca, hex_serial(serial)))
        return _medium(rows[0]) if rows else None

    def simpleauth_user(self, provider: int, person: str) -> SimpleAuthUser | None:
        rows = self._query(f"SELECT {_USER_COLUMNS} FROM simpleauth_users "
                           "WHERE provider = ? AND person = ?", (provider, person))
        return _user(rows[0]) if rows else None

    def simpleauth_users_with_phone(self, provider: int, phone: str
                                    ) -> Sequence[SimpleAuthUser]:
        return [_user(row) for row in self._query(
            f"SELECT {_USER_COLUMNS} FROM simpleauth_users WHERE provider = ? AND phone = ? "
            "ORDER BY person", (provider, phone))]

    def simpleauth_request(self, request_id: str) -> SimpleAuthRequestRecord | None:
        rows = self._query(f"SELECT {_REQUEST_COLUMNS} FROM simpleauth_requests "
                           "WHERE id = ?", (request_id,))
        return _request(rows[0]) if rows else None

    def simpleauth_pending(self, provider: int, person: str
                           ) -> Sequence[SimpleAuthRequestRecord]:
        return [_request(row) for row in self._query(
            f"SELECT {_REQUEST_COLUMNS} FROM simpleauth_requests WHERE provider = ? AND "
            "person = ? AND state = 'pending' ORDER BY created_at, rowid", (provider, person))]


class RaWritesSQL(_RaLookupsSQL):
    """Writes of the flows, inside the store's transaction."""

    def add_ra_session(self, record: RaSessionRecord) -> None:
        self._conn.execute(
            f"INSERT INTO ra_sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.institution_id, record.flow, record.customer_id,
             ",".join(record.steps_done), _json(record.data), record.state.value,
             ts(record.created_at), ts(record.expires_at), ts_or_none(record.finished_at)))

    def update_ra_session(self, record: RaSessionRecord) -> None:
        self._conn.execute(
            "UPDATE ra_sessions SET customer_id = ?, steps_done = ?, data = ?, state = ?, "
            "expires_at = ?, finished_at = ? WHERE id = ?",
            (record.customer_id, ",".join(record.steps_done), _json(record.data),
             record.state.value, ts(record.expires_at), ts_or_none(record.finished_at), record.id))

    def add_ra_step(self, record: RaStepRecord) -> None:
        self._conn.execute(
            "INSERT INTO ra_steps (session_id, step, accepted, reason, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.session_id, record.step, int(record.accepted), record.reason,
             ts(record.at)))

    def put_private_medium(self, record: PrivateMediumRecord) -> None:
        self._conn.execute(
            f"INSERT INTO bank_private_media ({_MEDIUM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (customer_id) DO UPDATE SET institution_id = excluded.institution_id, "
            "ca = excluded.ca, serial = excluded.serial, device = excluded.device, "
            "registered_at = excluded.registered_at",
            (record.customer_id, record.institution_id, record.ca, hex_serial(record.serial),
             record.device, ts(record.registered_at)))

    def remove_private_medium(self, customer_id: str) -> bool:
        return self._conn.execute("DELETE FROM bank_private_media WHERE customer_id = ?",
                                  (customer_id,)).rowcount == 1

    def put_simpleauth_user(self, user: SimpleAuthUser) -> None:
        self._conn.execute(
            f"INSERT INTO simpleauth_users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (provider, person) DO UPDATE SET name = excluded.name, "
            "phone = excluded.phone, birth_date = excluded.birth_date, ca = excluded.ca, "
            "serial = excluded.serial, device = excluded.device, "
            "registered_at = excluded.registered_at",
            (user.provider, user.person, user.name, user.phone, user.birth_date.isoformat(),
             user.ca, hex_serial(user.serial), user.device, ts(user.registered_at)))

    def remove_simpleauth_user(self, provider: int, person: str) -> bool:
        return self._conn.execute("DELETE FROM simpleauth_users WHERE provider = ? AND "
                                  "person = ?", (provider, person)).rowcount == 1

    def add_simpleauth_request(self, record: SimpleAuthRequestRecord) -> None:
        self._conn.execute(
            f"INSERT INTO simpleauth_requests ({_REQUEST_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.provider, record.institution_id, record.person, record.nonce,
             record.state.value, ts(record.created_at), ts(record.expires_at),
             ts_or_none(record.answered_at), record.result, record.ci, _json(record.data)))

    def update_simpleauth_request(self, record: SimpleAuthRequestRecord) -> None:
        self._conn.execute(
            "UPDATE simpleauth_requests SET state = ?, answered_at = ?, result = ?, ci = ?, "
            "data = ? WHERE id = ?",
            (record.state.value, ts_or_none(record.answered_at), record.result, record.ci,
             _json(record.data), record.id))


class RaReadsSQL(_RaLookupsSQL):
    """Reads of the flows' records (the lookups)."""
