"""RFC 3161 time stamps: the TSA, its certificate, tokens in signatures, and their verifier."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from pki import lifecycle, oids
from pki.cli.main import cli
from pki.clock import FixedClock
from pki.errors import TimestampError
from pki.home import Home
from pki.profiles import TSA_PROFILE
from pki.signing import sign
from pki.signing.cms import sign_reference
from pki.testing import TestPKI
from pki.timestamp import (
    HTTPTimestamper,
    TimeStampAuthority,
    TokenOutcome,
    build_request,
    issue_tsa_certificate,
    read_token,
    signature_timestamps,
    token_from_response,
    verify_timestamp_token,
)
from pki.timestamp.protocol import RESPONSE_TYPE, TimeStampResp

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
DOCUMENT = "전자민원 신청서".encode()


@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return TestPKI(seed="tsa")


def fresh_pki(seed: str) -> TestPKI:
    return TestPKI(seed=seed)


def response(pki: TestPKI, request: bytes) -> tsp.TimeStampResp:
    return TimeStampResp.load(pki.tsa.respond(request))


def failed(result, name):  # type: ignore[no-untyped-def]
    """The result failed, and at the check ``name``, never crashed and never "valid"."""
    assert not result.ok
    assert result.trusted_time is None
    assert result.failure is not None and result.failure.name == name, result.checks
    return result.failure.detail


def _cert_with(pki: TestPKI, **changes: object) -> tuple[x509.Certificate, object]:
    """A TSA certificate from ``pki``'s root with a changed profile, and its key."""
    root = pki.home.store.get_ca("root")
    key = pki.keys.generate(2048)
    cert = issue_tsa_certificate(root, pki.home.load_ca_key("root", None), key,
                                 at=pki.clock.now(), serial=0x7A5A,
                                 profile=dataclasses.replace(TSA_PROFILE, **changes))
    return cert, key


# -- the TSA certificate -------------------------------------------------------------------

def test_tsa_certificate_is_under_the_root_with_the_critical_timestamping_usage(pki):
    cert = pki.tsa.certificate
    assert cert.issuer == pki.root.subject
    cert.verify_directly_issued_by(pki.root)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [oids.TIME_STAMPING]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [oids.TSA_POLICY]
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == pki.home.store.get_ca("root").crl_url
    assert cert.not_valid_after_utc <= pki.root.not_valid_after_utc
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.BasicConstraints)


def test_tsa_certificate_is_recorded_as_the_roots_so_it_can_be_revoked(pki):
    record = lifecycle.find_certificate(pki.home.store, pki.tsa.certificate.serial_number,
                                        ca="root")
    assert record.profile == "tsa"
    assert record.der == pki.tsa.certificate.public_bytes(DER)


def test_home_keeps_its_tsa_and_renews_it_when_revoked_or_due(make_home, clock):
    home = make_home(passphrase=b"pass")
    assert home.tsa_certificate() is None  # made when first asked for
    first = home.tsa(passphrase=b"pass").certificate
    key_file = home.ca_dir("root") / "tsa-key.pem"
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert home.tsa(passphrase=b"pass").certificate == first
    assert Home.open(home.path).tsa_certificate() == first

    lifecycle.revoke(home.store, first.serial_number, ca="root", at=clock.now(),
                     reason=x509.ReasonFlags.key_compromise)
    second = home.tsa(passphrase=b"pass").certificate
    assert second.serial_number != first.serial_number

    clock.set(second.not_valid_after_utc - dt.timedelta(days=TSA_PROFILE.renew_before_days))
    third = home.tsa(passphrase=b"pass").certificate
    assert third.serial_number != second.serial_number


def test_init_makes_the_tsa_and_encrypted_homes_need_the_passphrase(make_home):
    home = make_home(passphrase=b"pass", tsa=True)
    assert home.tsa_certificate() is not None
    from pki.errors import WrongPasswordError

    with pytest.raises(WrongPasswordError):
        home.tsa(passphrase=None)


