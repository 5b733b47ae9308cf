"""The e-government portal demo without a browser (issue 17 item 3): what the portal
accepts, how it time-stamps and judges a petition (never kinder than the verifier), the
operator's revocation, simple authentication through the demo phone, bad input as 4xx,
and ``kpki demo web`` as a real process."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.main import cli
from pki.clock import FixedClock
from pki.home import Home
from pki.keys import npki
from pki.keys.generate import RSAKeyGenerator
from pki.portal.app import assessment_json
from pki.portal.petitions import (
    PortalRequestError,
    TextEncoding,
    petition_nonce,
    with_time_stamp,
)
from pki.signing import KeySigner, sign
from pki.signing.verify import Verifier
from pki.testing import TestPKI
from pki.usecases.webdemo import RunningDemo, prepare_demo_home, run_demo_web

from .conftest import FROZEN, KeyPool

PETITION = "청원서: 우리 동네 놀이터에 그늘막을 설치해 주십시오. 신청인 홍길동"


def call(url: str, body: Any = None, *, method: str | None = None,
         raw: bytes | None = None, cookie: str | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"content-type": "application/json"}
    if cookie is not None:
        headers["cookie"] = cookie
    request = urllib.request.Request(url, data=data, method=method or (
        "GET" if data is None else "POST"), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def pooled(key_pool: KeyPool) -> Iterator[None]:
    """The session's RSA keys for a module-scoped demo (the autouse fixture is per test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RSAKeyGenerator, "generate", lambda self, bits: key_pool.generate(bits))
        yield


def _running(target: Path, clock: FixedClock) -> Any:
    return run_demo_web(target, clock=clock, publish_every=None)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, pooled: None
           ) -> Iterator[tuple[RunningDemo, FixedClock]]:
    """One demo for the tests that change nothing anyone else reads."""
    clock = FixedClock(FROZEN)
    with _running(tmp_path_factory.mktemp("portal") / "home", clock) as demo:
        yield demo, clock


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[RunningDemo, FixedClock]]:
    """A demo of its own, for a test that revokes."""
    clock = FixedClock(FROZEN)
    with _running(tmp_path / "home", clock) as demo:
        yield demo, clock


def joint_signed(demo: RunningDemo, content: bytes, clock: FixedClock, *,
                 detached: bool = False) -> tuple[str, str]:
    """The demo citizen's joint certificate signs ``content`` as the agent does (attached,
    no chain): the CMS and R, base64. The clock moves a second first, so that each
    signature is another (signingTime differs; PKCS #1 v1.5 is deterministic, and the
    portal files a signature once)."""
    folder = next(demo.npki_base.rglob("signCert.der")).parent
    credential = npki.load(folder, demo.secrets.joint_password)
    signer = KeySigner(credential.certificate, credential.private_key)
    assert credential.r is not None
    clock.advance(dt.timedelta(seconds=1))
    signed = sign(content, signer, clock=clock, detached=detached).der
    return base64.b64encode(signed).decode(), base64.b64encode(credential.r).decode()


def submit(demo: RunningDemo, signature: str, r: str | None, *, text: str = PETITION,
           encoding: str = "UTF-8", rrn: str | None = None, method: str = "agent"
           ) -> tuple[int, dict[str, Any]]:
    return call(demo.portal_url + "/api/petitions", {
        "text": text, "encoding": encoding, "rrn": rrn or demo.secrets.rrn,
        "method": method, "signature": signature, "r": r})


def operator(demo: RunningDemo) -> str:
    """The operator's session cookie (``name=value``), after logging in with the demo's
    operator secret."""
    request = urllib.request.Request(
        demo.portal_url + "/api/operator/login",
        data=json.dumps({"secret": demo.operator_secret}).encode(),
        headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.headers["set-cookie"]).split(";", 1)[0]


def revoke(demo: RunningDemo, petition: str) -> tuple[int, dict[str, Any]]:
    return call(demo.portal_url + "/api/operator/revoke", {"petition": petition},
                cookie=operator(demo))


def listed(demo: RunningDemo) -> list[dict[str, Any]]:
    status, found = call(demo.portal_url + "/api/operator/petitions", cookie=operator(demo))
    assert status == 200, found
    return list(found["petitions"])


def judged(demo: RunningDemo, petition: str) -> dict[str, Any]:
    status, found = call(f"{demo.portal_url}/api/petitions/{petition}")
    assert status == 200, found
    return found


def outcomes(found: dict[str, Any]) -> dict[str, str]:
    checks = found["verification"]["checks"] + found["portal_checks"]
    return {c["check"]: c["outcome"] for c in checks}


def simple_authenticated(demo: RunningDemo, *, text: str = PETITION,
                         encoding: str = "UTF-8") -> str:
    """A petition signed by simple authentication through the portal's API and the demo
    phone; its id."""
    status, asked = call(demo.portal_url + "/api/simpleauth", {
        "text": text, "encoding": encoding, "rrn": demo.secrets.rrn,
        "name": demo.secrets.name, "phone": demo.secrets.phone})
    assert status == 201, asked
    request = asked["request_id"]
    assert call(f"{demo.portal_url}/api/simpleauth/{request}")[1]["status"] == "pending"
    status, approved = call(f"{demo.portal_url}/api/phone/requests/{request}/approve",
                            {"pin": demo.secrets.simple_pin})
    assert status == 200 and approved["status"] == "approved", approved
    status, filed = call(f"{demo.portal_url}/api/simpleauth/{request}")
    assert status == 200 and filed["status"] == "filed", filed
    return str(filed["petition"])


