"""The PostgreSQL store and its one unit of work.

The same guarantees as the SQLite store, by PostgreSQL's means:

* **One writer at a time.** A write transaction is ``BEGIN`` (READ COMMITTED) and, as its
  first statement, ``pg_advisory_xact_lock`` on the store's write lock
  (:data:`.connection.WRITE_LOCK`), released by COMMIT or ROLLBACK: the equivalent of
  SQLite's ``BEGIN IMMEDIATE``. Every statement after the lock sees every commit made
  before it was granted, so a transaction reads, decides and writes with no other writer
  in between, and nothing ever fails with "could not serialize" (REPEATABLE READ or
  SERIALIZABLE would take their snapshot before the lock is granted, then fail or read
  stale rows). A writer waits up to ``BUSY_TIMEOUT_S`` for the lock, as on SQLite.
* **All or nothing.** A transaction that raises is rolled back; a connection lost in the
  middle of one leaves nothing written (the server rolls it back) and says so. A statement
  that failed inside the block aborts the whole transaction in PostgreSQL (not in SQLite),
  so such a transaction is rolled back at its end, never committed in part.
* **Serial uniqueness, the audit log append-only**: the schema's constraints and triggers
  (:mod:`.schema`).

Reads run in autocommit on the calling thread's own connection (:mod:`.connection`); a
transaction runs on the calling thread's, so threads can each have one at a time.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.pq import TransactionStatus

from ...errors import PKIError, ReadOnlyStoreError, StoreError, UnstorableValueError
from ...leadership import AdvisoryLease
from ..sqlite.bank import BankReadsSQL, BankWritesSQL
from ..sqlite.certificates import CertificateReadsSQL, CertificateWritesSQL
from ..sqlite.cloud import CloudReadsSQL, CloudWritesSQL
from ..sqlite.common import SQLiteConnection, UnitOfWork
from ..sqlite.devices import DeviceReadsSQL, DeviceWritesSQL
from ..sqlite.listing import CertificateListingSQL
from ..sqlite.otp import OtpReadsSQL, OtpWritesSQL
from ..sqlite.phone import PhoneReadsSQL, PhoneWritesSQL
from ..sqlite.ra import RaReadsSQL, RaWritesSQL
from ..sqlite.sdk import SdkReadsSQL, SdkWritesSQL
from ..sqlite.transfers import TransferReadsSQL, TransferWritesSQL
from .connection import WRITE_LOCK, Connections, shown_url, store_error
from .schema import SCHEMA_VERSION, statements

__all__ = ["PostgreSQLStore", "PostgreSQLTransaction", "create_at_version"]

_BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK[0]}, {WRITE_LOCK[1]})"
"""One round trip: the transaction and its write lock."""


def _error(exc: psycopg.Error, shown: str, doing: str) -> PKIError:
    """:func:`.connection.store_error`, but a value PostgreSQL cannot hold (a data
    exception, SQLSTATE class 22, or one psycopg refuses to send: text with a NUL) is
    :class:`UnstorableValueError`, bad input rather than an unavailable store."""
    if isinstance(exc, psycopg.DataError):
        return UnstorableValueError(
            f"the store {shown} cannot hold a value it was given: "
            f"{' '.join(str(exc).split())} (nothing was changed)", path=shown)
    return store_error(exc, shown, doing)


class _OnPostgreSQL(SQLiteConnection):
    """The parts' reads on :class:`Connections`, with PostgreSQL's errors as kpki's."""

    _conn: Connections

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise _error(exc, self.path, "read") from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            yield from self._conn.stream(sql, params)
        except psycopg.Error as exc:
            raise _error(exc, self.path, "read") from None


