"""The embedded default store: one SQLite file in WAL mode.

Concurrency: every write transaction starts with ``BEGIN IMMEDIATE``, so a writer takes the
write lock before reading what it will change (no read-then-upgrade deadlock, which SQLite
answers with an immediate "database is locked" that the busy timeout cannot help), and
waits up to ``busy_timeout`` for another writer to finish. WAL lets readers go on meanwhile.

Schema changes are numbered migrations applied under that same lock; ``PRAGMA
user_version`` records how far a file has come.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509

from ...errors import (
    CertificateNotFoundError,
    ClockBehindError,
    DiskFullError,
    ReadOnlyStoreError,
    SerialInUseError,
    StoreError,
    UnknownCAError,
)
from .. import (
    AuditEvent,
    CARecord,
    CertificateRecord,
    CertStatus,
    CRLEntry,
    CRLInfo,
    DeliveryRecord,
    KeyOrigin,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

BUSY_TIMEOUT_S = 60.0

_MIGRATIONS: tuple[str, ...] = (
    # 1: CAs, certificates, append-only audit log.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE cas (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES cas(id),
        style TEXT NOT NULL,
        der BLOB NOT NULL,
        crl_url TEXT NOT NULL,
        ocsp_url TEXT,
        cps_url TEXT,
        cn_sequence INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE certificates (
        id INTEGER PRIMARY KEY,
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        serial TEXT NOT NULL,
        subject TEXT NOT NULL,
        holder TEXT NOT NULL,
        profile TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('valid', 'revoked', 'suspended')),
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        der BLOB NOT NULL,
        issued_at TEXT NOT NULL,
        key_origin TEXT NOT NULL,
        UNIQUE (serial, ca_id)  -- also the index for look-ups by serial alone
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        ca TEXT,
        serial TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    -- No code path can record a certificate without its audit row.
    CREATE TRIGGER certificates_audit_issue AFTER INSERT ON certificates
    BEGIN
        INSERT INTO audit (at, action, ca, serial, detail)
        SELECT NEW.issued_at, 'certificate.issued', cas.label, NEW.serial,
               json_object('key', NEW.key_origin, 'profile', NEW.profile,
                           'subject', NEW.subject)
        FROM cas WHERE cas.id = NEW.ca_id;
    END;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: lifecycle (revocation, suspension, renewal links), CRL numbering and history.
    """
    ALTER TABLE certificates ADD COLUMN revoked_at TEXT;
    ALTER TABLE certificates ADD COLUMN reason TEXT;
    ALTER TABLE certificates ADD COLUMN invalidity_date TEXT;
    ALTER TABLE certificates ADD COLUMN status_changed_at TEXT;
    ALTER TABLE certificates ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE certificates ADD COLUMN ra TEXT NOT NULL DEFAULT '';
    ALTER TABLE certificates ADD COLUMN alias TEXT NOT NULL DEFAULT '';
    ALTER TABLE certificates ADD COLUMN replaces TEXT;
    ALTER TABLE cas ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cas ADD COLUMN crl_number INTEGER NOT NULL DEFAULT 0;
    -- What a CRL lists, and what changed since a base CRL, without scanning valid rows.
    CREATE INDEX certificates_on_crl ON certificates (ca_id, not_after)
        WHERE status != 'valid';
    CREATE INDEX certificates_changes ON certificates (ca_id, change_seq)
        WHERE change_seq > 0;
    CREATE INDEX certificates_suspended ON certificates (ca_id, revoked_at)
        WHERE status = 'suspended';
    CREATE TABLE crls (
        id INTEGER PRIMARY KEY,
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        number INTEGER NOT NULL,
        delta_base INTEGER,
        this_update TEXT NOT NULL,
        next_update TEXT NOT NULL,
        change_seq INTEGER NOT NULL,
        entries INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        UNIQUE (ca_id, number)
    );
    """,
    # 3: the financial-certificate cloud (pki.cloud); SQL in pki.store.sqlite.cloud.
    """
    CREATE TABLE institutions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        api_key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE cloud_users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        phone TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        designated_only INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE cloud_codes (
        user_id TEXT PRIMARY KEY REFERENCES cloud_users(id),
        code_hash TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE cloud_messages (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        text TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE cloud_keys (
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES cloud_users(id),
        salt BLOB NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        kdf TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_at TEXT,
        renewal_notice_at TEXT,
        PRIMARY KEY (ca, serial)
    );
    CREATE INDEX cloud_keys_user ON cloud_keys (user_id);
    CREATE TABLE cloud_registrations (
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        institution_id INTEGER NOT NULL REFERENCES institutions(id),
        at TEXT NOT NULL,
        PRIMARY KEY (ca, serial, institution_id)
    );
    CREATE TABLE cloud_devices (
        user_id TEXT NOT NULL REFERENCES cloud_users(id),
        device_id TEXT NOT NULL,
        added_at TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id)
    );
    CREATE TABLE cloud_history (
        id INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        at TEXT NOT NULL,
        institution TEXT NOT NULL,
        device TEXT,
        purpose TEXT,
        serial TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX cloud_history_user ON cloud_history (user_id, id);
    """,
    # 4: the cloud under hostile parties: PIN attempts in flight (never charged), the
    # institution a user registered with and the one that caused a message, and the
    # vault secret's check value beside each sealed key.
    """
    CREATE TABLE cloud_pin_reservations (
        id INTEGER PRIMARY KEY,
        ca TEXT NOT NULL,
        serial TEXT NOT NULL,
        boot TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX cloud_pin_reservations_key ON cloud_pin_reservations (ca, serial);
    ALTER TABLE cloud_users ADD COLUMN institution_id INTEGER REFERENCES institutions(id);
    ALTER TABLE cloud_messages ADD COLUMN institution_id INTEGER REFERENCES institutions(id);
    ALTER TABLE cloud_keys ADD COLUMN secret_check TEXT;
    """,
    # 5: time never goes backwards per CA: the latest time recorded for each CA's events
    # and the thisUpdate of its latest CRL (reserved with its number), seeded from history.
    """
    ALTER TABLE cas ADD COLUMN last_event_at TEXT;
    ALTER TABLE cas ADD COLUMN last_crl_at TEXT;
    UPDATE cas SET
        last_event_at = (SELECT max(at) FROM audit WHERE audit.ca = cas.label),
        last_crl_at = (SELECT max(this_update) FROM crls WHERE crls.ca_id = cas.id);
    """,
    # 6: deliveries into NPKI folders (pki.delivery): each certificate delivered to disk is
    # recorded with its folder in the issuing transaction, so a crash between the commit
    # and the files' arrival is found again; the store's id names its temporary folders.
    """
    CREATE TABLE deliveries (
        ca_id INTEGER NOT NULL REFERENCES cas(id),
        serial TEXT NOT NULL,
        folder TEXT NOT NULL,
        staging TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        delivered_at TEXT,
        PRIMARY KEY (ca_id, serial)
    );
    CREATE INDEX deliveries_pending ON deliveries (ca_id) WHERE delivered_at IS NULL;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(8))));
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


