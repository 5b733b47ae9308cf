"""What only the PostgreSQL store has to prove (the rest is the contract suite's,
tests/test_store_contract.py, which runs on it too).

The database itself refuses to change the audit log, whoever connects; threads of one
process, each on its own connection, issue into one CA without losing or sharing a serial
and never read each other's unfinished work; a connection killed in the middle of a unit
of work leaves nothing written and says so in one line; two processes creating the store
in one new database at once both end with one schema; a URL that cannot be opened is one
line that never shows its password; psycopg is imported for a postgresql:// URL only.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from cryptography import x509
from psycopg import errors as pgerrors

from pki.errors import (
    ReadOnlyStoreError,
    SerialInUseError,
    StoreError,
    UnstorableValueError,
)
from pki.store import CertStatus, open_store
from pki.store.postgresql import PostgreSQLStore
from tests import postgresql
from tests.test_store_contract import T0, certificate, with_cas


@pytest.fixture
def url(postgresql_url: str) -> str:
    """An empty database holding a new kpki store."""
    open_store(postgresql_url, create=True).close()
    return postgresql_url


@pytest.fixture
def store(url: str) -> Iterator[PostgreSQLStore]:
    opened = open_store(url)
    assert isinstance(opened, PostgreSQLStore)
    yield opened
    opened.close()


def _with_url(url: str, **changes: str) -> str:
    return urlunsplit(urlsplit(url)._replace(**changes))


# -- the audit log -------------------------------------------------------------------------


def test_the_audit_table_refuses_update_delete_and_truncate_on_a_raw_connection(
        store: PostgreSQLStore, url: str) -> None:
    with_cas(store)
    with store.transaction() as tx:
        tx.put_certificate(certificate(1))
    before = store.audit_log()
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in ("UPDATE audit SET detail = '{}'", "DELETE FROM audit WHERE serial = '1'",
                    "TRUNCATE audit", "TRUNCATE certificates, audit"):
            with pytest.raises(pgerrors.RestrictViolation, match="append-only"):
                conn.execute(sql)
    assert store.audit_log() == before and len(before) == 1


# -- threads -----------------------------------------------------------------------------


THREADS = 8
PER_THREAD = 15


def test_threads_issuing_into_one_ca_get_distinct_serials_and_lose_none(
        store: PostgreSQLStore) -> None:
    with_cas(store)
    barrier = threading.Barrier(THREADS)
    issued: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def issue() -> None:
        try:
            barrier.wait(timeout=60)
            candidate = 1
            for _ in range(PER_THREAD):
                with store.transaction() as tx:
                    sequence = tx.reserve_cn_sequence("yessign")
                    while True:
                        try:
                            tx.put_certificate(certificate(candidate,
                                                           subject=f"CN=t{sequence}"))
                            break
                        except SerialInUseError:
                            candidate += 1
                issued.append((candidate, sequence))
        except BaseException as exc:  # "could not serialize" included
            failures.append(exc)

    workers = [threading.Thread(target=issue) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []
    serials = [serial for serial, _ in issued]
    assert len(set(serials)) == len(serials) == THREADS * PER_THREAD
    assert len({sequence for _, sequence in issued}) == THREADS * PER_THREAD
    assert {r.serial for r in store.list_certificates(ca="yessign")} == set(serials)
    assert len(store.audit_log(ca="yessign")) == THREADS * PER_THREAD


def test_a_read_in_another_thread_never_sees_unfinished_work(store: PostgreSQLStore) -> None:
    with_cas(store)
    inside, checked = threading.Event(), threading.Event()
    seen: list[int] = []

    def look() -> None:
        inside.wait(timeout=60)
        seen.append(len(store.list_certificates()))
        checked.set()

    reader = threading.Thread(target=look)
    reader.start()
    with store.transaction() as tx:
        tx.put_certificate(certificate(1))
        inside.set()
        checked.wait(timeout=60)
    reader.join(timeout=60)
    assert seen == [0] and len(store.list_certificates()) == 1


# -- a lost connection -------------------------------------------------------------------


def test_a_connection_killed_in_a_unit_of_work_leaves_nothing_and_says_so(
        store: PostgreSQLStore, url: str) -> None:
    with_cas(store)
    with pytest.raises(StoreError) as lost, store.transaction() as tx:
        tx.put_certificate(certificate(1))
        tx.audit("test.started", at=T0, ca="yessign")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store.backend_pid(),))
        tx.put_certificate(certificate(2))
    message = str(lost.value)
    assert "\n" not in message and "lost the connection" in message
    assert "nothing of it was written" in message
    # the next use connects again: nothing of the unit of work is there
    assert store.list_certificates() == [] and store.audit_log(ca="yessign") == []
    with store.transaction() as tx:
        tx.put_certificate(certificate(1))
    assert [r.serial for r in store.list_certificates()] == [1]


def test_a_statement_after_the_connection_was_lost_in_a_unit_of_work_is_not_written(
        store: PostgreSQLStore, url: str) -> None:
    """The loss swallowed by the caller: the next statement of the unit of work must not
    open a new connection and run there by itself (in autocommit, outside the unit and
    its write lock)."""
    with_cas(store)
    with pytest.raises(StoreError, match="lost the connection"), \
            store.transaction() as tx:
        tx.put_certificate(certificate(1))
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (store.backend_pid(),))
        with pytest.raises(psycopg.OperationalError):
            tx.put_certificate(certificate(2))
        with pytest.raises(psycopg.OperationalError):
            tx.put_certificate(certificate(3))
    assert store.list_certificates() == []


def test_a_statement_that_failed_inside_a_unit_of_work_rolls_all_of_it_back(
        store: PostgreSQLStore) -> None:
    with_cas(store)
    with pytest.raises(StoreError, match="none of it was written"), \
            store.transaction() as tx:
        tx.put_certificate(certificate(1))
        with pytest.raises(psycopg.Error):
            tx._conn.execute("SELECT no_such_column FROM certificates")
    assert store.list_certificates() == []


def test_text_with_a_nul_is_bad_input_not_an_unavailable_store(
        store: PostgreSQLStore) -> None:
    """PostgreSQL's text cannot hold a NUL: a read or a change given one raises
    UnstorableValueError (the web APIs answer 400, not 503 "store unavailable") and the
    change leaves nothing written."""
    with_cas(store)
    with pytest.raises(UnstorableValueError) as read:
        store.find_certificates(1, ca="yes\x00sign")
    assert not isinstance(read.value, StoreError) and read.value.path == store.path
    with pytest.raises(UnstorableValueError), store.transaction() as tx:
        tx.put_certificate(certificate(1))
        tx.put_certificate(certificate(2, subject="CN=\x00"))
    assert store.list_certificates() == []
    with store.transaction() as tx:  # the store works on
        tx.put_certificate(certificate(1))
    assert [r.serial for r in store.list_certificates()] == [1]


def test_a_stream_lets_other_reads_run_between_its_rows(store: PostgreSQLStore) -> None:
    with_cas(store)
    with store.transaction() as tx:
        for serial in range(1, 6):
            tx.put_certificate(dataclasses.replace(
                certificate(serial), status=CertStatus.REVOKED, revoked_at=T0,
                reason=x509.ReasonFlags.key_compromise))
    listed = []
    for entry in store.crl_entries("yessign", at=T0):
        assert store.get_ca("yessign").label == "yessign"  # a read between two rows
        listed.append(entry.serial)
    assert listed == [1, 2, 3, 4, 5]


# -- opening -------------------------------------------------------------------------------


def _open_new(url: str, barrier: object, queue: object) -> None:
    try:
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        store = open_store(url, create=True)
        queue.put(("ok", store.schema_version, store.get_meta("store_id")))  # type: ignore[attr-defined]
        store.close()
    except BaseException as exc:
        queue.put(("error", repr(exc), None))  # type: ignore[attr-defined]


def test_two_processes_creating_the_store_in_one_new_database_make_one_schema(
        postgresql_url: str) -> None:
    from pki.store.postgresql import SCHEMA_VERSION

    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_open_new, args=(postgresql_url, barrier, queue))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert {r[1] for r in results} == {SCHEMA_VERSION}
    assert len({r[2] for r in results}) == 1  # one store, one id


def test_a_store_opened_while_another_process_creates_it_reads_the_schema_made_meanwhile(
        postgresql_url: str) -> None:
    """The opener checks the version again once it holds the write lock; the tables the
    holder made meanwhile must count. Before, that check (``to_regclass``) answered from
    the opener's catalog cache, filled before the lock was granted: it said "no store",
    and the opener's own CREATE TABLE meta failed ("relation already exists"). The race
    of the two-process test above, made deterministic: the test holds the lock itself."""
    from pki.store.postgresql import SCHEMA_VERSION
    from pki.store.postgresql.connection import WRITE_LOCK

    holder = psycopg.connect(postgresql_url, autocommit=True)
    holder.execute("BEGIN")
    holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", WRITE_LOCK)
    opened: list[object] = []
    opener = threading.Thread(target=lambda: opened.append(_open_or_error(postgresql_url)))
    opener.start()
    watcher = psycopg.connect(postgresql_url, autocommit=True)
    while opener.is_alive() and not watcher.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()[0]:
        opener.join(timeout=0.05)  # until the opener waits for the lock
    # A store as far as opening reads one (a whole schema's catalog changes would
    # overflow the opener's invalidation queue and reset its cache, hiding the defect).
    holder.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    holder.execute("CREATE TABLE kpki_schema (version BIGINT NOT NULL)")
    holder.execute("INSERT INTO kpki_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
    holder.execute("INSERT INTO meta (key, value) VALUES ('store_id', 'made-by-holder')")
    holder.execute("COMMIT")
    opener.join(timeout=60)
    holder.close()
    watcher.close()
    assert opened == [("ok", SCHEMA_VERSION, "made-by-holder")]


def _open_or_error(url: str) -> tuple[str, object, object]:
    try:
        store = open_store(url, create=True)
    except StoreError as exc:
        return ("error", str(exc), None)
    try:
        return ("ok", store.schema_version, store.get_meta("store_id"))
    finally:
        store.close()


def test_the_schema_is_sqlites_version_for_version() -> None:
    from pki.store.postgresql import SCHEMA_VERSION as POSTGRESQL
    from pki.store.sqlite import SCHEMA_VERSION as SQLITE

    assert POSTGRESQL == SQLITE, "mirror SQLite's new migration in pki/store/postgresql/schema.py"


def test_a_postgres_url_opens_the_same_store(store: PostgreSQLStore, url: str) -> None:
    with store.transaction() as tx:
        tx.set_meta("seen", "yes")
    other = open_store("postgres://" + url.split("://", 1)[1])
    try:
        assert other.get_meta("seen") == "yes"
    finally:
        other.close()


def test_a_database_without_a_store_is_refused_unless_asked_to_create(
        postgresql_url: str) -> None:
    with pytest.raises(StoreError, match="no kpki store in the database"):
        open_store(postgresql_url)
    open_store(postgresql_url, create=True).close()
    open_store(postgresql_url).close()


@pytest.mark.parametrize("change, words", [
    ({"path": "/kpki_no_such_database"}, 'database "kpki_no_such_database" does not exist'),
    ({"netloc": "nobody_here:s3cret-pw@"}, 'role "nobody_here" does not exist'),
], ids=["missing-database", "refused-login"])
def test_a_store_that_cannot_be_opened_is_one_line_without_its_password(
        url: str, change: dict[str, str], words: str) -> None:
    bad = _with_url(url, **change)
    with pytest.raises(StoreError) as refused:
        open_store(bad)
    message = str(refused.value)
    assert "\n" not in message and words in message and "s3cret" not in message
    assert message.startswith("cannot connect to the store postgresql://")


def test_an_unreachable_server_is_one_line_without_its_password() -> None:
    with pytest.raises(StoreError) as refused:
        open_store("postgresql://kpki:s3cret-pw@127.0.0.1:1/kpki?connect_timeout=5")
    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message
    assert "postgresql://kpki:***@127.0.0.1:1/kpki" in message


def test_a_read_only_store_refuses_every_transaction(url: str) -> None:
    store = PostgreSQLStore(url, read_only=True)
    try:
        assert store.list_cas() == []
        with pytest.raises(ReadOnlyStoreError), store.transaction() as tx:
            tx.set_meta("x", "y")
    finally:
        store.close()


def test_a_server_that_refuses_writes_is_a_read_only_store_and_nothing_is_written(
        url: str) -> None:
    """A server refusing writes (a database set read-only, as a standby's sessions are)
    is :class:`ReadOnlyStoreError` at the write, not a store that is unavailable."""
    database = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    store = open_store(url)
    try:
        assert store.list_cas() == []
        with pytest.raises(ReadOnlyStoreError), store.transaction() as tx:
            tx.set_meta("x", "y")
        assert store.get_meta("x") is None
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SET default_transaction_read_only = off")
            admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')


def test_psycopg_is_imported_for_a_postgresql_url_only(url: str) -> None:
    code = ("import sys; from pki.store import open_store; "
            "open_store('sqlite://:memory:').close(); "
            "assert 'psycopg' not in sys.modules, 'sqlite imported psycopg'; "
            f"open_store({url!r}).close(); assert 'psycopg' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env=postgresql.unredirected_environment())


def test_without_psycopg_a_postgresql_url_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith(("psycopg", "pki.store.postgresql"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(StoreError, match=r"pip install 'kpki\[postgresql\]'"):
        open_store("postgresql://kpki@localhost/kpki")