@pytest.mark.parametrize("point", ["tsa.recorded", "tsa.key-written"])
def test_a_crash_while_making_the_tsa_leaves_no_key_the_store_does_not_know(tmp_path, point):
    home_path = tmp_path / "home"
    Home.create(home_path, passphrase=None).close()
    env = {**os.environ, "KPKI_FAULT": point}
    killed = subprocess.run([_kpki(), "--home", str(home_path), "tsa", "init", "--json"],
                            env=env, capture_output=True)
    assert killed.returncode == -9, killed.stderr
    done = subprocess.run([_kpki(), "--home", str(home_path), "tsa", "init", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with Home.open(home_path) as home:
        cert = home.tsa_certificate()
        assert cert is not None and format(cert.serial_number, "X") == \
            json.loads(done.stdout)["serial"]
        key = serialization.load_pem_private_key(
            (home.ca_dir("root") / "tsa-key.pem").read_bytes(), None)
        assert key.public_key() == cert.public_key()
        found = home.store.status_of("root", cert.serial_number)
        assert found is not None and found[0].value == "valid"


def _tsa_certificates(path: Path) -> list[x509.Certificate]:
    with Home.open(path) as home:
        return [r.certificate for r in home.store.list_certificates(ca="root",
                                                                    profile=TSA_PROFILE.name)]


def test_two_processes_making_the_tsa_at_once_make_one(make_home, key_pool):
    # Two Home objects on one home (two store connections, as two processes have), made to
    # meet where the race was: A holds still while making its TSA key until B is about to
    # write too. Without exclusion both recorded a certificate, and one key was lost.
    path = make_home().path
    assert _tsa_certificates(path) == []
    a_making_key, b_writing = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    class WaitsForB:
        """A's key generator: the first key waits until B starts its first write."""

        def __init__(self) -> None:
            self.first = True

        def generate(self, bits: int):  # type: ignore[no-untyped-def]
            if self.first:
                self.first = False
                a_making_key.set()
                assert b_writing.wait(30)
            return key_pool.generate(bits)

    def a() -> None:
        with Home.open(path, key_generator=WaitsForB()) as home:
            results["a"] = home.tsa(passphrase=None).certificate

    def b() -> None:
        assert a_making_key.wait(30)
        with Home.open(path, key_generator=key_pool) as home:
            begin = home.store.transaction

            def transaction():  # type: ignore[no-untyped-def]
                b_writing.set()
                return begin()

            home.store.transaction = transaction  # type: ignore[method-assign]
            results["b"] = home.tsa(passphrase=None).certificate

    def run(name: str, target) -> threading.Thread:  # type: ignore[no-untyped-def]
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # reported by the main thread
                results[f"{name} failed"] = exc
                a_making_key.set()
                b_writing.set()

        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    for thread in [run("a", a), run("b", b)]:
        thread.join(timeout=60)
    assert not [k for k in results if k.endswith("failed")], results
    made = _tsa_certificates(path)
    assert len(made) == 1 and results["a"] == results["b"] == made[0]
    with Home.open(path) as home:  # its key is the one kept: nothing is made again
        assert home.tsa(passphrase=None).certificate == made[0]
    assert _tsa_certificates(path) == made


def test_parallel_processes_making_the_tsa_leave_one_certificate_with_its_key(make_home):
    path = make_home().path
    code = ("import sys; from pki.home import Home\n"
            "with Home.open(sys.argv[1]) as home:\n"
            "    print(format(home.tsa(passphrase=None).certificate.serial_number, 'X'))\n")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    made = _tsa_certificates(path)
    assert len(made) == 1
    assert {out.strip() for out, _ in outputs} == {format(made[0].serial_number, "X")}
    with Home.open(path) as home:
        assert home.tsa(passphrase=None).certificate == made[0]


# -- the protocol ---------------------------------------------------------------------------

def test_a_request_is_granted_with_a_token_over_its_imprint(pki):
    request = build_request(b"signature value", nonce=0x1234567890)
    answer = response(pki, request)
    assert answer["status"]["status"].native == "granted"
    info = read_token(answer["time_stamp_token"].dump())
    assert info.hashed_message == hashlib.sha256(b"signature value").digest()
    assert info.hash_algorithm == "sha256"
    assert info.nonce == 0x1234567890
    assert info.policy == oids.TSA_POLICY.dotted_string
    assert info.gen_time == pki.clock.now()
    assert info.accuracy == dt.timedelta(seconds=1)
    signed = answer["time_stamp_token"]["content"]
    assert signed["version"].native == "v3"
    assert signed["encap_content_info"]["content_type"].native == "tst_info"
    [signer_info] = signed["signer_infos"]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["content_type"].native == "tst_info"
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(pki.tsa.certificate.public_bytes(DER)
                                                     ).digest()
    assert ess["issuer_serial"]["serial_number"].native == pki.tsa.certificate.serial_number
    assert [c.chosen.dump() for c in signed["certificates"]] == \
        [pki.tsa.certificate.public_bytes(DER)]


def test_the_certificate_is_included_only_when_asked(pki):
    request = build_request(b"x", nonce=None, cert_req=False)
    token = response(pki, request)["time_stamp_token"]["content"]
    assert token["certificates"].native is None
    assert read_token(token_from_response(pki.tsa.respond(request), request=request)).nonce \
        is None


def test_every_token_has_its_own_serial(pki):
    serials = {read_token(pki.timestamp(b"same data")).serial_number for _ in range(200)}
    assert len(serials) == 200


def _request(**fields: object) -> bytes:
    base: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                            "hashed_message": bytes(32)},
        "cert_req": True,
    }
    base.update(fields)
    return tsp.TimeStampReq(base).dump()


