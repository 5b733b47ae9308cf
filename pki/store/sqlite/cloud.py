"""The cloud's part of the SQLite store (migrations 3, 4 and 16): institutions, users,
confirmation codes and messages (registration), sealed keys and their recovery copies,
PIN checks in flight, registrations of certificates at institutions, devices and history.

:class:`CloudWritesSQL` is mixed into the store's transaction, so cloud rows commit with
the certificate rows and audit rows of the same unit of work; :class:`CloudReadsSQL` into
the store. The decisions (limits, locking, isolation) are the cloud's
(:mod:`pki.cloud.service`, :mod:`pki.registration`); these are its records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from ...purposes import Purpose
from .bank import INSTITUTION_COLUMNS, institution_of
from .common import SQLiteConnection, hex_serial, opt_ts, parse_ts, ts, ts_or_none

if TYPE_CHECKING:
    from ..cloudrecords import (
        CloudUser,
        HistoryEntry,
        Institution,
        Message,
        PendingCode,
        Sealed,
        VaultRecord,
    )

__all__ = ["CloudReadsSQL", "CloudWritesSQL"]

_USER_COLUMNS = ("id, name, phone, birth_date, institution_id, created_at, confirmed_at, "
                 "designated_only")
_KEY_COLUMNS = ("ca, serial, user_id, salt, nonce, ciphertext, kdf, secret_check, failures, "
                "locked_at, renewal_notice_at")
_WRONG_CODES = ("SELECT coalesce(sum(c.attempts), 0) FROM cloud_codes c JOIN cloud_users u "
                "ON u.id = c.user_id WHERE u.phone = ? AND u.institution_id = ? AND "
                "u.created_at >= ?")


def _user(row: Sequence[Any]) -> CloudUser:
    from ..cloudrecords import CloudUser

    return CloudUser(id=row[0], name=row[1], phone=row[2],
                     birth_date=dt.date.fromisoformat(row[3]), institution_id=row[4],
                     created_at=parse_ts(row[5]), confirmed_at=opt_ts(row[6]),
                     designated_only=bool(row[7]))


def _vault_record(row: Sequence[Any]) -> VaultRecord:
    from ..cloudrecords import Sealed, VaultRecord

    return VaultRecord(ca=row[0], serial=int(row[1], 16), user_id=row[2],
                       sealed=Sealed(bytes(row[3]), bytes(row[4]), bytes(row[5]), row[6],
                                     row[7]),
                       failures=int(row[8]), locked_at=opt_ts(row[9]),
                       renewal_noticed_at=opt_ts(row[10]))


class _CloudLookupsSQL(SQLiteConnection):
    """Reads that a transaction makes under its lock and the store makes outside."""

    def wrong_codes(self, phone: str, institution_id: int, since: dt.datetime) -> int:
        return int(self._query(_WRONG_CODES, (phone, institution_id, ts(since)))[0][0])

    def cloud_user(self, user_id: str) -> CloudUser | None:
        rows = self._query(f"SELECT {_USER_COLUMNS} FROM cloud_users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def vault_record(self, ca: str, serial: int) -> VaultRecord | None:
        rows = self._query(f"SELECT {_KEY_COLUMNS} FROM cloud_keys WHERE ca = ? AND "
                           "serial = ?", (ca, hex_serial(serial)))
        return _vault_record(rows[0]) if rows else None

    def recovery_copy(self, ca: str, serial: int) -> Sealed | None:
        from ..cloudrecords import Sealed

        rows = self._query("SELECT salt, nonce, ciphertext, kdf, secret_check FROM "
                           "cloud_recovery_keys WHERE ca = ? AND serial = ?",
                           (ca, hex_serial(serial)))
        return (Sealed(bytes(rows[0][0]), bytes(rows[0][1]), bytes(rows[0][2]), rows[0][3],
                       rows[0][4]) if rows else None)

    def registrations(self, ca: str, serial: int) -> list[int]:
        return [int(r[0]) for r in self._query(
            "SELECT institution_id FROM cloud_registrations WHERE ca = ? AND serial = ? "
            "ORDER BY at, institution_id", (ca, hex_serial(serial)))]

    def devices(self, user_id: str) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT device_id FROM cloud_devices WHERE user_id = ? ORDER BY added_at, device_id",
            (user_id,))]


class CloudWritesSQL(_CloudLookupsSQL):
    """Registration and cloud writes; mixed into the store's transaction."""

    # registration ------------------------------------------------------------------------

    def add_institution(self, name: str, api_key_hash: str, *, at: dt.datetime,
                        code: str | None = None, settings: Mapping[str, Any] | None = None
                        ) -> Institution:
        from ..cloudrecords import Institution

        settings = dict(settings or {})
        row = self._conn.execute(
            "INSERT INTO institutions (name, api_key_hash, created_at, code, settings) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (name, api_key_hash, ts(at), code, json.dumps(settings, sort_keys=True))
        ).fetchone()
        if row is None:
            taken = f"the code {code}" if code is not None and self._query(
                "SELECT 1 FROM institutions WHERE code = ?", (code,)) else f"the name {name!r}"
            raise StoreError(f"an institution with {taken} exists already")
        return Institution(int(row[0]), name, at, code, settings)

    def add_user(self, user: CloudUser) -> None:
        self._conn.execute(
            "INSERT INTO cloud_users (id, name, phone, birth_date, created_at, confirmed_at, "
            "designated_only, institution_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (user.id, user.name, user.phone, user.birth_date.isoformat(), ts(user.created_at),
             ts_or_none(user.confirmed_at),
             int(user.designated_only), user.institution_id))

    def put_code(self, user_id: str, code_hash: str, *, expires_at: dt.datetime) -> None:
        self._conn.execute("INSERT INTO cloud_codes (user_id, code_hash, expires_at, attempts) "
                           "VALUES (?, ?, ?, 0) ON CONFLICT (user_id) DO UPDATE SET "
                           "code_hash = excluded.code_hash, expires_at = excluded.expires_at, "
                           "attempts = 0", (user_id, code_hash, ts(expires_at)))

    def pending_code(self, user_id: str) -> PendingCode | None:
        from ..cloudrecords import PendingCode

        row = self._conn.execute(
            "SELECT c.code_hash, c.expires_at, c.attempts, u.phone, u.institution_id "
            "FROM cloud_codes c JOIN cloud_users u ON u.id = c.user_id WHERE c.user_id = ?",
            (user_id,)).fetchone()
        if row is None:
            return None
        return PendingCode(user_id=user_id, code_hash=row[0], expires_at=parse_ts(row[1]),
                           attempts=int(row[2]), phone=row[3], institution_id=row[4])

    def count_wrong_code(self, user_id: str) -> None:
        self._conn.execute("UPDATE cloud_codes SET attempts = attempts + 1 WHERE user_id = ?",
                           (user_id,))

    def confirm_user(self, user_id: str, *, at: dt.datetime) -> None:
        self._conn.execute("UPDATE cloud_users SET confirmed_at = ? WHERE id = ?",
                           (ts(at), user_id))
        self._conn.execute("DELETE FROM cloud_codes WHERE user_id = ?", (user_id,))

    def record_message(self, message: Message) -> None:
        self._conn.execute("INSERT INTO cloud_messages (phone, text, at, institution_id, "
                           "via) VALUES (?, ?, ?, ?, ?)", (message.phone, message.text,
                                                      ts(message.at), message.institution_id,
                                                      message.via.value))

    # sealed keys and registrations ---------------------------------------------------------

    def put_vault_record(self, record: VaultRecord) -> None:
        sealed = record.sealed
        self._conn.execute(
            "INSERT INTO cloud_keys (ca, serial, user_id, salt, nonce, ciphertext, kdf, "
            "secret_check, failures, locked_at, renewal_notice_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.ca, hex_serial(record.serial), record.user_id, sealed.salt, sealed.nonce,
             sealed.ciphertext, sealed.kdf, sealed.secret_check, record.failures,
             ts_or_none(record.locked_at),
             ts_or_none(record.renewal_noticed_at)))

    def reseal(self, ca: str, serial: int, sealed: Sealed) -> None:
        self._conn.execute("UPDATE cloud_keys SET salt = ?, nonce = ?, ciphertext = ?, kdf = ?, "
                           "secret_check = ? WHERE ca = ? AND serial = ?",
                           (sealed.salt, sealed.nonce, sealed.ciphertext, sealed.kdf,
                            sealed.secret_check, ca, hex_serial(serial)))

    def put_recovery_copy(self, ca: str, serial: int, sealed: Sealed, *,
                          at: dt.datetime) -> None:
        self._conn.execute(
            "INSERT INTO cloud_recovery_keys (ca, serial, salt, nonce, ciphertext, kdf, "
            "secret_check, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ca, hex_serial(serial), sealed.salt, sealed.nonce, sealed.ciphertext,
             sealed.kdf, sealed.secret_check, ts(at)))

    def register_certificate(self, ca: str, serial: int, institution_id: int, *,
                             at: dt.datetime) -> bool:
        return self._conn.execute(
            "INSERT INTO cloud_registrations (ca, serial, institution_id, at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (ca, hex_serial(serial), institution_id, ts(at))).rowcount == 1

    def note_renewal(self, ca: str, serial: int, *, at: dt.datetime) -> bool:
        return self._conn.execute(
            "UPDATE cloud_keys SET renewal_notice_at = ? WHERE ca = ? AND serial = ? AND "
            "renewal_notice_at IS NULL", (ts(at), ca, hex_serial(serial))).rowcount == 1

    def adopt_secret_check(self, check: str) -> int:
        return self._conn.execute("UPDATE cloud_keys SET secret_check = ? "
                                  "WHERE secret_check IS NULL", (check,)).rowcount

    # PIN checks ------------------------------------------------------------------------------

    def pin_checks_in_flight(self, ca: str, serial: int) -> int:
        return int(self._conn.execute(
            "SELECT count(*) FROM cloud_pin_reservations WHERE ca = ? AND serial = ?",
            (ca, hex_serial(serial))).fetchone()[0])

    def reserve_pin_check(self, ca: str, serial: int, *, boot: str, at: dt.datetime) -> int:
        (reservation,) = self._conn.execute(
            "INSERT INTO cloud_pin_reservations (ca, serial, boot, at) VALUES (?, ?, ?, ?) "
            "RETURNING id", (ca, hex_serial(serial), boot, ts(at))).fetchone()
        return int(reservation)

    def end_pin_check(self, reservation: int) -> None:
        self._conn.execute("DELETE FROM cloud_pin_reservations WHERE id = ?", (reservation,))

    def forget_pin_checks(self, boot: str) -> int:
        return self._conn.execute("DELETE FROM cloud_pin_reservations WHERE boot = ?",
                                  (boot,)).rowcount

    def set_pin_failures(self, ca: str, serial: int, failures: int, *,
                         locked_at: dt.datetime | None) -> None:
        self._conn.execute("UPDATE cloud_keys SET failures = ?, locked_at = ? WHERE ca = ? AND "
                           "serial = ?", (failures, ts_or_none(locked_at),
                                          ca, hex_serial(serial)))

    # devices and history -----------------------------------------------------------------

    def set_designated_only(self, user_id: str, on: bool) -> None:
        self._conn.execute("UPDATE cloud_users SET designated_only = ? WHERE id = ?",
                           (int(on), user_id))

    def add_device(self, user_id: str, device: str, *, at: dt.datetime) -> None:
        self._conn.execute("INSERT INTO cloud_devices (user_id, device_id, added_at) "
                           "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (user_id, device, ts(at)))

    def remove_device(self, user_id: str, device: str) -> bool:
        return self._conn.execute("DELETE FROM cloud_devices WHERE user_id = ? AND "
                                  "device_id = ?", (user_id, device)).rowcount == 1

    def add_history(self, user_id: str, entry: HistoryEntry) -> None:
        self._conn.execute(
            "INSERT INTO cloud_history (user_id, at, institution, device, purpose, serial, "
            "outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user_id, ts(entry.at), entry.institution, entry.device,
             None if entry.purpose is None else entry.purpose.value,
             None if entry.serial is None else hex_serial(entry.serial), entry.outcome))


class CloudReadsSQL(_CloudLookupsSQL):
    """Registration and cloud reads; mixed into the store."""

    def institution_by_key_hash(self, api_key_hash: str) -> Institution | None:
        rows = self._query(f"SELECT {INSTITUTION_COLUMNS} FROM institutions "
                           "WHERE api_key_hash = ?", (api_key_hash,))
        return institution_of(rows[0]) if rows else None

    def institutions(self) -> list[Institution]:
        return [institution_of(r) for r in
                self._query(f"SELECT {INSTITUTION_COLUMNS} FROM institutions ORDER BY id")]

    def cloud_users(self, *, institution_id: int | None = None,
                    phone: str | None = None) -> list[CloudUser]:
        clauses, params = [], []
        for column, value in (("institution_id", institution_id), ("phone", phone)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_user(r) for r in self._query(
            f"SELECT {_USER_COLUMNS} FROM cloud_users {where} ORDER BY rowid", params)]

    def messages(self, phone: str, institution_id: int) -> list[Message]:
        from ..cloudrecords import Message, Via

        return [Message(phone=phone, text=r[0], at=parse_ts(r[1]), institution_id=r[2],
                        via=Via(r[3]))
                for r in self._query(
                    "SELECT text, at, institution_id, via FROM cloud_messages WHERE phone = ? "
                    "AND institution_id = ? ORDER BY id", (phone, institution_id))]

    def vault_records_of(self, user_id: str) -> list[VaultRecord]:
        return [_vault_record(r) for r in self._query(
            f"SELECT {_KEY_COLUMNS} FROM cloud_keys WHERE user_id = ? ORDER BY rowid",
            (user_id,))]

    def is_registered(self, ca: str, serial: int, institution_id: int) -> bool:
        return bool(self._query(
            "SELECT 1 FROM cloud_registrations WHERE ca = ? AND serial = ? AND "
            "institution_id = ?", (ca, hex_serial(serial), institution_id)))

    def related(self, user_id: str, institution_id: int) -> bool:
        return bool(self._query(
            "SELECT 1 FROM cloud_users WHERE id = ? AND institution_id = ? UNION ALL "
            "SELECT 1 FROM cloud_keys k JOIN cloud_registrations r ON r.ca = k.ca AND "
            "r.serial = k.serial WHERE k.user_id = ? AND r.institution_id = ? LIMIT 1",
            (user_id, institution_id, user_id, institution_id)))

    def secret_checks(self) -> dict[str | None, int]:
        return {r[0]: int(r[1]) for r in self._query(
            "SELECT secret_check, count(*) FROM cloud_keys GROUP BY secret_check")}

    def pin_check_boots(self, *, ca: str | None = None, serial: int | None = None
                        ) -> list[str]:
        where: str = ""
        params: tuple[Any, ...] = ()
        if ca is not None and serial is not None:
            where, params = "WHERE ca = ? AND serial = ?", (ca, hex_serial(serial))
        return [r[0] for r in self._query(
            f"SELECT DISTINCT boot FROM cloud_pin_reservations {where}", params)]

    def history(self, user_id: str, limit: int = 20) -> list[HistoryEntry]:
        from ..cloudrecords import HistoryEntry

        rows = self._query(
            "SELECT at, institution, device, purpose, serial, outcome FROM cloud_history "
            "WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit))
        return [HistoryEntry(at=parse_ts(r[0]), institution=r[1], device=r[2],
                             purpose=None if r[3] is None else Purpose(r[3]),
                             serial=None if r[4] is None else int(r[4], 16), outcome=r[5])
                for r in rows]