@functools.lru_cache(maxsize=1024)
def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str) -> dt.datetime:
    # fromisoformat reads the trailing Z since Python 3.11, twenty times faster than strptime
    return dt.datetime.fromisoformat(text)


def _hex(serial: int) -> str:
    return format(serial, "X")


def _primary_code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF


def _store_error(exc: sqlite3.Error, path: str, doing: str) -> StoreError:
    """The kpki error for an SQLite failure: a full disk and a read-only store by name,
    since the user can act on them; anything else with SQLite's words."""
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_FULL:
        return DiskFullError(f"the disk is full: cannot {doing} {path} (nothing was changed; "
                             "free some space and try again)", path=path)
    if code == sqlite3.SQLITE_READONLY:
        return ReadOnlyStoreError(f"the store {path} is read-only: cannot {doing} it "
                                  "(reading commands still work)", path=path)
    return StoreError(f"cannot {doing} {path}: {exc}")


class _Transaction:
    """The write half of the store; one instance per connection, entered once at a time."""

    def __init__(self, conn: sqlite3.Connection, path: str, *, read_only: bool = False,
                 time_order: bool = True) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self._path = path
        self._read_only = read_only
        self._time_order = time_order
        self._ca_ids: dict[str, int] = {}  # CA rows are never deleted or relabelled
        self._active = False

    def __enter__(self) -> _Transaction:
        if self._active:
            raise StoreError("transactions on one store do not nest")
        if self._read_only:
            raise ReadOnlyStoreError(f"the store {self._path} is read-only: cannot write to "
                                     "it (reading commands still work)", path=self._path)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(exc, self._path, "write to") from None
        self._active = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self._active = False
        if exc_type is not None:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise _store_error(exc, self._path, "write to") from None
            return
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise _store_error(error, self._path, "commit to") from None

    def _rollback(self) -> None:
        # SQLite rolls the whole transaction back by itself after some errors (a full
        # disk, an I/O error); a second ROLLBACK would then hide the first error.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _ca_id(self, label: str) -> int:
        cached = self._ca_ids.get(label)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT id FROM cas WHERE label = ?", (label,)).fetchone()
        if row is None:
            raise UnknownCAError(label)
        self._ca_ids[label] = int(row[0])
        return int(row[0])

    def reserve_cn_sequence(self, ca: str, count: int = 1) -> int:
        if count < 1:
            raise ValueError("reserve at least one sequence number")
        row = self._conn.execute(
            "UPDATE cas SET cn_sequence = cn_sequence + ? WHERE label = ? "
            "RETURNING cn_sequence", (count, ca)
        ).fetchone()
        if row is None:
            raise UnknownCAError(ca)
        return int(row[0]) - count + 1

    def put_ca(self, record: CARecord) -> None:
        parent_id = self._ca_id(record.parent) if record.parent else None
        try:
            self._conn.execute(
                "INSERT INTO cas (label, parent_id, style, der, crl_url, ocsp_url, cps_url, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.label, parent_id, record.style, record.der, record.crl_url,
                 record.ocsp_url, record.cps_url, _ts(record.created_at)),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"a CA labelled {record.label!r} exists already") from None

    def event_time(self, ca: str, at: dt.datetime) -> dt.datetime:
        """``at``, or the latest time recorded for an event of ``ca`` if the clock has gone
        back past it; the CA's latest time moves on to the result."""
        return self._advance(self._ca_id(ca), at)

    def _advance(self, ca_id: int, at: dt.datetime) -> dt.datetime:
        if not self._time_order:
            return at
        text = _ts(at)
        (latest,) = self._conn.execute(
            "UPDATE cas SET last_event_at = max(coalesce(last_event_at, ?1), ?1) "
            "WHERE id = ?2 RETURNING last_event_at", (text, ca_id)).fetchone()
        return at if latest == text else _parse_ts(latest)

    def put_certificate(self, record: CertificateRecord) -> None:
        ca_id = self._ca_id(record.ca)
        issued_at = self._advance(ca_id, record.issued_at)
        try:
            self._cursor.execute(
                "INSERT INTO certificates (ca_id, serial, subject, holder, profile, status, "
                "not_before, not_after, der, issued_at, key_origin, ra, alias, replaces) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ca_id, _hex(record.serial), record.subject, record.holder,
                 record.profile, record.status.value, _ts(record.not_before),
                 _ts(record.not_after), record.der, _ts(issued_at),
                 record.key_origin.value, record.ra, record.alias,
                 None if record.replaces is None else _hex(record.replaces)),
            )
        except sqlite3.IntegrityError:
            # Only UNIQUE (ca_id, serial) can fail here; the statement alone is rolled back
            # and the transaction stays usable.
            raise SerialInUseError(record.serial, ca=record.ca) from None

    def audit(self, action: str, *, at: dt.datetime, ca: str | None = None,
              serial: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        if ca is not None:
            ca_id = self._ca_ids.get(ca)
            if ca_id is None:
                row = self._conn.execute("SELECT id FROM cas WHERE label = ?", (ca,)).fetchone()
                ca_id = None if row is None else self._ca_ids.setdefault(ca, int(row[0]))
            if ca_id is not None:
                at = self._advance(ca_id, at)
        self._conn.execute(
            "INSERT INTO audit (at, action, ca, serial, detail) VALUES (?, ?, ?, ?, ?)",
            (_ts(at), action, ca, None if serial is None else _hex(serial),
             json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True)),
        )

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           (key, value))

    def get_certificate(self, ca: str, serial: int) -> CertificateRecord | None:
        row = self._conn.execute(
            f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "
            "WHERE c.serial = ? AND c.ca_id = ?", (_hex(serial), self._ca_id(ca))).fetchone()
        return None if row is None else _cert_record(row)

    def set_status(self, ca: str, serial: int, *, status: CertStatus, at: dt.datetime,
                   revoked_at: dt.datetime | None, reason: x509.ReasonFlags | None,
                   invalidity_date: dt.datetime | None) -> None:
        ca_id = self._ca_id(ca)
        event_at = self._advance(ca_id, at)
        if revoked_at is not None and revoked_at == at:  # put on the CRL by this event
            revoked_at = event_at
        (seq,) = self._conn.execute(
            "UPDATE cas SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq",
            (ca_id,)).fetchone()
        cursor = self._conn.execute(
            "UPDATE certificates SET status = ?, revoked_at = ?, reason = ?, "
            "invalidity_date = ?, status_changed_at = ?, change_seq = ? "
            "WHERE serial = ? AND ca_id = ?",
            (status.value, None if revoked_at is None else _ts(revoked_at),
             None if reason is None else reason.value,
             None if invalidity_date is None else _ts(invalidity_date), _ts(event_at), seq,
             _hex(serial), ca_id))
        if cursor.rowcount != 1:
            raise CertificateNotFoundError(serial, ca=ca)

    def reserve_crl(self, ca: str, at: dt.datetime) -> tuple[int, dt.datetime]:
        ca_id = self._ca_id(ca)
        (last,) = self._conn.execute("SELECT last_crl_at FROM cas WHERE id = ?",
                                     (ca_id,)).fetchone()
        if self._time_order and last is not None and _ts(at) < last:
            raise ClockBehindError(ca=ca, at=at.replace(microsecond=0), last=_parse_ts(last))
        this_update = self._advance(ca_id, at)
        (number,) = self._conn.execute(
            "UPDATE cas SET crl_number = crl_number + 1, last_crl_at = ? WHERE id = ? "
            "RETURNING crl_number", (_ts(this_update), ca_id)).fetchone()
        return int(number), this_update

    def record_crl(self, info: CRLInfo) -> None:
        self._conn.execute(
            "INSERT INTO crls (ca_id, number, delta_base, this_update, next_update, "
            "change_seq, entries, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._ca_id(info.ca), info.number, info.delta_base, _ts(info.this_update),
             _ts(info.next_update), info.change_seq, info.entries, info.sha256))

    def record_delivery(self, record: DeliveryRecord) -> None:
        self._conn.execute(
            "INSERT INTO deliveries (ca_id, serial, folder, staging, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (self._ca_id(record.ca), _hex(record.serial), record.folder, record.staging,
             _ts(record.recorded_at)))

    def mark_delivered(self, ca: str, serial: int, *, at: dt.datetime) -> bool:
        ca_id = self._ca_id(ca)
        at = self._advance(ca_id, at)
        row = self._conn.execute(
            "UPDATE deliveries SET delivered_at = ? WHERE ca_id = ? AND serial = ? "
            "AND delivered_at IS NULL RETURNING folder",
            (_ts(at), ca_id, _hex(serial))).fetchone()
        if row is None:
            return False
        self.audit("certificate.delivered", at=at, ca=ca, serial=serial,
                   detail={"folder": row[0]})
        return True

    def pending_deliveries(self) -> list[DeliveryRecord]:
        return _delivery_records(self._conn.execute(_PENDING_DELIVERIES).fetchall())