# -- the verdicts -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["UTF-8", "EUC-KR"])
def test_a_petition_signed_with_the_joint_certificate_and_r_passes_every_check(
        shared: tuple[RunningDemo, FixedClock], encoding: str) -> None:
    demo, clock = shared
    content = PETITION.encode("utf-8" if encoding == "UTF-8" else "cp949")
    signature, r = joint_signed(demo, content, clock)
    status, filed = submit(demo, signature, r, encoding=encoding)
    assert status == 201, filed
    found = judged(demo, filed["id"])
    assert found["verdict"] == "valid"
    assert outcomes(found) == {
        "signer-certificate": "passed", "signature": "passed", "time-stamp": "passed",
        "chain": "passed", "validity": "passed", "key-usage": "passed",
        "revocation": "passed", "vid": "passed"}
    # the portal's time stamp (the agent sent none) is the signing time the verifier used
    assert found["verification"]["signing_time_source"] == "trusted"
    assert "fetched from " + demo.kpki_url in next(
        c["detail"] for c in found["verification"]["checks"] if c["check"] == "revocation")


def test_a_wrong_rrn_fails_the_vid_check_and_the_petition(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    other = TestPKI(seed="portal").rrn()
    status, filed = submit(demo, signature, r, rrn=other.digits)
    assert status == 201
    found = judged(demo, filed["id"])
    assert found["verdict"] == "invalid"
    assert outcomes(found)["vid"] == "failed"
    assert outcomes(found)["signature"] == "passed"


def test_without_r_the_vid_check_fails_rather_than_being_left_out(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, clock = shared
    signature, _ = joint_signed(demo, PETITION.encode(), clock)
    found = judged(demo, submit(demo, signature, None)[1]["id"])
    assert found["verdict"] == "invalid"
    assert outcomes(found)["vid"] == "failed"


def test_the_bytes_signed_are_the_petition_in_the_encoding_given(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """Signed as EUC-KR but filed as UTF-8: not the petition's bytes, so invalid."""
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode("cp949"), clock)
    found = judged(demo, submit(demo, signature, r, encoding="UTF-8")[1]["id"])
    assert found["verdict"] == "invalid"
    assert outcomes(found)["content"] == "failed"


def test_a_tampered_signature_is_invalid_whatever_else_passes(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    der = bytearray(base64.b64decode(signature))
    der[-5] ^= 0x01  # inside the signature value, the last field of the SignerInfo
    found = judged(demo, submit(demo, base64.b64encode(bytes(der)).decode(), r)[1]["id"])
    assert found["verdict"] == "invalid"
    assert outcomes(found)["signature"] == "failed"
    assert found["summary"].startswith("invalid: signature")


def test_a_petition_signed_by_simple_authentication_passes_every_check(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, _ = shared
    found = judged(demo, simple_authenticated(demo, encoding="EUC-KR"))
    assert found["verdict"] == "valid", found["summary"]
    assert found["method"] == "simpleauth"
    assert outcomes(found) == {
        "signer-certificate": "passed", "signature": "passed", "time-stamp": "passed",
        "chain": "passed", "validity": "passed", "key-usage": "passed",
        "revocation": "passed", "approval": "passed", "identity": "passed"}


def test_revoked_after_a_time_stamped_signature_it_is_signed_before_revocation(
        fresh: tuple[RunningDemo, FixedClock]) -> None:
    demo, clock = fresh
    petition = simple_authenticated(demo)
    clock.advance(dt.timedelta(minutes=10))
    status, revoked = revoke(demo, petition)
    assert status == 200, revoked
    found = judged(demo, petition)
    assert found["verdict"] == "valid-before-revocation"
    assert found["signer_revoked"] is True
    assert outcomes(found)["revocation"] == "passed"
    assert any(n.startswith("signed before revocation") for n in
               found["verification"]["notes"])
    # revoking twice is refused, not a 500
    assert revoke(demo, petition)[0] == 409


def test_a_signature_made_after_the_revocation_is_invalid(
        fresh: tuple[RunningDemo, FixedClock]) -> None:
    demo, clock = fresh
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    before = submit(demo, signature, r)[1]["id"]
    clock.advance(dt.timedelta(minutes=10))
    assert revoke(demo, before)[0] == 200
    clock.advance(dt.timedelta(minutes=10))
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    after = judged(demo, submit(demo, signature, r)[1]["id"])
    assert after["verdict"] == "invalid"
    assert outcomes(after)["revocation"] == "failed"
    assert judged(demo, before)["verdict"] == "valid-before-revocation"
    assert {p["verdict"] for p in listed(demo)} == {"invalid", "valid-before-revocation"}


def test_without_a_trusted_time_it_is_invalid_after_the_revocation(tmp_path: Path) -> None:
    """The portal's verdict is the verifier's: a signature whose time stamp does not verify
    has only the signer's claimed time, and keyCompromise voids it."""
    from pki.portal.petitions import PetitionBox, Petitions

    pki = TestPKI(seed="portal-untrusted")
    cert = pki.joint()
    petitions = Petitions(PetitionBox(tmp_path / "box"), timestamper=pki.tsa.timestamp,
                          verifier=lambda: pki.verifier(), clock=pki.clock)
    filed = petitions.receive(text=PETITION, encoding="UTF-8", rrn=cert.rrn.digits,
                              method="agent", signature=pki.sign(cert, PETITION.encode()),
                              r=cert.r)
    assert petitions.assess(filed).verdict.value == "valid"
    petitions.verifier = lambda: pki.verifier(time_stamps=False)
    pki.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
    pki.revoke(cert)
    judged_now = petitions.assess(filed)
    assert judged_now.verdict.value == "invalid"
    assert judged_now.result is not None and not judged_now.result.ok


# -- receiving ------------------------------------------------------------------------------


def test_the_time_stamp_is_added_once_and_the_signature_still_verifies() -> None:
    pki = TestPKI(seed="portal-stamp")
    cert = pki.joint()
    der = pki.sign(cert, PETITION.encode())
    stamped = with_time_stamp(der, pki.tsa.timestamp)
    assert stamped != der
    assert with_time_stamp(stamped, pki.tsa.timestamp) == stamped
    result = pki.verifier().verify(stamped, rrn=cert.rrn, r=cert.r)
    assert result.ok and result.signing_time_source is not None
    assert result.signing_time_source.value == "trusted"


def test_a_tsa_answering_garbage_is_the_tsas_fault_and_nothing_is_kept(tmp_path: Path
                                                                       ) -> None:
    from pki.errors import TimestampError
    from pki.portal.petitions import PetitionBox, Petitions

    pki = TestPKI(seed="portal-tsa")
    cert = pki.joint()
    petitions = Petitions(PetitionBox(tmp_path / "box"), timestamper=lambda value: b"\x30\x00",
                          verifier=lambda: pki.verifier(), clock=pki.clock)
    with pytest.raises(TimestampError):
        petitions.receive(text=PETITION, encoding="UTF-8", rrn=cert.rrn.digits,
                          method="agent", signature=pki.sign(cert, PETITION.encode()),
                          r=cert.r)
    assert not (tmp_path / "box").exists()


def test_petitions_are_kept_private(shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    petition = submit(demo, signature, r)[1]["id"]
    folder = demo.home / "demo-web" / "petitions"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / f"{petition}.json").stat().st_mode & 0o777 == 0o600


def test_the_simple_authentication_nonce_is_the_petitions_digest() -> None:
    content = TextEncoding.EUC_KR.bytes_of(PETITION)
    assert petition_nonce(content) == base64.urlsafe_b64encode(
        __import__("hashlib").sha256(content).digest()).rstrip(b"=").decode()
    assert petition_nonce(content) != petition_nonce(PETITION.encode())


def test_a_wrong_pin_on_the_phone_is_counted_and_nothing_is_approved(
        fresh: tuple[RunningDemo, FixedClock]) -> None:
    demo, _ = fresh
    status, asked = call(demo.portal_url + "/api/simpleauth", {
        "text": PETITION, "encoding": "UTF-8", "rrn": demo.secrets.rrn,
        "name": demo.secrets.name, "phone": demo.secrets.phone})
    request = asked["request_id"]
    status, refused = call(f"{demo.portal_url}/api/phone/requests/{request}/approve",
                           {"pin": "000000" if demo.secrets.simple_pin != "000000" else "111111"})
    assert status == 401 and refused["error"]["code"] == "wrong_pin"
    assert refused["error"]["attempts_left"] == 4
    assert call(f"{demo.portal_url}/api/simpleauth/{request}")[1]["status"] == "pending"


def test_a_wrong_rrn_for_simple_authentication_is_never_approved(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """The provider matches the RRN to the person's app: a request for another RRN never
    reaches the phone, and stays pending until it expires."""
    demo, _ = shared
    other = TestPKI(seed="portal-other").rrn(dt.date(1990, 3, 1))
    status, asked = call(demo.portal_url + "/api/simpleauth", {
        "text": PETITION, "encoding": "UTF-8", "rrn": other.digits,
        "name": demo.secrets.name, "phone": demo.secrets.phone})
    assert status == 201
    listed = call(demo.portal_url + "/api/phone/requests")[1]["requests"]
    assert asked["request_id"] not in {q["request_id"] for q in listed}
    assert call(f"{demo.portal_url}/api/simpleauth/{asked['request_id']}")[1][
        "status"] == "pending"


# -- bad input --------------------------------------------------------------------------------


def _valid_body(demo: RunningDemo) -> dict[str, Any]:
    return {"text": PETITION, "encoding": "UTF-8", "rrn": demo.secrets.rrn,
            "method": "agent", "signature": base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
            "r": None}


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"encoding": "ISO-2022-KR"}, 400, "encoding"),
    ({"text": "청원 😀", "encoding": "EUC-KR"}, 400, "encoding"),  # no emoji in CP949
    ({"text": "   "}, 400, "text"),
    ({"text": "가" * 2001}, 400, "text"),
    ({"rrn": "900301-1234567"}, 400, "rrn"),  # its check digit is 9
    ({"rrn": "not a number"}, 400, "rrn"),
    ({"method": "fax"}, 400, "method"),
    ({"method": "simpleauth"}, 400, "method"),
    ({"signature": ""}, 400, "signature"),
    ({"signature": "%%% not base64 %%%"}, 400, "signature"),
    ({"signature": base64.b64encode(b"garbage, not DER").decode()}, 400, "signature"),
    ({"signature": base64.b64encode(b"\x30\x03\x02\x01\x01").decode()}, 400, "signature"),
    ({"r": "@@@"}, 400, "r"),
    ({"r": "AQ-_@@"}, 400, "r"),  # base64url with junk: was decoded, the junk dropped
    ({"extra": 1}, 400, "extra"),
    ({"text": 5}, 400, "text"),
])
def test_a_bad_petition_is_a_4xx_naming_the_field(
        shared: tuple[RunningDemo, FixedClock], change: dict[str, Any], status: int,
        field: str) -> None:
    demo, _ = shared
    body = {**_valid_body(demo), **change}
    got, answer = call(demo.portal_url + "/api/petitions", body)
    assert (got, answer["error"].get("field")) == (status, field), answer


def test_a_missing_signature_field_is_400(shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, _ = shared
    body = _valid_body(demo)
    del body["signature"]
    got, answer = call(demo.portal_url + "/api/petitions", body)
    assert got == 400 and answer["error"]["field"] == "signature"


@pytest.mark.parametrize(("method", "path", "raw", "status"), [
    ("POST", "/api/petitions", b"not json", 400),
    ("POST", "/api/petitions", b"[1, 2]", 400),
    ("GET", "/api/petitions/doesnotexist", None, 404),
    ("GET", "/api/petitions/..%2F..%2Fdemo.json", None, 404),
    ("GET", "/api/simpleauth/sar_unknown", None, 404),
    ("POST", "/api/operator/revoke", b'{"petition": "nope"}', 401),
    ("GET", "/api/operator/petitions", None, 401),
    ("POST", "/api/operator/login", b'{"secret": 1}', 400),
    ("POST", "/api/simpleauth", b'{"text": "x", "encoding": "UTF-8", "rrn": "1", '
     b'"name": "a", "phone": "1"}', 400),
    ("POST", "/api/phone/requests/sar_unknown/approve", b'{"pin": "123456"}', 404),
    ("GET", "/api/nothing", None, 404),
    ("GET", "/nothing.html", None, 404),
])
def test_bad_requests_are_answered_4xx_never_500(
        shared: tuple[RunningDemo, FixedClock], method: str, path: str, raw: bytes | None,
        status: int) -> None:
    demo, _ = shared
    request = urllib.request.Request(demo.portal_url + path, data=raw, method=method,
                                     headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    with refused.value:
        assert refused.value.code == status


def _posted_too_large(demo: RunningDemo, header: tuple[str, str],
                      send: Callable[[Any], None]) -> None:
    """A POST of a petition with ``header`` (how its length is told), its body sent by
    ``send(connection)``, is 413 too_large."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(demo.portal_url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        connection.putrequest("POST", "/api/petitions")
        connection.putheader("content-type", "application/json")
        connection.putheader(*header)
        connection.endheaders()
        with contextlib.suppress(OSError):  # the portal may stop reading once it answers
            send(connection)
        answer = connection.getresponse()
        assert answer.status == 413
        assert json.loads(answer.read())["error"]["code"] == "too_large"
    finally:
        connection.close()


def test_a_body_larger_than_the_limit_is_413_before_it_is_read(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """No body sent: the declared length is refused at once."""
    demo, _ = shared
    _posted_too_large(demo, ("content-length", str(3 * 1024 * 1024)), lambda c: None)


def test_the_pages_are_served_in_korean_with_the_demo_config(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, _ = shared
    with urllib.request.urlopen(demo.portal_url + "/", timeout=30) as answer:
        page = answer.read().decode()
    assert "정부24 데모 포털" in page and 'lang="ko"' in page
    with urllib.request.urlopen(demo.portal_url + "/config.js", timeout=30) as answer:
        config = answer.read().decode()
    assert demo.kpki_url in config and demo.secrets.name in config
    assert demo.secrets.portal_api_key not in config  # the relying party's key stays home


def test_a_signature_the_verifier_cannot_read_is_refused_on_receipt(tmp_path: Path) -> None:
    from pki.portal.petitions import PetitionBox, Petitions

    pki = TestPKI(seed="portal-unreadable")
    petitions = Petitions(PetitionBox(tmp_path / "box"), timestamper=pki.tsa.timestamp,
                          verifier=lambda: Verifier(trust=[pki.root]))
    with pytest.raises(PortalRequestError) as refused:
        petitions.receive(text=PETITION, encoding="UTF-8", rrn=pki.rrn().digits,
                          method="agent", signature=b"\x30\x80junk")
    assert refused.value.field == "signature"
    assert not (tmp_path / "box").exists()  # nothing kept


# -- kpki demo web ----------------------------------------------------------------------------


def test_kpki_demo_web_refuses_a_folder_that_is_not_a_demo_home(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    result = CliRunner().invoke(cli, ["demo", "web", "--home", str(tmp_path / "other"),
                                      "--port", "0", "--no-open"])
    assert result.exit_code == 1
    assert "not a demo home" in result.output and "--home" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_kpki_demo_web_refuses_a_taken_port_naming_the_option(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        result = CliRunner().invoke(cli, ["demo", "web", "--home", str(tmp_path / "h"),
                                          "--port", str(taken.getsockname()[1]),
                                          "--no-open"])
    finally:
        taken.close()
    assert result.exit_code == 1
    assert "--port" in result.output
    assert not (tmp_path / "h").exists()  # the port first: nothing made


def test_kpki_demo_web_runs_prints_and_stops_as_a_real_process(tmp_path: Path) -> None:
    """Started again over a demo home (made here, with the session's keys), ``kpki demo
    web --no-open`` prints the portal's address and the demo credentials, serves the portal
    and kpki serve, and stops cleanly on Ctrl-C (SIGINT, then status 130)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    kpki_port = probe.getsockname()[1]
    probe.close()
    home = tmp_path / "home"
    secrets = prepare_demo_home(home, base_url=f"http://127.0.0.1:{kpki_port}")
    env = dict(os.environ)  # click.echo flushes: no PYTHONUNBUFFERED needed
    process = subprocess.Popen([sys.executable, "-m", "cli", "demo", "web", "--home",
                                str(home), "--port", "0", "--no-open"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        shown = "".join(lines)
        portal = next(w for w in shown.split() if w.startswith("http://127.0.0.1:")
                      and not w.endswith(str(kpki_port)))
        assert f"http://127.0.0.1:{kpki_port}" in shown
        assert secrets.joint_password in shown and secrets.cloud_pin in shown
        assert secrets.simple_pin in shown
        operator_secret = (home / "demo-web" / "operator.secret").read_text().strip()
        assert operator_secret in shown
        with urllib.request.urlopen(portal.rstrip("/") + "/index.html", timeout=30) as page:
            assert "정부24 데모 포털" in page.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{kpki_port}/crl/yessign.crl",
                                    timeout=30) as crl:
            assert crl.status == 200
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, errors  # Ctrl-C, as every long-running command
    assert "kpki demo web: stopped" in errors
    assert "Traceback" not in errors


def test_kpki_demo_web_json_says_where_everything_listens(tmp_path: Path) -> None:
    """``--json``: one line a script reads (the portal, kpki serve, the agent's and the
    SDK's scripts, the secrets), then it serves until SIGTERM, which stops it with 0."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    kpki_port = probe.getsockname()[1]
    probe.close()
    home = tmp_path / "home"
    secrets = prepare_demo_home(home, base_url=f"http://127.0.0.1:{kpki_port}")
    process = subprocess.Popen([sys.executable, "-m", "cli", "demo", "web", "--home",
                                str(home), "--port", "0", "--no-open", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        said = json.loads(process.stdout.readline())
        assert said["kpki"] == f"http://127.0.0.1:{kpki_port}"
        assert said["sdk_script"] == said["kpki"] + "/sdk/v1/fincert.js"
        assert said["simple_pin"] == secrets.simple_pin and said["opened"] is False
        assert said["operator_secret"] == (home / "demo-web" /
                                           "operator.secret").read_text().strip()
        with urllib.request.urlopen(said["agent_script"], timeout=30) as script:
            assert script.status == 200
        with urllib.request.urlopen(said["portal"] + "/config.js", timeout=30) as config:
            assert said["agent"] in config.read().decode()
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors


def test_a_demo_home_starts_again_with_its_people(tmp_path: Path) -> None:
    clock = FixedClock(FROZEN)
    with run_demo_web(tmp_path / "home", clock=clock, publish_every=None) as first:
        secrets, kpki = first.secrets, first.kpki_url
    with run_demo_web(tmp_path / "home", clock=clock, publish_every=None) as again:
        assert again.secrets == secrets and again.kpki_url == kpki
        with Home.open(again.home) as home:
            assert {r.label for r in home.list_cas()} >= {"root", "yessign", "kbprivate"}


# -- the parsers of what a page sends -------------------------------------------------------


def _damaged(changes: list[tuple[int, int]]) -> bytes:
    """A real signature with bytes changed (position modulo its length, new value)."""
    der = bytearray(_SIGNATURE)
    for where, value in changes:
        der[where % len(der)] = value
    return bytes(der)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=512),
                 st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                          min_size=1, max_size=4).map(_damaged)))
def test_any_bytes_as_a_signature_are_refused_or_stamped_never_a_crash(data: bytes) -> None:
    try:
        stamped = with_time_stamp(data, lambda value: _TOKEN)
    except PortalRequestError as exc:
        assert exc.field == "signature"
    else:
        assert isinstance(stamped, bytes)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_a_signature_or_r_field_is_bytes_or_a_400(text: str) -> None:
    from pki.portal.app import _decode_r, _decode_signature

    for decode, field in ((_decode_signature, "signature"), (_decode_r, "r")):
        try:
            assert isinstance(decode(text), bytes | None)
        except PortalRequestError as exc:
            assert exc.field == field


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_encoding_name_is_one_of_two_or_refused(name: str) -> None:
    try:
        assert TextEncoding.named(name) in (TextEncoding.UTF8, TextEncoding.EUC_KR)
    except PortalRequestError as exc:
        assert exc.field == "encoding"


_PKI = TestPKI(seed="portal-token")
_TOKEN = _PKI.timestamp(b"any signature value")
_SIGNATURE = _PKI.sign(_PKI.joint(), PETITION.encode())


def test_a_revocation_not_yet_published_leaves_the_verdict_as_the_verifier_sees_it(
        tmp_path: Path) -> None:
    """The records say revoked, the CRL the verifier reads does not list it yet: valid, not
    "signed before revocation" (the verifier said no such thing)."""
    from pki.portal.petitions import PetitionBox, Petitions

    pki = TestPKI(seed="portal-unpublished")
    cert = pki.joint()
    crls = pki.verifier(crl=True).crls  # the CRLs of now, before the revocation
    petitions = Petitions(PetitionBox(tmp_path / "box"), timestamper=pki.tsa.timestamp,
                          verifier=lambda: pki.verifier(crls=crls),
                          revoked=lambda serial, issuer: True, clock=pki.clock)
    filed = petitions.receive(text=PETITION, encoding="UTF-8", rrn=cert.rrn.digits,
                              method="agent", signature=pki.sign(cert, PETITION.encode()),
                              r=cert.r)
    judged_now = petitions.assess(filed)
    assert judged_now.signer_revoked and judged_now.verdict.value == "valid"


def test_without_a_display_the_portal_is_printed_not_opened(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A console browser would take over the terminal the demo prints to: on Linux
    without a display nothing is opened, with one the system's browser is asked."""
    import webbrowser

    from cli.demo import _open

    asked: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: asked.append(url) or True)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert _open("http://127.0.0.1:8800") is False and asked == []
    monkeypatch.setenv("DISPLAY", ":0")
    assert _open("http://127.0.0.1:8800") is True and asked == ["http://127.0.0.1:8800"]


def test_a_demo_home_that_fails_to_be_made_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made beside and renamed into place: a failure at the last step (the phone's app)
    leaves neither the home nor the folder it was made in."""
    import pki.usecases.simpleauth as simpleauth
    from pki.errors import PKIError

    def refused(*args: object, **kwargs: object) -> None:
        raise PKIError("the provider is down")

    monkeypatch.setattr(simpleauth, "register_app", refused)
    with pytest.raises(PKIError, match="provider is down"):
        prepare_demo_home(tmp_path / "home", base_url="http://127.0.0.1:1")
    assert list(tmp_path.iterdir()) == []


# -- twenty at once, and callers the portal does not serve ------------------------------------


def _asked(demo: RunningDemo) -> str:
    status, asked = call(demo.portal_url + "/api/simpleauth", {
        "text": PETITION, "encoding": "UTF-8", "rrn": demo.secrets.rrn,
        "name": demo.secrets.name, "phone": demo.secrets.phone})
    assert status == 201, asked
    return str(asked["request_id"])


def test_twenty_wrong_pins_at_once_on_the_phone_are_counted_exactly(
        fresh: tuple[RunningDemo, FixedClock]) -> None:
    """Five wrong PINs lock the demo phone's keystore, however many arrive together: four
    answers count down 4..1, the other sixteen are locked, and the right PIN then opens
    nothing."""
    from concurrent.futures import ThreadPoolExecutor

    demo, _ = fresh
    request = _asked(demo)
    wrong = "000000" if demo.secrets.simple_pin != "000000" else "111111"
    url = f"{demo.portal_url}/api/phone/requests/{request}/approve"
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: call(url, {"pin": wrong}), range(20)))
    left = sorted(a["error"]["attempts_left"] for s, a in answers if s == 401)
    assert left == [1, 2, 3, 4], answers
    assert [a["error"]["code"] for s, a in answers if s != 401] == ["pin_locked"] * 16
    status, refused = call(url, {"pin": demo.secrets.simple_pin})
    assert status == 423 and refused["error"]["code"] == "pin_locked"
    assert call(f"{demo.portal_url}/api/simpleauth/{request}")[1]["status"] == "pending"


def test_twenty_looks_at_once_at_an_approved_request_file_one_petition(
        fresh: tuple[RunningDemo, FixedClock]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    demo, _ = fresh
    request = _asked(demo)
    status, approved = call(f"{demo.portal_url}/api/phone/requests/{request}/approve",
                            {"pin": demo.secrets.simple_pin})
    assert status == 200, approved
    url = f"{demo.portal_url}/api/simpleauth/{request}"
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: call(url), range(20)))
    assert {(s, a["status"]) for s, a in answers} == {(200, "filed")}
    assert len({a["petition"] for _, a in answers}) == 1
    assert len(listed(demo)) == 1


def _sent(url: str, headers: dict[str, str], body: Any = None, *,
          raw: bytes | None = None) -> tuple[int, bytes]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def test_a_page_of_another_origin_files_nothing(shared: tuple[RunningDemo, FixedClock]
                                                ) -> None:
    """A form or fetch of a foreign page (a simple request needs no preflight: text/plain)
    is refused before anything is done; the portal's own page is answered."""
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    body = {"text": PETITION, "encoding": "UTF-8", "rrn": demo.secrets.rrn,
            "method": "agent", "signature": signature, "r": r}
    before = len(listed(demo))
    for headers in ({"origin": "http://evil.example", "content-type": "text/plain"},
                    {"origin": "null", "content-type": "text/plain"},
                    {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors",
                     "content-type": "text/plain"}):
        status, answer = _sent(demo.portal_url + "/api/petitions", headers, body)
        assert status == 403 and json.loads(answer)["error"]["code"] == "foreign_origin"
    assert len(listed(demo)) == before
    own = {"origin": demo.portal_url, "sec-fetch-site": "same-origin",
           "sec-fetch-mode": "cors", "content-type": "application/json"}
    assert _sent(demo.portal_url + "/api/petitions", own, body)[0] == 201


def test_a_page_of_another_origin_cannot_read_the_demo_config(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """``config.js`` holds the demo's passwords and PINs: a foreign page's <script> gets a
    refusal; following a link to the portal from anywhere still opens it."""
    demo, _ = shared
    script = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors",
              "sec-fetch-dest": "script"}
    status, answer = _sent(demo.portal_url + "/config.js", script)
    assert status == 403 and demo.secrets.simple_pin.encode() not in answer
    link = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate",
            "sec-fetch-dest": "document"}
    assert _sent(demo.portal_url + "/index.html", link)[0] == 200
    same = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "no-cors",
            "sec-fetch-dest": "script"}
    assert _sent(demo.portal_url + "/config.js", same)[0] == 200


def test_a_name_rebound_to_the_portal_is_refused(shared: tuple[RunningDemo, FixedClock]
                                                 ) -> None:
    """A foreign name resolving to 127.0.0.1 (DNS rebinding) makes its page same-origin
    with the portal: its Host is not one the portal answers at."""
    demo, _ = shared
    port = demo.portal_url.rsplit(":", 1)[1]
    status, answer = _sent(demo.portal_url + "/config.js", {"host": f"evil.example:{port}"})
    assert status == 421 and demo.secrets.simple_pin.encode() not in answer
    assert _sent(demo.portal_url + "/config.js", {"host": f"localhost:{port}"})[0] == 200


def test_a_petition_too_long_is_refused_before_the_phone_is_asked(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """Simple authentication checks the petition as filing will: one the portal could not
    file is refused before the person is asked to approve it."""
    demo, _ = shared
    before = call(demo.portal_url + "/api/phone/requests")[1]["requests"]
    status, refused = call(demo.portal_url + "/api/simpleauth", {
        "text": "가" * 2001, "encoding": "UTF-8", "rrn": demo.secrets.rrn,
        "name": demo.secrets.name, "phone": demo.secrets.phone})
    assert (status, refused["error"]["field"]) == (400, "text"), refused
    assert call(demo.portal_url + "/api/phone/requests")[1]["requests"] == before


# -- a hostile caller (issue 17's review of the portal) ---------------------------------------


def test_the_same_signature_sent_twenty_times_at_once_is_filed_once(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """A double click, a retry or a replay: twenty posts of one signature at once file one
    petition, and each is answered with it; the same signature under another text or RRN
    is refused (one signature, one filing) without naming the petition filed."""
    from concurrent.futures import ThreadPoolExecutor

    demo, clock = shared
    folder = demo.home / "demo-web" / "petitions"
    before = set(folder.glob("*.json")) if folder.exists() else set()
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: submit(demo, signature, r), range(20)))
    assert {status for status, _ in answers} == {201}, answers
    filed = {answer["id"] for _, answer in answers}
    assert len(filed) == 1
    assert len(set(folder.glob("*.json")) - before) == 1
    for change in ({"text": PETITION + " (고침)"}, {"rrn": TestPKI(seed="other").rrn().digits},
                   {"encoding": "EUC-KR"}):
        status, refused = submit(demo, signature, r, **change)
        assert (status, refused["error"]["code"]) == (409, "already_filed"), refused
        assert filed.pop() not in json.dumps(refused)
        filed = {answers[0][1]["id"]}
    assert len(set(folder.glob("*.json")) - before) == 1


def test_a_petition_id_cannot_be_guessed(shared: tuple[RunningDemo, FixedClock]) -> None:
    """Whoever has a petition's id reads it (the result page is a link): the id is 128
    bits no one can derive, not even from the signature."""
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    petition = submit(demo, signature, r)[1]["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", petition), petition
    value = bytes(cms.ContentInfo.load(base64.b64decode(signature))["content"][
        "signer_infos"][0]["signature"].native)
    assert petition not in hashlib.sha256(value).hexdigest()
    assert call(f"{demo.portal_url}/api/petitions/{'0' * 32}")[0] == 404


def test_a_signature_over_other_bytes_than_the_petition_is_invalid(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """Detached, over another text: filed as sent, judged invalid (the signature does not
    verify over the petition's bytes), whatever the VID says."""
    demo, clock = shared
    signature, r = joint_signed(demo, "다른 문서".encode(), clock, detached=True)
    status, filed = submit(demo, signature, r)
    assert status == 201, filed
    found = judged(demo, filed["id"])
    assert found["verdict"] == "invalid"
    assert outcomes(found)["signature"] == "failed"
    assert outcomes(found)["vid"] == "passed"


@pytest.mark.parametrize(("path", "raw"), [
    ("/api/bank/call", b'{"method": "POST", "path": "/bank/v1/verifications", "body": '
     + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001),
    ("/api/bank/call", b'{"method": "POST", "path": "/bank/v1/verifications", "body": '
     b'{"a": [[[[1]]]]}}'),
    ("/api/petitions", b"[" * 100_000 + b"]" * 100_000),
    ("/api/petitions", b'{"text": "\\ud800"}'),
    ("/api/petitions", b'{"text": "\xff\xfe"}'),
    ("/api/petitions", b'{"text": 1e999999}'),
    ("/api/simpleauth", b'{"text": "a", "text": "b"}'),
    ("/api/phone/requests/x/approve", b'{"pin": ' + b"9" * 100_000 + b"}"),
])
def test_malformed_json_is_a_4xx_json_answer_never_a_500(
        shared: tuple[RunningDemo, FixedClock], path: str, raw: bytes) -> None:
    demo, _ = shared
    status, answer = _sent(demo.portal_url + path, {"content-type": "application/json"},
                           raw=raw)
    assert 400 <= status < 500, answer[:300]
    assert json.loads(answer)["error"]["code"]


def test_a_body_streamed_past_the_limit_is_413_without_a_length(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """Chunked, no Content-Length: the body is counted as it comes and refused once past
    the limit."""
    demo, _ = shared
    chunk = b"x" * 65536

    def send(connection: Any) -> None:
        for _ in range(3 * 1024 * 1024 // len(chunk)):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")

    _posted_too_large(demo, ("transfer-encoding", "chunked"), send)


def test_euc_kr_text_it_cannot_hold_is_refused_before_anything_is_asked(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, _ = shared
    before = call(demo.portal_url + "/api/phone/requests")[1]["requests"]
    for text in ("청원 😀", "Ω≠ﬀ 청원", "청원 \u0301"):
        status, refused = call(demo.portal_url + "/api/simpleauth", {
            "text": text, "encoding": "EUC-KR", "rrn": demo.secrets.rrn,
            "name": demo.secrets.name, "phone": demo.secrets.phone})
        assert (status, refused["error"]["field"]) == (400, "encoding"), refused
    assert call(demo.portal_url + "/api/phone/requests")[1]["requests"] == before


STATE_CHANGING = ["/api/petitions", "/api/simpleauth", "/api/operator/revoke",
                  "/api/operator/login", "/api/operator/logout",
                  "/api/phone/requests/sar_x/approve", "/api/phone/requests/sar_x/decline",
                  "/api/bank/call"]


@pytest.mark.parametrize("path", STATE_CHANGING)
def test_a_foreign_origin_is_refused_on_every_state_changing_endpoint(
        shared: tuple[RunningDemo, FixedClock], path: str) -> None:
    """Another site, a sandboxed frame (null) and kpki's other local services (kpki
    serve, the agent: same site, other origins) are all refused before any work."""
    demo, _ = shared
    port = demo.portal_url.rsplit(":", 1)[1]
    for origin in ("http://evil.example", "null", demo.kpki_url, demo.agent_url,
                   f"http://127.0.0.1.evil.example:{port}", f"https://127.0.0.1:{port}"):
        status, answer = _sent(demo.portal_url + path,
                               {"origin": origin, "content-type": "text/plain"}, {})
        assert status == 403, (origin, answer)
        assert json.loads(answer)["error"]["code"] == "foreign_origin"
    status, answer = _sent(demo.portal_url + path, {"sec-fetch-site": "same-site",
                                                    "sec-fetch-mode": "cors"}, {})
    assert status == 403, answer


# -- the operator's login ----------------------------------------------------------------------


def _login(demo: RunningDemo, secret: str) -> tuple[int, dict[str, Any], str | None]:
    request = urllib.request.Request(
        demo.portal_url + "/api/operator/login", data=json.dumps({"secret": secret}).encode(),
        headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), answer.headers["set-cookie"]
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read()), exc.headers["set-cookie"]


def test_the_operator_endpoints_refuse_a_citizens_page(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    """Same origin, no operator session: the listing and revoking are 401 JSON and nothing
    is revoked; the citizen's own requests go on without any login."""
    demo, clock = shared
    signature, r = joint_signed(demo, PETITION.encode(), clock)
    status, filed = submit(demo, signature, r)
    assert status == 201, filed
    own = {"origin": demo.portal_url, "sec-fetch-site": "same-origin",
           "sec-fetch-mode": "cors", "content-type": "application/json"}
    for cookie in (None, "kpki_operator=made-up", "kpki_operator="):
        headers = own if cookie is None else {**own, "cookie": cookie}
        status, answer = _sent(demo.portal_url + "/api/operator/revoke", headers,
                               {"petition": filed["id"]})
        assert status == 401, answer
        assert json.loads(answer)["error"]["code"] == "operator_login_required"
        status, answer = _sent(demo.portal_url + "/api/operator/petitions", headers)
        assert status == 401, answer
    assert judged(demo, filed["id"])["verdict"] == "valid"
    assert judged(demo, filed["id"])["signer_revoked"] is False


def test_the_operator_logs_in_with_the_secret_and_gets_a_strict_cookie(
        shared: tuple[RunningDemo, FixedClock]) -> None:
    demo, _ = shared
    secret = demo.operator_secret
    assert secret and len(secret) >= 20
    for wrong in ("", secret[:-1], secret + "x", "x" * len(secret)):
        status, refused, cookie = _login(demo, wrong)
        assert (status, refused["error"]["code"], cookie) == (401, "wrong_secret", None)
    status, answer, cookie = _login(demo, secret)
    assert status == 200 and cookie is not None, answer
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in
                  cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"].lower() == "path=/"
    value = cookie.split(";", 1)[0]
    assert secret not in value
    status, found = call(demo.portal_url + "/api/operator/petitions", cookie=value)
    assert status == 200 and isinstance(found["petitions"], list)
    # a petition that is no one's: 404 once logged in
    status, refused = call(demo.portal_url + "/api/operator/revoke", {"petition": "nope"},
                           cookie=value)
    assert (status, refused["error"]["code"]) == (404, "not_found")
    status, _ = call(demo.portal_url + "/api/operator/logout", {}, cookie=value)
    assert status == 200
    status, refused = call(demo.portal_url + "/api/operator/petitions", cookie=value)
    assert (status, refused["error"]["code"]) == (401, "operator_login_required")


def test_an_operator_session_ends_after_its_hours(fresh: tuple[RunningDemo, FixedClock]
                                                  ) -> None:
    from pki.portal.app import OPERATOR_SESSION

    demo, clock = fresh
    cookie = operator(demo)
    clock.advance(OPERATOR_SESSION - dt.timedelta(seconds=1))
    assert call(demo.portal_url + "/api/operator/petitions", cookie=cookie)[0] == 200
    clock.advance(dt.timedelta(seconds=1))
    status, refused = call(demo.portal_url + "/api/operator/petitions", cookie=cookie)
    assert (status, refused["error"]["code"]) == (401, "operator_login_required")


def test_the_operator_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    clock = FixedClock(FROZEN)
    with run_demo_web(tmp_path / "home", clock=clock, publish_every=None) as first:
        kept = first.home / "demo-web" / "operator.secret"
        assert kept.stat().st_mode & 0o777 == 0o600
        assert kept.read_text().strip() == first.operator_secret
    with run_demo_web(tmp_path / "home", clock=clock, publish_every=None) as again:
        assert again.operator_secret == first.operator_secret


def test_the_verdict_reads_the_verifiers_field_never_its_notes(tmp_path: Path) -> None:
    """"Signed before revocation" is the verifier's structured field; its notes are for
    people (a note in other words, or none, changes no verdict)."""
    import dataclasses

    from pki.portal.petitions import Assessment, PetitionBox, Petitions, Verdict

    pki = TestPKI(seed="portal-field")
    cert = pki.joint()
    petitions = Petitions(PetitionBox(tmp_path / "box"), timestamper=pki.tsa.timestamp,
                          verifier=lambda: pki.verifier(),
                          revoked=lambda serial, issuer: True, clock=pki.clock)
    filed = petitions.receive(text=PETITION, encoding="UTF-8", rrn=cert.rrn.digits,
                              method="agent", signature=pki.sign(cert, PETITION.encode()),
                              r=cert.r)
    pki.clock.advance(dt.timedelta(hours=1))  # type: ignore[attr-defined]
    pki.revoke(cert)
    pki.clock.advance(dt.timedelta(hours=1))  # type: ignore[attr-defined]
    found = petitions.assess(filed)
    assert found.verdict is Verdict.VALID_BEFORE_REVOCATION
    assert found.result is not None and found.result.signed_before_revocation is not None
    words_only = dataclasses.replace(found.result, signed_before_revocation=None)
    assert Assessment(filed, words_only, (), True).verdict is Verdict.VALID
    field_only = dataclasses.replace(found.result, notes=())
    assert Assessment(filed, field_only, (), True).verdict is Verdict.VALID_BEFORE_REVOCATION
    assert assessment_json(found)["signed_before_revocation"] == (
        found.result.signed_before_revocation.to_json())


def test_the_portals_errors_are_in_kpkis_one_hierarchy() -> None:
    """Every error the portal and the demo raise is a class of pki.errors (re-exported
    where the portal imported it), carrying its data; none is defined beside them."""
    import inspect

    import pki.errors
    import pki.portal.app
    import pki.portal.petitions
    import pki.portal.remote
    import pki.usecases.webdemo

    modules = (pki.portal.app, pki.portal.petitions, pki.portal.remote,
               pki.usecases.webdemo)
    for module in modules:
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException):
                assert value.__module__ == "pki.errors", (module.__name__, name)
    for name in ("PortalRequestError", "PetitionNotFoundError", "PetitionFiledError",
                 "OperatorLoginError", "UpstreamError", "UpstreamRefusal", "DemoWebError"):
        assert issubclass(getattr(pki.errors, name), pki.errors.PKIError)
        assert name in pki.errors.__all__
    assert pki.portal.petitions.PortalRequestError is pki.errors.PortalRequestError
    assert pki.portal.remote.UpstreamRefusal is pki.errors.UpstreamRefusal
    refused = pki.errors.UpstreamRefusal("no", status=404, code="not_found",
                                         extra={"field": "x"})
    assert (refused.status, refused.code, refused.extra) == (404, "not_found", {"field": "x"})
    assert pki.errors.PortalRequestError("bad", field="rrn").field == "rrn"
    assert pki.errors.PetitionNotFoundError("abc").petition == "abc"
    assert pki.errors.UpstreamError("down", url="http://x").url == "http://x"
