"""The SQLite store and its one unit of work.

Concurrency: every write transaction starts with ``BEGIN IMMEDIATE``, so a writer takes the
write lock before reading what it will change (no read-then-upgrade deadlock, which SQLite
answers with an immediate "database is locked" that the busy timeout cannot help), and
waits up to ``busy_timeout`` for another writer to finish. WAL lets readers go on meanwhile.
All parts of the store (the CA side, the cloud) run on one connection, so one transaction
holds the writes of all of them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from ...errors import ReadOnlyStoreError, StoreError
from .bank import BankReadsSQL, BankWritesSQL
from .certificates import CertificateReadsSQL, CertificateWritesSQL
from .cloud import CloudReadsSQL, CloudWritesSQL
from .common import BUSY_TIMEOUT_S, UnitOfWork, primary_code, store_error
from .devices import DeviceReadsSQL, DeviceWritesSQL
from .listing import CertificateListingSQL
from .otp import OtpReadsSQL, OtpWritesSQL
from .phone import PhoneReadsSQL, PhoneWritesSQL
from .ra import RaReadsSQL, RaWritesSQL
from .schema import SCHEMA_VERSION, migrate
from .sdk import SdkReadsSQL, SdkWritesSQL
from .transfers import TransferReadsSQL, TransferWritesSQL

__all__ = ["SQLiteStore", "SQLiteTransaction"]

_NO_PAGE_LIMIT = 1073741823


class SQLiteTransaction(UnitOfWork, CertificateWritesSQL, CloudWritesSQL, BankWritesSQL,
                        OtpWritesSQL, PhoneWritesSQL, TransferWritesSQL, DeviceWritesSQL,
                        RaWritesSQL, SdkWritesSQL):
    """The write half of the store (:class:`pki.store.StoreTransaction`); one instance per
    connection, entered once at a time."""

    _conn: sqlite3.Connection

    def __init__(self, conn: sqlite3.Connection, path: str, *, read_only: bool = False,
                 time_order: bool = True, store_ca_ids: dict[str, int] | None = None
                 ) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self.path = path
        self._read_only = read_only
        self._time_order = time_order
        self._ca_ids: dict[str, int] = {}
        self._store_ca_ids = {} if store_ca_ids is None else store_ca_ids
        self._latest: dict[int, str] = {}
        self._active = False
        self._failing_commits = 0

    def _writes_refused(self) -> bool:
        return self._read_only

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store_error(exc, self.path, "write to") from None

    def _end(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        """ROLLBACK (after an exception) or COMMIT."""
        if exc_type is not None:
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise store_error(exc, self.path, "write to") from None
            return
        if self._failing_commits:
            self._failing_commits -= 1
            self._rollback()
            raise StoreError(f"cannot commit to {self.path}: disk I/O error "
                             "(SQLiteStore.fail_commits)")
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise store_error(error, self.path, "commit to") from None

    def _rollback(self) -> None:
        # SQLite rolls the whole transaction back by itself after some errors (a full
        # disk, an I/O error); a second ROLLBACK would then hide the first error.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


class SQLiteStore(CertificateReadsSQL, CertificateListingSQL, CloudReadsSQL, BankReadsSQL,
                  OtpReadsSQL, PhoneReadsSQL, TransferReadsSQL, DeviceReadsSQL, RaReadsSQL,
                  SdkReadsSQL):
    """A :class:`pki.store.Store` in one SQLite file (or ``":memory:"``)."""

    _conn: sqlite3.Connection

    on_open: ClassVar[list[Callable[[SQLiteStore], None]]] = []
    """Test hook: each function here is called with every store this process opens, after
    its schema is up to date (to cap its growth, say, with :meth:`limit_growth`). An
    ``sqlite3.DatabaseError`` it raises is handled as one from opening the file (a
    read-only one reopens the store read-only). Empty outside tests."""

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
        self._time_order = time_order
        self.read_only = False
        if self.path != ":memory:" and not create and not Path(self.path).is_file():
            raise StoreError(f"no store at {self.path}")
        self._conn = self._connect(self.path, uri=False)
        try:
            self._setup(create=create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if create or primary_code(exc) not in (sqlite3.SQLITE_READONLY,
                                                   sqlite3.SQLITE_CANTOPEN):
                raise self._open_error(exc) from None
            self._open_read_only()

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
        self._tx = SQLiteTransaction(self._conn, self.path, read_only=self.read_only,
                                     time_order=self._time_order,
                                     store_ca_ids=self._ca_id_cache)
        for hook in self.on_open:
            hook(self)

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
        if primary_code(exc) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY):
            return store_error(exc, self.path, "open")
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
        migrate(self._conn)

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes -----------------------------------------------------------------------

    def transaction(self) -> SQLiteTransaction:
        """``with store.transaction() as tx:``: BEGIN IMMEDIATE, then COMMIT or ROLLBACK."""
        return self._tx

    # -- test hooks ---------------------------------------------------------------------

    def limit_growth(self, pages: int | None = 0) -> None:
        """Test hook: let the file grow by at most ``pages`` more pages (None: no limit), so
        writes fail as on a full disk (SQLITE_FULL)."""
        if pages is None:
            self._conn.execute(f"PRAGMA max_page_count = {_NO_PAGE_LIMIT}")
            return
        (count,) = self._conn.execute("PRAGMA page_count").fetchone()
        self._conn.execute(f"PRAGMA max_page_count = {int(count) + pages}")

    def keep_changes_in_wal(self) -> None:
        """Test hook: no automatic checkpoints from this connection, so committed changes
        stay in the WAL file (as a process killed before its checkpoint leaves them)."""
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")

    def fail_commits(self, count: int = 1) -> None:
        """Test hook: the next ``count`` transactions that would commit roll back instead
        and raise :class:`StoreError`, as a disk I/O error at COMMIT does."""
        self._tx._failing_commits = count

    def close(self) -> None:
        self._conn.close()