_DELIVERY_COLUMNS = ("cas.label, d.serial, d.folder, d.staging, d.recorded_at, "
                     "d.delivered_at")
_PENDING_DELIVERIES = (f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN cas ON "
                       "cas.id = d.ca_id WHERE d.delivered_at IS NULL")


def _delivery_records(rows: Sequence[Any]) -> list[DeliveryRecord]:
    return [DeliveryRecord(ca=r[0], serial=int(r[1], 16), folder=r[2], staging=r[3],
                           recorded_at=_parse_ts(r[4]), delivered_at=_opt_ts(r[5]))
            for r in rows]


_CERT_COLUMNS = ("cas.label, c.serial, c.subject, c.holder, c.profile, c.status, "
                 "c.not_before, c.not_after, c.der, c.issued_at, c.key_origin, c.revoked_at, "
                 "c.reason, c.invalidity_date, c.status_changed_at, c.ra, c.alias, c.replaces")


def _opt_ts(text: str | None) -> dt.datetime | None:
    return None if text is None else _parse_ts(text)


def _cert_record(row: sqlite3.Row | tuple[Any, ...]) -> CertificateRecord:
    return CertificateRecord(
        ca=row[0], serial=int(row[1], 16), subject=row[2], holder=row[3], profile=row[4],
        status=CertStatus(row[5]), not_before=_parse_ts(row[6]), not_after=_parse_ts(row[7]),
        der=bytes(row[8]), issued_at=_parse_ts(row[9]), key_origin=KeyOrigin(row[10]),
        revoked_at=_opt_ts(row[11]), reason=None if row[12] is None else x509.ReasonFlags(row[12]),
        invalidity_date=_opt_ts(row[13]), status_changed_at=_opt_ts(row[14]), ra=row[15],
        alias=row[16], replaces=None if row[17] is None else int(row[17], 16),
    )