class PostgreSQLTransaction(UnitOfWork, _OnPostgreSQL, CertificateWritesSQL, CloudWritesSQL,
                            BankWritesSQL, OtpWritesSQL, PhoneWritesSQL, TransferWritesSQL,
                            DeviceWritesSQL, RaWritesSQL, SdkWritesSQL):
    """The write half of the store (:class:`pki.store.StoreTransaction`); one per thread,
    entered once at a time."""

    def __init__(self, store: PostgreSQLStore) -> None:
        self._store = store
        self._conn = store._conn
        self._cursor = store._conn
        self.path = store.path
        self._time_order = store.time_order
        self._ca_ids: dict[str, int] = {}
        self._store_ca_ids = store._ca_id_cache
        self._latest: dict[int, str] = {}
        self._active = False

    def _writes_refused(self) -> bool:
        return self._store.read_only  # a standby found at any read of the schema

    def _begin(self) -> None:
        conn = self._conn.raw()
        try:
            conn.execute(_BEGIN)
        except psycopg.Error as exc:
            self._rollback(conn)
            raise store_error(exc, self.path, "write to") from None
        self._conn.pin()

    def _end(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        """ROLLBACK (after an exception, a failed statement) or COMMIT."""
        conn = self._conn.unpin()
        if conn is None:
            raise StoreError(f"lost the connection to the store {self.path} in the middle of "
                             "a change: nothing of it was written (PostgreSQL rolled it "
                             "back)") from None
        if exc_type is not None:
            self._rollback(conn)
            if isinstance(exc, psycopg.Error):
                raise _error(exc, self.path, "write to") from None
            return
        if conn.info.transaction_status == TransactionStatus.INERROR:
            self._rollback(conn)
            raise StoreError(f"cannot write to {self.path}: a statement failed inside the "
                             "change, so none of it was written")
        if self._store._failing_commits:
            self._store._failing_commits -= 1
            self._rollback(conn)
            raise StoreError(f"cannot commit to {self.path}: the connection failed "
                             "(PostgreSQLStore.fail_commits)")
        try:
            conn.execute("COMMIT")
        except psycopg.Error as error:
            if conn.closed:
                raise StoreError(f"lost the connection to the store {self.path} while "
                                 "committing a change: it may or may not have been "
                                 "written") from None
            self._rollback(conn)
            raise store_error(error, self.path, "commit to") from None

    @staticmethod
    def _rollback(conn: psycopg.Connection[Any]) -> None:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")


class PostgreSQLStore(_OnPostgreSQL, CertificateReadsSQL, CertificateListingSQL,
                      CloudReadsSQL, BankReadsSQL, OtpReadsSQL, PhoneReadsSQL,
                      TransferReadsSQL, DeviceReadsSQL, RaReadsSQL, SdkReadsSQL):
    """A :class:`pki.store.Store` in a PostgreSQL database (15 or later)."""

    on_open: ClassVar[list[Callable[[PostgreSQLStore], None]]] = []
    """Test hook: each function here is called with every store this process opens, after
    its schema is up to date. Empty outside tests."""

    def __init__(self, url: str, *, create: bool = False, time_order: bool = True,
                 read_only: bool = False) -> None:
        """Open the store in the database at ``url`` (``postgresql://user@host/db``; the
        password, if any, from ``~/.pgpass`` or ``$PGPASSWORD`` as libpq finds it).

        ``create`` makes kpki's tables in a database without them (the database itself
        must exist); otherwise such a database is refused. A store is read-only when asked
        (``read_only``) or when the server is a standby: reads work, and every transaction
        raises :class:`ReadOnlyStoreError`. ``time_order`` as for
        :class:`pki.store.sqlite.SQLiteStore`. Raises :class:`StoreError` for a server
        that cannot be reached, a refused login, a missing database, a store of a newer
        kpki; messages never show a password.
        """
        self.url = url
        self.path = shown_url(url)
        self.time_order = time_order
        self.read_only = read_only
        self._ca_id_cache: dict[str, int] = {}
        self._failing_commits = 0
        self._local = threading.local()
        self._conn = Connections(url, shown=self.path, read_only=read_only)
        try:
            self._migrate(create=create)
            for hook in self.on_open:
                hook(self)
        except BaseException:
            self._conn.close()
            raise

    # -- schema -----------------------------------------------------------------------

    def _version(self) -> int:
        # pg_class read as a table, not to_regclass(): to_regclass answers from the
        # session's catalog cache, which a transaction does not refresh while it runs, so
        # inside _upgrade, once the write lock was granted, it could still say "no store"
        # about the one the lock's previous holder had just committed.
        ((found, standby),) = self._query(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relname = 'kpki_schema'"
            " AND n.nspname = current_schema()), pg_is_in_recovery()")
        if standby:
            self.read_only = True
        if not found:
            return 0
        return int(self._query("SELECT version FROM kpki_schema")[0][0])

    def _migrate(self, *, create: bool) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StoreError(f"the store {self.path} has schema {version}; this kpki knows "
                             f"{SCHEMA_VERSION}")
        if version == SCHEMA_VERSION:
            return
        if version == 0 and not create:
            raise StoreError(f"no kpki store in the database {self.path} (kpki init --store "
                             "makes one)")
        if self.read_only:
            raise ReadOnlyStoreError(
                f"the store {self.path} has schema {version} and needs upgrading to "
                f"{SCHEMA_VERSION}, but it is read-only", path=self.path)
        self._upgrade(SCHEMA_VERSION)

    def _upgrade(self, upto: int) -> None:
        """Apply the migrations the database lacks, up to ``upto``, in one transaction
        under the write lock: two processes opening one new database, one migrates."""
        conn = self._conn.raw()
        try:
            conn.execute(_BEGIN)
            version = self._version()
            for script in statements(version, upto):
                conn.execute(script)
            if version == 0:
                conn.execute("CREATE TABLE kpki_schema (version BIGINT NOT NULL)")
                conn.execute("INSERT INTO kpki_schema (version) VALUES (0)")
                conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', %s)",
                             (secrets.token_hex(8),))
            conn.execute("UPDATE kpki_schema SET version = %s", (max(upto, version),))
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            PostgreSQLTransaction._rollback(conn)
            raise store_error(exc, self.path, "set up") from None
        except BaseException:
            PostgreSQLTransaction._rollback(conn)
            raise

    @property
    def schema_version(self) -> int:
        return self._version()

    # -- writes -----------------------------------------------------------------------

    def transaction(self) -> PostgreSQLTransaction:
        """``with store.transaction() as tx:``: BEGIN and the write lock, then COMMIT or
        ROLLBACK, on the calling thread's connection."""
        tx: PostgreSQLTransaction | None = getattr(self._local, "tx", None)
        if tx is None:
            tx = self._local.tx = PostgreSQLTransaction(self)
        return tx

    # -- test hooks ---------------------------------------------------------------------

    def publisher_lease(self, *, idle_timeout: float) -> AdvisoryLease:
        """The publisher lease of this store: a session advisory lock on its server
        (:class:`pki.leadership.AdvisoryLease`), which the server gives up when the holder
        dies, or stays silent for ``idle_timeout`` seconds."""
        return AdvisoryLease(self.url, idle_timeout=idle_timeout)

    def fail_commits(self, count: int = 1) -> None:
        """Test hook: the next ``count`` transactions that would commit roll back instead
        and raise :class:`StoreError`, as a connection failing at COMMIT does."""
        self._failing_commits = count

    def backend_pid(self) -> int:
        """Test hook: the server process of the calling thread's connection (for
        ``pg_terminate_backend``)."""
        return int(self._conn.raw().info.backend_pid)

    def close(self) -> None:
        self._conn.close()


def create_at_version(url: str, version: int) -> None:
    """Test hook: kpki's tables at schema ``version`` (0, or
    :data:`.schema.BASE_VERSION` to :data:`SCHEMA_VERSION`) in the empty database at
    ``url``, as an older kpki made them, so tests can open it and watch it migrate."""
    if version == 0:
        return
    store = PostgreSQLStore.__new__(PostgreSQLStore)
    store.path = shown_url(url)
    store.read_only = False
    store._conn = Connections(url, shown=store.path)
    try:
        store._upgrade(version)
    finally:
        store._conn.close()
