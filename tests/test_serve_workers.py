"""``kpki serve --workers N``: several processes answer on one port, each reading the store.

A real ``kpki serve --no-cloud --no-bank --no-simpleauth --workers 2`` (its publisher in
the process that forks the workers). To show that each worker answers, one is
stopped (SIGSTOP) while the other is asked, then the other way round: a stopped process
cannot accept, so the answer came from the one that runs. No sleeping: the test waits for
the line saying the server listens, and every request has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki import lifecycle
from pki.cli.main import cli
from pki.home import Home
from pki.usecases.serving import PUBLISHER_NICENESS

KPKI = str(Path(sys.executable).parent / "kpki")
DEADLINE = 60.0


def _request(issued) -> bytes:
    return (ocsp.OCSPRequestBuilder().add_certificate(issued.certificate, issued.chain[0],
                                                      hashes.SHA1())
            .build().public_bytes(serialization.Encoding.DER))


def _ask(url: str, issued) -> ocsp.OCSPCertStatus:
    request = urllib.request.Request(url, data=_request(issued),
                                     headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return ocsp.load_der_ocsp_response(response.read()).certificate_status


@pytest.fixture
def served(tmp_path, key_pool):
    home = Home.create(tmp_path / "home", passphrase=None, key_generator=key_pool)
    authority = home.authority()
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    home.publisher().round()
    aia = issued.certificate.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
    path = urllib.parse.urlsplit(aia[0].access_location.value).path
    home.close()
    proc = subprocess.Popen([KPKI, "--home", str(tmp_path / "home"), "serve", "--port", "0",
                             "--no-cloud", "--no-bank", "--no-simpleauth", "--workers", "2",
                             "--poll", "0.05"],
                            stderr=subprocess.PIPE, text=True)
    port, pids, lines = None, None, []
    start = time.monotonic()
    while (port is None or pids is None) and time.monotonic() - start < DEADLINE:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if found := re.search(r"workers answering \(pids ([\d ]+)\)", line):
            pids = [int(p) for p in found.group(1).split()]
        if found := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
            port = int(found.group(1))
    if port is None or pids is None:
        proc.kill()
        proc.wait()
        proc.stderr.close()
        pytest.fail("kpki serve --workers 2 did not start:\n" + "".join(lines))
    log_file = (tmp_path / "serve.log").open("w")
    pump = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=log_file)  # reads the rest
    proc.stderr.close()
    try:
        yield {"url": f"http://127.0.0.1:{port}{path}", "pids": pids, "issued": issued,
               "home": tmp_path / "home", "proc": proc}
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        pump.wait(timeout=10)
        log_file.close()


def _each_worker(served, check) -> None:
    """Run ``check`` with every worker but one stopped, for each worker in turn."""
    for running in served["pids"]:
        others = [pid for pid in served["pids"] if pid != running]
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        try:
            check()
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)


def test_two_workers_both_answer_and_both_see_a_revocation(served):
    assert len(set(served["pids"])) == 2
    _each_worker(served, lambda: _assert_status(served, ocsp.OCSPCertStatus.GOOD))
    with Home.open(served["home"]) as home:
        lifecycle.revoke(home.store, served["issued"].serial, at=home.clock.now())
    _each_worker(served, lambda: _assert_status(served, ocsp.OCSPCertStatus.REVOKED))


def _assert_status(served, status: ocsp.OCSPCertStatus) -> None:
    assert _ask(served["url"], served["issued"]) is status


def test_the_publisher_runs_at_a_lower_priority_than_the_workers(served):
    workers = {os.getpriority(os.PRIO_PROCESS, pid) for pid in served["pids"]}
    assert len(workers) == 1
    assert os.getpriority(os.PRIO_PROCESS, served["proc"].pid) == min(
        19, workers.pop() + PUBLISHER_NICENESS)


def test_stopping_the_server_stops_its_workers(served):
    served["proc"].terminate()
    assert served["proc"].wait(timeout=30) == 0
    for pid in served["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_refuse_the_apis_that_keep_state_in_the_process(tmp_path, key_pool):
    Home.create(tmp_path / "home", passphrase=None, key_generator=key_pool).close()
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "serve", "--port",
                                      "0", "--workers", "2", "--no-cloud"])
    assert result.exit_code == 2
    assert "--no-bank --no-simpleauth (or --read-only)" in result.output