class SQLiteStore:
    """A :class:`pki.store.Store` in one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, *, create: bool = False,
                 time_order: bool = True) -> None:
        """Open (or with ``create``, create) the store at ``path``.

        A store whose file or folder cannot be written (a read-only home) is opened
        read-only: reads work, and every transaction raises :class:`ReadOnlyStoreError`.

        ``time_order=False`` records times exactly as given, even earlier than a CA's
        previous event, and lets CRLs go back in time: for test PKIs whose clock travels
        on purpose (:class:`pki.testing.TestPKI`), never for a home.
        """
        self.path = str(path)
        self._ca_id_cache: dict[str, int] = {}
        self.read_only = False
        if self.path != ":memory:" and not create and not Path(self.path).is_file():
            raise StoreError(f"no store at {self.path}")
        self._conn = self._connect(self.path, uri=False)
        try:
            self._setup(create=create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if create or _primary_code(exc) not in (sqlite3.SQLITE_READONLY,
                                                    sqlite3.SQLITE_CANTOPEN):
                raise self._open_error(exc) from None
            self._open_read_only()
        self._tx = _Transaction(self._conn, self.path, read_only=self.read_only,
                                time_order=time_order)

    def _connect(self, target: str, *, uri: bool) -> sqlite3.Connection:
        try:
            return sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False, uri=uri)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None

    def _setup(self, *, create: bool) -> None:
        self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self._conn.execute("PRAGMA foreign_keys = ON")
        if create:
            self._conn.execute("PRAGMA journal_mode = WAL")
        if not self.read_only:
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _open_read_only(self) -> None:
        """Reopen without writing anything. SQLite reads a WAL store in a folder it cannot
        write only if the WAL index exists already, or as an immutable file when there is
        no WAL with changes waiting in it (then nothing is skipped)."""
        self.read_only = True
        wal = Path(self.path + "-wal")
        immutable = not (wal.is_file() and wal.stat().st_size > 0)
        target = Path(self.path).absolute().as_uri() + "?mode=ro" + (
            "&immutable=1" if immutable else "")
        self._conn = self._connect(target, uri=True)
        try:
            self._setup(create=False)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise self._open_error(exc) from None

    def _open_error(self, exc: sqlite3.Error) -> StoreError:
        if _primary_code(exc) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY):
            return _store_error(exc, self.path, "open")
        return StoreError(f"the store {self.path} is unreadable or corrupted: {exc}")

    # -- schema -----------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema {version}; this kpki knows {SCHEMA_VERSION}"
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise ReadOnlyStoreError(
                f"the store {self.path} has schema {version} and needs upgrading to "
                f"{SCHEMA_VERSION}, but it is read-only", path=self.path)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, SCHEMA_VERSION):
                for statement in _split_sql(_MIGRATIONS[number]):
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes -----------------------------------------------------------------------

    def transaction(self) -> _Transaction:
        """``with store.transaction() as tx:``: BEGIN IMMEDIATE, then COMMIT or ROLLBACK."""
        return self._tx

    # -- reads ------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path, "read the store") from None

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def _ca_rows(self, where: str = "", params: Sequence[Any] = ()) -> list[CARecord]:
        rows = self._query(
            "SELECT c.label, p.label, c.style, c.der, c.crl_url, c.ocsp_url, c.cps_url, "
            "c.created_at FROM cas c LEFT JOIN cas p ON p.id = c.parent_id "
            f"{where} ORDER BY c.id", params)
        return [CARecord(label=r[0], parent=r[1], style=r[2], der=bytes(r[3]), crl_url=r[4],
                         ocsp_url=r[5], cps_url=r[6], created_at=_parse_ts(r[7]))
                for r in rows]

    def get_ca(self, label: str) -> CARecord:
        rows = self._ca_rows("WHERE c.label = ?", (label,))
        if not rows:
            raise UnknownCAError(label)
        return rows[0]

    def list_cas(self) -> list[CARecord]:
        return self._ca_rows()

    def find_certificates(self, serial: int, *, ca: str | None = None
                          ) -> list[CertificateRecord]:
        sql = (f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "
               "WHERE c.serial = ?")
        params: list[Any] = [_hex(serial)]
        if ca is not None:
            sql += " AND cas.label = ?"
            params.append(ca)
        return [_cert_record(r) for r in self._query(sql, params)]

    def list_certificates(self, *, ca: str | None = None, status: CertStatus | None = None,
                          profile: str | None = None, holder: str | None = None
                          ) -> list[CertificateRecord]:
        clauses, params = [], []
        for column, value in (("cas.label", ca), ("c.status", status and status.value),
                              ("c.profile", profile), ("c.holder", holder)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT {_CERT_COLUMNS} FROM certificates c JOIN cas ON cas.id = c.ca_id "
            f"{where} ORDER BY c.id", params)
        return [_cert_record(r) for r in rows]

    def count_certificates(self) -> int:
        return int(self._query("SELECT count(*) FROM certificates")[0][0])

    def audit_log(self, *, ca: str | None = None, serial: int | None = None
                  ) -> list[AuditEvent]:
        clauses, params = [], []
        if ca is not None:
            clauses.append("ca = ?")
            params.append(ca)
        if serial is not None:
            clauses.append("serial = ?")
            params.append(_hex(serial))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT id, at, action, ca, serial, detail FROM audit {where} ORDER BY id", params)
        return [AuditEvent(id=r[0], at=_parse_ts(r[1]), action=r[2], ca=r[3],
                           serial=None if r[4] is None else int(r[4], 16),
                           detail=json.loads(r[5])) for r in rows]

    def change_seq(self, ca: str) -> int:
        rows = self._query("SELECT change_seq FROM cas WHERE label = ?", (ca,))
        if not rows:
            raise UnknownCAError(ca)
        return int(rows[0][0])

    def last_crl(self, ca: str, *, delta: bool = False) -> CRLInfo | None:
        rows = self._query(
            "SELECT crls.number, crls.delta_base, crls.this_update, crls.next_update, "
            "crls.change_seq, crls.entries, crls.sha256 FROM crls JOIN cas ON cas.id = "
            f"crls.ca_id WHERE cas.label = ? AND crls.delta_base IS {'NOT ' if delta else ''}"
            "NULL ORDER BY crls.number DESC LIMIT 1", (ca,))
        if not rows:
            return None
        r = rows[0]
        return CRLInfo(ca, r[0], r[1], _parse_ts(r[2]), _parse_ts(r[3]), r[4], r[5], r[6])

    def _ca_id_of(self, ca: str) -> int:
        cached = self._ca_id_cache.get(ca)
        if cached is not None:
            return cached
        rows = self._query("SELECT id FROM cas WHERE label = ?", (ca,))
        if not rows:
            raise UnknownCAError(ca)
        self._ca_id_cache[ca] = int(rows[0][0])  # CA rows are never deleted or relabelled
        return int(rows[0][0])

    def crl_entries(self, ca: str, *, at: dt.datetime) -> Iterator[CRLEntry]:
        cursor = self._conn.execute(
            "SELECT serial, revoked_at, reason, invalidity_date FROM certificates "
            "INDEXED BY certificates_on_crl "
            "WHERE ca_id = ? AND status != 'valid' AND not_after >= ? ORDER BY id",
            (self._ca_id_of(ca), _ts(at)))
        try:
            for row in cursor:
                yield CRLEntry(*row)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store {self.path}: {exc}") from None

    def changed_since(self, ca: str, change_seq: int, *, at: dt.datetime
                      ) -> Iterator[tuple[CertStatus, CRLEntry]]:
        cursor = self._conn.execute(
            "SELECT status, serial, coalesce(revoked_at, status_changed_at), reason, "
            "invalidity_date FROM certificates INDEXED BY certificates_changes "
            "WHERE ca_id = ? AND change_seq > 0 AND change_seq > ? AND not_after >= ? "
            "ORDER BY change_seq",
            (self._ca_id_of(ca), change_seq, _ts(at)))
        for row in cursor:
            yield CertStatus(row[0]), CRLEntry(*row[1:])

    def status_of(self, ca: str, serial: int
                  ) -> tuple[CertStatus, dt.datetime | None, x509.ReasonFlags | None] | None:
        rows = self._query(
            "SELECT c.status, c.revoked_at, c.status_changed_at, c.reason FROM certificates c "
            "WHERE c.serial = ? AND c.ca_id = ?", (_hex(serial), self._ca_id_of(ca)))
        if not rows:
            return None
        status, revoked_at, changed_at, reason = rows[0]
        when = revoked_at or changed_at
        return (CertStatus(status), None if when is None else _parse_ts(when),
                None if reason is None else x509.ReasonFlags(reason))

    def renewals_of(self, ca: str, serial: int) -> list[int]:
        rows = self._query(
            "SELECT serial FROM certificates WHERE ca_id = ? AND replaces = ?",
            (self._ca_id_of(ca), _hex(serial)))
        return [int(r[0], 16) for r in rows]

    def suspended_before(self, ca: str, cutoff: dt.datetime) -> list[int]:
        rows = self._query(
            "SELECT serial FROM certificates INDEXED BY certificates_suspended "
            "WHERE ca_id = ? AND status = 'suspended' AND revoked_at < ?",
            (self._ca_id_of(ca), _ts(cutoff)))
        return [int(r[0], 16) for r in rows]

    def pending_deliveries(self, *, ca: str | None = None) -> list[DeliveryRecord]:
        sql, params = _PENDING_DELIVERIES, []
        if ca is not None:
            sql += " AND cas.label = ?"
            params.append(ca)
        return _delivery_records(self._query(sql + " ORDER BY d.recorded_at, d.rowid", params))

    def close(self) -> None:
        self._conn.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements
