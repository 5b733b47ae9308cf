"""RFC 5019 pre-produced OCSP responses: reused while fresh, never staler than the store.

On a frozen clock set a few minutes before the real time (so that openssl, which checks
times against its own clock, sees valid certificates and responses once a test has moved
it on by :data:`EARLIER`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki import lifecycle
from pki.clock import FixedClock
from pki.home import Home
from pki.revocation.ocsp import REFRESH_FRACTION, RESPONSE_VALIDITY, OCSPResponder

RRN = "9005171234566"
FRESH = RESPONSE_VALIDITY * REFRESH_FRACTION
EARLIER = dt.timedelta(minutes=4)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0) - EARLIER)


@pytest.fixture
def pki(home, clock):
    authority = home.authority()
    certs = {name: authority.issue_joint(name="홍길동", rrn=RRN) for name in ("a", "b")}
    responder = home.ocsp_responder(authority.label, passphrase=None)
    return home, certs, responder


def _request(issued, *, nonce: bytes | None = None,
             algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, issued.chain[0], algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _read(der: bytes) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


def test_a_response_without_a_nonce_is_reused_while_fresh(pki, clock):
    _home, certs, responder = pki
    first = responder.respond(_request(certs["a"]))
    produced = clock.now()
    clock.advance(FRESH - dt.timedelta(seconds=1))
    assert responder.respond(_request(certs["a"])) == first
    assert responder.answer(_request(certs["a"])) == first  # no signature needed
    response = _read(first)
    assert response.this_update_utc == response.produced_at_utc == produced
    assert response.next_update_utc == produced + RESPONSE_VALIDITY


def test_a_response_is_signed_anew_once_the_fraction_has_passed(pki, clock):
    _home, certs, responder = pki
    first = responder.respond(_request(certs["a"]))
    clock.advance(FRESH)
    again = responder.answer(_request(certs["a"]))
    assert callable(again)
    second = again()
    assert second != first
    assert _read(second).this_update_utc == clock.now()
    assert responder.respond(_request(certs["a"])) == second  # and that one is reused


def test_each_certid_hash_and_serial_has_its_own_response(pki):
    _home, certs, responder = pki
    sha1 = _read(responder.respond(_request(certs["a"])))
    sha256 = _read(responder.respond(_request(certs["a"], algorithm=hashes.SHA256())))
    other = _read(responder.respond(_request(certs["b"])))
    assert isinstance(sha1.hash_algorithm, hashes.SHA1)
    assert isinstance(sha256.hash_algorithm, hashes.SHA256)
    assert (sha1.serial_number, other.serial_number) == (certs["a"].serial, certs["b"].serial)


def test_a_revocation_is_in_the_next_response(pki, clock):
    """No stale "good" after a revocation: the store's status is read for every request,
    and a pre-produced response is only served for the status it was signed for."""
    home, certs, responder = pki
    assert _read(responder.respond(_request(certs["a"]))).certificate_status is \
        ocsp.OCSPCertStatus.GOOD
    clock.advance(dt.timedelta(seconds=5))
    lifecycle.revoke(home.store, certs["a"].serial, at=clock.now(),
                     reason=x509.ReasonFlags.key_compromise)
    revoked = _read(responder.respond(_request(certs["a"])))
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc == clock.now()
    # the other certificate's pre-produced response is untouched
    assert _read(responder.respond(_request(certs["b"]))).certificate_status is \
        ocsp.OCSPCertStatus.GOOD


def test_suspension_and_resumption_are_in_the_next_response(pki, clock):
    home, certs, responder = pki
    good = responder.respond(_request(certs["a"]))
    clock.advance(dt.timedelta(seconds=5))
    lifecycle.suspend(home.store, certs["a"].serial, at=clock.now())
    held = _read(responder.respond(_request(certs["a"])))
    assert held.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert held.revocation_reason is x509.ReasonFlags.certificate_hold
    clock.advance(dt.timedelta(seconds=5))
    lifecycle.resume(home.store, certs["a"].serial, at=clock.now())
    resumed = responder.respond(_request(certs["a"]))
    assert resumed != good  # signed after the resumption, not the good one from before
    assert _read(resumed).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert _read(resumed).this_update_utc == clock.now()


def test_a_status_change_made_through_another_connection_is_seen_at_once(pki, clock):
    """Another process (here another store connection) revokes: no message reaches the
    responder, and its next response says revoked."""
    home, certs, responder = pki
    assert _read(responder.respond(_request(certs["a"]))).certificate_status is \
        ocsp.OCSPCertStatus.GOOD
    with Home.open(home.path, clock=clock) as other:
        lifecycle.revoke(other.store, certs["a"].serial, at=clock.now())
    assert _read(responder.respond(_request(certs["a"]))).certificate_status is \
        ocsp.OCSPCertStatus.REVOKED


def test_requests_with_a_nonce_are_signed_each_time_and_never_reused(pki, clock):
    _home, certs, responder = pki
    plain = responder.respond(_request(certs["a"]))
    clock.advance(dt.timedelta(seconds=10))
    for nonce in (b"\x01" * 16, b"\x02" * 16):
        answered = responder.answer(_request(certs["a"], nonce=nonce))
        assert callable(answered)
        response = _read(answered())
        assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        assert response.this_update_utc == clock.now()
    # the nonce-less request still gets the response produced before, without a nonce
    assert responder.respond(_request(certs["a"])) == plain


def test_unknown_serials_are_answered_unknown_and_reused(pki, clock, key_pool):
    home, certs, responder = pki
    ca_key = home.load_ca_key("yessign", None)
    good = certs["a"].certificate
    stranger = (x509.CertificateBuilder().subject_name(good.subject).issuer_name(good.issuer)
                .public_key(key_pool.keys(2048, 1)[0].public_key()).serial_number(4242)
                .not_valid_before(good.not_valid_before_utc)
                .not_valid_after(good.not_valid_after_utc).sign(ca_key, hashes.SHA256()))
    request = (ocsp.OCSPRequestBuilder().add_certificate(stranger, certs["a"].chain[0],
                                                         hashes.SHA1())
               .build().public_bytes(serialization.Encoding.DER))
    first = responder.respond(request)
    assert _read(first).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    clock.advance(dt.timedelta(minutes=1))
    assert responder.answer(request) == first


def test_a_clock_set_back_gets_a_new_response(pki, clock):
    """A pre-produced response whose thisUpdate is in the future is not served."""
    _home, certs, responder = pki
    first = responder.respond(_request(certs["a"]))
    clock.advance(-dt.timedelta(minutes=1))
    again = responder.answer(_request(certs["a"]))
    assert callable(again) and _read(again()).this_update_utc == clock.now()
    assert first != responder.respond(_request(certs["a"]))


def test_a_burst_of_the_same_request_is_signed_once(pki, clock):
    # twenty nonce-less requests that all missed the cache before the first was signed
    # (answer() runs on the event loop, the signing in a thread): one signature
    _, certs, responder = pki
    calls = [responder.answer(_request(certs["a"])) for _ in range(20)]
    assert all(callable(call) for call in calls)
    signatures = []
    sign = responder._signer_key.sign

    def counted(*args):
        signatures.append(args)
        return sign(*args)

    responder._signer_key = type("Counted", (), {"sign": staticmethod(counted)})()
    answers = {call() for call in calls}
    assert len(answers) == 1 and len(signatures) == 1


def test_a_re_signed_response_evicts_no_other(home, clock):
    authority = home.authority()
    certs = [authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(2)]
    home.ocsp_responder(authority.label, passphrase=None)
    signer, key = home.publisher().ensure_ocsp_signer(authority.label)
    responder = OCSPResponder(home.store.get_ca(authority.label), signer.certificate, key,
                              home.store, clock, cache_size=2)
    responder.respond(_request(certs[0]))
    responder.respond(_request(certs[1]))
    clock.advance(FRESH)  # both stale: certs[1] re-signed at a full cache
    responder.respond(_request(certs[1]))
    assert len(responder._produced) == 2  # certs[0]'s response was not evicted for it


def test_the_kept_responses_are_bounded(home, clock):
    authority = home.authority()
    certs = [authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(3)]
    home.ocsp_responder(authority.label, passphrase=None)
    signer, key = home.publisher().ensure_ocsp_signer(authority.label)
    responder = OCSPResponder(home.store.get_ca(authority.label), signer.certificate, key,
                              home.store, clock, cache_size=2)
    first = responder.respond(_request(certs[0]))
    for issued in certs[1:]:
        responder.respond(_request(issued))
    assert responder.respond(_request(certs[2])) == responder.respond(_request(certs[2]))
    clock.advance(dt.timedelta(seconds=1))
    assert responder.respond(_request(certs[0])) != first  # the oldest went


def test_bad_requests_never_raise(pki):
    _home, certs, responder = pki
    for der in (b"", b"\x30\x03abc", _request(certs["a"])[:-3]):
        assert ocsp.load_der_ocsp_response(responder.respond(der)).response_status is \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST


# -- interoperability ------------------------------------------------------------------


def _files(tmp_path: Path, home, certs) -> Path:
    for name, issued in certs.items():
        (tmp_path / f"{name}.pem").write_bytes(
            issued.certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(
        certs["a"].chain[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.pem").write_bytes(
        home.store.get_ca("root").certificate.public_bytes(serialization.Encoding.PEM))
    return tmp_path


def _openssl(folder: Path, name: str, response: bytes) -> str:
    (folder / "response.der").write_bytes(response)
    done = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(folder / "ca.pem"), "-cert",
         str(folder / f"{name}.pem"), "-respin", str(folder / "response.der"), "-no_nonce",
         "-CAfile", str(folder / "root.pem"), "-verify_other", str(folder / "ca.pem")],
        capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Response verify OK" in out, out
    assert "WARNING" not in out, out  # no "Status times invalid"
    return done.stdout


def test_openssl_accepts_pre_produced_responses(pki, clock, tmp_path):
    home, certs, responder = pki
    folder = _files(tmp_path, home, certs)
    good = responder.respond(_request(certs["a"]))
    clock.advance(EARLIER)
    assert responder.respond(_request(certs["a"])) == good  # the pre-produced one
    assert f"{folder / 'a.pem'}: good" in _openssl(folder, "a", good)
    lifecycle.revoke(home.store, certs["b"].serial, at=clock.now(),
                     reason=x509.ReasonFlags.superseded)
    revoked = _openssl(folder, "b", responder.respond(_request(certs["b"])))
    assert f"{folder / 'b.pem'}: revoked" in revoked and "Reason: superseded" in revoked


def _pyhanko(home, issued, responses: list[bytes], at: dt.datetime) -> str:
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import RevokedError

    from pki.vid import register_with_asn1crypto

    register_with_asn1crypto()

    def load(cert: x509.Certificate) -> ax509.Certificate:
        return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    async def validate() -> str:
        context = ValidationContext(
            trust_roots=[load(home.store.get_ca("root").certificate)],
            other_certs=[load(issued.chain[0])], ocsps=responses, allow_fetching=False,
            revocation_mode="soft-fail", moment=at)
        async with contextlib.aclosing(context) as ctx:
            validator = CertificateValidator(load(issued.certificate), validation_context=ctx)
            try:
                await validator.async_validate_usage(set())
            except RevokedError:
                return "revoked"
            return "valid"

    return asyncio.run(validate())


def test_pyhanko_certvalidator_accepts_pre_produced_responses(pki, clock):
    home, certs, responder = pki
    good = responder.respond(_request(certs["a"]))
    clock.advance(FRESH / 2)
    assert responder.respond(_request(certs["a"])) == good
    assert _pyhanko(home, certs["a"], [good], clock.now()) == "valid"
    lifecycle.revoke(home.store, certs["b"].serial, at=clock.now())
    clock.advance(dt.timedelta(seconds=1))
    revoked = responder.respond(_request(certs["b"]))
    assert _pyhanko(home, certs["b"], [revoked], clock.now()) == "revoked"


def test_over_http_post_and_get_get_the_same_pre_produced_response(pki, clock):
    """POSTs are answered straight from the ASGI messages (``Revocation.ocsp_posts``), GETs
    through the routes: one responder, one kept response."""
    import base64
    import urllib.parse
    import urllib.request

    from pki.usecases.serving import serve_home_in_thread

    home, certs, _responder = pki
    aia = certs["a"].certificate.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
    path = urllib.parse.urlsplit(aia[0].access_location.value).path
    request = _request(certs["a"])
    with serve_home_in_thread(home) as served:
        posted = urllib.request.Request(served.url + path, data=request,
                                        headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(posted, timeout=30) as answer:
            assert answer.headers["content-type"] == "application/ocsp-response"
            by_post = answer.read()
        clock.advance(dt.timedelta(seconds=30))
        encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
        with urllib.request.urlopen(f"{served.url}{path}/{encoded}", timeout=30) as answer:
            by_get = answer.read()
    assert by_post == by_get
    assert _read(by_post).certificate_status is ocsp.OCSPCertStatus.GOOD
