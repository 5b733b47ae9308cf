"""The cloud's tables (migration 3), behind a narrow interface like the rest of the store."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from ..cloud.vault import Sealed
from ..errors import StoreError
from .sqlite import SQLiteStore, _ts

__all__ = ["CloudSQL"]


class CloudSQL:
    """Cloud records in a kpki store. Every write is one ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, store: SQLiteStore) -> None:
        self._conn: sqlite3.Connection = store._conn
        self.path = store.path

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self._conn.execute(sql, params).fetchone()

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            results = [self._conn.execute(sql, params).fetchall() for sql, params in statements]
            self._conn.execute("COMMIT")
            return results
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # institutions ------------------------------------------------------------------------

    def add_institution(self, name: str, key_hash: str, at: dt.datetime) -> None:
        try:
            self._write([("INSERT INTO institutions (name, api_key_hash, created_at) "
                          "VALUES (?, ?, ?)", (name, key_hash, _ts(at)))])
        except sqlite3.IntegrityError:
            raise StoreError(f"an institution named {name!r} exists already") from None

    def institution_by_key(self, key_hash: str) -> tuple[int, str] | None:
        row = self._one("SELECT id, name FROM institutions WHERE api_key_hash = ?", (key_hash,))
        return None if row is None else (int(row[0]), str(row[1]))

    def institutions(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM institutions ORDER BY id")]

    # users and confirmation codes ---------------------------------------------------------

    def add_user(self, user_id: str, name: str, phone: str, birth_date: str, at: dt.datetime,
                 code_hash: str, expires: dt.datetime, message: str) -> None:
        self._write([
            ("INSERT INTO cloud_users (id, name, phone, birth_date, created_at) "
             "VALUES (?, ?, ?, ?, ?)", (user_id, name, phone, birth_date, _ts(at))),
            ("INSERT INTO cloud_codes (user_id, code_hash, expires_at) VALUES (?, ?, ?)",
             (user_id, code_hash, _ts(expires))),
            ("INSERT INTO cloud_messages (phone, text, at) VALUES (?, ?, ?)",
             (phone, message, _ts(at))),
        ])

    def user(self, user_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT id, name, phone, birth_date, confirmed_at, designated_only "
                        "FROM cloud_users WHERE id = ?", (user_id,))
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "phone": row[2], "birth_date": row[3],
                "confirmed": row[4] is not None, "designated_only": bool(row[5])}

    def code(self, user_id: str) -> tuple[str, str, int] | None:
        row = self._one("SELECT code_hash, expires_at, attempts FROM cloud_codes "
                        "WHERE user_id = ?", (user_id,))
        return None if row is None else (row[0], row[1], int(row[2]))

    def code_attempt(self, user_id: str) -> None:
        self._write([("UPDATE cloud_codes SET attempts = attempts + 1 WHERE user_id = ?",
                      (user_id,))])

    def confirm_user(self, user_id: str, at: dt.datetime) -> None:
        self._write([("UPDATE cloud_users SET confirmed_at = ? WHERE id = ?", (_ts(at), user_id)),
                     ("DELETE FROM cloud_codes WHERE user_id = ?", (user_id,))])

    def messages(self, phone: str) -> list[dict[str, str]]:
        return [{"text": r[0], "at": r[1]} for r in self._conn.execute(
            "SELECT text, at FROM cloud_messages WHERE phone = ? ORDER BY id", (phone,))]

    def set_designated_only(self, user_id: str, on: bool) -> None:
        self._write([("UPDATE cloud_users SET designated_only = ? WHERE id = ?",
                      (int(on), user_id))])

    # devices and history -------------------------------------------------------------------

    def devices(self, user_id: str) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT device_id FROM cloud_devices WHERE user_id = ? ORDER BY added_at, device_id",
            (user_id,))]

    def add_device(self, user_id: str, device_id: str, at: dt.datetime, limit: int) -> bool:
        """Add a device unless the user has ``limit`` already; one transaction."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            (count,) = self._one("SELECT count(*) FROM cloud_devices WHERE user_id = ?",
                                 (user_id,))
            exists = self._one("SELECT 1 FROM cloud_devices WHERE user_id = ? AND device_id = ?",
                               (user_id, device_id))
            if exists is None and count >= limit:
                self._conn.execute("ROLLBACK")
                return False
            self._conn.execute("INSERT OR IGNORE INTO cloud_devices VALUES (?, ?, ?)",
                               (user_id, device_id, _ts(at)))
            self._conn.execute("COMMIT")
            return True
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def remove_device(self, user_id: str, device_id: str) -> None:
        self._write([("DELETE FROM cloud_devices WHERE user_id = ? AND device_id = ?",
                      (user_id, device_id))])

    def add_history(self, user_id: str, at: dt.datetime, institution: str, device: str | None,
                    purpose: str | None, serial: str | None, outcome: str) -> None:
        self._write([("INSERT INTO cloud_history (user_id, at, institution, device, purpose, "
                      "serial, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (user_id, _ts(at), institution, device, purpose, serial, outcome))])

    def history(self, user_id: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT at, institution, device, purpose, serial, outcome FROM cloud_history "
            "WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit))
        return [{"at": r[0], "institution": r[1], "device": r[2], "purpose": r[3],
                 "serial": r[4], "outcome": r[5]} for r in rows]

    # keys ------------------------------------------------------------------------------------

    def put_key(self, ca: str, serial: str, user_id: str, sealed: Sealed,
                institution_id: int | None, at: dt.datetime) -> None:
        """Store a sealed key, registered with the issuing institution if one is given."""
        statements: list[tuple[str, tuple[Any, ...]]] = [
            ("INSERT INTO cloud_keys (ca, serial, user_id, salt, nonce, ciphertext, kdf) "
             "VALUES (?, ?, ?, ?, ?, ?, ?)",
             (ca, serial, user_id, sealed.salt, sealed.nonce, sealed.ciphertext, sealed.kdf))]
        if institution_id is not None:
            statements.append(("INSERT OR IGNORE INTO cloud_registrations VALUES (?, ?, ?, ?)",
                               (ca, serial, institution_id, _ts(at))))
        self._write(statements)

    def registrations(self, ca: str, serial: str) -> list[int]:
        return [int(r[0]) for r in self._conn.execute(
            "SELECT institution_id FROM cloud_registrations WHERE ca = ? AND serial = ?",
            (ca, serial))]

    def replace_key(self, ca: str, serial: str, sealed: Sealed) -> None:
        self._write([("UPDATE cloud_keys SET salt = ?, nonce = ?, ciphertext = ?, kdf = ? "
                      "WHERE ca = ? AND serial = ?",
                      (sealed.salt, sealed.nonce, sealed.ciphertext, sealed.kdf, ca, serial))])

    def key(self, ca: str, serial: str) -> dict[str, Any] | None:
        row = self._one("SELECT user_id, salt, nonce, ciphertext, kdf, failures, locked_at, "
                        "renewal_notice_at FROM cloud_keys WHERE ca = ? AND serial = ?",
                        (ca, serial))
        if row is None:
            return None
        return {"user_id": row[0], "sealed": Sealed(bytes(row[1]), bytes(row[2]),
                                                    bytes(row[3]), row[4]),
                "failures": int(row[5]), "locked": row[6] is not None, "notice": row[7]}

    def keys_of(self, user_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._conn.execute(
            "SELECT ca, serial FROM cloud_keys WHERE user_id = ?", (user_id,))]

    def gate(self, ca: str, serial: str, limit: int) -> int | None:
        """Count one PIN attempt before it is checked, atomically: returns the attempt's
        number, or None when ``limit`` attempts have failed already (locked). Parallel
        guesses therefore never get past ``limit``."""
        rows = self._write([("UPDATE cloud_keys SET failures = failures + 1 WHERE ca = ? AND "
                             "serial = ? AND failures < ? AND locked_at IS NULL "
                             "RETURNING failures", (ca, serial, limit))])[0]
        return int(rows[0][0]) if rows else None

    def attempt_failed(self, ca: str, serial: str, limit: int, at: dt.datetime) -> None:
        self._write([("UPDATE cloud_keys SET locked_at = ? WHERE ca = ? AND serial = ? AND "
                      "failures >= ? AND locked_at IS NULL", (_ts(at), ca, serial, limit))])

    def attempt_succeeded(self, ca: str, serial: str) -> None:
        self._write([("UPDATE cloud_keys SET failures = 0 WHERE ca = ? AND serial = ? AND "
                      "locked_at IS NULL", (ca, serial))])

    def note_renewal(self, ca: str, serial: str, at: dt.datetime) -> None:
        self._write([("UPDATE cloud_keys SET renewal_notice_at = coalesce(renewal_notice_at, ?) "
                      "WHERE ca = ? AND serial = ?", (_ts(at), ca, serial))])

    def registered(self, ca: str, serial: str, institution_id: int) -> bool:
        return self._one("SELECT 1 FROM cloud_registrations WHERE ca = ? AND serial = ? AND "
                         "institution_id = ?", (ca, serial, institution_id)) is not None

    def register(self, ca: str, serial: str, institution_id: int, at: dt.datetime) -> None:
        self._write([("INSERT OR IGNORE INTO cloud_registrations VALUES (?, ?, ?, ?)",
                      (ca, serial, institution_id, _ts(at)))])