@pytest.mark.parametrize(("request_der", "fail_info"), [
    (b"", "bad_data_format"),
    (b"\x30\x03\x02\x01", "bad_data_format"),
    (b"not a request at all", "bad_data_format"),
    (_request(version="v2"), "bad_request"),
    (_request(message_imprint={"hash_algorithm": {"algorithm": "sha1"},
                               "hashed_message": bytes(20)}), "bad_alg"),
    (_request(message_imprint={"hash_algorithm": {"algorithm": "md5"},
                               "hashed_message": bytes(16)}), "bad_alg"),
    (_request(message_imprint={"hash_algorithm": {"algorithm": "sha256"},
                               "hashed_message": bytes(31)}), "bad_data_format"),
    (_request(req_policy="1.2.3.4"), "unaccepted_policy"),
    (_request(extensions=[{"extn_id": "1.2.3", "extn_value": b"x"}]), "unaccepted_extensions"),
], ids=["empty", "truncated", "text", "version", "sha1", "md5", "short-imprint", "policy",
        "extensions"])
def test_bad_requests_get_a_rejection_never_an_exception(pki, request_der, fail_info):
    answer = TimeStampResp.load(pki.tsa.respond(request_der))
    status = answer["status"].native
    assert status["status"] == "rejection"
    assert status["fail_info"] == {fail_info}
    assert status["status_string"]
    assert answer["time_stamp_token"].native is None
    with pytest.raises(TimestampError) as caught:
        token_from_response(pki.tsa.respond(request_der), request=_request())
    assert caught.value.status == "rejection" and caught.value.fail_info == (fail_info,)


def test_no_token_when_the_tsa_certificate_is_not_valid_now():
    pki = fresh_pki("expired-tsa")
    tsa = pki.tsa
    late = TimeStampAuthority(tsa.certificate, tsa._key,  # the same TSA, later
                              clock=FixedClock(tsa.certificate.not_valid_after_utc
                                               + dt.timedelta(seconds=1)))
    status = TimeStampResp.load(late.respond(_request()))["status"].native
    assert (status["status"], status["fail_info"]) == ("rejection", {"time_not_available"})
    with pytest.raises(TimestampError):
        late.timestamp(b"data")


@functools.cache
def _shared_pki() -> TestPKI:
    return TestPKI(seed="tsa-properties")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_get_a_time_stamp_response(data):
    answer = TimeStampResp.load(_shared_pki().tsa.respond(data))
    assert answer["status"]["status"].native in ("granted", "rejection")


def _edits(data: bytes, *, stride: int = 1):  # type: ignore[no-untyped-def]
    """Deterministic damage at every ``stride``-th position: bit flips, truncation, and
    length-byte changes."""
    for i in range(0, len(data), stride):
        for bit in (0x01, 0x80):
            yield data[:i] + bytes([data[i] ^ bit]) + data[i + 1:]
        yield data[:i]
        yield data[:i] + bytes([0x84]) + data[i + 1:]


def test_every_damaged_request_gets_a_response():
    request = _request(nonce=77)
    for damaged in _edits(request):
        answer = TimeStampResp.load(_shared_pki().tsa.respond(damaged))
        assert answer["status"]["status"].native in ("granted", "rejection")


# -- the client -------------------------------------------------------------------------------

def test_the_client_refuses_a_malformed_response_or_a_wrong_nonce_or_imprint(pki):
    request = build_request(b"sig", nonce=1)
    with pytest.raises(TimestampError, match="malformed"):
        token_from_response(b"\x30\x80garbage", request=request)
    other_nonce = pki.tsa.respond(build_request(b"sig", nonce=2))
    with pytest.raises(TimestampError, match="nonce"):
        token_from_response(other_nonce, request=request)
    other_data = pki.tsa.respond(build_request(b"other", nonce=1))
    with pytest.raises(TimestampError, match="other data"):
        token_from_response(other_data, request=request)
    granted_without_token = TimeStampResp({"status": {"status": "granted"}}).dump()
    with pytest.raises(TimestampError, match="no token"):
        token_from_response(granted_without_token, request=request)


def test_http_timestamper_sends_a_fresh_nonce(pki):
    sent: list[bytes] = []

    def http(url: str, body: bytes) -> bytes:
        sent.append(body)
        return pki.tsa.respond(body)

    stamper = HTTPTimestamper("http://tsa.example/tsa", http=http)
    first, second = stamper(b"a"), stamper(b"a")
    nonces = [tsp.TimeStampReq.load(b)["nonce"].native for b in sent]
    assert nonces[0] != nonces[1] and None not in nonces
    assert [read_token(t).nonce for t in (first, second)] == nonces


def test_an_unreachable_tsa_is_a_timestamp_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TimestampError, match=r"cannot get a time stamp.*refused") as caught:
        HTTPTimestamper(f"http://127.0.0.1:{port}/tsa")(b"sig")
    assert caught.value.url == f"http://127.0.0.1:{port}/tsa"
    with pytest.raises(TimestampError, match="http"):
        HTTPTimestamper("file:///etc/passwd")(b"sig")


