"""Transitional: the cloud's SQL as it was before the cloud joined the store's unit of work
(removed once :mod:`pki.cloud.service` uses the transaction).

Every change is one ``BEGIN IMMEDIATE`` transaction, and every change of cloud state (not
the bookkeeping of PIN checks in flight, not the per-user history) writes its audit row in
the same transaction. The PIN gate (:meth:`CloudSQL.reserve`, :meth:`CloudSQL.charge`,
:meth:`CloudSQL.release`) and the confirmation code (:meth:`CloudSQL.try_code`) decide under
the write lock, so their counts are exact under any concurrency.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import StoreError
from ..records import Sealed
from .common import ts as _ts
from .store import SQLiteStore

__all__ = ["CloudSQL", "CodeOutcome", "Gate"]


_WRONG_CODES = ("SELECT coalesce(sum(c.attempts), 0) FROM cloud_codes c JOIN cloud_users u "
                "ON u.id = c.user_id WHERE u.phone = ? AND u.institution_id = ? AND "
                "u.created_at >= ?")


class CodeOutcome(enum.Enum):
    """What one confirmation-code guess came to."""

    CONFIRMED = "confirmed"
    WRONG = "wrong"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    NONE_PENDING = "none-pending"
    PHONE_LIMIT = "phone-limit"


@dataclass(frozen=True)
class Gate:
    """The answer to a request for a PIN check: ``reservation`` is set when it may go on;
    otherwise ``locked`` or busy (``failures`` + checks in flight at the limit)."""

    reservation: int | None
    failures: int
    locked: bool


class CloudSQL:
    """Cloud records in a kpki store."""

    def __init__(self, store: SQLiteStore) -> None:
        self._conn: sqlite3.Connection = store._conn
        self.path = store.path

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        try:
            return self._conn.execute(sql, params).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from None

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a transaction on {self.path}: {exc}") from None
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK")
            raise StoreError(f"cannot commit to {self.path}: {exc}") from None

    def _audit(self, action: str, at: dt.datetime, *, ca: str | None = None,
               serial: str | None = None, **detail: Any) -> None:
        self._conn.execute(
            "INSERT INTO audit (at, action, ca, serial, detail) VALUES (?, ?, ?, ?, ?)",
            (_ts(at), action, ca, serial, json.dumps(detail, ensure_ascii=False,
                                                     sort_keys=True)))

    # institutions ------------------------------------------------------------------------

    def add_institution(self, name: str, key_hash: str, at: dt.datetime) -> None:
        try:
            with self._tx() as conn:
                conn.execute("INSERT INTO institutions (name, api_key_hash, created_at) "
                             "VALUES (?, ?, ?)", (name, key_hash, _ts(at)))
                self._audit("cloud.institution.added", at, institution=name)
        except sqlite3.IntegrityError:
            raise StoreError(f"an institution named {name!r} exists already") from None

    def institution_by_key(self, key_hash: str) -> tuple[int, str] | None:
        row = self._one("SELECT id, name FROM institutions WHERE api_key_hash = ?", (key_hash,))
        return None if row is None else (int(row[0]), str(row[1]))

    def institutions(self) -> list[str]:
        return [r[0] for r in self._all("SELECT name FROM institutions ORDER BY id")]

    # users and confirmation codes ---------------------------------------------------------

    def add_user(self, user_id: str, name: str, phone: str, birth_date: str, at: dt.datetime,
                 code_hash: str, expires: dt.datetime, message: str, institution_id: int
                 ) -> None:
        """A user registered by ``institution_id``, its code, and the message carrying it."""
        with self._tx() as conn:
            conn.execute("INSERT INTO cloud_users (id, name, phone, birth_date, created_at, "
                         "institution_id) VALUES (?, ?, ?, ?, ?, ?)",
                         (user_id, name, phone, birth_date, _ts(at), institution_id))
            conn.execute("INSERT INTO cloud_codes (user_id, code_hash, expires_at) "
                         "VALUES (?, ?, ?)", (user_id, code_hash, _ts(expires)))
            conn.execute("INSERT INTO cloud_messages (phone, text, at, institution_id) "
                         "VALUES (?, ?, ?, ?)", (phone, message, _ts(at), institution_id))

    def user(self, user_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT id, name, phone, birth_date, confirmed_at, designated_only, "
                        "institution_id FROM cloud_users WHERE id = ?", (user_id,))
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "phone": row[2], "birth_date": row[3],
                "confirmed": row[4] is not None, "designated_only": bool(row[5]),
                "institution_id": row[6]}

    def related(self, user_id: str, institution_id: int) -> bool:
        """Whether the user registered with the institution: it registered the user, or
        one of the user's certificates is registered there."""
        return self._one(
            "SELECT 1 FROM cloud_users WHERE id = ? AND institution_id = ? UNION ALL "
            "SELECT 1 FROM cloud_keys k JOIN cloud_registrations r ON r.ca = k.ca AND "
            "r.serial = k.serial WHERE k.user_id = ? AND r.institution_id = ? LIMIT 1",
            (user_id, institution_id, user_id, institution_id)) is not None

    def wrong_codes(self, phone: str, institution_id: int, since: dt.datetime) -> int:
        """Wrong confirmation codes to ``phone`` by ``institution_id``'s registrations made
        since ``since``, across registrations (a new registration is a new code, not new
        guesses)."""
        (count,) = self._one(_WRONG_CODES, (phone, institution_id, _ts(since)))
        return int(count)

    def try_code(self, user_id: str, check: Callable[[str], bool], at: dt.datetime,
                 limit: int, *, phone_limit: int, since: dt.datetime
                 ) -> tuple[CodeOutcome, int]:
        """Check one confirmation-code guess under the write lock: ``check(code_hash)`` says
        whether it matches. Returns the outcome and the wrong guesses left. At most
        ``limit`` guesses are ever checked, however many arrive at once, and at most
        ``phone_limit`` wrong ones over all registrations of the same phone by the same
        institution made since ``since``."""
        with self._tx() as conn:
            row = conn.execute("SELECT c.code_hash, c.expires_at, c.attempts, u.phone, "
                               "u.institution_id FROM cloud_codes c JOIN cloud_users u "
                               "ON u.id = c.user_id WHERE c.user_id = ?",
                               (user_id,)).fetchone()
            if row is None:
                return CodeOutcome.NONE_PENDING, 0
            code_hash, expires, attempts = row[0], row[1], int(row[2])
            if attempts >= limit:
                return CodeOutcome.EXHAUSTED, 0
            (spent,) = conn.execute(_WRONG_CODES, (row[3], row[4], _ts(since))).fetchone()
            if int(spent) >= phone_limit:
                return CodeOutcome.PHONE_LIMIT, 0
            if at > dt.datetime.fromisoformat(expires):
                return CodeOutcome.EXPIRED, limit - attempts
            if not check(code_hash):
                conn.execute("UPDATE cloud_codes SET attempts = attempts + 1 WHERE user_id = ?",
                             (user_id,))
                return CodeOutcome.WRONG, min(limit - attempts, phone_limit - int(spent)) - 1
            conn.execute("UPDATE cloud_users SET confirmed_at = ? WHERE id = ?",
                         (_ts(at), user_id))
            conn.execute("DELETE FROM cloud_codes WHERE user_id = ?", (user_id,))
            self._audit("cloud.user.confirmed", at, user=user_id)
            return CodeOutcome.CONFIRMED, limit - attempts

    def messages(self, phone: str, institution_id: int) -> list[dict[str, str]]:
        """The test channel: messages to ``phone`` that ``institution_id`` caused."""
        return [{"text": r[0], "at": r[1]} for r in self._all(
            "SELECT text, at FROM cloud_messages WHERE phone = ? AND institution_id = ? "
            "ORDER BY id", (phone, institution_id))]

    def set_designated_only(self, user_id: str, on: bool, at: dt.datetime,
                            institution: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE cloud_users SET designated_only = ? WHERE id = ?",
                         (int(on), user_id))
            self._audit("cloud.devices.designated-only", at, user=user_id, on=on,
                        institution=institution)

    # devices and history -------------------------------------------------------------------

    def devices(self, user_id: str) -> list[str]:
        return [r[0] for r in self._all(
            "SELECT device_id FROM cloud_devices WHERE user_id = ? ORDER BY added_at, device_id",
            (user_id,))]

    def add_device(self, user_id: str, device_id: str, at: dt.datetime, limit: int,
                   institution: str) -> bool:
        """Add a device unless the user has ``limit`` already; one transaction."""
        with self._tx() as conn:
            (count,) = conn.execute("SELECT count(*) FROM cloud_devices WHERE user_id = ?",
                                    (user_id,)).fetchone()
            exists = conn.execute("SELECT 1 FROM cloud_devices WHERE user_id = ? AND "
                                  "device_id = ?", (user_id, device_id)).fetchone()
            if exists is not None:
                return True
            if count >= limit:
                return False
            conn.execute("INSERT INTO cloud_devices VALUES (?, ?, ?)",
                         (user_id, device_id, _ts(at)))
            self._audit("cloud.device.added", at, user=user_id, institution=institution)
            return True

    def remove_device(self, user_id: str, device_id: str, at: dt.datetime,
                      institution: str) -> None:
        with self._tx() as conn:
            removed = conn.execute("DELETE FROM cloud_devices WHERE user_id = ? AND "
                                   "device_id = ?", (user_id, device_id)).rowcount
            if removed:
                self._audit("cloud.device.removed", at, user=user_id, institution=institution)

    def add_history(self, user_id: str, at: dt.datetime, institution: str, device: str | None,
                    purpose: str | None, serial: str | None, outcome: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO cloud_history (user_id, at, institution, device, "
                         "purpose, serial, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (user_id, _ts(at), institution, device, purpose, serial, outcome))

    def history(self, user_id: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT at, institution, device, purpose, serial, outcome FROM cloud_history "
            "WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit))
        return [{"at": r[0], "institution": r[1], "device": r[2], "purpose": r[3],
                 "serial": r[4], "outcome": r[5]} for r in rows]

    # keys ------------------------------------------------------------------------------------

    def put_key_in_transaction(self, ca: str, serial: str, user_id: str, sealed: Sealed,
                               institution_ids: list[int], at: dt.datetime, *,
                               replaces: str | None = None) -> None:
        """Store a sealed key, registered at ``institution_ids``, inside the transaction
        the caller has open on this store (the one that records its certificate)."""
        self._conn.execute(
            "INSERT INTO cloud_keys (ca, serial, user_id, salt, nonce, ciphertext, kdf, "
            "secret_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ca, serial, user_id, sealed.salt, sealed.nonce, sealed.ciphertext, sealed.kdf,
             sealed.secret_check))
        for institution_id in institution_ids:
            self._conn.execute("INSERT OR IGNORE INTO cloud_registrations VALUES (?, ?, ?, ?)",
                               (ca, serial, institution_id, _ts(at)))
        self._audit("cloud.key.sealed", at, ca=ca, serial=serial, user=user_id,
                    replaces=replaces)

    def registrations(self, ca: str, serial: str) -> list[int]:
        return [int(r[0]) for r in self._all(
            "SELECT institution_id FROM cloud_registrations WHERE ca = ? AND serial = ? "
            "ORDER BY at, institution_id", (ca, serial))]

    def replace_key(self, ca: str, serial: str, sealed: Sealed, at: dt.datetime,
                    institution: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE cloud_keys SET salt = ?, nonce = ?, ciphertext = ?, kdf = ?, "
                         "secret_check = ? WHERE ca = ? AND serial = ?",
                         (sealed.salt, sealed.nonce, sealed.ciphertext, sealed.kdf,
                          sealed.secret_check, ca, serial))
            self._audit("cloud.pin.changed", at, ca=ca, serial=serial, institution=institution)

    def key(self, ca: str, serial: str) -> dict[str, Any] | None:
        row = self._one("SELECT user_id, salt, nonce, ciphertext, kdf, failures, locked_at, "
                        "renewal_notice_at, secret_check FROM cloud_keys "
                        "WHERE ca = ? AND serial = ?", (ca, serial))
        if row is None:
            return None
        return {"user_id": row[0], "sealed": Sealed(bytes(row[1]), bytes(row[2]),
                                                    bytes(row[3]), row[4], row[8]),
                "failures": int(row[5]), "locked": row[6] is not None, "notice": row[7]}

    def keys_of(self, user_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._all(
            "SELECT ca, serial FROM cloud_keys WHERE user_id = ?", (user_id,))]

    def secret_checks(self) -> dict[str | None, int]:
        """Check value of the vault secret -> how many sealed keys carry it."""
        return {r[0]: int(r[1]) for r in self._all(
            "SELECT secret_check, count(*) FROM cloud_keys GROUP BY secret_check")}

    def adopt_secret_check(self, check: str, at: dt.datetime) -> None:
        """Give keys sealed before kpki kept check values the present secret's."""
        with self._tx() as conn:
            count = conn.execute("UPDATE cloud_keys SET secret_check = ? "
                                 "WHERE secret_check IS NULL", (check,)).rowcount
            if count:
                self._audit("cloud.vault.check-adopted", at, keys=count)

    # the PIN gate ----------------------------------------------------------------------------

    def reserve(self, ca: str, serial: str, boot: str, at: dt.datetime, limit: int
                ) -> Gate | None:
        """Ask to check one PIN: granted (a reservation) while the failures so far plus
        the checks in flight stay under ``limit``, so that never more than ``limit`` wrong
        PINs in a row can be tried, however many arrive at once. Nothing is charged.
        None when there is no such key."""
        with self._tx() as conn:
            row = conn.execute("SELECT failures, locked_at FROM cloud_keys WHERE ca = ? AND "
                               "serial = ?", (ca, serial)).fetchone()
            if row is None:
                return None
            failures, locked = int(row[0]), row[1] is not None
            if locked:
                return Gate(None, failures, True)
            (in_flight,) = conn.execute("SELECT count(*) FROM cloud_pin_reservations WHERE "
                                        "ca = ? AND serial = ?", (ca, serial)).fetchone()
            if failures + in_flight >= limit:
                return Gate(None, failures, False)
            (reservation,) = conn.execute(
                "INSERT INTO cloud_pin_reservations (ca, serial, boot, at) VALUES (?, ?, ?, ?) "
                "RETURNING id", (ca, serial, boot, _ts(at))).fetchone()
            return Gate(int(reservation), failures, False)

    def charge(self, reservation: int, ca: str, serial: str, at: dt.datetime, limit: int
               ) -> tuple[int, bool]:
        """A verified wrong PIN: release its reservation and count it, locking at
        ``limit``; one transaction. Returns (failures, locked)."""
        with self._tx() as conn:
            conn.execute("DELETE FROM cloud_pin_reservations WHERE id = ?", (reservation,))
            row = conn.execute(
                "UPDATE cloud_keys SET failures = failures + 1, locked_at = CASE WHEN "
                "failures + 1 >= ? THEN ? END WHERE ca = ? AND serial = ? AND "
                "locked_at IS NULL RETURNING failures, locked_at",
                (limit, _ts(at), ca, serial)).fetchone()
            if row is None:
                return limit, True
            failures, locked = int(row[0]), row[1] is not None
            self._audit("cloud.pin.locked" if locked else "cloud.pin.failed", at, ca=ca,
                        serial=serial, failures=failures)
            return failures, locked

    def release(self, reservation: int, ca: str, serial: str, at: dt.datetime, *,
                verified: bool) -> None:
        """End a PIN check that was not a verified wrong PIN; a ``verified`` right one
        also clears the failures. One transaction."""
        with self._tx() as conn:
            conn.execute("DELETE FROM cloud_pin_reservations WHERE id = ?", (reservation,))
            if verified and conn.execute(
                    "UPDATE cloud_keys SET failures = 0 WHERE ca = ? AND serial = ? AND "
                    "failures > 0 AND locked_at IS NULL", (ca, serial)).rowcount:
                self._audit("cloud.pin.reset", at, ca=ca, serial=serial)

    def sweep_reservations(self, alive: Callable[[str], bool], *, ca: str | None = None,
                           serial: str | None = None) -> int:
        """Forget the reservations of processes that are gone (of one key, or all);
        returns how many. They were never charged."""
        where, params = ("WHERE ca = ? AND serial = ?", (ca, serial)) if ca else ("", ())
        boots = [r[0] for r in self._all(
            f"SELECT DISTINCT boot FROM cloud_pin_reservations {where}", params)]
        dead = [boot for boot in boots if not alive(boot)]
        if not dead:
            return 0
        with self._tx() as conn:
            return sum(conn.execute("DELETE FROM cloud_pin_reservations WHERE boot = ?",
                                    (boot,)).rowcount for boot in dead)

    # renewal and registrations -------------------------------------------------------------

    def note_renewal(self, ca: str, serial: str, at: dt.datetime) -> None:
        with self._tx() as conn:
            if conn.execute("UPDATE cloud_keys SET renewal_notice_at = ? WHERE ca = ? AND "
                            "serial = ? AND renewal_notice_at IS NULL",
                            (_ts(at), ca, serial)).rowcount:
                self._audit("cloud.renewal.noticed", at, ca=ca, serial=serial)

    def registered(self, ca: str, serial: str, institution_id: int) -> bool:
        return self._one("SELECT 1 FROM cloud_registrations WHERE ca = ? AND serial = ? AND "
                         "institution_id = ?", (ca, serial, institution_id)) is not None

    def register(self, ca: str, serial: str, institution_id: int, at: dt.datetime,
                 institution: str) -> None:
        with self._tx() as conn:
            if conn.execute("INSERT OR IGNORE INTO cloud_registrations VALUES (?, ?, ?, ?)",
                            (ca, serial, institution_id, _ts(at))).rowcount:
                self._audit("cloud.registered", at, ca=ca, serial=serial,
                            institution=institution)
