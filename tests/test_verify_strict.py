"""Strict verdicts (issue 11): revocation data must be complete and current, a signer's own
signingTime does not excuse a key-compromise revocation, revocation is on by default, and
no parse error escapes the verifier."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from asn1crypto import cms
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp

from pki import lifecycle
from pki.errors import LifecycleError
from pki.signing import CannotEvaluateError, Outcome
from pki.signing.verify import (
    CheckTime,
    CRLIndex,
    TimeSource,
    TimeStampVerdict,
    Verifier,
)
from pki.testing import TestPKI

DOC = "전자민원 신청서".encode()
HOUR = dt.timedelta(hours=1)
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def shared_keys():
    from pki.testing import TestKeyPool

    return TestKeyPool()


@pytest.fixture
def pki(shared_keys):
    made = TestPKI(seed="strict", keys=shared_keys)
    yield made
    made.close()


def _crl(pki, *, delta=False) -> CRLIndex:
    made = pki.delta_crl() if delta else pki.crl()
    return CRLIndex.load(made.public_bytes(DER))


def _revocation(result):
    return result.check("revocation")


# -- revocation data must be complete --------------------------------------------------


def test_a_delta_crl_alone_is_not_complete(pki):
    cert = pki.joint()
    pki.revoke(cert)
    pki.crl()  # the full CRL lists it; the delta made next does not
    pki.clock.advance(HOUR / 2)
    delta = _crl(pki, delta=True)
    pki.clock.advance(HOUR / 4)
    result = pki.verifier(crls=[delta]).verify(pki.sign(cert, DOC))
    check = _revocation(result)
    assert check.outcome is Outcome.FAILED, check.detail
    assert "delta" in check.detail and "full CRL" in check.detail
    assert not result.ok


def test_a_delta_crl_counts_with_its_base(pki):
    cert = pki.joint()
    full = _crl(pki)
    pki.clock.advance(HOUR / 4)
    pki.revoke(cert, reason=x509.ReasonFlags.key_compromise)
    delta = _crl(pki, delta=True)
    pki.clock.advance(HOUR / 4)
    result = pki.verifier(crls=[full, delta]).verify(pki.sign(cert, DOC))
    assert _revocation(result).outcome is Outcome.FAILED
    assert "revoked on" in _revocation(result).detail
    assert "delta CRL" in _revocation(result).detail
    # The full CRL on its own is complete and current: it does not list the certificate.
    alone = pki.verifier(crls=[full]).verify(pki.sign(cert, DOC))
    assert _revocation(alone).passed


def test_a_resumed_certificate_leaves_through_the_delta(pki):
    cert = pki.suspend(pki.joint())
    full = _crl(pki)
    pki.clock.advance(HOUR / 4)
    pki.resume(cert)
    delta = _crl(pki, delta=True)
    pki.clock.advance(HOUR / 4)
    assert pki.verifier(crls=[full, delta]).verify(pki.sign(cert, DOC)).ok
    assert not pki.verifier(crls=[full]).verify(pki.sign(cert, DOC)).ok


def test_a_delta_crl_of_another_ca_is_refused(pki, shared_keys):
    other = TestPKI(seed="other", keys=shared_keys)
    try:
        other.crl()
        foreign = CRLIndex.load(other.delta_crl().public_bytes(DER))
    finally:
        other.close()
    cert = pki.joint()
    full = _crl(pki)
    result = pki.verifier(crls=[full, foreign]).verify(pki.sign(cert, DOC))
    assert _revocation(result).passed  # the foreign delta is not used, the full CRL is
    only_foreign = pki.verifier(crls=[foreign]).verify(pki.sign(cert, DOC))
    assert _revocation(only_foreign).outcome is Outcome.FAILED


# -- and current -------------------------------------------------------------------------


def test_a_crl_past_its_next_update_fails(pki):
    cert = pki.joint()
    crl = _crl(pki)
    pki.clock.advance(dt.timedelta(days=2))
    document = pki.sign(cert, DOC)
    result = pki.verifier(crls=[crl]).verify(document)
    check = _revocation(result)
    assert check.outcome is Outcome.FAILED
    assert "nextUpdate" in check.detail and not result.ok


def test_a_crl_from_the_future_fails(pki):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    crl = _crl(pki)
    result = pki.verifier(crls=[crl]).verify(document, at=pki.clock.now() - 2 * HOUR)
    assert _revocation(result).outcome is Outcome.FAILED
    assert "thisUpdate" in _revocation(result).detail


def test_allow_stale_accepts_old_data_and_says_so(pki):
    cert = pki.joint()
    crl = _crl(pki)
    pki.clock.advance(dt.timedelta(days=2))
    result = pki.verifier(crls=[crl], allow_stale=True).verify(pki.sign(cert, DOC))
    assert result.ok
    assert "stale" in _revocation(result).detail
    assert any("stale" in note for note in result.notes)
    assert "stale" in result.summary()
    assert result.to_json()["allow_stale"] is True


def test_a_crl_of_another_scope_is_not_used(pki):
    cert = pki.joint()
    key = pki.home.load_ca_key(pki.authority.label, None)
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier("http://elsewhere.example/other.crl")],
        relative_name=None, only_contains_user_certs=False, only_contains_ca_certs=False,
        only_some_reasons=None, indirect_crl=False, only_contains_attribute_certs=False)
    now = pki.clock.now()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.ca.subject)
           .last_update(now).next_update(now + HOUR).add_extension(x509.CRLNumber(99), False)
           .add_extension(idp, True).sign(key, hashes.SHA256()))
    result = pki.verifier(crls=[CRLIndex.load(crl.public_bytes(DER))]).verify(
        pki.sign(cert, DOC))
    assert _revocation(result).outcome is Outcome.FAILED
    assert "scope" in _revocation(result).detail


def test_a_crl_signed_by_another_key_fails(pki, shared_keys):
    other = TestPKI(seed="forger", keys=shared_keys)
    try:
        key = other.home.load_ca_key(other.authority.label, None)
    finally:
        other.close()
    now = pki.clock.now()
    forged = (x509.CertificateRevocationListBuilder().issuer_name(pki.ca.subject)
              .last_update(now).next_update(now + HOUR).sign(key, hashes.SHA256()))
    cert = pki.joint()
    result = pki.verifier(crls=[CRLIndex.load(forged.public_bytes(DER))]).verify(
        pki.sign(cert, DOC))
    assert _revocation(result).outcome is Outcome.FAILED
    assert "signature" in _revocation(result).detail


# -- OCSP --------------------------------------------------------------------------------


def _answer(response: bytes):
    def http(url, body):
        return response
    return http


def test_a_stale_ocsp_response_fails(pki):
    cert = pki.joint()
    response = pki.ocsp_response(cert)
    pki.clock.advance(2 * HOUR)
    result = pki.verifier(use_ocsp=True, http=_answer(response)).verify(pki.sign(cert, DOC))
    assert _revocation(result).outcome is Outcome.FAILED
    assert "nextUpdate" in _revocation(result).detail
    fresh = pki.verifier(use_ocsp=True, http=_answer(pki.ocsp_response(cert))).verify(
        pki.sign(cert, DOC))
    assert fresh.ok, fresh.summary()


def _ocsp_signed_by(pki, cert, signer_cert, signer_key, *, status=ocsp.OCSPCertStatus.GOOD):
    now = pki.clock.now()
    return (ocsp.OCSPResponseBuilder()
            .add_response(cert=cert.cert, issuer=pki.ca, algorithm=hashes.SHA256(),
                          cert_status=status, this_update=now, next_update=now + HOUR,
                          revocation_time=None, revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
            .certificates([signer_cert])
            .sign(signer_key, hashes.SHA256()).public_bytes(DER))


def test_an_ocsp_response_from_an_unauthorised_responder_fails(pki, shared_keys):
    cert = pki.joint()
    impostor_key = shared_keys.key(7)
    now = pki.clock.now()
    # Same name as the issuing CA, OCSPSigning, but a key of its own, self-signed.
    impostor = (x509.CertificateBuilder().subject_name(pki.ca.subject)
                .issuer_name(pki.ca.subject).public_key(impostor_key.public_key())
                .serial_number(1).not_valid_before(now - HOUR).not_valid_after(now + HOUR)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]),
                               critical=False)
                .sign(impostor_key, hashes.SHA256()))
    response = _ocsp_signed_by(pki, cert, impostor, impostor_key)
    result = pki.verifier(use_ocsp=True, http=_answer(response)).verify(pki.sign(cert, DOC))
    assert _revocation(result).outcome is Outcome.FAILED
    assert "authorised" in _revocation(result).detail


def test_an_ocsp_response_about_another_issuer_fails(pki, shared_keys):
    other = TestPKI(seed="elsewhere", keys=shared_keys)
    try:
        stranger = other.joint()
        answer = other.ocsp_response(stranger)
    finally:
        other.close()
    cert = pki.joint()
    result = pki.verifier(use_ocsp=True, http=_answer(answer)).verify(pki.sign(cert, DOC))
    assert _revocation(result).outcome is Outcome.FAILED


# -- time ------------------------------------------------------------------------------


def test_a_backdated_signing_time_does_not_excuse_key_compromise(pki):
    cert = pki.joint()
    pki.clock.advance(HOUR)
    pki.revoke(cert, reason=x509.ReasonFlags.key_compromise)
    pki.clock.advance(HOUR)
    # The thief signs now and claims a time before the revocation.
    stolen = pki.sign(cert, DOC, signing_time=pki.clock.now() - 90 * dt.timedelta(minutes=1))
    result = pki.verifier(crls=[_crl(pki)]).verify(stolen)
    check = _revocation(result)
    assert check.outcome is Outcome.FAILED, check.detail
    assert "asserted" in check.detail
    assert check.time is not None and check.time.source is TimeSource.ASSERTED
    assert not result.ok


@pytest.mark.parametrize("reason", [x509.ReasonFlags.unspecified, None,
                                    x509.ReasonFlags.certificate_hold])
def test_an_asserted_time_before_a_possible_misuse_fails(pki, reason):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    if reason is x509.ReasonFlags.certificate_hold:
        pki.suspend(cert)
    else:
        pki.revoke(cert, reason=reason or x509.ReasonFlags.unspecified)
    pki.clock.advance(HOUR)
    assert _revocation(pki.verifier(crls=[_crl(pki)]).verify(document)).outcome is \
        Outcome.FAILED


@pytest.mark.parametrize("reason", [x509.ReasonFlags.superseded,
                                    x509.ReasonFlags.affiliation_changed,
                                    x509.ReasonFlags.cessation_of_operation,
                                    x509.ReasonFlags.privilege_withdrawn])
def test_an_asserted_time_before_a_harmless_revocation_passes(pki, reason):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    pki.revoke(cert, reason=reason)
    pki.clock.advance(HOUR)
    result = pki.verifier(crls=[_crl(pki)]).verify(document)
    assert result.ok, result.summary()
    assert "signed before revocation" in _revocation(result).detail
    assert "signed before revocation" in result.summary()


def test_an_invalidity_date_before_the_signing_time_always_fails(pki):
    cert = pki.joint()
    pki.clock.advance(HOUR)
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    pki.revoke(cert, reason=x509.ReasonFlags.superseded,
               invalidity_date=pki.clock.now() - 90 * dt.timedelta(minutes=1))
    pki.clock.advance(HOUR)
    result = pki.verifier(crls=[_crl(pki)]).verify(document)
    assert _revocation(result).outcome is Outcome.FAILED
    assert "invalid since" in _revocation(result).detail
    trusted = pki.verifier(crls=[_crl(pki)], time_stamps=_trust_time(
        pki.clock.now() - 2 * HOUR)).verify(_with_token(document))
    assert _revocation(trusted).outcome is Outcome.FAILED


def _with_token(signature: bytes,
                token: cms.ContentInfo | None = None) -> bytes:
    """``signature`` with ``token`` (by default a dummy) as its signature time stamp."""
    if token is None:
        token = cms.ContentInfo({"content_type": "data", "content": b"a token"})
    signed = cms.ContentInfo.load(signature)["content"]
    signer = signed["signer_infos"][0]
    signer["unsigned_attrs"] = cms.CMSAttributes([{
        "type": "signature_time_stamp_token", "values": [token]}])
    signed["signer_infos"] = cms.SignerInfos([signer])
    # Not dump(force=True): re-encoding a token from the leaves up is exponential.
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def _trust_time(when: dt.datetime):
    seen = []

    def check(token: bytes, signature: bytes, verifier: Verifier, at: CheckTime
              ) -> TimeStampVerdict:
        seen.append((token, signature))
        return TimeStampVerdict(when, "stamped by a test TSA")

    check.seen = seen  # type: ignore[attr-defined]
    return check


def test_a_trusted_time_before_key_compromise_passes(pki):
    cert = pki.joint()
    signed_at = pki.clock.now()
    document = _with_token(pki.sign(cert, DOC))
    pki.clock.advance(HOUR)
    pki.revoke(cert, reason=x509.ReasonFlags.key_compromise)
    pki.clock.advance(HOUR)
    checker = _trust_time(signed_at)
    result = pki.verifier(crls=[_crl(pki)], time_stamps=checker).verify(document)
    assert result.ok, result.summary()
    assert result.signing_time_source is TimeSource.TRUSTED
    assert result.check("time-stamp").passed
    assert "signed before revocation" in _revocation(result).detail
    assert _revocation(result).time.source is TimeSource.TRUSTED
    token, signature = checker.seen[0]
    assert cms.ContentInfo.load(token)["content"].native == b"a token"
    assert signature == cms.ContentInfo.load(document)["content"]["signer_infos"][0][
        "signature"].native


def test_a_token_the_checker_refuses_fails(pki):
    cert = pki.joint()
    document = _with_token(pki.sign(cert, DOC))

    def refuse(token, signature, verifier, at):
        return TimeStampVerdict(None, "the token is over other data")

    result = pki.verifier(crls=[_crl(pki)], time_stamps=refuse).verify(document)
    assert result.check("time-stamp").outcome is Outcome.FAILED
    assert "other data" in result.check("time-stamp").detail
    assert not result.ok


def test_every_check_says_which_time_it_used(pki):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    result = pki.verifier(crls=[_crl(pki)]).verify(document)
    assert result.signing_time_source is TimeSource.ASSERTED
    assert result.check("validity").time.source is TimeSource.ASSERTED
    assert result.checked_at_source is TimeSource.NOW
    given = pki.verifier(crls=[_crl(pki)]).verify(
        pki.sign(cert, DOC, signed_attributes=False), at=pki.clock.now())
    assert given.check("validity").time.source is TimeSource.GIVEN
    as_json = result.to_json()
    validity = next(c for c in as_json["checks"] if c["check"] == "validity")
    assert validity["time_source"] == "asserted"


def test_an_asserted_time_does_not_revive_an_expired_certificate(pki):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.set(cert.cert.not_valid_after_utc + dt.timedelta(days=1))
    result = pki.verifier(revocation=False).verify(document)
    assert result.check("validity").outcome is Outcome.FAILED
    assert "asserted" in result.check("validity").detail


# -- defaults --------------------------------------------------------------------------


def test_revocation_is_checked_unless_turned_off(pki):
    cert = pki.revoke(pki.joint())
    pki.clock.advance(HOUR)
    document = pki.sign(cert, DOC)
    bare = Verifier(trust=[pki.root], intermediates=[pki.ca], clock=pki.clock).verify(document)
    assert not bare.ok
    assert _revocation(bare).outcome is Outcome.FAILED
    assert "no revocation data" in _revocation(bare).detail
    off = Verifier(trust=[pki.root], intermediates=[pki.ca], clock=pki.clock,
                   revocation=False).verify(document)
    assert off.ok and _revocation(off).outcome is Outcome.SKIPPED
    assert "turned off" in off.summary()
    assert off.to_json()["revocation_checked"] is False


def test_for_home_trusts_the_root_and_checks_the_records(pki):
    cert = pki.joint()
    verifier = Verifier.for_home(pki.home, clock=pki.clock)
    assert verifier.verify(pki.sign(cert, DOC)).ok
    pki.clock.advance(HOUR)
    pki.revoke(cert)
    pki.clock.advance(HOUR)
    late = verifier.verify(pki.sign(cert, DOC))
    assert not late.ok and "revoked on" in _revocation(late).detail


# -- bad input -------------------------------------------------------------------------


def _duplicate_extension(cert: x509.Certificate, key) -> bytes:
    """``cert`` with its SubjectKeyIdentifier twice, signed again by ``key``."""
    parsed = ax509.Certificate.load(cert.public_bytes(DER))
    tbs = parsed["tbs_certificate"]
    extensions = list(tbs["extensions"])
    ski = next(e for e in extensions if e["extn_id"].native == "key_identifier")
    tbs["extensions"] = ax509.Extensions([*extensions, ax509.Extension.load(ski.dump())])
    tbs_der = tbs.dump(force=True)
    signature = key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA256())
    return ax509.Certificate({"tbs_certificate": ax509.TbsCertificate.load(tbs_der),
                              "signature_algorithm": parsed["signature_algorithm"],
                              "signature_value": signature}).dump()


def test_a_certificate_with_a_duplicated_extension_is_a_result(pki):
    cert = pki.joint()
    key = pki.home.load_ca_key(pki.authority.label, None)
    info = cms.ContentInfo.load(pki.sign(cert, DOC))
    twice = _duplicate_extension(cert.cert, key)
    with pytest.raises(x509.DuplicateExtension):
        x509.load_der_x509_certificate(twice).extensions  # noqa: B018
    info["content"]["certificates"] = cms.CertificateSet(
        [cms.CertificateChoices(name="certificate", value=ax509.Certificate.load(twice)),
         *[c for c in info["content"]["certificates"]
           if c.chosen.dump() != cert.cert.public_bytes(DER)]])
    try:
        result = pki.verifier().verify(info.dump(force=True))
    except CannotEvaluateError:
        return
    assert not result.ok
    assert any("extension" in c.detail for c in result.checks if not c.passed)


# -- time stamps from kpki's own TSA -----------------------------------------------------


def _token_of(signature: bytes) -> bytes:
    info = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    return next(a["values"][0].dump() for a in info["unsigned_attrs"]
                if a["type"].dotted == "1.2.840.113549.1.9.16.2.14")


def test_a_time_stamped_signature_outlives_a_key_compromise(pki):
    cert = pki.joint()
    stamped = pki.sign(cert, DOC, timestamp=True)
    pki.clock.advance(HOUR)
    pki.revoke(cert, reason=x509.ReasonFlags.key_compromise)
    pki.clock.advance(HOUR)
    result = pki.verifier().verify(stamped)
    assert result.ok, result.summary()
    assert result.signing_time_source is TimeSource.TRUSTED
    assert result.check("time-stamp").passed
    assert "signed before revocation" in result.summary()
    # The thief's signature is stamped when it is made: after the revocation.
    stolen = pki.sign(cert, DOC, timestamp=True,
                      signing_time=pki.clock.now() - 90 * dt.timedelta(minutes=1))
    refused = pki.verifier().verify(stolen)
    assert not refused.ok
    assert _revocation(refused).time.source is TimeSource.TRUSTED


def test_a_token_over_other_data_fails(pki):
    cert = pki.joint()
    donor = pki.sign(cert, b"another document", timestamp=True)
    document = _with_token(pki.sign(cert, DOC), cms.ContentInfo.load(_token_of(donor)))
    result = pki.verifier().verify(document)
    assert result.check("time-stamp").outcome is Outcome.FAILED
    assert not result.ok and result.signing_time_source is TimeSource.ASSERTED


def test_a_revoked_tsa_gives_no_trusted_time(pki):
    cert = pki.joint()
    stamped = pki.sign(cert, DOC, timestamp=True)
    tsa = pki.tsa.certificate
    pki.clock.advance(HOUR)
    lifecycle.revoke(pki.home.store, tsa.serial_number, at=pki.clock.now(), ca="root",
                     reason=x509.ReasonFlags.key_compromise)
    pki.clock.advance(HOUR)
    result = pki.verifier().verify(stamped)
    assert result.check("time-stamp").outcome is Outcome.FAILED
    assert "TSA certificate" in result.check("time-stamp").detail


# -- every certificate of the path -----------------------------------------------------


def _crls(pki) -> list[CRLIndex]:
    """Fresh full CRLs of the licensed CA and of the root."""
    return [CRLIndex.load(c.public_bytes(DER)) for c in (pki.crl(), pki.root_crl())]


def _openssl_verify(pki, tmp_path, cert) -> subprocess.CompletedProcess[str]:
    """``openssl verify -crl_check_all`` (the leaf and every CA certificate below the
    root checked against CRLs) at the PKI's time, with its fresh CRLs."""
    pem = serialization.Encoding.PEM
    (tmp_path / "root.pem").write_bytes(pki.root.public_bytes(pem))
    (tmp_path / "ca.pem").write_bytes(pki.ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(cert.cert.public_bytes(pem))
    (tmp_path / "crls.pem").write_bytes(pki.crl().public_bytes(pem)
                                        + pki.root_crl().public_bytes(pem))
    return subprocess.run(
        ["openssl", "verify", "-crl_check_all", "-CAfile", str(tmp_path / "root.pem"),
         "-untrusted", str(tmp_path / "ca.pem"), "-CRLfile", str(tmp_path / "crls.pem"),
         "-attime", str(int(pki.clock.now().timestamp())), str(tmp_path / "leaf.pem")],
        capture_output=True, text=True)


def test_a_signature_under_a_revoked_ca_certificate_fails(pki, tmp_path):
    cert = pki.joint()  # a valid subscriber
    document = pki.sign(cert, DOC)
    assert Verifier(trust=[pki.root], crls=_crls(pki), clock=pki.clock).verify(document).ok
    assert _openssl_verify(pki, tmp_path, cert).returncode == 0
    pki.clock.advance(HOUR)
    lifecycle.revoke_ca(pki.home.store, pki.authority.label, at=pki.clock.now(),
                        reason=x509.ReasonFlags.ca_compromise)
    pki.clock.advance(HOUR)
    strict = Verifier(trust=[pki.root], crls=_crls(pki), clock=pki.clock).verify(document)
    assert not strict.ok
    detail = _revocation(strict).detail
    assert detail.startswith("the CA certificate yessignCA")
    assert "revoked on" in detail and "cACompromise" in detail
    assert strict.check("chain").passed and strict.check("signature").passed
    # openssl agrees: the CA certificate is on the root's CRL.
    refused = _openssl_verify(pki, tmp_path, cert)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    # Inside the home, its records answer for the CA certificate, with or without CRLs.
    assert not pki.verifier().verify(document).ok
    assert "the CA certificate" in _revocation(pki.verifier().verify(document)).detail
    ca_crl_only = pki.verifier(crls=[_crl(pki)]).verify(document)
    assert not ca_crl_only.ok and "revoked on" in _revocation(ca_crl_only).detail


def test_a_ca_certificate_revoked_for_a_harmless_reason_keeps_older_signatures(pki):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    lifecycle.revoke_ca(pki.home.store, pki.authority.label, at=pki.clock.now(),
                        reason=x509.ReasonFlags.cessation_of_operation)
    pki.clock.advance(HOUR)
    result = Verifier(trust=[pki.root], crls=_crls(pki), clock=pki.clock).verify(document)
    assert result.ok, result.summary()
    assert "signed before revocation" in result.summary() and "CA certificate" in result.summary()
    found = result.signed_before_revocation  # the same as data, naming the CA certificate
    assert found is not None and found.ca is True
    assert found.serial == pki.authority.certificate.serial_number
    assert found.reason is x509.ReasonFlags.cessation_of_operation


def test_the_ca_certificate_needs_revocation_data_too(pki):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    ca_only = Verifier(trust=[pki.root], crls=[_crl(pki)], clock=pki.clock).verify(document)
    assert not ca_only.ok
    assert "the CA certificate" in _revocation(ca_only).detail
    assert "no CRL of" in _revocation(ca_only).detail
    stale_root = Verifier(trust=[pki.root], crls=_crls(pki), clock=pki.clock).verify(
        document, at=pki.clock.now() + 3 * dt.timedelta(days=1))
    assert not stale_root.ok and "not current" in _revocation(stale_root).detail
    both = Verifier(trust=[pki.root], crls=_crls(pki), clock=pki.clock).verify(document)
    assert both.ok, both.summary()
    assert "the CA certificate" in _revocation(both).detail
    # Inside the home the records answer: the CA certificate was never revoked.
    assert "never revoked" in _revocation(pki.verifier().verify(document)).detail


def test_the_root_cannot_be_revoked(pki):
    with pytest.raises(LifecycleError):
        lifecycle.revoke_ca(pki.home.store, "root", at=pki.clock.now())


# -- "signed before revocation" as data (issue 17's review) ------------------------------------


def test_signed_before_a_revocation_is_a_field_with_its_time_and_reason(pki):
    """A reader (the portal) branches on the field, never on the note's words."""
    from pki.signing.verify import SignedBeforeRevocation

    cert = pki.joint()
    stamped = pki.sign(cert, DOC, timestamp=True)
    assert pki.verifier().verify(stamped).signed_before_revocation is None
    pki.clock.advance(HOUR)
    revoked_at = pki.clock.now().replace(microsecond=0)
    pki.revoke(cert, reason=x509.ReasonFlags.key_compromise)
    pki.clock.advance(HOUR)
    result = pki.verifier().verify(stamped)
    assert result.ok, result.summary()
    assert result.signed_before_revocation == SignedBeforeRevocation(
        revoked_at=revoked_at, reason=x509.ReasonFlags.key_compromise, serial=cert.serial,
        ca=False, signing_time_source=TimeSource.TRUSTED)
    assert result.to_json()["signed_before_revocation"] == {
        "revoked_at": revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "reason": "keyCompromise",
        "serial": format(cert.serial, "X"), "ca": False, "signing_time_source": "trusted"}
    assert any(n.startswith("signed before revocation") for n in result.notes)  # kept
    # a signature made after the revocation: invalid, and no such field
    stolen = pki.sign(cert, DOC, timestamp=True)
    refused = pki.verifier().verify(stolen)
    assert not refused.ok and refused.signed_before_revocation is None
    assert refused.to_json()["signed_before_revocation"] is None


def test_signed_before_a_harmless_revocation_on_the_signers_claim_is_the_field_too(pki):
    cert = pki.joint()
    document = pki.sign(cert, DOC)
    pki.clock.advance(HOUR)
    pki.revoke(cert, reason=x509.ReasonFlags.superseded)
    pki.clock.advance(HOUR)
    found = pki.verifier(crls=[_crl(pki)]).verify(document).signed_before_revocation
    assert found is not None
    assert (found.reason, found.serial, found.ca, found.signing_time_source) == (
        x509.ReasonFlags.superseded, cert.serial, False, TimeSource.ASSERTED)


def test_signed_before_a_suspension_is_the_field_with_certificate_hold(pki):
    cert = pki.joint()
    stamped = pki.sign(cert, DOC, timestamp=True)
    pki.clock.advance(HOUR)
    pki.suspend(cert)
    pki.clock.advance(HOUR)
    found = pki.verifier().verify(stamped).signed_before_revocation
    assert found is not None and found.reason is x509.ReasonFlags.certificate_hold
