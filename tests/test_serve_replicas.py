"""Read-only replicas and one publisher on one home, as real processes (issue 12, item 3).

Rules: ``kpki serve --no-publish`` answers from what the publisher keeps in the store and
writes nothing; two such replicas answer byte-identical CRLs; a revocation made by the CLI
is in every replica's OCSP answers at once and in their CRLs after the publisher's next round
(``kpki publish --watch``, whose log line says when a round published). No sleeping: the
tests wait for the publisher's log lines and ask the replicas after them.
"""

from __future__ import annotations

import hashlib
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki.home import Home

from .serve_process import DEADLINE, serving, stop_process

RRN = "9005171234566"
KPKI = str(Path(sys.executable).parent / "kpki")


class Watching:
    """``kpki publish --watch`` with its log read line by line."""

    def __init__(self, home: Path) -> None:
        self.proc = subprocess.Popen([KPKI, "--home", str(home), "publish", "--watch",
                                      "--poll", "0.05"], stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")

    def published(self, label: str) -> int:
        """The number of the next full CRL of ``label`` this publisher logs."""
        pattern = re.compile(rf"published CRL (\d+) of {label} ")
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                pytest.fail("the publisher published nothing:\n" + "".join(self.log))
            if not line:
                pytest.fail("the publisher stopped:\n" + "".join(self.log))
            self.log.append(line)
            match = pattern.search(line)
            if match:
                return int(match.group(1))

    def stop(self) -> None:
        stop_process(self.proc, self._reader)


@pytest.fixture
def shared(tmp_path, key_pool):  # type: ignore[no-untyped-def]
    path = tmp_path / "home"
    with Home.create(path, passphrase=None, key_generator=key_pool) as home:
        authority = home.authority()
        certs = {name: authority.issue_joint(name="홍길동", rrn=RRN)
                 for name in ("good", "later")}
    return path, certs


def _get(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body),
                                    timeout=DEADLINE) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _crl(port: int) -> bytes:
    status, body = _get(f"http://127.0.0.1:{port}/crl/yessign.crl")
    assert status == 200
    return body


def _lists(der: bytes, serial: int) -> bool:
    return x509.load_der_x509_crl(der).get_revoked_certificate_by_serial_number(
        serial) is not None


def _ocsp(port: int, issued) -> ocsp.OCSPCertStatus:  # type: ignore[no-untyped-def]
    request = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, issued.chain[0], hashes.SHA256()).build()
    status, body = _get(f"http://127.0.0.1:{port}/ocsp/yessign",
                        request.public_bytes(serialization.Encoding.DER))
    assert status == 200
    return ocsp.load_der_ocsp_response(body).certificate_status


def test_replicas_answer_what_one_publisher_published(shared):
    path, certs = shared
    later = certs["later"]
    publisher = Watching(path)
    try:
        first = publisher.published("yessign")
        with serving(path, "--no-publish", "--no-cloud") as a, \
                serving(path, "--no-publish", "--no-cloud") as b:
            assert all("not publishing" in line for line in (a.log[-1], b.log[-1]))
            before = _crl(a.port)
            assert _crl(b.port) == before
            with Home.open(path) as home:
                published = home.store.published_crl("yessign")
                assert published is not None and published.number == first
                assert published.der == before
            assert {_ocsp(a.port, later), _ocsp(b.port, later)} == {ocsp.OCSPCertStatus.GOOD}

            revoked = subprocess.run([KPKI, "--home", str(path), "cert", "revoke",
                                      format(later.serial, "X"), "--reason", "superseded"],
                                     capture_output=True, text=True, timeout=DEADLINE)
            assert revoked.returncode == 0, revoked.stderr
            # OCSP reads each status when asked.
            assert {_ocsp(a.port, later), _ocsp(b.port, later)} == \
                {ocsp.OCSPCertStatus.REVOKED}
            assert publisher.published("yessign") > first  # the publisher's next round
            after_a, after_b = _crl(a.port), _crl(b.port)
            assert after_a == after_b and after_a != before
            assert _lists(after_a, later.serial) and not _lists(after_a, certs["good"].serial)
    finally:
        publisher.stop()


def _fingerprint(home: Path) -> dict[str, str]:
    """What a writer would change: the store's file and its WAL, and every file the home
    holds besides (the WAL index, which readers update, aside)."""
    seen = {}
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.name.endswith("-shm"):
            seen[path.relative_to(home).as_posix()] = hashlib.sha256(
                path.read_bytes()).hexdigest()
    seen.setdefault("kpki.db-wal", hashlib.sha256(b"").hexdigest())  # made empty on opening
    return seen


def test_a_replica_writes_nothing(shared):
    path, certs = shared
    done = subprocess.run([KPKI, "--home", str(path), "publish", "--json"],
                          capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    before = _fingerprint(path)
    # The cloud, the bank and simple authentication write (the secret at start-up, then
    # every call): --read-only serves none of them.
    with serving(path, "--read-only") as replica:
        url = f"http://127.0.0.1:{replica.port}"
        assert _get(url + "/crl/yessign.crl")[0] == 200
        assert _get(url + "/crl/yessign-delta.crl")[0] == 200
        assert _get(url + "/crl/root.crl")[0] == 200
        assert _ocsp(replica.port, certs["good"]) is ocsp.OCSPCertStatus.GOOD
        assert _get(url + "/tsa", b"\x30\x00")[0] == 200  # a rejection, answered
        assert _get(url + "/cps/yessign.html")[0] == 200
        assert _get(url + "/nothing")[0] == 404
        assert _fingerprint(path) == before
