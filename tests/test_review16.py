"""Hostile review of issue 16's finished parts: each test is a defect found by attacking
the new commands as a user and a relying party would (PKCS #11 URIs, secret files,
``kpki ca set --crl-shards``, ``kpki cert list`` paging, serving new shards' CRLs)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki.cli.main import cli
from pki.errors import PKCS11URIError
from pki.keys.pkcs11uri import parse_uri

KPKI = str(Path(sys.executable).parent / "kpki")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}


def _one_line(stderr: str, *words: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], stderr
    return lines[0]


# -- secrets never in messages -----------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "PKCS11:token=t?PIN-VALUE=s3cretpin&module-path=/m.so",
    "PKCS11:token=t?Pin-Value=s3cretpin",
    "pkcs 11:token=t?pin%2Dvalue=s3cretpin",
    "pkcs 11:token=t?pin%2dvalue=s3cretpin",
])
def test_a_pin_in_a_refused_uri_is_never_shown_whatever_its_case_or_escapes(text):
    with pytest.raises(PKCS11URIError) as refused:
        parse_uri(text)
    assert "s3cretpin" not in str(refused.value)


def _limited_memory() -> None:
    limit = 1 << 30  # 1 GiB: kpki needs far less; reading /dev/zero whole needs more
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.sqlite_only("runs kpki init in a subprocess on a folder of its own")
def test_a_secret_file_without_end_is_refused_in_one_line_not_read_to_its_end(tmp_path):
    done = subprocess.run([KPKI, "--home", str(tmp_path / "h"), "init",
                           "--passphrase-file", "/dev/zero"],
                          capture_output=True, text=True, env=_env(), timeout=120,
                          preexec_fn=_limited_memory)
    assert done.returncode == 1
    _one_line(done.stderr, "/dev/zero")
    assert not (tmp_path / "h").exists()


def test_a_secret_file_is_read_to_its_first_line_only(tmp_path):
    from pki.cli.secrets import read_secret_file

    big = tmp_path / "pin"
    with big.open("wb") as f:
        f.write(b"1234\n")
        f.truncate(1 << 40)  # a terabyte, sparse: reading it whole would never end
    assert read_secret_file(big) == b"1234"


# -- kpki ca set --crl-shards ------------------------------------------------------------------


@pytest.mark.parametrize(("label", "value"), [("root", "2"), ("yessign", "2")])
def test_a_crl_shards_refused_by_kpkis_rules_is_a_usage_error_naming_the_option(
        home, label, value):
    runner = CliRunner()
    base = ["--home", str(home.path)]
    grown = runner.invoke(cli, [*base, "ca", "set", "yessign", "--crl-shards", "4"])
    assert grown.exit_code == 0, grown.output
    refused = runner.invoke(cli, [*base, "ca", "set", label, "--crl-shards", value])
    assert refused.exit_code == 2, refused.output
    _one_line(refused.stderr, "--crl-shards")
    assert home.store.get_ca("yessign").crl_shards == 4
    assert home.store.get_ca("root").crl_shards == 1


# -- kpki cert list paging ---------------------------------------------------------------------


def test_a_huge_limit_is_all_or_a_usage_error_never_an_unexpected_error(home):
    done = CliRunner().invoke(cli, ["--home", str(home.path), "cert", "list", "--limit",
                                    str(10 ** 30)])
    assert done.exit_code in (0, 2), done.output
    assert "unexpected" not in done.output


@pytest.mark.parametrize("text", ["1_0", "\uff11\uff10", "1 0", "+10"])
def test_a_serial_is_plain_hex_digits_only(home, text):
    done = CliRunner().invoke(cli, ["--home", str(home.path), "cert", "list", "--after", text,
                                    "--ca", "yessign"])
    assert done.exit_code == 2
    _one_line(done.stderr, "--after", "not a hex serial")


# -- serving the shards' CRLs ------------------------------------------------------------------


def test_a_running_server_serves_the_crls_of_shards_added_after_it_started(home):
    import urllib.error
    import urllib.request

    from pki.revocation.shards import shard_url
    from pki.web import WebState, create_app, serve_in_thread

    def get(url: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    state = WebState.of_home(home, poll_seconds=3600)  # started with one CRL for yessign
    with serve_in_thread(create_app(state)) as base:
        home.set_crl_shards("yessign", 4)  # another process, a replica's operator
        issued = home.authority("yessign").issue_joint(name="홍길동", rrn="9005171234566")
        shard = issued.certificate.serial_number % 4
        path = shard_url(home.store.get_ca("yessign").crl_url, shard).split("/", 3)[3]
        assert get(f"{base}/{path}")[0] == 503  # named in a certificate, not yet published
        home.publisher().round()
        status, body = get(f"{base}/{path}")
        assert status == 200 and body == home.store.published_crl("yessign", shard=shard).der
        folder = path.rsplit("/", 1)[0]
        for absent in ("4.crl", "03.crl", "x.crl", "-1.crl", "1.crl.crl"):
            assert get(f"{base}/{folder}/{absent}")[0] == 404, absent


def test_a_running_server_serves_the_crls_and_ocsp_of_a_ca_added_after_it_started(home):
    """kpki ca add on a running fleet: the new CA's certificates name its CRL and OCSP URLs,
    and every replica answered them 404 until restarted."""
    import urllib.error
    import urllib.request

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from pki.hierarchy import CASettings
    from pki.web import WebState, create_app, serve_in_thread

    def fetch(url: str, body: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/ocsp-request"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    state = WebState.of_home(home, poll_seconds=3600)
    with serve_in_thread(create_app(state)) as base:
        record = home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
        issued = home.authority("signkorea").issue_joint(name="홍길동", rrn="9005171234566")
        crl_path = record.crl_url.split("/", 3)[3]
        ocsp_path = record.ocsp_url.split("/", 3)[3]
        assert fetch(f"{base}/{crl_path}")[0] == 404  # not looked for yet
        home.publisher().round()
        state.reload()  # what the poll (or the publisher in the same process) does
        status, body = fetch(f"{base}/{crl_path}")
        assert status == 200 and body == home.store.published_crl("signkorea").der
        ca_cert = x509.load_der_x509_certificate(record.der)
        request = ocsp.OCSPRequestBuilder().add_certificate(
            issued.certificate, ca_cert, hashes.SHA1()).build()
        status, body = fetch(f"{base}/{ocsp_path}",
                             request.public_bytes(serialization.Encoding.DER))
        answer = ocsp.load_der_ocsp_response(body)
        assert status == 200 and answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert fetch(f"{base}/no/such/path")[0] == 404


# -- publisher leadership ----------------------------------------------------------------------


def test_an_advisory_lease_outlives_a_round_longer_than_its_idle_timeout(postgresql_url):
    """A full round on a home of millions takes longer than the lease's idle timeout (28.8 s
    for kpki crl publish at 1,000,000, against 10 s): the holder calls hold() only between
    rounds, so the server must not end its session meanwhile, or another replica takes
    the lease over mid-round (and starts a full round of its own)."""
    import threading
    import time

    import psycopg

    from pki.leadership import AdvisoryLease

    idle = 1.0
    lease, other = AdvisoryLease(postgresql_url, idle_timeout=idle), AdvisoryLease(postgresql_url)
    try:
        with psycopg.connect(postgresql_url, autocommit=True) as admin:
            start = admin.execute("SELECT clock_timestamp()").fetchone()[0]
            assert lease.hold()  # then a long round, without calling hold()
            deadline = time.monotonic() + 60
            while True:  # until the server's clock shows 3 idle timeouts passed, or the end
                row = admin.execute(
                    "SELECT state_change FROM pg_stat_activity WHERE application_name = "
                    "'kpki publisher lease' AND datname = current_database()").fetchone()
                if row is None or (row[0] - start).total_seconds() > 3 * idle:
                    break
                assert time.monotonic() < deadline, "the lease's session did nothing"
                threading.Event().wait(0.05)
        assert row is not None, "the server ended the holder's session in the middle of a round"
        assert not other.hold()
        assert lease.hold()
    finally:
        lease.release()
        other.release()


def test_a_holder_stuck_in_a_round_gives_the_advisory_lease_up(postgresql_url):
    """The heartbeat that keeps a long round's lease stops after ``max_round`` without a
    call of hold(): a publisher hung in a round does not keep the fleet from publishing."""
    import threading
    import time

    import psycopg

    from pki.leadership import AdvisoryLease

    lease = AdvisoryLease(postgresql_url, idle_timeout=1.0, max_round=1.5)
    other = AdvisoryLease(postgresql_url)
    try:
        assert lease.hold()  # and never again
        with psycopg.connect(postgresql_url, autocommit=True) as admin:
            deadline = time.monotonic() + 60
            while admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = "
                    "'kpki publisher lease' AND datname = current_database()").fetchone():
                assert time.monotonic() < deadline, "the stuck holder's session lives on"
                threading.Event().wait(0.05)
        assert other.hold()
        assert not lease.hold()
    finally:
        lease.release()
        other.release()


# -- a publisher stopped between recording a shard's CRL and keeping its bytes ---------------


class _Killed(BaseException):
    """Stands for a kill (KPKI_FAULT=crl.recorded): nothing after it runs."""


def test_a_shard_crl_recorded_but_never_kept_is_made_again_by_the_next_publisher(
        make_home, monkeypatch):
    from cryptography import x509

    from pki import lifecycle
    from pki import publisher as publishing
    from pki.home import CASettings

    home = make_home(ca=CASettings(crl_shards=4))
    issued = home.authority().issue_joint(name="홍길동", rrn="9005171234566")
    serial = issued.certificate.serial_number
    shard = serial % 4
    home.publisher().round()  # every CRL published, the certificate good
    lifecycle.revoke(home.store, serial, at=home.clock.now())

    real = publishing.issue_crl

    def killed_after_recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        crl = real(*args, **kwargs)
        if kwargs.get("shard") == shard:
            raise _Killed  # recorded (crl.recorded), its bytes never kept nor written
        return crl

    monkeypatch.setattr(publishing, "issue_crl", killed_after_recording)
    with pytest.raises(_Killed):
        home.publisher().round()
    monkeypatch.setattr(publishing, "issue_crl", real)

    home.publisher().round()  # the restarted process's publisher
    served = home.store.published_crl("yessign", shard=shard)
    assert served is not None
    assert serial in {r.serial_number for r in x509.load_der_x509_crl(served.der)}, \
        "the shard's CRL served still shows a revoked certificate as good"
    assert served.number == home.store.last_crl("yessign", shard=shard).number


# -- PKCS #11 module paths ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dev/null", "/tmp"])
def test_a_module_path_that_exists_but_is_no_file_is_not_said_to_be_missing(path):
    from pki.errors import HSMError, HSMProblem
    from pki.keys.pkcs11 import PKCS11CAKeyStore

    with pytest.raises(HSMError) as failed:
        PKCS11CAKeyStore(f"pkcs11:token=kpki?module-path={path}", pin=b"1234").check()
    assert failed.value.problem is HSMProblem.MODULE
    assert "does not exist" not in str(failed.value)
    assert f"{path} is not a file" in str(failed.value) and "--ca-keys" in str(failed.value)
