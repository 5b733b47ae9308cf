"""What every store backend must do: the contract behind :class:`pki.store.Store`.

Each test runs against every backend in :data:`BACKENDS` (a fresh store per test). A new
backend (PostgreSQL, say) is tested by adding one parameter there: a small harness saying
how to make a fresh store, whether other processes can share it, how to make one at an
older schema version, and how to try to change the audit log behind the store's back.

Backends: SQLite in a file and in memory, and PostgreSQL (a database of its own per test
on the run's throwaway server, ``tests/postgresql.py``).

The rules: a transaction commits everything or nothing (cloud rows included) and does not
nest; a CA never uses a serial twice, and the transaction survives the refusal; several
processes issuing at once lose nothing and duplicate nothing; a store made by an older
version migrates to one that works; the database itself keeps the audit log append-only;
time never goes backwards per CA; CRL numbers are shared by full and delta CRLs and the
published CRL bytes never go back; PIN checks in flight are counted exactly and forgotten
by process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import multiprocessing
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from pki.errors import (
    ClockBehindError,
    SerialInUseError,
    StoreError,
    UnknownCAError,
)
from pki.purposes import Purpose
from pki.store import (
    CARecord,
    Carrier,
    CertificateRecord,
    CertStatus,
    CloudUser,
    CRLInfo,
    DeliveryRecord,
    HistoryEntry,
    KeyOrigin,
    Message,
    OCSPSignerRecord,
    Sealed,
    Store,
    VaultRecord,
    open_store,
    sqlite_url,
)

T0 = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)
YEAR = dt.timedelta(days=365)


# -- the backends ------------------------------------------------------------------------


@dataclass(frozen=True)
class SQLiteFile:
    """The embedded default: one SQLite file."""

    shared = True
    """Other processes can open the same store."""

    def url(self, tmp_path: Path) -> str:
        return sqlite_url(tmp_path / "contract.db")

    def fresh(self, tmp_path: Path, *, time_order: bool = True) -> Store:
        return open_store(self.url(tmp_path), create=True, time_order=time_order)

    def older_versions(self) -> range:
        from pki.store.sqlite import SCHEMA_VERSION

        return range(0, SCHEMA_VERSION)

    def at_version(self, tmp_path: Path, version: int) -> Store:
        """A store an older kpki made (schema ``version``), opened by this one."""
        from pki.store.sqlite import create_at_version

        path = tmp_path / f"v{version}.db"
        create_at_version(str(path), version)
        return open_store(sqlite_url(path))

    def tamper_with_audit(self, tmp_path: Path) -> dict[str, Exception | None]:
        """Change and remove audit rows with the database's own tools: each statement
        tried, with its error (None if it went through)."""
        conn = sqlite3.connect(tmp_path / "contract.db")
        errors: dict[str, Exception | None] = {}
        try:
            for sql in ("UPDATE audit SET action = 'forged'", "DELETE FROM audit"):
                errors[sql] = None
                try:
                    conn.execute(sql)
                    conn.commit()
                except sqlite3.DatabaseError as exc:
                    errors[sql] = exc
        finally:
            conn.close()
        return errors


@dataclass(frozen=True)
class SQLiteMemory(SQLiteFile):
    """SQLite in memory (test PKIs): one process, one connection."""

    shared = False

    def url(self, tmp_path: Path) -> str:
        return "sqlite://:memory:"

    def older_versions(self) -> range:
        return range(0)  # a memory store is always new

    def tamper_with_audit(self, tmp_path: Path) -> dict[str, Exception | None]:
        pytest.skip("nothing but the store itself reaches a memory database")


@dataclass(frozen=True)
class PostgreSQL(SQLiteFile):
    """A PostgreSQL database of its own per test, copied from a template holding kpki's
    schema (made once per process; dropped with the test file's databases)."""

    def url(self, tmp_path: Path) -> str:
        named = tmp_path / "postgresql-database"
        if not named.exists():
            named.write_text(_new_database(schema=True))
        return _database_url(named.read_text())

    def older_versions(self) -> range:
        from pki.store.postgresql import BASE_VERSION, SCHEMA_VERSION

        return range(BASE_VERSION, SCHEMA_VERSION)

    def at_version(self, tmp_path: Path, version: int) -> Store:
        from pki.store.postgresql import create_at_version

        url = _database_url(_new_database(schema=False))
        create_at_version(url, version)
        return open_store(url)

    def tamper_with_audit(self, tmp_path: Path) -> dict[str, Exception | None]:
        import psycopg

        errors: dict[str, Exception | None] = {}
        with psycopg.connect(self.url(tmp_path), autocommit=True) as conn:
            for sql in ("UPDATE audit SET action = 'forged'", "DELETE FROM audit",
                        "TRUNCATE audit", "TRUNCATE audit CASCADE"):
                errors[sql] = None
                try:
                    conn.execute(sql)
                except psycopg.Error as exc:
                    errors[sql] = exc
        return errors


_TEMPLATE: list[str] = []
_COPIES = itertools.count()


def _admin() -> str:
    from tests.postgresql import SERVER_ENV

    return os.environ[SERVER_ENV]


def _database_url(name: str) -> str:
    from tests.postgresql import database_url

    return database_url(_admin(), name)


def _new_database(*, schema: bool) -> str:
    """The name of a new database on the run's server: empty, or with kpki's schema."""
    import psycopg

    from tests.postgresql import databases

    if not schema:
        return databases().create(empty=True)
    with psycopg.connect(_admin(), autocommit=True) as conn:
        if not _TEMPLATE or conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                         (_TEMPLATE[0],)).fetchone() is None:
            template = databases().create(empty=True)
            open_store(_database_url(template), create=True).close()
            _TEMPLATE[:] = [template]
        # named as the worker's, so they go with the test file's databases
        name = f"{databases().prefix}{os.getpid()}_contract_{next(_COPIES)}"
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE[0]}" STRATEGY FILE_COPY')
    return name


