"""The browser SDK's part of the SQLite store (migration 20): institutions' organisation
codes, SDK keys and allowed origins, the iframe's sessions and its one-use PIN pads.

:class:`SdkWritesSQL` is mixed into the store's transaction, :class:`SdkReadsSQL` into the
store. The rules are :mod:`pki.cloud.sdk`'s. Portable SQL (SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .common import SQLiteConnection, opt_ts, parse_ts, ts, ts_or_none

if TYPE_CHECKING:
    from ..sdkrecords import SdkInstitution, SdkPad, SdkSession

__all__ = ["SdkReadsSQL", "SdkWritesSQL"]

_SESSION_COLUMNS = ("id, institution_id, origin, device, created_at, expires_at, user_id, "
                    "pending_user, ended_at")
_PAD_COLUMNS = "id, session_id, layout, created_at, expires_at, used_at"


def _session(row: Sequence[Any]) -> SdkSession:
    from ..sdkrecords import SdkSession

    return SdkSession(id=row[0], institution_id=int(row[1]), origin=row[2], device=row[3],
                      created_at=parse_ts(row[4]), expires_at=parse_ts(row[5]),
                      user_id=row[6], pending_user=row[7], ended_at=opt_ts(row[8]))


def _pad(row: Sequence[Any]) -> SdkPad:
    from ..sdkrecords import SdkPad

    return SdkPad(id=row[0], session_id=row[1], layout=row[2], created_at=parse_ts(row[3]),
                  expires_at=parse_ts(row[4]), used_at=opt_ts(row[5]))


class _SdkLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def _sdk_institution(self, where: str, value: Any) -> SdkInstitution | None:
        from ..sdkrecords import SdkInstitution

        rows = self._query("SELECT institution_id, org_code, key_hash, added_at FROM "
                           f"sdk_institutions WHERE {where} = ?", (value,))
        if not rows:
            return None
        institution_id = int(rows[0][0])
        origins = tuple(r[0] for r in self._query(
            "SELECT origin FROM sdk_origins WHERE institution_id = ? ORDER BY added_at, "
            "origin", (institution_id,)))
        return SdkInstitution(institution_id, rows[0][1], rows[0][2], origins,
                              parse_ts(rows[0][3]))

    def sdk_institution(self, institution_id: int) -> SdkInstitution | None:
        return self._sdk_institution("institution_id", institution_id)

    def sdk_institution_by_org_code(self, org_code: str) -> SdkInstitution | None:
        return self._sdk_institution("org_code", org_code)

    def sdk_session(self, session_id: str) -> SdkSession | None:
        rows = self._query(f"SELECT {_SESSION_COLUMNS} FROM sdk_sessions WHERE id = ?",
                           (session_id,))
        return _session(rows[0]) if rows else None

    def sdk_pad(self, pad_id: str) -> SdkPad | None:
        rows = self._query(f"SELECT {_PAD_COLUMNS} FROM sdk_pads WHERE id = ?", (pad_id,))
        return _pad(rows[0]) if rows else None


class SdkWritesSQL(_SdkLookupsSQL):
    """SDK writes, inside the store's transaction."""

    def add_sdk_institution(self, institution_id: int, org_code: str, key_hash: str, *,
                            at: dt.datetime) -> None:
        self._conn.execute("INSERT INTO sdk_institutions (institution_id, org_code, "
                           "key_hash, added_at) VALUES (?, ?, ?, ?)",
                           (institution_id, org_code, key_hash, ts(at)))

    def add_sdk_origin(self, institution_id: int, origin: str, *, at: dt.datetime) -> bool:
        return self._conn.execute(
            "INSERT INTO sdk_origins (institution_id, origin, added_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (institution_id, origin, ts(at))).rowcount == 1

    def remove_sdk_origin(self, institution_id: int, origin: str) -> bool:
        return self._conn.execute("DELETE FROM sdk_origins WHERE institution_id = ? AND "
                                  "origin = ?", (institution_id, origin)).rowcount == 1

    def add_sdk_session(self, record: SdkSession) -> None:
        self._conn.execute(
            f"INSERT INTO sdk_sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.institution_id, record.origin, record.device,
             ts(record.created_at), ts(record.expires_at), record.user_id,
             record.pending_user, ts_or_none(record.ended_at)))

    def set_sdk_pending_user(self, session_id: str, user_id: str) -> None:
        self._conn.execute("UPDATE sdk_sessions SET pending_user = ? WHERE id = ?",
                           (user_id, session_id))

    def connect_sdk_session(self, session_id: str, user_id: str) -> bool:
        return self._conn.execute(
            "UPDATE sdk_sessions SET user_id = pending_user, pending_user = NULL "
            "WHERE id = ? AND pending_user = ?", (session_id, user_id)).rowcount == 1

    def end_sdk_session(self, session_id: str, *, at: dt.datetime) -> bool:
        return self._conn.execute("UPDATE sdk_sessions SET ended_at = ? WHERE id = ? AND "
                                  "ended_at IS NULL", (ts(at), session_id)).rowcount == 1

    def add_sdk_pad(self, record: SdkPad) -> None:
        self._conn.execute(
            f"INSERT INTO sdk_pads ({_PAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (record.id, record.session_id, record.layout, ts(record.created_at),
             ts(record.expires_at), ts_or_none(record.used_at)))

    def use_sdk_pad(self, pad_id: str, *, at: dt.datetime) -> bool:
        return self._conn.execute("UPDATE sdk_pads SET used_at = ? WHERE id = ? AND "
                                  "used_at IS NULL", (ts(at), pad_id)).rowcount == 1

    def purge_sdk(self, *, now: dt.datetime, limit: int) -> int:
        # pads first: a session goes once none of its pads is left (a pad lives minutes)
        at = ts(now)
        pads = self._conn.execute(
            "DELETE FROM sdk_pads WHERE id IN (SELECT id FROM sdk_pads WHERE expires_at <= ? "
            "LIMIT ?)", (at, limit)).rowcount
        sessions = self._conn.execute(
            "DELETE FROM sdk_sessions WHERE id IN (SELECT s.id FROM sdk_sessions s WHERE "
            "(s.expires_at <= ? OR s.ended_at IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM "
            "sdk_pads p WHERE p.session_id = s.id) LIMIT ?)", (at, limit)).rowcount
        return int(pads) + int(sessions)


class SdkReadsSQL(_SdkLookupsSQL):
    """SDK reads of the store."""

    def sdk_person_certificates(self, institution_id: int, *, name: str, phone: str,
                                birth_date: dt.date) -> Sequence[tuple[str, int]]:
        rows = self._query(
            "SELECT k.ca, k.serial FROM cloud_keys k JOIN cloud_users u ON u.id = k.user_id "
            "JOIN cloud_registrations r ON r.ca = k.ca AND r.serial = k.serial "
            "WHERE u.name = ? AND u.phone = ? AND u.birth_date = ? AND r.institution_id = ? "
            "ORDER BY r.at, length(k.serial), k.serial",
            (name, phone, birth_date.isoformat(), institution_id))
        return [(row[0], int(row[1], 16)) for row in rows]

