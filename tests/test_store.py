"""The SQLite store: schema, transactions, audit, serial uniqueness, concurrency."""

import datetime as dt
import multiprocessing
import sqlite3

import pytest
from cryptography.hazmat.primitives import serialization

from pki.entropy import SeededEntropy
from pki.errors import StoreError
from pki.home import Home
from pki.rrn import synthetic_rrn
from pki.store import CertStatus
from pki.store.sqlite import SCHEMA_VERSION, SQLiteStore

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


@pytest.mark.sqlite_only("SQLite's user_version and WAL journal")
def test_store_is_versioned_and_in_wal_mode(home):
    assert home.store.schema_version == SCHEMA_VERSION
    assert home.store.journal_mode == "wal"


@pytest.mark.sqlite_only("SQLite's user_version; PostgreSQL's: test_store_contract.py")
def test_store_from_a_newer_kpki_is_refused(home):
    path = home.store.path
    home.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError):
        SQLiteStore(path)


def test_migrations_bring_an_empty_file_up_to_date(tmp_path):
    store = SQLiteStore(tmp_path / "s.db", create=True)
    assert store.schema_version == SCHEMA_VERSION
    assert store.get_meta("store_id")  # migration 6 names the store
    store.close()  # every kind of record round-trips: tests/test_store_contract.py


def test_what_replaced_a_certificate_is_found_through_an_index(tmp_path):
    # The cloud asks at every signature: a scan of the CA's certificates would grow with them.
    SQLiteStore(tmp_path / "s.db", create=True).close()
    conn = sqlite3.connect(tmp_path / "s.db")
    plan = " ".join(str(row) for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT serial FROM certificates WHERE ca_id = ? AND replaces = ?",
        (1, "01")))
    conn.close()
    assert "certificates_replaces" in plan


def test_issuance_records_certificate_and_audit_row(authority, home):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    (record,) = home.store.find_certificates(issued.serial)
    assert record.status is CertStatus.VALID and record.status.code == 10
    assert record.profile == "joint-general" and record.holder == "홍길동"
    assert record.der == issued.certificate.public_bytes(serialization.Encoding.DER)
    assert record.not_after == issued.certificate.not_valid_after_utc
    (event,) = home.store.audit_log(serial=issued.serial)
    assert event.action == "certificate.issued" and event.ca == "yessign"
    assert event.detail["profile"] == "joint-general"


def test_store_never_holds_r_or_the_private_key(authority, home):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    raw = b"".join(p.read_bytes() for p in home.path.iterdir() if p.name.startswith("kpki.db"))
    assert issued.r not in raw
    key_der = issued.private_key.private_bytes(serialization.Encoding.DER,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())
    assert key_der[-64:] not in raw