_SQLITE = pytest.mark.sqlite_only("the SQLite backend's own parameters")
BACKENDS = [
    pytest.param(SQLiteFile(), id="sqlite-file", marks=_SQLITE),
    pytest.param(SQLiteMemory(), id="sqlite-memory", marks=_SQLITE),
    pytest.param(PostgreSQL(), id="postgresql"),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> SQLiteFile:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(backend: SQLiteFile, tmp_path: Path) -> Iterator[Store]:
    opened = backend.fresh(tmp_path)
    yield opened
    opened.close()


# -- records to write ----------------------------------------------------------------------


def ca(label: str = "yessign", parent: str | None = None) -> CARecord:
    return CARecord(label=label, parent=parent, style="yessign" if parent else "root",
                    der=f"certificate of {label}".encode(), crl_url=f"http://x/{label}.crl",
                    ocsp_url=None, cps_url=None, created_at=T0)


def certificate(serial: int, *, label: str = "yessign", at: dt.datetime = T0,
                subject: str | None = None) -> CertificateRecord:
    return CertificateRecord(ca=label, serial=serial, subject=subject or f"CN=holder {serial}",
                             holder="홍길동", profile="joint-general", status=CertStatus.VALID,
                             not_before=at, not_after=at + YEAR, der=b"der %d" % serial,
                             issued_at=at, key_origin=KeyOrigin.PUBLIC_KEY)


def with_cas(store: Store) -> Store:
    with store.transaction() as tx:
        tx.put_ca(ca("root"))
        tx.put_ca(ca("yessign", parent="root"))
        tx.put_ca(ca("other", parent="root"))
    return store


SEALED = Sealed(b"salt" * 4, b"nonce" * 2 + b"12", b"ciphertext", "scrypt:16:8:1", "check")


def user(user_id: str = "u_1", *, institution_id: int = 1, phone: str = "01012345678"
         ) -> CloudUser:
    return CloudUser(id=user_id, name="홍길동", phone=phone,
                     birth_date=dt.date(1990, 5, 17), institution_id=institution_id,
                     created_at=T0)


def with_user(store: Store) -> Store:
    """A bank (id 1) and its user ``u_1``."""
    with store.transaction() as tx:
        bank = tx.add_institution("bank", "hash-of-key", at=T0)
        tx.add_user(user(institution_id=bank.id))
    return store


class Boom(Exception):
    pass


def write_everything(store: Store, *, then_fail: bool = False) -> dict[str, object]:
    """One transaction writing a row of every kind (then raising, with ``then_fail``);
    returns what was written."""
    cert = certificate(0x1234)
    with store.transaction() as tx:
        tx.set_meta("contract", "yes")
        first = tx.reserve_cn_sequence("yessign", 3)
        tx.put_certificate(cert)
        tx.set_status("yessign", 0x1234, status=CertStatus.SUSPENDED, at=T0, revoked_at=T0,
                      reason=x509.ReasonFlags.certificate_hold, invalidity_date=None)
        tx.audit("contract.tested", at=T0, ca="yessign", serial=0x1234, detail={"k": "v"})
        number, this_update = tx.reserve_crl("yessign", T0)
        tx.record_crl(CRLInfo("yessign", number, None, this_update, this_update + YEAR, 1, 1,
                              "00" * 32))
        tx.put_published_crl("yessign", number, False, b"crl bytes")
        tx.put_ocsp_signer(OCSPSignerRecord("yessign", 0x99, b"signer", T0 + YEAR,
                                            "yessign/ocsp", T0))
        tx.record_delivery(DeliveryRecord("yessign", 0x1234, "/npki/a", "/npki/.s", T0))
        bank = tx.add_institution("bank", "hash-of-key", at=T0)
        tx.add_user(user(institution_id=bank.id))
        tx.put_code("u_1", "hash-of-code", expires_at=T0 + dt.timedelta(minutes=3))
        tx.record_message(Message("01012345678", "code 42", T0, bank.id))
        tx.put_vault_record(VaultRecord("yessign", 0x1234, "u_1", SEALED))
        tx.register_certificate("yessign", 0x1234, bank.id, at=T0)
        tx.add_device("u_1", "phone-1", at=T0)
        tx.add_history("u_1", HistoryEntry(T0, "bank", "phone-1", Purpose.TRANSFER, 0x1234,
                                           "signed"))
        reservation = tx.reserve_pin_check("yessign", 0x1234, boot="boot-1", at=T0)
        if then_fail:
            raise Boom("a failure before the commit")
    return {"cert": cert, "first": first, "number": number, "bank": bank,
            "reservation": reservation}


def assert_nothing_written(store: Store) -> None:
    assert store.get_meta("contract") is None
    assert store.list_certificates() == []
    assert [e.action for e in store.audit_log()] == []
    assert store.last_crl("yessign") is None and store.published_crl("yessign") is None
    assert store.ocsp_signer("yessign") is None
    assert store.pending_deliveries() == []
    assert store.institutions() == [] and store.cloud_users() == []
    assert store.vault_record("yessign", 0x1234) is None
    assert store.registrations("yessign", 0x1234) == []
    assert store.devices("u_1") == [] and store.history("u_1") == []
    assert store.messages("01012345678", 1) == []
    assert store.pin_check_boots() == []


# -- transactions ----------------------------------------------------------------------------


def test_a_transaction_commits_every_kind_of_record(store: Store) -> None:
    written = write_everything(with_cas(store))
    (stored,) = store.find_certificates(0x1234)
    assert stored.status is CertStatus.SUSPENDED and stored.revoked_at == T0
    assert stored.reason is x509.ReasonFlags.certificate_hold
    assert store.get_meta("contract") == "yes" and written["first"] == 1
    assert [e.action for e in store.audit_log(serial=0x1234)] == [
        "certificate.issued", "contract.tested"]
    assert store.audit_log(serial=0x1234)[1].detail == {"k": "v"}
    assert store.published_crl("yessign").der == b"crl bytes"  # type: ignore[union-attr]
    assert store.ocsp_signer("yessign").key_label == "yessign/ocsp"  # type: ignore[union-attr]
    assert [d.folder for d in store.pending_deliveries()] == ["/npki/a"]
    bank = written["bank"]
    assert store.institution_by_key_hash("hash-of-key") == bank
    assert store.institutions() == [bank] and bank.added_at == T0
    assert store.cloud_user("u_1") == user(institution_id=bank.id)  # type: ignore[attr-defined]
    assert store.vault_record("yessign", 0x1234) == VaultRecord("yessign", 0x1234, "u_1",
                                                                SEALED)
    assert store.registrations("yessign", 0x1234) == [bank.id]  # type: ignore[attr-defined]
    assert store.related("u_1", bank.id)  # type: ignore[attr-defined]
    assert store.devices("u_1") == ["phone-1"]
    assert store.history("u_1")[0].purpose is Purpose.TRANSFER
    assert [m.text for m in store.messages("01012345678", bank.id)] == ["code 42"]  # type: ignore[attr-defined]
    assert store.pin_check_boots() == ["boot-1"]


def test_an_exception_rolls_everything_back_cloud_rows_included(store: Store) -> None:
    with_cas(store)
    with pytest.raises(Boom):
        write_everything(store, then_fail=True)
    assert_nothing_written(store)
    with store.transaction() as tx:  # the CN sequence did not move either
        assert tx.reserve_cn_sequence("yessign") == 1


def test_an_exception_inside_the_block_rolls_back(store: Store) -> None:
    with_user(with_cas(store))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_certificate(certificate(1))
        tx.put_vault_record(VaultRecord("yessign", 1, "u_1", SEALED))
        raise RuntimeError("the caller changed its mind")
    assert store.list_certificates() == [] and store.vault_record("yessign", 1) is None


def test_transactions_do_not_nest(store: Store) -> None:
    with store.transaction(), pytest.raises(StoreError), store.transaction():
        pass


def test_reads_inside_a_transaction_see_its_writes(store: Store) -> None:
    with_user(with_cas(store))
    with store.transaction() as tx:
        tx.put_certificate(certificate(7))
        assert tx.get_certificate("yessign", 7) is not None
        tx.put_vault_record(VaultRecord("yessign", 7, "u_1", SEALED))
        assert tx.vault_record("yessign", 7) is not None


def test_an_unknown_ca_is_an_unknown_ca_error(store: Store) -> None:
    with pytest.raises(UnknownCAError):
        store.get_ca("nobody")
    with pytest.raises(UnknownCAError), store.transaction() as tx:
        tx.put_certificate(certificate(1, label="nobody"))


# -- uniqueness ------------------------------------------------------------------------------


def test_a_ca_never_uses_a_serial_twice_and_the_transaction_survives(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        tx.put_certificate(certificate(5))
        with pytest.raises(SerialInUseError) as refused:
            tx.put_certificate(certificate(5))
        assert (refused.value.serial, refused.value.ca) == (5, "yessign")
        tx.put_certificate(certificate(6))  # the transaction goes on
        tx.put_certificate(certificate(5, label="other"))  # another CA may use it
    assert sorted((r.ca, r.serial) for r in store.list_certificates()) == [
        ("other", 5), ("yessign", 5), ("yessign", 6)]
    assert len(store.find_certificates(5)) == 2
    assert [r.ca for r in store.find_certificates(5, ca="other")] == ["other"]


def test_put_certificates_records_all_but_serials_in_use_and_names_those(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        tx.put_certificate(certificate(5))
        assert tx.put_certificates([]) == []
        refused = tx.put_certificates([certificate(s) for s in (4, 5, 6, 7)]
                                      + [certificate(5, label="other")])
        assert refused == [certificate(5)]
        tx.put_certificate(certificate(8))  # the transaction goes on
        assert tx.put_certificates([certificate(4), certificate(9)]) == [certificate(4)]
    assert sorted((r.ca, r.serial) for r in store.list_certificates()) == [
        ("other", 5), *(("yessign", s) for s in (4, 5, 6, 7, 8, 9))]
    assert store.list_certificates(ca="yessign")[1] == certificate(4)  # every field
    issued = [(e.ca, e.serial) for e in store.audit_log() if e.action == "certificate.issued"]
    assert issued == [("yessign", 5), ("yessign", 4), ("yessign", 6), ("yessign", 7),
                      ("other", 5), ("yessign", 8), ("yessign", 9)]


def test_put_certificates_refuses_one_serial_twice_in_a_batch(store: Store) -> None:
    with_cas(store)
    with pytest.raises(ValueError), store.transaction() as tx:
        tx.put_certificates([certificate(1), certificate(2), certificate(1)])
    assert store.list_certificates() == []


def test_put_certificates_takes_more_rows_than_one_statement_holds(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        tx.put_certificate(certificate(1500))
        refused = tx.put_certificates([certificate(s) for s in range(1, 2501)])
    assert [r.serial for r in refused] == [1500]
    assert store.count_certificates() == 2500


def test_replacements_name_what_renewed_or_reissued_each_certificate(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        for serial in (1, 2):
            tx.put_certificate(certificate(serial))
        tx.put_certificate(dataclasses.replace(certificate(3), replaces=1))
        tx.put_certificate(dataclasses.replace(certificate(4), replaces=1))
        tx.put_certificate(certificate(7, label="other"))
        tx.put_certificate(dataclasses.replace(certificate(8, label="other"), replaces=7))
    assert store.replacements() == {("yessign", 1): [3, 4], ("other", 7): [8]}
    assert store.replacements(ca="other") == {("other", 7): [8]}
    assert store.renewals_of("yessign", 1) == [3, 4] and store.renewals_of("yessign", 2) == []

def test_an_institution_name_is_unique(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_institution("bank", "h1", at=T0)
    with pytest.raises(StoreError), store.transaction() as tx:
        tx.add_institution("bank", "h2", at=T0)
    assert [i.name for i in store.institutions()] == ["bank"]


# -- concurrency -------------------------------------------------------------------------------

PROCESSES = 8  # the audit's figure: 8 concurrent writers, 0 lost, 0 duplicates
PER_PROCESS = 30


def _issue_in_process(url: str, worker: int, barrier: object, queue: object) -> None:
    """Issue PER_PROCESS certificates, each in its own transaction: a CN sequence number and
    a serial drawn from a pool all workers share (so they collide on purpose)."""
    try:
        store = open_store(url)
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        done = []
        candidate = 1
        while len(done) < PER_PROCESS:
            with store.transaction() as tx:
                sequence = tx.reserve_cn_sequence("yessign")
                while True:
                    try:
                        tx.put_certificate(certificate(candidate, subject=f"CN=w{sequence}"))
                        break
                    except SerialInUseError:
                        candidate += 1
            done.append((candidate, sequence))
            candidate += 1
        store.close()
        queue.put(("ok", done))  # type: ignore[attr-defined]
    except BaseException as exc:  # report anything, "database is locked" included
        queue.put(("error", repr(exc)))  # type: ignore[attr-defined]


def test_processes_issuing_at_once_lose_nothing_and_duplicate_nothing(
        backend: SQLiteFile, store: Store, tmp_path: Path) -> None:
    if not backend.shared:
        pytest.skip("this backend lives in one process")
    with_cas(store)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=_issue_in_process,
                           args=(backend.url(tmp_path), n, barrier, queue))
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert [r[1] for r in results if r[0] != "ok"] == []
    issued = [pair for _, batch in results for pair in batch]
    serials, sequences = [s for s, _ in issued], [q for _, q in issued]
    assert len(set(serials)) == len(serials) == PROCESSES * PER_PROCESS  # no duplicate
    assert len(set(sequences)) == len(sequences)  # no CN sequence number shared
    stored = store.list_certificates(ca="yessign")
    assert {r.serial for r in stored} == set(serials)  # nothing lost
    assert len([e for e in store.audit_log() if e.action == "certificate.issued"]) == \
        PROCESSES * PER_PROCESS


# -- migrations ------------------------------------------------------------------------------


def test_a_fresh_store_has_an_id(store: Store) -> None:
    assert store.get_meta("store_id")


def test_a_store_from_each_older_version_migrates_to_one_that_works(
        backend: SQLiteFile, tmp_path: Path) -> None:
    versions = backend.older_versions()
    if not versions:
        pytest.skip("this backend has no older versions")
    for version in versions:
        migrated = backend.at_version(tmp_path, version)
        try:
            write_everything(with_cas(migrated))
            assert migrated.get_meta("store_id")
            assert migrated.vault_record("yessign", 0x1234) is not None
            assert migrated.published_crl("yessign") is not None
        finally:
            migrated.close()


# -- the audit log ---------------------------------------------------------------------------


def test_the_database_keeps_the_audit_log_append_only(backend: SQLiteFile, store: Store,
                                                      tmp_path: Path) -> None:
    with_cas(store)
    with store.transaction() as tx:
        tx.audit("contract.tested", at=T0)
    before = store.audit_log()
    errors = backend.tamper_with_audit(tmp_path)
    assert errors and all("append-only" in str(e) for e in errors.values()), errors
    assert store.audit_log() == before


def test_a_certificate_is_never_recorded_without_its_audit_row(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        tx.put_certificate(certificate(9))
    (event,) = store.audit_log(serial=9)
    assert (event.action, event.ca, event.detail["profile"]) == (
        "certificate.issued", "yessign", "joint-general")


# -- time order per CA -----------------------------------------------------------------------


def test_time_never_goes_backwards_per_ca(store: Store) -> None:
    with_cas(store)
    later, earlier = T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=1)
    with store.transaction() as tx:
        tx.put_certificate(certificate(1, at=later))
        assert tx.event_time("yessign", earlier) == later  # the clock went back
        tx.audit("contract.tested", at=earlier, ca="yessign", serial=1)
        tx.audit("contract.tested", at=earlier, ca="other")  # another CA has its own time
        tx.set_status("yessign", 1, status=CertStatus.REVOKED, at=earlier,
                      revoked_at=earlier, reason=x509.ReasonFlags.superseded,
                      invalidity_date=None)
    assert [e.at for e in store.audit_log(ca="yessign", serial=1)] == [later, later]
    assert [e.at for e in store.audit_log(ca="other")][-1] == earlier
    assert store.find_certificates(1)[0].revoked_at == later


def test_a_rolled_back_event_does_not_move_a_cas_time(store: Store) -> None:
    with_cas(store)
    later = T0 + dt.timedelta(hours=2)
    with store.transaction() as tx:
        tx.audit("contract.tested", at=T0, ca="yessign")
    with pytest.raises(Boom), store.transaction() as tx:
        assert tx.event_time("yessign", later) == later
        raise Boom("rolled back")
    with store.transaction() as tx:  # the CA's latest time is T0 again, in every backend
        assert tx.event_time("yessign", T0 + dt.timedelta(hours=1)) == T0 + dt.timedelta(
            hours=1)
        for _ in range(3):  # many events at one time (issue_many) keep it
            assert tx.event_time("yessign", T0) == T0 + dt.timedelta(hours=1)


def test_a_ca_added_in_a_rolled_back_change_is_forgotten_by_the_caches(store: Store) -> None:
    """A CA row's id learnt in a change that rolled back is dropped from every cache:
    PostgreSQL never gives that id again (its sequence does not roll back), SQLite gives it
    to the next CA added, whatever its label."""
    with_cas(store)
    with pytest.raises(Boom), store.transaction() as tx:
        tx.put_ca(ca("signkorea", parent="root"))
        tx.put_certificate(certificate(7, label="signkorea"))
        assert store.status_of("signkorea", 7) is not None  # the store's reads saw it
        raise Boom("rolled back")
    with store.transaction() as tx:
        tx.put_ca(ca("kica", parent="root"))
    with store.transaction() as tx:
        tx.put_ca(ca("signkorea", parent="root"))
        tx.put_certificate(certificate(7, label="signkorea"))
    assert [(c.ca, c.serial) for c in store.find_certificates(7)] == [("signkorea", 7)]
    assert store.status_of("signkorea", 7) == (CertStatus.VALID, None, None)
    assert store.status_of("kica", 7) is None


def test_a_crl_is_never_dated_before_a_change_it_lists_nor_before_the_last(
        store: Store) -> None:
    with_cas(store)
    later = T0 + dt.timedelta(hours=2)
    with store.transaction() as tx:
        tx.audit("contract.tested", at=later, ca="yessign")
        _, this_update = tx.reserve_crl("yessign", T0)
    assert this_update == later
    with pytest.raises(ClockBehindError) as behind, store.transaction() as tx:
        tx.reserve_crl("yessign", T0)
    assert (behind.value.ca, behind.value.last) == ("yessign", later)


def test_a_store_for_a_travelling_clock_records_times_as_given(backend: SQLiteFile,
                                                               tmp_path: Path) -> None:
    travelling = backend.fresh(tmp_path, time_order=False)
    try:
        with_cas(travelling)
        with travelling.transaction() as tx:
            tx.put_certificate(certificate(1, at=T0 + YEAR))
            assert tx.event_time("yessign", T0) == T0
            assert tx.reserve_crl("yessign", T0 + YEAR)[1] == T0 + YEAR
            assert tx.reserve_crl("yessign", T0)[1] == T0
    finally:
        travelling.close()


# -- CRLs ------------------------------------------------------------------------------------


def test_crl_numbers_are_shared_by_full_and_delta_crls_per_ca(store: Store) -> None:
    with_cas(store)
    numbers = []
    for delta in (False, True, False):
        with store.transaction() as tx:
            number, at = tx.reserve_crl("yessign", T0)
            tx.record_crl(CRLInfo("yessign", number, 1 if delta else None, at, at + YEAR, 0,
                                  0, "00"))
        numbers.append(number)
    with store.transaction() as tx:
        other = tx.reserve_crl("other", T0)[0]
    assert numbers == [1, 2, 3] and other == 1
    assert store.last_crl("yessign").number == 3  # type: ignore[union-attr]
    assert store.last_crl("yessign", delta=True).number == 2  # type: ignore[union-attr]


def test_published_crl_bytes_never_go_back(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        assert tx.put_published_crl("yessign", 5, False, b"five")
        assert tx.put_published_crl("yessign", 6, True, b"six, delta")
        assert not tx.put_published_crl("yessign", 4, False, b"four")  # a slower publisher
        assert not tx.put_published_crl("yessign", 5, False, b"five again")
        assert tx.put_published_crl("yessign", 7, False, b"seven")
    full, delta = store.published_crl("yessign"), store.published_crl("yessign", True)
    assert (full.number, full.der, full.delta) == (7, b"seven", False)  # type: ignore[union-attr]
    assert (delta.number, delta.der) == (6, b"six, delta")  # type: ignore[union-attr]
    assert store.published_crl("other") is None


def test_crl_entries_are_typed_and_changes_are_counted(store: Store) -> None:
    with_cas(store)
    with store.transaction() as tx:
        for serial in (1, 2, 3):
            tx.put_certificate(certificate(serial))
        tx.set_status("yessign", 1, status=CertStatus.REVOKED, at=T0, revoked_at=T0,
                      reason=x509.ReasonFlags.key_compromise, invalidity_date=T0)
        tx.set_status("yessign", 2, status=CertStatus.SUSPENDED, at=T0, revoked_at=T0,
                      reason=x509.ReasonFlags.certificate_hold, invalidity_date=None)
    base = store.change_seq("yessign")
    with store.transaction() as tx:
        tx.set_status("yessign", 2, status=CertStatus.VALID, at=T0, revoked_at=None,
                      reason=None, invalidity_date=None)
    entries = {e.serial: e for e in store.crl_entries("yessign", at=T0)}
    assert set(entries) == {1}
    assert (entries[1].revoked_at, entries[1].reason, entries[1].invalidity_date) == (
        T0, x509.ReasonFlags.key_compromise, T0)
    ((status, change),) = store.changed_since("yessign", base, at=T0)
    assert (status, change.serial, change.revoked_at) == (CertStatus.VALID, 2, T0)
    assert store.status_of("yessign", 1) == (CertStatus.REVOKED, T0,
                                              x509.ReasonFlags.key_compromise)
    assert store.status_of("yessign", 99) is None


# -- the cloud -------------------------------------------------------------------------------


def test_pin_checks_in_flight_are_counted_and_forgotten_by_process(store: Store) -> None:
    with_user(with_cas(store))
    with store.transaction() as tx:
        tx.put_certificate(certificate(1))
        tx.put_vault_record(VaultRecord("yessign", 1, "u_1", SEALED))
        first = tx.reserve_pin_check("yessign", 1, boot="alive", at=T0)
        tx.reserve_pin_check("yessign", 1, boot="dead", at=T0)
        tx.reserve_pin_check("yessign", 1, boot="dead", at=T0)
        assert tx.pin_checks_in_flight("yessign", 1) == 3
    assert sorted(store.pin_check_boots(ca="yessign", serial=1)) == ["alive", "dead"]
    with store.transaction() as tx:
        assert tx.forget_pin_checks("dead") == 2
        tx.end_pin_check(first)
        assert tx.pin_checks_in_flight("yessign", 1) == 0
        tx.set_pin_failures("yessign", 1, 5, locked_at=T0)
    record = store.vault_record("yessign", 1)
    assert record is not None and (record.failures, record.locked) == (5, True)


def test_vault_records_renewal_notices_and_secret_checks(store: Store) -> None:
    with_user(with_cas(store))
    unchecked = Sealed(b"s", b"n", b"c", "scrypt:16:8:1", None)
    with store.transaction() as tx:
        tx.put_vault_record(VaultRecord("yessign", 1, "u_1", unchecked))
        tx.put_vault_record(VaultRecord("yessign", 2, "u_1", SEALED))
        assert tx.note_renewal("yessign", 1, at=T0)
        assert not tx.note_renewal("yessign", 1, at=T0 + YEAR)  # once
    assert store.secret_checks() == {None: 1, "check": 1}
    with store.transaction() as tx:
        assert tx.adopt_secret_check("check") == 1
        tx.reseal("yessign", 2, unchecked)
    assert store.secret_checks() == {"check": 1, None: 1}
    assert store.vault_record("yessign", 1).renewal_noticed_at == T0  # type: ignore[union-attr]
    assert [r.serial for r in store.vault_records_of("u_1")] == [1, 2]


def test_confirmation_codes_are_counted_per_phone_and_institution(store: Store) -> None:
    with store.transaction() as tx:
        bank = tx.add_institution("bank", "h1", at=T0)
        card = tx.add_institution("card", "h2", at=T0)
        for n, institution in ((1, bank), (2, bank), (3, card)):
            tx.add_user(user(f"u_{n}", institution_id=institution.id))
            tx.put_code(f"u_{n}", "hash", expires_at=T0 + dt.timedelta(minutes=3))
        tx.count_wrong_code("u_1")
        tx.count_wrong_code("u_2")
        tx.count_wrong_code("u_3")
        pending = tx.pending_code("u_1")
        assert pending is not None and (pending.attempts, pending.institution_id) == (
            1, bank.id)
        assert tx.wrong_codes("01012345678", bank.id, T0) == 2
        assert tx.wrong_codes("01012345678", bank.id, T0 + dt.timedelta(seconds=1)) == 0
        tx.confirm_user("u_1", at=T0)
        assert tx.pending_code("u_1") is None
    confirmed = store.cloud_user("u_1")
    assert confirmed is not None and confirmed.confirmed
    assert [u.id for u in store.cloud_users(institution_id=bank.id)] == ["u_1", "u_2"]
    assert not store.related("u_3", bank.id)


def test_devices_and_history(store: Store) -> None:
    with_user(store)
    with store.transaction() as tx:
        tx.add_device("u_1", "a", at=T0)
        tx.add_device("u_1", "a", at=T0)  # once
        tx.add_device("u_1", "b", at=T0 + YEAR)
        assert tx.remove_device("u_1", "a") and not tx.remove_device("u_1", "a")
        tx.set_designated_only("u_1", True)
        for n in range(3):
            tx.add_history("u_1", HistoryEntry(T0, "bank", None, None, n, f"event {n}"))
    assert store.devices("u_1") == ["b"]
    assert [e.outcome for e in store.history("u_1", limit=2)] == ["event 2", "event 1"]


# -- the bank --------------------------------------------------------------------------------


def _bank_rows(store: Store, *, then_fail: bool = False) -> None:
    """A bank (code 081) with a customer, an account, a card, a challenge and a charge."""
    from pki.store import Account, BankCustomer, CardChallenge, Carrier, LineType
    from pki.store import SecurityCardRecord as Card

    with store.transaction() as tx:
        bank = tx.add_institution("Hana", "hash-of-key", at=T0, code="081",
                                  settings={"card_positions": 30})
        tx.add_bank_customer(BankCustomer("c_1", bank.id, "홍길동", "9005171234566",
                                          "01012345678", Carrier.KT, "KT M모바일",
                                          LineType.PREPAID, T0))
        tx.add_account(Account(bank.id, "123456789012", "c_1", "hash", 1000, T0))
        tx.add_security_card(Card("k_1", bank.id, "c_1", "00000001", ("2442", "8808"), T0))
        tx.add_card_challenge(CardChallenge("ch_1", "k_1", 1, 2, T0, T0 + YEAR))
        tx.add_limit_use("c_1", dt.date(2026, 3, 16), 700)
        if then_fail:
            raise Boom("a failure before the commit")


def test_bank_rows_commit_with_the_transaction_or_not_at_all(store: Store) -> None:
    with pytest.raises(Boom):
        _bank_rows(store, then_fail=True)
    assert store.institutions() == [] and store.bank_customer("c_1") is None
    assert store.security_card("k_1") is None and store.card_challenge("ch_1") is None
    assert store.limit_used("c_1", dt.date(2026, 3, 16)) == 0
    _bank_rows(store)
    bank = store.institution_by_code("081")
    assert bank is not None and bank.settings == {"card_positions": 30}
    assert store.institutions() == [bank] and store.institution(bank.id) == bank
    customer = store.bank_customer("c_1")
    assert customer is not None and (customer.carrier, customer.mvno) == (Carrier.KT,
                                                                          "KT M모바일")
    assert store.bank_customer_by_rrn(bank.id, "9005171234566") == customer
    assert store.account(bank.id, "123456789012").balance == 1000  # type: ignore[union-attr]
    assert store.active_security_card("c_1").codes == ("2442", "8808")  # type: ignore[union-attr]
    assert store.limit_used("c_1", dt.date(2026, 3, 16)) == 700
    assert store.limit_used("c_1", dt.date(2026, 3, 17)) == 0


def test_bank_customer_is_read_with_the_holder_of_an_account(store: Store) -> None:
    _bank_rows(store)
    customer = store.bank_customer("c_1")
    assert store.bank_customer_and_holder("c_1", 1, "123456789012") == (customer, "c_1")
    assert store.bank_customer_and_holder("c_1", 1, "999999999999") == (customer, None)
    assert store.bank_customer_and_holder("c_1", 2, "123456789012") == (customer, None)
    assert store.bank_customer_and_holder("c_9", 1, "123456789012") is None
    with store.transaction() as tx:
        assert tx.bank_customer_and_holder("c_1", 1, "123456789012") == (customer, "c_1")


def test_bank_balances_are_set_together(store: Store) -> None:
    from pki.store import Account

    _bank_rows(store)
    bank = store.institution_by_code("081")
    assert bank is not None
    with store.transaction() as tx:
        tx.add_account(Account(bank.id, "210987654321", "c_1", "hash", 5, T0))
        tx.set_balances(bank.id, {"123456789012": 2**63 - 1, "210987654321": 0})
        tx.set_balances(bank.id, {})
    assert [a.balance for a in store.accounts_of("c_1")] == [2**63 - 1, 0]
    with store.transaction() as tx:
        tx.set_balances(bank.id, {"210987654321": 7})
    assert [a.balance for a in store.accounts_of("c_1")] == [2**63 - 1, 7]


def test_bank_counters_codes_and_answers_are_kept_once(store: Store) -> None:
    _bank_rows(store)
    with store.transaction() as tx:
        assert tx.answer_card_challenge("ch_1", at=T0)
        assert not tx.answer_card_challenge("ch_1", at=T0)  # answered once
        tx.set_card_failures("k_1", 5, locked_at=T0)
        tx.set_account_failures(1, "123456789012", 2, locked_at=None)
        assert tx.retire_security_card("k_1", at=T0)
        assert not tx.retire_security_card("k_1", at=T0)
        with pytest.raises(StoreError):  # one code, one institution
            tx.add_institution("Another", "hash-2", at=T0, code="081")
    card = store.security_card("k_1")
    assert card is not None and (card.failures, card.locked, card.retired_at) == (5, True, T0)
    assert store.active_security_card("c_1") is None
    assert store.account(1, "123456789012").failures == 2  # type: ignore[union-attr]
    assert [c.serial for c in store.security_cards_of("c_1")] == ["00000001"]


def test_a_challenge_with_its_card_and_accounts_by_number_are_one_read_each(
        store: Store) -> None:
    from pki.store import Account

    _bank_rows(store)
    bank = store.institution_by_code("081")
    assert bank is not None
    with store.transaction() as tx:
        tx.add_account(Account(bank.id, "210987654321", "c_1", "hash", 5, T0))
        assert tx.card_challenge_and_card("ch_1") == (tx.card_challenge("ch_1"),
                                                      tx.security_card("k_1"))
        assert tx.accounts_numbered(bank.id, ["123456789012", "210987654321", "999"]) == {
            "123456789012": tx.account(bank.id, "123456789012"),
            "210987654321": tx.account(bank.id, "210987654321")}
    assert store.card_challenge_and_card("ch_none") is None
    assert store.accounts_numbered(bank.id, []) == {}
    assert store.accounts_numbered(bank.id + 1, ["123456789012"]) == {}


def test_a_transfer_reads_what_it_decides_on_in_one_read(store: Store) -> None:
    from pki.store import Account, DesignatedDevices, TransferOutcome, TransferRecord
    from pki.store.records import TransferState

    _bank_rows(store)
    march16, march17 = dt.date(2026, 3, 16), dt.date(2026, 3, 17)

    def state(digest: str = "d_1", day: dt.date = march16, customer: str = "c_1",
              institution: int = 1, to: str = "210987654321",
              challenge: str | None = None) -> object:
        return store.transfer_state(customer, digest=digest, day=day,
                                    institution_id=institution,
                                    from_account="123456789012", to_account=to,
                                    challenge_id=challenge)

    assert state() == TransferState(False, 700, DesignatedDevices(), 1000, None)
    assert state(customer="c_9") is None
    with store.transaction() as tx:
        tx.add_account(Account(1, "210987654321", "c_1", "hash", 2**63 - 1, T0))
        tx.add_bank_device("c_1", "phone", at=T0)
        tx.add_bank_device("c_1", "pc", at=T0 + YEAR)
        tx.set_bank_device_options("c_1", designated_only=True, step_up="sms")
        tx.add_transfer(TransferRecord("t_1", 1, "c_1", "123456789012", "210987654321", 5,
                                       "security-card", "pc", "certificate", "d_1",
                                       TransferOutcome.ACCEPTED, None, T0))
        assert tx.transfer_state("c_1", digest="d_1", day=march16, institution_id=1,
                                 from_account="123456789012", to_account="210987654321"
                                 ) == state()
    devices = DesignatedDevices(("phone", "pc"), True, "sms")
    assert state() == TransferState(True, 700, devices, 1000, 2**63 - 1)
    assert state(digest="d_2", day=march17) == TransferState(False, 0, devices, 1000,
                                                             2**63 - 1)
    assert state(institution=2) == TransferState(True, 700, devices, None, None)
    assert state(to="999999999999") == TransferState(True, 700, devices, 1000, None)
    challenged = store.card_challenge_and_card("ch_1")
    assert challenged is not None and challenged[0].id == "ch_1"
    assert state(challenge="ch_1") == TransferState(True, 700, devices, 1000, 2**63 - 1,
                                                    challenged)
    assert state(challenge="ch_none") == state()
    with store.transaction() as tx:
        tx.remove_bank_device("c_1", "phone")
        tx.remove_bank_device("c_1", "pc")
        assert tx.transfer_state("c_1", digest="d_1", day=march16, institution_id=1,
                                 from_account="123456789012", to_account="210987654321",
                                 challenge_id="ch_1") == TransferState(
            True, 700, DesignatedDevices((), True, "sms"), 1000, 2**63 - 1, challenged)


# -- the OTP centre ------------------------------------------------------------------------------


def test_otp_tokens_and_registrations(store: Store) -> None:
    from pki.store import BankCustomer, Carrier, LineType, OtpKind, OtpRegistration, OtpToken

    token = OtpToken("000000000001", OtpKind.HARDWARE, "p1", 0, b"sealed", T0)
    with store.transaction() as tx:
        banks = [tx.add_institution(name, "h" + name, at=T0).id for name in ("KB", "Hana")]
        for n, bank in enumerate(banks):
            tx.add_bank_customer(BankCustomer(f"c_{n}", bank, "홍길동", "9005171234566",
                                              "01012345678", Carrier.SKT, None,
                                              LineType.POSTPAID, T0))
        token = dataclasses.replace(token, issuer_id=banks[0])
        tx.put_otp_token(token)
        with pytest.raises(StoreError):
            tx.put_otp_token(token)
        for n, bank in enumerate(banks):
            assert tx.register_otp(OtpRegistration(token.serial, bank, f"c_{n}", T0))
        assert not tx.register_otp(OtpRegistration(token.serial, banks[0], "c_0", T0))
        tx.put_otp_token(dataclasses.replace(token, serial="000000000002", person="p2",
                                             kind=OtpKind.MOBILE, device="phone"))
        tx.register_otp(OtpRegistration("000000000002", banks[1], "c_1", T0))
    changed = dataclasses.replace(token, drift=-2, last_step=123, failures=10, locked_at=T0,
                                  lost_at=T0, disabled_at=T0, activated_at=T0)
    with store.transaction() as tx:
        tx.update_otp_token(changed)
        assert tx.unregister_otp(token.serial, banks[0])
        assert not tx.unregister_otp(token.serial, banks[0])
    assert store.otp_token(token.serial) == changed
    assert store.otp_token("nope") is None
    assert [(r.institution_id, r.customer_id) for r in store.otp_registrations(token.serial)
            ] == [(banks[1], "c_1")]
    assert [t.serial for t in store.otp_tokens(person="p1")] == [token.serial]
    assert [t.serial for t in store.otp_tokens(institution_id=banks[1])] == [
        token.serial, "000000000002"]
    assert [t.serial for t in store.otp_tokens(institution_id=banks[1], customer_id="c_1",
                                               person="p2")] == ["000000000002"]
    assert store.otp_tokens(institution_id=banks[0]) == []
    assert store.otp_token_of(token.serial, institution_id=banks[1], customer_id="c_1"
                              ) == (changed, True)
    assert store.otp_token_of(token.serial, institution_id=banks[0], customer_id="c_0"
                              ) == (changed, False)  # unregistered there
    assert store.otp_token_of(token.serial, institution_id=banks[1], customer_id="c_0"
                              ) == (changed, False)  # another customer's registration
    assert store.otp_token_of("nope", institution_id=banks[1], customer_id="c_1") is None
    with store.transaction() as tx:
        assert tx.otp_token_of("000000000002", institution_id=banks[1], customer_id="c_1"
                               ) == (store.otp_token("000000000002"), True)
    with pytest.raises(RuntimeError), store.transaction() as tx:  # all or nothing
        tx.update_otp_token(dataclasses.replace(changed, failures=0))
        raise RuntimeError
    assert store.otp_token(token.serial) == changed
    with store.transaction() as tx:  # a code accepted: only its step, drift, count, activation
        tx.use_otp_step(token.serial, step=124, drift=1, activated_at=None)
    assert store.otp_token(token.serial) == dataclasses.replace(
        changed, last_step=124, drift=1, failures=0, activated_at=None)
    with store.transaction() as tx:
        tx.use_otp_step(token.serial, step=125, drift=0, activated_at=T0 + YEAR)
    assert store.otp_token(token.serial) == dataclasses.replace(
        changed, last_step=125, drift=0, failures=0, activated_at=T0 + YEAR)


# -- phone verification ------------------------------------------------------------------------


def test_phone_lines_verifications_sends_and_apps(store: Store) -> None:
    from pki.store import (
        LineState,
        LineType,
        PhoneApp,
        PhoneVerificationRecord,
        SubscriberLine,
        VerificationMethod,
        Via,
    )

    line = SubscriberLine("01012345678", Carrier.KT, "KT M모바일", "홍길동", "9005171234566",
                          LineType.POSTPAID, LineState.ACTIVE, T0, other_name=True)
    minute = dt.timedelta(minutes=1)
    with store.transaction() as tx:
        site = tx.add_institution("shop", "h1", at=T0)
        tx.add_subscriber_line(line)
        with pytest.raises(StoreError):
            tx.add_subscriber_line(line)
        for n in range(3):
            tx.add_phone_verification(PhoneVerificationRecord(
                f"pv_{n}", site.id, line.phone, VerificationMethod.SMS,
                Via.APP if n else Via.SMS, "홍길동", "9005171", "hash", T0 + 3 * minute,
                T0 + n * minute))
        tx.resend_phone_code("pv_0", "hash2", expires_at=T0 + 9 * minute, at=T0 + 5 * minute)
        tx.count_phone_try("pv_1")
        tx.verify_phone("pv_2", at=T0 + 3 * minute, ci="C" * 88, di="D" * 64)
        tx.put_phone_app(PhoneApp(line.phone, "scrypt$hash", T0))
        tx.set_phone_app_failures(line.phone, 2, locked_at=T0)
        tx.update_subscriber_line(dataclasses.replace(line, state=LineState.LOST,
                                                      ars_blocked=True))
        tx.record_message(Message(line.phone, "call", T0, site.id, Via.CALL))
        assert tx.phone_sends(line.phone, T0) == 4
    assert store.subscriber_line(line.phone) == dataclasses.replace(
        line, state=LineState.LOST, ars_blocked=True)
    assert store.phone_sends(line.phone, T0 + 2 * minute) == 2
    first = store.phone_verification("pv_0")
    assert first is not None and (first.code_hash, first.sends, first.tries,
                                  first.expires_at) == ("hash2", 2, 0, T0 + 9 * minute)
    assert [v.id for v in store.phone_verifications(line.phone)] == ["pv_2", "pv_1", "pv_0"]
    assert [v.id for v in store.phone_verifications(line.phone, via=Via.APP, since=T0,
                                                    limit=1)] == ["pv_2"]
    verified = store.phone_verification("pv_2")
    assert verified is not None and (verified.verified_at, verified.ci) == (
        T0 + 3 * minute, "C" * 88)
    app = store.phone_app(line.phone)
    assert app is not None and (app.failures, app.locked) == (2, True)
    assert [m.via for m in store.messages(line.phone, site.id)] == [Via.CALL]
    with store.transaction() as tx:
        assert tx.remove_phone_app(line.phone) and not tx.remove_phone_app(line.phone)
    assert store.phone_app(line.phone) is None


# -- designated devices of the bank's customers --------------------------------------------


def test_bank_devices_options_and_step_ups_used_once(store: Store) -> None:
    from pki.store import (
        DesignatedDevices,
        LineState,
        LineType,
        PhoneVerificationRecord,
        SubscriberLine,
        VerificationMethod,
        Via,
    )

    _bank_rows(store)
    assert store.bank_devices("c_1") == DesignatedDevices()
    with store.transaction() as tx:
        assert tx.add_bank_device("c_1", "phone", at=T0)
        assert tx.add_bank_device("c_1", "pc", at=T0 + YEAR)
        assert not tx.add_bank_device("c_1", "phone", at=T0)
        tx.set_bank_device_options("c_1", designated_only=True, step_up="ars")
        tx.add_subscriber_line(SubscriberLine("01012345678", Carrier.KT, None, "홍길동",
                                              "9005171234566", LineType.POSTPAID,
                                              LineState.ACTIVE, T0))
        tx.add_phone_verification(PhoneVerificationRecord(
            "pv_1", 1, "01012345678", VerificationMethod.ARS, Via.CALL, "홍길동", "9005171",
            "hash", T0, T0))
        assert tx.use_step_up("pv_1", customer_id="c_1", institution_id=1,
                              operation="transfer", at=T0)
        assert not tx.use_step_up("pv_1", customer_id="c_1", institution_id=1,
                                  operation="transfer", at=T0)  # once
    assert store.bank_devices("c_1") == DesignatedDevices(("phone", "pc"), True, "ars")
    assert store.step_up_used_at("pv_1") == T0 and store.step_up_used_at("pv_2") is None
    with store.transaction() as tx:
        assert tx.remove_bank_device("c_1", "phone") and not tx.remove_bank_device("c_1", "x")
        tx.set_bank_device_options("c_1", designated_only=False, step_up=None)
    assert store.bank_devices("c_1") == DesignatedDevices(("pc",))
