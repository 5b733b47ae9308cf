"""Publishing CRLs under concurrency and crashes.

Rules: a published CRL file is never replaced by an older one (the CRL number decides, under
the publish folder's lock); the DER file and its PEM twin always hold the same CRL once a
publisher has run (a crash between the two renames is repaired by the next one); temporary
files never outlive the next run. Crashes are SIGKILLs at named fault points
(:mod:`pki.faults`), not at random times.
"""

import base64
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from pki import lifecycle
from pki.home import Home
from pki.revocation.crl import issue_crl, publish_path, write_crl
from pki.store import CertificateRecord, CertStatus, KeyOrigin

RRN = "9005171234566"
KPKI = str(Path(sys.executable).parent / "kpki")


@pytest.fixture
def ca_key(home, authority):
    return home.load_ca_key(authority.label, None)


def _number(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _pem_body(pem: bytes) -> bytes:
    lines = pem.decode().strip().splitlines()
    assert lines[0] == "-----BEGIN X509 CRL-----" and lines[-1] == "-----END X509 CRL-----"
    return base64.b64decode("".join(lines[1:-1]))


def _pair(home: Home, label: str = "yessign") -> tuple[Path, Path]:
    der = publish_path(home.publish_dir, home.store.get_ca(label).crl_url)
    return der, der.with_name(der.name + ".pem")


def assert_published_and_matching(home: Home, label: str = "yessign") -> int:
    der_path, pem_path = _pair(home, label)
    der = der_path.read_bytes()
    assert _pem_body(pem_path.read_bytes()) == der, "DER and PEM differ"
    assert not [p for p in home.publish_dir.rglob("*") if p.name.endswith(".tmp")]
    assert not (home.publish_dir / ".publishing").exists()
    return _number(der)


# -- one process ---------------------------------------------------------------------------


def test_an_older_crl_never_replaces_a_newer_one(home, authority, ca_key, clock):
    older = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    newer = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    url = authority.record.crl_url
    assert write_crl(newer, home.publish_dir, url) is not None
    assert write_crl(older, home.publish_dir, url) is None  # reserved first, written last
    assert assert_published_and_matching(home) == newer.info.number


def test_the_same_crl_written_twice_is_left_alone(home, authority, ca_key, clock):
    crl = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    url = authority.record.crl_url
    assert write_crl(crl, home.publish_dir, url) is not None
    assert write_crl(crl, home.publish_dir, url) is None
    assert assert_published_and_matching(home) == crl.info.number


def test_home_publish_reports_a_crl_it_did_not_write(home, authority, ca_key, clock):
    newer = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    newer_next = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    write_crl(newer_next, home.publish_dir, authority.record.crl_url)
    # a number below the one published: as if a concurrent publisher got there first
    assert write_crl(newer, home.publish_dir, authority.record.crl_url) is None
    [(crl, path)] = home.publish_crls(passphrase=None, labels=["yessign"])
    assert path is not None and crl.info.number == newer_next.info.number + 1
    assert assert_published_and_matching(home) == crl.info.number


def test_leftovers_of_a_crash_are_cleaned_and_repaired(home, authority, ca_key, clock):
    first = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    write_crl(first, home.publish_dir, authority.record.crl_url)
    der_path, pem_path = _pair(home)
    # a crash between the two renames: the DER is new, the PEM old, the journal names it
    second = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    der_path.write_bytes(second.der)
    (home.publish_dir / ".publishing").write_text("crl/yessign.crl\n")
    for name in (".yessign.crl.x1.tmp", ".yessign.crl.pem.x2.tmp"):
        (der_path.parent / name).write_bytes(b"half")
    (home.publish_dir / "..publishing.x3.tmp").write_bytes(b"half")
    assert _pem_body(pem_path.read_bytes()) != der_path.read_bytes()
    [(crl, _)] = home.publish_crls(passphrase=None, labels=["root"])  # any publish repairs
    assert crl.info.ca == "root"
    assert assert_published_and_matching(home) == second.info.number


# -- crashes at chosen points -----------------------------------------------------------------

FAULT_POINTS = ["crl.reserved", "crl.recorded", "crl.locked", "crl.written", "crl.journaled",
                "crl.der-renamed", "crl.pem-renamed"]


def _publish(home_path: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    if fault is not None:
        env["KPKI_FAULT"] = fault
    return subprocess.run([KPKI, "--home", str(home_path), "crl", "publish", "--ca", "yessign"],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_a_kill_during_publishing_never_leaves_der_and_pem_apart(home, authority, point):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    home.publish_crls(passphrase=None)
    first = assert_published_and_matching(home)
    lifecycle.revoke(home.store, issued.serial, at=home.clock.now())
    killed = _publish(home.path, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    der_path, pem_path = _pair(home)
    assert _number(der_path.read_bytes()) >= first  # whole files only, never older
    x509.load_pem_x509_crl(pem_path.read_bytes())
    if point == "crl.der-renamed":  # the window the next run must repair
        assert _pem_body(pem_path.read_bytes()) != der_path.read_bytes()
    done = _publish(home.path)
    assert done.returncode == 0, done.stderr
    number = assert_published_and_matching(home)
    last = home.store.last_crl("yessign")
    assert last is not None and number == last.number > first
    crl = x509.load_der_x509_crl(der_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None


# -- several publishers at once ------------------------------------------------------------

PUBLISHERS = 4
ROUNDS = 3
ENTRIES = 20_000


def _publisher(home_path: str, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    try:
        with Home.open(home_path) as home:
            barrier.wait(timeout=60)
            written = []
            for _ in range(ROUNDS):
                [(crl, path)] = home.publish_crls(passphrase=None, labels=["yessign"])
                written.append((crl.info.number, path is not None))
        queue.put(("ok", written))
    except BaseException as exc:
        queue.put(("error", repr(exc)))


def _revoke_many(home: Home, count: int) -> None:
    """``count`` revoked certificates straight into the store (a CRL needs only the rows),
    in bulk: a statement or two per certificate is 40,000 round trips on PostgreSQL, which
    took over 600 s on a loaded CI machine."""
    cert = home.store.get_ca("yessign").certificate
    now = home.clock.now()
    with home.store.transaction() as tx:
        refused = tx.put_certificates([CertificateRecord(
            ca="yessign", serial=serial, subject="CN=x", holder="x", profile="joint",
            status=CertStatus.REVOKED, not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc, der=b"", issued_at=now,
            key_origin=KeyOrigin.PUBLIC_KEY, revoked_at=now,
            reason=x509.ReasonFlags.key_compromise) for serial in range(1, count + 1)])
    assert refused == []


def test_parallel_publishers_never_publish_an_older_crl(home):
    _revoke_many(home, ENTRIES)
    home.publish_crls(passphrase=None, labels=["yessign"])
    der_path, _ = _pair(home)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PUBLISHERS)
    queue = ctx.Queue()
    workers = [ctx.Process(target=_publisher, args=(str(home.path), barrier, queue))
               for _ in range(PUBLISHERS)]
    for w in workers:
        w.start()
    seen = [_number(der_path.read_bytes())]
    while any(w.is_alive() for w in workers):  # watch the file while they publish
        seen.append(_number(der_path.read_bytes()))
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert [r for r in results if r[0] != "ok"] == []
    assert seen == sorted(seen), "the published CRL went backwards"
    numbers = [n for _, written in results for n, _ in written]
    assert len(set(numbers)) == PUBLISHERS * ROUNDS
    final = assert_published_and_matching(home)
    last = home.store.last_crl("yessign")
    assert last is not None and final == last.number == max(numbers)
    assert len(x509.load_der_x509_crl(der_path.read_bytes())) == ENTRIES