@pytest.mark.sqlite_only("SQLite's triggers through sqlite3; PostgreSQL's: test_store_contract.py")
def test_audit_log_is_append_only(home):
    conn = sqlite3.connect(home.store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET action = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
    conn.close()


def test_failed_issuance_leaves_nothing(authority, home):
    def boom(issued):  # inside the transaction, after the certificate is recorded
        raise StoreError("disk full")

    with pytest.raises(StoreError):
        authority.issue_joint(name="홍길동", rrn=RRN, deliver=boom)
    assert home.store.list_certificates() == []
    assert [e.action for e in home.store.audit_log()] == ["ca.created", "ca.created"]
    # The CN sequence did not move either: the next certificate is number 1.
    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    assert cert.subject.rfc4514_string().startswith("CN=홍길동()009104120260316000000001")


class ScriptedEntropy:
    """Plays back given byte strings, then falls back to a seeded stream."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.rest = SeededEntropy("scripted")

    def token_bytes(self, n):
        if self.chunks:
            chunk = self.chunks.pop(0)
            assert len(chunk) == n
            return chunk
        return self.rest.token_bytes(n)


def test_a_serial_is_never_issued_twice_by_one_ca(authority):
    same = bytes.fromhex("0f" * 8)
    r = b"\x01" * 20
    # Issuance draws R (20 bytes), then the serial (8 bytes: 63 bits).
    authority.entropy = ScriptedEntropy(r, same, r, same)
    first = authority.issue_joint(name="홍길동", rrn=RRN)
    second = authority.issue_joint(name="홍길동", rrn=RRN)
    assert first.serial == int.from_bytes(same, "big") >> 1
    assert second.serial != first.serial


def test_store_rejects_a_duplicate_serial(authority, home):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    (record,) = home.store.find_certificates(issued.serial)
    with pytest.raises(StoreError), home.store.transaction() as tx:
        tx.put_certificate(record)


def test_list_filters(authority, home):
    authority.issue_joint(name="홍길동", rrn=RRN)
    authority.issue_financial(name="김철수", rrn=RRN)
    assert [r.holder for r in home.store.list_certificates(profile="financial-personal")] == [
        "김철수"]
    assert [r.holder for r in home.store.list_certificates(holder="홍길동")] == ["홍길동"]
    assert len(home.store.list_certificates(status=CertStatus.VALID)) == 2
    assert home.store.list_certificates(status=CertStatus.REVOKED) == []


# -- several processes against one home ----------------------------------------------

PER_PROCESS = 50
PROCESSES = 4


def _issue_many(home_path, public_pem, barrier, queue):
    try:
        key = serialization.load_pem_public_key(public_pem)
        with Home.open(home_path) as home:
            ca = home.authority()
            barrier.wait(timeout=60)
            serials = [ca.issue_joint(name="동시", rrn=RRN, public_key=key).serial
                       for _ in range(PER_PROCESS)]
        queue.put(("ok", serials))
    except BaseException as exc:  # report anything, including "database is locked"
        queue.put(("error", repr(exc)))


def test_concurrent_processes_never_collide(home, key_pool):
    public_pem = key_pool.keys(2048, 6)[3].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    queue = ctx.Queue()
    workers = [ctx.Process(target=_issue_many, args=(str(home.path), public_pem, barrier, queue))
               for _ in range(PROCESSES)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    errors = [r[1] for r in results if r[0] != "ok"]
    assert errors == []
    serials = [s for _, batch in results for s in batch]
    assert len(serials) == len(set(serials)) == PROCESSES * PER_PROCESS
    records = home.store.list_certificates()
    assert len(records) == PROCESSES * PER_PROCESS
    assert {r.serial for r in records} == set(serials)
    cns = {r.certificate.subject.rfc4514_string() for r in records}
    assert len(cns) == PROCESSES * PER_PROCESS  # CN sequence never reused
    issued_events = [e for e in home.store.audit_log() if e.action == "certificate.issued"]
    assert len(issued_events) == PROCESSES * PER_PROCESS


# -- bulk issuance and CN sequence blocks ----------------------------------------------


def _cn(cert):
    return cert.subject.rfc4514_string().split(",")[0]


def test_issue_many_is_all_or_nothing(authority, home):
    from pki.authority import IssueRequest
    from pki.errors import InvalidRRNError
    from pki.profiles import PROFILES

    good = IssueRequest(PROFILES["joint-general"], name="홍길동", rrn=RRN)
    bad = IssueRequest(PROFILES["joint-general"], name="홍길동", rrn="9005171234567")
    with pytest.raises(InvalidRRNError):
        authority.issue_many([good, good, bad])
    assert home.store.list_certificates() == []
    issued = authority.issue_many([good] * 40)
    assert len({i.serial for i in issued}) == 40
    assert len({_cn(i.certificate) for i in issued}) == 40
    assert len(home.store.list_certificates()) == 40
    assert len([e for e in home.store.audit_log() if e.action == "certificate.issued"]) == 40


def test_one_shot_issuers_get_consecutive_sequence_numbers(home):
    cns = [_cn(home.authority().issue_joint(name="홍길동", rrn=RRN).certificate)
           for _ in range(3)]
    assert [cn[-3:] for cn in cns] == ["001", "002", "003"]


def test_interleaved_issuers_never_share_a_sequence_number(home):
    a, b = home.authority(), home.authority()
    cns = []
    for _ in range(20):
        cns.append(_cn(a.issue_joint(name="홍길동", rrn=RRN).certificate))
        cns.append(_cn(b.issue_joint(name="홍길동", rrn=RRN).certificate))
    assert len(set(cns)) == 40


def test_a_block_reserved_in_a_failed_transaction_is_not_reused(home):
    a = home.authority()
    home.store.fail_commits(1)
    with pytest.raises(StoreError):
        a.issue_joint(name="홍길동", rrn=RRN)
    b = home.authority()
    first_b = _cn(b.issue_joint(name="홍길동", rrn=RRN).certificate)
    first_a = _cn(a.issue_joint(name="홍길동", rrn=RRN).certificate)
    assert first_a != first_b


def test_deliver_runs_before_commit_and_can_veto(authority, home):
    seen = []

    def deliver(issued):
        seen.append(issued.serial)
        assert home.store.find_certificates(issued.serial) != []  # inside the transaction
        raise OSError("cannot write the holder's files")

    with pytest.raises(OSError):
        authority.issue_joint(name="홍길동", rrn=RRN, deliver=deliver)
    assert len(seen) == 1
    assert home.store.list_certificates() == []
