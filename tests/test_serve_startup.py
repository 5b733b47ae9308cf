"""kpki serve at start-up: it binds before it publishes, refuses a cloud CA that cannot
issue financial certificates, and answers the CPS URL its certificates carry."""

from __future__ import annotations

import html
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from pki import oids
from pki.home import CASettings, Home

from .serve_process import DEADLINE, serving

RRN = "9005171234566"


def _kpki(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "kpki"), "--home", str(home),
                           *args], capture_output=True, text=True, timeout=DEADLINE)


def _home(path: Path, key_pool, **options) -> Path:
    Home.create(path, passphrase=None, key_generator=key_pool, **options).close()
    return path


def _nothing_published(home: Path) -> bool:
    with Home.open(home) as opened:
        return all(opened.store.last_crl(r.label) is None and
                   opened.store.last_crl(r.label, delta=True) is None
                   for r in opened.store.list_cas())


def test_a_port_in_use_is_refused_before_anything_is_published(tmp_path, key_pool):
    home = _home(tmp_path / "home", key_pool)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _kpki(home, "serve", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"kpki: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert _nothing_published(home)
    assert not (home / "publish" / "crl").exists()


@pytest.mark.parametrize(("cloud_ca", "why"), [
    ("root", "root CA"),
    ("signkorea", "signkorea-style CA does not issue financial"),
    ("nosuch", "no CA labelled 'nosuch'"),
])
def test_a_cloud_ca_that_cannot_issue_financial_certificates_is_refused_at_start(
        tmp_path, key_pool, cloud_ca, why):
    home = _home(tmp_path / "home", key_pool)
    with Home.open(home) as opened:
        opened.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    done = _kpki(home, "serve", "--port", "0", "--cloud-ca", cloud_ca)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("kpki: error: ") and why in line and "--cloud-ca" in line
    assert "listening" not in done.stderr
    assert _nothing_published(home)


def test_without_a_financial_ca_the_default_serves_without_the_cloud(tmp_path, key_pool):
    home = _home(tmp_path / "home", key_pool,
                 ca=CASettings(label="signkorea", style="signkorea"))
    with serving(home) as server:
        assert any("no CA of this home issues financial certificates" in line
                   for line in server.log)  # said before "listening"
        status, _ = _get(f"http://127.0.0.1:{server.port}/cloud/v1/institutions")
        assert status == 404


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=DEADLINE) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _cps_url(cert: x509.Certificate) -> str:
    policies = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES).value
    [url] = [q for p in policies for q in p.policy_qualifiers or () if isinstance(q, str)]
    return url


def test_the_cps_url_answers_with_a_page_about_the_test_ca(tmp_path, key_pool):
    home = _home(tmp_path / "home", key_pool)
    with Home.open(home) as opened:
        issued = opened.authority().issue_joint(name="홍길동", rrn=RRN)
        root, ca = (opened.store.get_ca(label).certificate for label in ("root", "yessign"))
    with serving(home) as server:
        pages = {}
        for name, cert in (("subscriber", issued.certificate), ("yessign", ca), ("root", root)):
            path = urllib.parse.urlsplit(_cps_url(cert)).path
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}",
                                        timeout=DEADLINE) as response:
                assert response.status == 200
                assert response.headers["content-type"] == "text/html; charset=utf-8"
                pages[name] = html.unescape(response.read().decode())
    assert pages["subscriber"] == pages["yessign"]
    page = pages["yessign"]
    assert "test CA" in page and "시험용" in page and "not a licensed" in page
    assert "yessignCA-Test Class 4" in page
    for oid in (oids.YESSIGN_GENERAL, oids.YESSIGN_BANKING, oids.FINANCIAL_PERSONAL,
                oids.FINANCIAL_BUSINESS_3Y):
        assert oid.dotted_string in page
    assert issued.certificate.extensions.get_extension_for_class(
        x509.CRLDistributionPoints).value[0].full_name[0].value in page
    assert "test CA" in pages["root"] and "Kisa Test RootCA 7" in pages["root"]
    assert oids.YESSIGN_GENERAL.dotted_string not in pages["root"]


def test_a_ca_added_after_the_start_gets_its_cps_page(home):
    """kpki ca add into a running home: the new CA's certificates name its CPS URL, which
    answered 404 until the server was restarted; it is served from the next reload (a
    poll, or the publisher's round in the same process), GET and HEAD."""
    from pki.web import WebState, create_app, serve_in_thread

    def fetch(url: str, method: str = "GET") -> tuple[int, str]:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method=method),
                                        timeout=DEADLINE) as response:
                return response.status, html.unescape(response.read().decode())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, ""

    state = WebState.of_home(home, poll_seconds=3600)
    with serve_in_thread(create_app(state)) as base:
        record = home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
        path = urllib.parse.urlsplit(record.cps_url).path
        assert fetch(base + path)[0] == 404  # not looked for yet
        state.reload()  # what the poll (or the publisher in the same process) does
        status, page = fetch(base + path)
        assert status == 200 and "test CA" in page and "시험용" in page
        assert record.certificate.subject.rfc4514_string().split("CN=")[1].split(",")[0] \
            in page
        assert fetch(base + path, "HEAD")[0] == 200
        assert fetch(base + urllib.parse.urlsplit(home.store.get_ca("yessign").cps_url
                                                  ).path)[0] == 200
        assert fetch(base + "/cps/nothing.html")[0] == 404