# -- verifying tokens ---------------------------------------------------------------------------

def test_a_good_token_gives_its_time_as_trusted(pki):
    token = pki.timestamp(b"signature value")
    result = pki.verify_timestamp(token, b"signature value")
    assert result.ok, result.checks
    assert result.trusted_time == pki.clock.now()
    assert [c.name for c in result.checks] == [
        "token", "imprint", "tsa-certificate", "token-signature", "tsa-usage", "tsa-chain",
        "tsa-validity", "tsa-revocation"]
    assert all(c.outcome is TokenOutcome.PASSED for c in result.checks)
    assert result.tsa == pki.tsa.certificate
    assert "time stamp valid" in result.summary()


def test_a_token_over_other_data_fails(pki):
    detail = failed(pki.verify_timestamp(pki.timestamp(b"one"), b"another"), "imprint")
    assert "other data" in detail


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-signed-data", "response",
                                    "empty"])
def test_a_malformed_token_fails(pki, damage):
    token = pki.timestamp(b"sig")
    bad = {
        "garbage": b"\x30\x82\x01\x00" + bytes(256),
        "truncated": token[: len(token) // 2],
        "not-signed-data": cms.ContentInfo({"content_type": "data", "content": b"x"}).dump(),
        "response": pki.tsa.respond(build_request(b"sig", nonce=None)),
        "empty": b"",
    }[damage]
    failed(pki.verify_timestamp(bad, b"sig"), "token")


def test_a_changed_token_fails_its_signature(pki):
    token = pki.timestamp(b"sig")
    # Rewrite the genTime inside the TSTInfo: same length, other time.
    at = token.index(b"20260316010000Z")
    changed = token[:at] + b"20200316010000Z" + token[at + 15:]
    detail = failed(pki.verify_timestamp(changed, b"sig"), "token-signature")
    assert "message digest" in detail


@pytest.mark.parametrize(("changes", "reason"), [
    ({"extended_key_usage": ()}, "no extendedKeyUsage"),
    ({"extended_key_usage_critical": False}, "not critical"),
    ({"extended_key_usage": (oids.TIME_STAMPING,
                             x509.oid.ExtendedKeyUsageOID.CODE_SIGNING)}, "alone"),
], ids=["no-eku", "non-critical", "extra-purpose"])
def test_a_tsa_certificate_without_the_timestamping_usage_fails(changes, reason):
    pki = fresh_pki("bad-eku")
    cert, key = _cert_with(pki, **changes)
    token = TimeStampAuthority(cert, key, clock=pki.clock).timestamp(b"sig")  # type: ignore[arg-type]
    assert reason in failed(pki.verify_timestamp(token, b"sig"), "tsa-usage")


class _OtherKeys:
    """Keys of the test pool that no TestPKI's hierarchy uses (they take the first ones)."""

    def __init__(self, pki: TestPKI) -> None:
        self.pool, self.next = pki.keys, 20

    def generate(self, bits: int):  # type: ignore[no-untyped-def]
        self.next += 1
        return self.pool.key(self.next)


def test_a_token_from_an_untrusted_tsa_fails(pki):
    # The same names as pki's root and TSA, other keys.
    stranger = Home.in_memory(clock=pki.clock, key_generator=_OtherKeys(pki))
    token = stranger.tsa(passphrase=None).timestamp(b"sig")
    assert "untrusted" in failed(pki.verify_timestamp(token, b"sig", crls=[]), "tsa-chain")
    assert "untrusted" in failed(pki.verify_timestamp(token, b"sig", trust=[]), "tsa-chain")


def test_a_nonce_mismatch_fails(pki):
    token = pki.timestamp(b"sig", nonce=5)
    assert pki.verify_timestamp(token, b"sig", nonce=5).ok
    failed(pki.verify_timestamp(token, b"sig", nonce=6), "nonce")


def test_a_required_policy(pki):
    token = pki.timestamp(b"sig")
    assert pki.verify_timestamp(token, b"sig", policy=oids.TSA_POLICY.dotted_string).ok
    failed(pki.verify_timestamp(token, b"sig", policy="1.2.3.4"), "policy")


def test_a_token_without_the_tsa_certificate_needs_it_given(pki):
    request = build_request(b"sig", nonce=None, cert_req=False)
    token = token_from_response(pki.tsa.respond(request), request=request)
    failed(pki.verify_timestamp(token, b"sig"), "tsa-certificate")
    assert pki.verify_timestamp(token, b"sig", intermediates=[pki.tsa.certificate]).ok


def test_genTime_must_not_lie_after_the_validation_time(pki):
    token = pki.timestamp(b"sig")
    earlier = pki.clock.now() - dt.timedelta(seconds=1)
    assert "after the validation time" in failed(
        pki.verify_timestamp(token, b"sig", at=earlier), "tsa-validity")


# -- the TSA's revocation ----------------------------------------------------------------------

def test_revocation_data_is_required_unless_turned_off_explicitly(pki):
    token = pki.timestamp(b"sig")
    assert "no CRL or OCSP" in failed(pki.verify_timestamp(token, b"sig", crls=[]),
                                      "tsa-revocation")
    result = pki.verify_timestamp(token, b"sig", crls=[], check_revocation=False)
    assert result.ok and result.check("tsa-revocation").outcome is TokenOutcome.SKIPPED


def test_a_stale_or_future_crl_does_not_answer(pki):
    token = pki.timestamp(b"sig")
    crl = pki.root_crl()
    later = crl.next_update_utc + dt.timedelta(seconds=1)
    assert "nextUpdate" in failed(
        pki.verify_timestamp(token, b"sig", crls=[crl], at=later), "tsa-revocation")
    allowed = pki.verify_timestamp(token, b"sig", crls=[crl], at=later, allow_stale=True)
    assert allowed.ok and "stale, allowed" in allowed.check("tsa-revocation").detail
    future = fresh_pki("future-crl")
    token = future.timestamp(b"sig")
    future.clock.advance(dt.timedelta(hours=1))  # type: ignore[attr-defined]
    crl = future.root_crl()
    assert "after the validation time" in failed(
        future.verify_timestamp(token, b"sig", crls=[crl],
                                at=future.clock.now() - dt.timedelta(minutes=30)),
        "tsa-revocation")


def test_a_delta_crl_alone_does_not_answer():
    pki = fresh_pki("delta-only")
    token = pki.timestamp(b"sig")
    root = pki.home.store.get_ca("root")
    from pki.revocation.crl import issue_crl

    key = pki.home.load_ca_key("root", None)
    issue_crl(root, key, pki.home.store, at=pki.clock.now())
    delta = issue_crl(root, key, pki.home.store, at=pki.clock.now(), delta=True)
    assert "delta" in failed(pki.verify_timestamp(token, b"sig", crls=[delta.der]),
                             "tsa-revocation")


def test_a_delta_crl_beside_its_base_answers_as_for_a_signer():
    """The TSA's revocation is read by the signing verifier's rules (pki.signing.status):
    a delta CRL counts beside its full base CRL, so a revocation it lists is seen."""
    pki = fresh_pki("delta-with-base")
    token = pki.timestamp(b"sig")
    root = pki.home.store.get_ca("root")
    from pki.revocation.crl import issue_crl

    key = pki.home.load_ca_key("root", None)
    full = issue_crl(root, key, pki.home.store, at=pki.clock.now())
    lifecycle.revoke(pki.home.store, pki.tsa.certificate.serial_number, ca="root",
                     at=pki.clock.now(), reason=x509.ReasonFlags.key_compromise)
    delta = issue_crl(root, key, pki.home.store, at=pki.clock.now(), delta=True)
    assert pki.verify_timestamp(token, b"sig", crls=[full.der]).ok  # the full CRL alone
    assert "delta CRL" in failed(pki.verify_timestamp(token, b"sig",
                                                      crls=[full.der, delta.der]),
                                 "tsa-revocation")


def test_a_crl_of_another_ca_does_not_answer(pki):
    token = pki.timestamp(b"sig")
    failed(pki.verify_timestamp(token, b"sig", crls=[pki.crl()]), "tsa-revocation")


@pytest.mark.parametrize(("reason", "after", "ok"), [
    (x509.ReasonFlags.key_compromise, True, False),
    (x509.ReasonFlags.unspecified, True, False),
    (x509.ReasonFlags.superseded, True, True),
    (x509.ReasonFlags.cessation_of_operation, True, True),
    (x509.ReasonFlags.superseded, False, False),
])
def test_a_revoked_tsa(reason, after, ok):
    pki = fresh_pki(f"revoked-tsa-{reason.value}-{after}")
    old = pki.tsa
    serial = old.certificate.serial_number
    token = None
    if after:
        token = pki.timestamp(b"sig")
        pki.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
    lifecycle.revoke(pki.home.store, serial, ca="root", at=pki.clock.now(), reason=reason)
    if not after:
        # The TSA cannot be asked once revoked (it would make a new certificate): stamp with
        # the revoked one directly.
        pki.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
        token = old.timestamp(b"sig")
    result = pki.verify_timestamp(token, b"sig")
    assert result.ok is ok, result.checks
    if not ok:
        failed(result, "tsa-revocation")
    else:
        assert "not key misuse" in result.check("tsa-revocation").detail


def test_an_invalidity_date_before_genTime_fails_whatever_the_reason():
    pki = fresh_pki("invalidity")
    token = pki.timestamp(b"sig")
    gen_time = read_token(token).gen_time
    pki.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
    lifecycle.revoke(pki.home.store, pki.tsa.certificate.serial_number, ca="root",
                     at=pki.clock.now(), reason=x509.ReasonFlags.superseded,
                     invalidity_date=gen_time - dt.timedelta(minutes=1))
    assert "invalid since" in failed(pki.verify_timestamp(token, b"sig"), "tsa-revocation")


def test_revocation_through_an_ocsp_response():
    pki = fresh_pki("tsa-ocsp")
    token = pki.timestamp(b"sig")
    # The root answers OCSP about the TSA only through a responder it delegates; build one.
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    root_key = pki.home.load_ca_key("root", None)
    now = pki.clock.now()

    def answer(status: ocsp.OCSPCertStatus) -> bytes:
        return ocsp.OCSPResponseBuilder().add_response(
            cert=pki.tsa.certificate, issuer=pki.root, algorithm=hashes.SHA256(),
            cert_status=status, this_update=now, next_update=now + dt.timedelta(hours=1),
            revocation_time=now if status is ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=x509.ReasonFlags.key_compromise
            if status is ocsp.OCSPCertStatus.REVOKED else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, pki.root).sign(
            root_key, hashes.SHA256()).public_bytes(DER)

    good = pki.verify_timestamp(token, b"sig", crls=[],
                                ocsp_responses=[answer(ocsp.OCSPCertStatus.GOOD)])
    assert good.ok and "OCSP" in good.check("tsa-revocation").detail
    failed(pki.verify_timestamp(token, b"sig", crls=[],
                                ocsp_responses=[answer(ocsp.OCSPCertStatus.REVOKED)]),
           "tsa-revocation")
    failed(pki.verify_timestamp(token, b"sig", crls=[], ocsp_responses=[b"\x30\x00"]),
           "tsa-revocation")


def test_every_damaged_token_is_a_failed_check_never_a_crash():
    pki = _shared_pki()
    token = pki.timestamp(b"sig")
    crl = pki.root_crl()
    for damaged in _edits(token, stride=3):
        result = verify_timestamp_token(damaged, signature_value=b"sig", trust=[pki.root],
                                        crls=[crl], clock=pki.clock)
        assert not result.ok or damaged == token or _same_token(damaged, token)


def _same_token(damaged: bytes, token: bytes) -> bool:
    """A damaged copy may still be a valid token: only in bytes no signature covers (the
    unsigned parts: the certificate set's order, a BER/DER equivalent)."""
    try:
        return read_token(damaged) == read_token(token)
    except TimestampError:
        return False


# -- signature time stamps in CMS --------------------------------------------------------------

def test_a_signature_carries_a_token_over_its_signature_value(pki):
    cert = pki.joint()
    der = pki.sign(cert, DOCUMENT, timestamp=True)
    [stamp] = signature_timestamps(der)
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert stamp.signature_value == signer_info["signature"].native
    [attr] = signer_info["unsigned_attrs"]
    assert attr["type"].dotted == oids.SIGNATURE_TIME_STAMP_TOKEN.dotted_string
    assert pki.verify_timestamp(stamp.token, stamp.signature_value).ok
    assert not signature_timestamps(pki.sign(cert, DOCUMENT))


@pytest.mark.parametrize("attrs", [True, False])
def test_the_fast_encoder_and_asn1crypto_agree_with_a_token(pki, attrs):
    cert = pki.joint()
    token = pki.timestamp(b"fixed")

    def stamp(value: bytes) -> bytes:
        return token

    options = {"signed_attributes": attrs, "include_chain": True,
               "signing_time": pki.clock.now(), "timestamper": stamp}
    fast = sign(DOCUMENT, cert.signer, **options)
    assert fast.der == sign_reference(DOCUMENT, cert.signer, **options).der
    assert fast.timestamp_token == token


def test_a_refused_time_stamp_fails_the_signing(pki):
    def refuse(value: bytes) -> bytes:
        raise TimestampError("the TSA answered rejection", status="rejection")

    with pytest.raises(TimestampError):
        sign(DOCUMENT, pki.joint().signer, timestamper=refuse)


# -- openssl accepts the tokens --------------------------------------------------------------

def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _openssl(*args: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True)


AT = "1773622800"  # 2026-03-16 01:00 UTC, the seeded TestPKI's time


def test_openssl_ts_verify_accepts_a_response_to_its_query(pki, tmp_path):
    request = build_request(b"signature value", nonce=0xC0FFEE)
    files = {"req": _write(tmp_path / "req.tsq", request),
             "resp": _write(tmp_path / "resp.tsr", pki.tsa.respond(request)),
             "root": _write(tmp_path / "root.pem", pki.root.public_bytes(PEM)),
             "tsa": _write(tmp_path / "tsa.pem", pki.tsa.certificate.public_bytes(PEM))}
    done = _openssl("ts", "-verify", "-in", files["resp"], "-queryfile", files["req"],
                    "-CAfile", files["root"], "-untrusted", files["tsa"], "-attime", AT)
    assert done.returncode == 0 and b"Verification: OK" in done.stdout, done.stderr
    other = _write(tmp_path / "other.tsq", build_request(b"other", nonce=0xC0FFEE))
    refused = _openssl("ts", "-verify", "-in", files["resp"], "-queryfile", other,
                       "-CAfile", files["root"], "-untrusted", files["tsa"], "-attime", AT)
    assert refused.returncode != 0


def test_openssl_ts_verify_accepts_a_signature_time_stamp_with_the_crl(pki, tmp_path):
    cert = pki.joint()
    [stamp] = signature_timestamps(pki.sign(cert, DOCUMENT, timestamp=True))
    bundle = pki.root.public_bytes(PEM) + pki.root_crl().public_bytes(PEM)
    files = {"token": _write(tmp_path / "token.der", stamp.token),
             "data": _write(tmp_path / "sig.bin", stamp.signature_value),
             "cafile": _write(tmp_path / "root+crl.pem", bundle),
             "tsa": _write(tmp_path / "tsa.pem", pki.tsa.certificate.public_bytes(PEM))}
    done = _openssl("ts", "-verify", "-token_in", "-in", files["token"], "-data", files["data"],
                    "-CAfile", files["cafile"], "-untrusted", files["tsa"], "-attime", AT,
                    "-crl_check")
    assert done.returncode == 0 and b"Verification: OK" in done.stdout, done.stderr
    other = _write(tmp_path / "other.bin", b"not the signature value")
    refused = _openssl("ts", "-verify", "-token_in", "-in", files["token"], "-data", other,
                       "-CAfile", files["cafile"], "-untrusted", files["tsa"], "-attime", AT)
    assert refused.returncode != 0


def test_openssl_cms_verify_accepts_a_time_stamped_signature(pki, tmp_path):
    cert = pki.joint()
    der = pki.sign(cert, DOCUMENT, timestamp=True)
    files = {"sig": _write(tmp_path / "sig.der", der),
             "ca": _write(tmp_path / "ca.pem", pki.root.public_bytes(PEM)
                          + pki.ca.public_bytes(PEM))}
    done = _openssl("cms", "-verify", "-inform", "DER", "-in", files["sig"], "-binary",
                    "-CAfile", files["ca"], "-attime", AT, "-purpose", "any",
                    "-out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_bytes() == DOCUMENT


# -- HTTP: kpki serve -----------------------------------------------------------------------

def _post(url: str, body: bytes, content_type: str = "application/timestamp-query"
          ) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@pytest.fixture(scope="module")
def served():  # type: ignore[no-untyped-def]
    pki = TestPKI(seed="tsa-http")
    with pki.serve() as running:
        yield running


def test_serve_answers_time_stamp_queries(served):
    request = build_request(b"sig", nonce=99)
    status, kind, body = _post(served.tsa_url, request)
    assert (status, kind) == (200, RESPONSE_TYPE)
    token = token_from_response(body, request=request, url=served.tsa_url)
    assert served.pki.verify_timestamp(token, b"sig", nonce=99).ok
    assert served.tsa_url.endswith("/tsa")


def test_serve_answers_bad_queries_with_a_rejection_never_an_error(served):
    for body in (b"", b"garbage", b"\x30\x82\xff\xff", _request(version="v3")):
        status, kind, answer = _post(served.tsa_url, body)
        assert (status, kind) == (200, RESPONSE_TYPE)
        assert TimeStampResp.load(answer)["status"]["status"].native == "rejection"


def test_serve_caps_the_query_size(served):
    status, _, _ = _post(served.tsa_url, bytes(64 * 1024))
    assert status == 413
    try:
        with urllib.request.urlopen(served.tsa_url, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status in (404, 405)


# -- the CLI ------------------------------------------------------------------------------------

@pytest.fixture
def runner(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("KPKI_HOME", raising=False)
    monkeypatch.delenv("KPKI_CA_PASSPHRASE", raising=False)
    monkeypatch.delenv("KPKI_KEY_PASSWORD", raising=False)
    return CliRunner()


def _signer_files(pki: TestPKI, tmp_path: Path) -> tuple[Path, Path, Path]:
    cert = pki.joint()
    folder = cert.npki_dir(tmp_path / "npki")
    (tmp_path / "pw").write_text(cert.password + "\n")
    (tmp_path / "doc.txt").write_bytes(DOCUMENT)
    return folder, tmp_path / "pw", tmp_path / "doc.txt"


def test_kpki_sign_timestamp_url(served, runner, tmp_path):
    folder, pw, doc = _signer_files(served.pki, tmp_path)
    result = runner.invoke(cli, ["--home", str(tmp_path / "none"), "sign", str(doc), "--npki",
                                 str(folder), "--password-file", str(pw), "--timestamp",
                                 served.tsa_url, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["timestamp"]["tsa"] == served.tsa_url
    [stamp] = signature_timestamps((tmp_path / "doc.txt.p7s").read_bytes())
    assert read_token(stamp.token).gen_time.strftime("%Y-%m-%dT%H:%M:%SZ") == \
        info["timestamp"]["gen_time"]
    assert served.pki.verify_timestamp(stamp.token, stamp.signature_value).ok


def test_kpki_sign_timestamp_errors_name_the_option(served, runner, tmp_path):
    folder, pw, doc = _signer_files(served.pki, tmp_path)
    base = ["sign", str(doc), "--npki", str(folder), "--password-file", str(pw)]
    not_url = runner.invoke(cli, [*base, "--timestamp", "tsa.example"])
    assert not_url.exit_code == 2 and "--timestamp" in not_url.stderr
    no_home = runner.invoke(cli, ["--home", str(tmp_path / "none"), *base, "--timestamp"])
    assert no_home.exit_code == 2
    assert "--timestamp URL" in no_home.stderr and "--home" in no_home.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = runner.invoke(cli, [*base, "--timestamp", f"http://127.0.0.1:{port}/tsa"])
    assert down.exit_code == 1
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1 and "--timestamp" in lines[0] and "Traceback" not in down.output
    assert not (tmp_path / "doc.txt.p7s").exists()
    refused = runner.invoke(cli, [*base, "--timestamp", served.url + "/crl/nothing"])
    assert refused.exit_code == 1 and "--timestamp" in refused.stderr


def test_kpki_tsa_init_and_show(make_home, runner):
    home = make_home()
    path = str(home.path)
    home.close()
    missing = runner.invoke(cli, ["--home", path, "tsa", "show"])
    assert missing.exit_code == 1 and "kpki tsa init" in missing.stderr
    made = runner.invoke(cli, ["--home", path, "tsa", "init", "--json"])
    assert made.exit_code == 0, made.output
    info = json.loads(made.stdout)
    assert info["url"] == "http://127.0.0.1:8880/tsa"
    assert info["policy"] == oids.TSA_POLICY.dotted_string
    shown = runner.invoke(cli, ["--home", path, "tsa", "show", "--pem"])
    cert = x509.load_pem_x509_certificate(shown.stdout.encode())
    assert format(cert.serial_number, "X") == info["serial"]
    again = runner.invoke(cli, ["--home", path, "tsa", "init", "--json"])
    assert json.loads(again.stdout)["serial"] == info["serial"]


def _kpki() -> str:
    return str(Path(sys.executable).parent / "kpki")


def test_init_serve_and_sign_with_the_homes_tsa(tmp_path):
    """The real programs: kpki init makes the TSA, kpki serve offers it at <base URL>/tsa,
    and kpki sign --timestamp (no URL) uses it; openssl accepts the token."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    env = {**os.environ, "KPKI_HOME": str(home)}
    env.pop("KPKI_CA_PASSPHRASE", None)
    (tmp_path / "pw").write_text("Test-pass-1234!\n")

    def kpki(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_kpki(), *args], env=env, capture_output=True, text=True)

    assert kpki("init", "--no-passphrase", "--base-url", base).returncode == 0
    assert (home / "cas" / "root" / "tsa-cert.pem").is_file()
    issued = kpki("issue", "joint", "--name", "홍길동", "--rrn", "9005171234566", "--out",
                  str(tmp_path / "out"), "--password-file", str(tmp_path / "pw"), "--json")
    assert issued.returncode == 0, issued.stderr
    folder = next((tmp_path / "out").rglob("signCert.der")).parent
    (tmp_path / "doc.txt").write_bytes(DOCUMENT)
    server = subprocess.Popen([_kpki(), "serve", "--port", str(port)], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 30:
            line = server.stderr.readline() if server.stderr else ""
            if not line or re.search(r"listening on", line):
                break
        signed = kpki("sign", str(tmp_path / "doc.txt"), "--npki", str(folder),
                      "--password-file", str(tmp_path / "pw"), "--timestamp", "--json")
        assert signed.returncode == 0, signed.stderr
        assert json.loads(signed.stdout)["timestamp"]["tsa"] == f"{base}/tsa"
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stderr:
            server.stderr.close()
    [stamp] = signature_timestamps((tmp_path / "doc.txt.p7s").read_bytes())
    files = {"token": _write(tmp_path / "token.der", stamp.token),
             "data": _write(tmp_path / "sig.bin", stamp.signature_value)}
    done = _openssl("ts", "-verify", "-token_in", "-in", files["token"], "-data", files["data"],
                    "-CAfile", home / "cas" / "root" / "cert.pem",
                    "-untrusted", home / "cas" / "root" / "tsa-cert.pem")
    assert done.returncode == 0 and b"Verification: OK" in done.stdout, done.stderr
