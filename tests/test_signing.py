"""CMS signing and verification (korean-pki.md section 8)."""

import datetime as dt
import itertools
import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki import lifecycle
from pki.profiles import JointPolicy
from pki.revocation.crl import issue_crl
from pki.signing import (
    CannotEvaluateError,
    CheckName,
    KeySigner,
    Outcome,
    seal_r,
    sign,
    verify,
)
from pki.signing.status import RecordsSource
from pki.signing.verify import CRLIndex, Verifier
from tests.conftest import VECTORS

RRN = "9005171234566"
DOC = "민원 신청서: 주민등록등본 발급을 신청합니다.".encode()
SHAPES = list(itertools.product([False, True], [True, False], [False, True], [True, False]))


@pytest.fixture
def pki_env(home, authority, clock, tmp_path):
    issued = authority.issue_joint(name="홍길동", rrn=RRN, with_km=True)
    root = home.store.get_ca("root").certificate
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(issued.chain[0].public_bytes(serialization.Encoding.PEM))
    signer = KeySigner(issued.certificate, issued.private_key, issued.chain)
    return {"issued": issued, "root": root, "signer": signer, "home": home,
            "authority": authority, "clock": clock, "dir": tmp_path}


def _check(result, name):
    return result.check(name)


def _records(pki_env):
    """Revocation checked against the home's records (what its CRLs and OCSP publish)."""
    return {"sources": [RecordsSource(pki_env["home"].store)]}


@pytest.mark.parametrize(("detached", "attrs", "pss", "wrapped"), SHAPES)
def test_every_shape_verifies(pki_env, detached, attrs, pss, wrapped):
    document = sign(DOC, pki_env["signer"], include_chain=True, detached=detached,
                    signed_attributes=attrs, pss=pss, content_info=wrapped,
                    clock=pki_env["clock"])
    result = verify(document.der, content=DOC if detached else None, trust=[pki_env["root"]],
                    clock=pki_env["clock"], **_records(pki_env))
    assert result.ok, result.summary()
    assert result.intact and result.trusted
    assert (result.signing_time is not None) == attrs
    assert result.content == (None if detached else DOC)


@pytest.mark.parametrize(("detached", "attrs", "pss"),
                         list(itertools.product([False, True], [True, False], [False, True])))
def test_openssl_cms_verify_accepts_kpki_signatures(pki_env, detached, attrs, pss):
    d = pki_env["dir"]
    document = sign(DOC, pki_env["signer"], detached=detached, signed_attributes=attrs,
                    pss=pss, include_chain=True, clock=pki_env["clock"])
    (d / "sig.der").write_bytes(document.der)
    (d / "doc").write_bytes(DOC)
    args = ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(d / "sig.der"), "-binary",
            "-CAfile", str(d / "root.pem"), "-out", str(d / "out"), "-attime", "1773650000"]
    if detached:
        args += ["-content", str(d / "doc")]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (d / "out").read_bytes() == DOC


@pytest.mark.parametrize("noattr", [False, True])
def test_kpki_verifies_openssl_signatures(pki_env, noattr):
    d = pki_env["dir"]
    issued = pki_env["issued"]
    (d / "cert.pem").write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(issued.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (d / "doc").write_bytes(DOC)
    args = ["openssl", "cms", "-sign", "-binary", "-nodetach", "-in", str(d / "doc"), "-signer",
            str(d / "cert.pem"), "-inkey", str(d / "key.pem"), "-outform", "DER", "-out",
            str(d / "sig"), "-md", "sha256"]
    subprocess.run(args + (["-noattr"] if noattr else []), check=True, capture_output=True)
    result = verify((d / "sig").read_bytes(), trust=[pki_env["root"]],
                    intermediates=list(issued.chain), clock=pki_env["clock"],
                    **_records(pki_env))
    assert result.ok, result.summary()


def test_real_korean_client_signature(real_cert_der):
    data = (VECTORS / "signed-TEST_MSG.p7").read_bytes()
    result = verify(data, at=dt.datetime(2020, 3, 1, tzinfo=dt.UTC), revocation=False)
    assert result.content == b"TEST_MSG"
    assert result.intact
    assert _check(result, "chain").outcome is Outcome.FAILED
    assert "no trust anchor" in _check(result, "chain").detail
    assert _check(result, "validity").passed
    assert _check(result, "revocation").outcome is Outcome.SKIPPED
    assert not result.ok


# -- failures ---------------------------------------------------------------------------


def test_changed_or_wrong_content_fails(pki_env):
    signer = pki_env["signer"]
    for attrs in (True, False):
        detached = sign(DOC, signer, include_chain=True, detached=True, signed_attributes=attrs)
        result = verify(detached.der, content=DOC + b"!", trust=[pki_env["root"]])
        assert not result.ok and not result.intact
    attached = sign(DOC, signer, include_chain=True)
    other = verify(attached.der, content=b"something else", trust=[pki_env["root"]])
    assert _check(other, "content").outcome is Outcome.FAILED


def test_tampered_signature_fails(pki_env):
    der = bytearray(sign(DOC, pki_env["signer"], include_chain=True).der)
    der[-10] ^= 0x01
    result = verify(bytes(der), trust=[pki_env["root"]])
    assert _check(result, "signature").outcome is Outcome.FAILED


def test_digest_algorithm_mismatch_fails(pki_env):
    info = cms.ContentInfo.load(sign(DOC, pki_env["signer"], include_chain=True).der)
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha1_rsa"}
    result = verify(info.dump(force=True), trust=[pki_env["root"]])
    assert "does not match the digest" in _check(result, "signature").detail


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x01"])
def test_not_cms_cannot_be_evaluated(data):
    with pytest.raises(CannotEvaluateError):
        verify(data)


def test_detached_without_content_cannot_be_evaluated(pki_env):
    with pytest.raises(CannotEvaluateError):
        verify(sign(DOC, pki_env["signer"], include_chain=True, detached=True).der)


def test_truncated_cms_cannot_be_evaluated(pki_env):
    der = sign(DOC, pki_env["signer"], include_chain=True).der
    with pytest.raises(CannotEvaluateError):
        verify(der[: len(der) // 2])


def test_another_root_is_untrusted(pki_env, make_home):
    other_root = make_home("other").store.get_ca("root").certificate
    result = verify(sign(DOC, pki_env["signer"], include_chain=True).der, trust=[other_root])
    assert _check(result, "chain").outcome is Outcome.FAILED
    assert result.intact


def test_expired_and_not_yet_valid_signers_fail(pki_env):
    issued = pki_env["issued"]
    late = sign(DOC, pki_env["signer"], include_chain=True,
                signing_time=issued.certificate.not_valid_after_utc + dt.timedelta(days=1))
    early = sign(DOC, pki_env["signer"], include_chain=True,
                 signing_time=issued.certificate.not_valid_before_utc - dt.timedelta(days=1))
    for document, word in ((late, "expired"), (early, "not yet valid")):
        result = verify(document.der, trust=[pki_env["root"]])
        assert word in _check(result, "validity").detail


def test_wrong_key_usage_fails(pki_env):
    km = pki_env["issued"].key_management
    document = sign(DOC, KeySigner(km.certificate, km.private_key), clock=pki_env["clock"])
    result = verify(document.der, trust=[pki_env["root"]], intermediates=list(km.chain),
                    clock=pki_env["clock"])
    assert _check(result, "key-usage").outcome is Outcome.FAILED


def _crl_der(pki_env, label):
    home = pki_env["home"]
    return issue_crl(home.store.get_ca(label), home.load_ca_key(label, None), home.store,
                     at=pki_env["clock"].now()).der


def _crls(pki_env):
    """Fresh full CRLs of the licensed CA and of the root (a strict relying party checks
    the CA certificate too)."""
    return [CRLIndex.load(_crl_der(pki_env, label)) for label in ("yessign", "root")]


@pytest.mark.parametrize(("reason", "before_passes"), [
    (x509.ReasonFlags.superseded, True), (x509.ReasonFlags.key_compromise, False)])
def test_revocation_at_signing_time(pki_env, reason, before_passes):
    clock, issued = pki_env["clock"], pki_env["issued"]
    before = sign(DOC, pki_env["signer"], include_chain=True, clock=clock)
    clock.advance(dt.timedelta(hours=1))
    lifecycle.revoke(pki_env["home"].store, issued.serial, at=clock.now(), reason=reason)
    clock.advance(dt.timedelta(hours=1))
    after = sign(DOC, pki_env["signer"], include_chain=True, clock=clock)
    verifier = Verifier(trust=[pki_env["root"]], crls=_crls(pki_env), clock=clock)
    first = verifier.verify(before.der)
    if before_passes:
        assert first.ok and "signed before revocation" in _check(first, "revocation").detail
        assert "signed before revocation" in first.summary()
    else:  # the signing time is the signer's claim: it does not excuse a stolen key
        assert not first.ok and "asserted" in _check(first, "revocation").detail
    bad = verifier.verify(after.der)
    assert not bad.ok and "revoked on" in _check(bad, "revocation").detail


def test_suspended_signer_fails(pki_env):
    clock = pki_env["clock"]
    lifecycle.suspend(pki_env["home"].store, pki_env["issued"].serial, at=clock.now())
    clock.advance(dt.timedelta(minutes=5))
    document = sign(DOC, pki_env["signer"], include_chain=True, clock=clock)
    result = Verifier(trust=[pki_env["root"]], crls=_crls(pki_env), clock=clock).verify(
        document.der)
    assert "suspended" in _check(result, "revocation").detail and not result.ok


def test_revocation_through_fetched_crl_and_ocsp(pki_env):
    home, clock = pki_env["home"], pki_env["clock"]
    responder = home.ocsp_responder("yessign", passphrase=None)
    ca, root = pki_env["authority"].record, home.store.get_ca("root")
    crls = {ca.crl_url: _crl_der(pki_env, "yessign"), root.crl_url: _crl_der(pki_env, "root")}
    calls = []

    def http(url, body):
        calls.append(url)
        return responder.respond(body) if body is not None else crls[url]

    document = sign(DOC, pki_env["signer"], include_chain=True, clock=clock)
    by_crl = Verifier(trust=[pki_env["root"]], fetch_crls=True, http=http,
                      clock=clock).verify(document.der)
    assert by_crl.ok, by_crl.summary()
    assert calls == [ca.crl_url, root.crl_url]  # the signer's CRL, then the CA certificate's
    # The licensed CA certificate names no OCSP responder (as real ones do not): OCSP alone
    # cannot answer for it, so its CRL is fetched beside.
    calls.clear()
    alone = Verifier(trust=[pki_env["root"]], use_ocsp=True, http=http,
                     clock=clock).verify(document.der)
    assert not alone.ok
    assert "the CA certificate" in _check(alone, "revocation").detail
    assert "names no OCSP responder" in _check(alone, "revocation").detail
    calls.clear()
    by_ocsp = Verifier(trust=[pki_env["root"]], use_ocsp=True, fetch_crls=True, http=http,
                       clock=clock).verify(document.der)
    assert by_ocsp.ok, by_ocsp.summary()
    assert "OCSP" in _check(by_ocsp, "revocation").detail
    assert calls == [ca.ocsp_url, root.crl_url]


def test_policy_requirement(pki_env):
    document = sign(DOC, pki_env["signer"], include_chain=True, clock=pki_env["clock"])
    general = verify(document.der, trust=[pki_env["root"]], policy="1.2.410.200005.1.1.1",
                     clock=pki_env["clock"], **_records(pki_env))
    banking = verify(document.der, trust=[pki_env["root"]], policy="1.2.410.200005.1.1.4",
                     clock=pki_env["clock"], **_records(pki_env))
    assert general.ok and not banking.ok


@pytest.mark.parametrize("cipher", ["aes256", "seed"])
def test_vid_with_r_and_with_an_envelope(pki_env, authority, cipher):
    issued = pki_env["issued"]
    server = authority.issue_joint(name="정부", rrn="8001011234560", policy=JointPolicy.GENERAL)
    document = sign(DOC, pki_env["signer"], include_chain=True, clock=pki_env["clock"])
    plain = verify(document.der, trust=[pki_env["root"]], rrn=RRN, r=issued.r,
                   clock=pki_env["clock"], **_records(pki_env))
    assert plain.ok and _check(plain, "vid").passed
    envelope = seal_r(issued.r, server.certificate, cipher=cipher)
    sealed = verify(document.der, trust=[pki_env["root"]], rrn=RRN, r_envelope=envelope,
                    recipient_key=server.private_key, clock=pki_env["clock"],
                    **_records(pki_env))
    assert sealed.ok
    wrong = verify(document.der, trust=[pki_env["root"]], rrn="8001011234560", r=issued.r,
                   clock=pki_env["clock"])
    assert _check(wrong, "vid").outcome is Outcome.FAILED
    not_for_me = verify(document.der, trust=[pki_env["root"]], rrn=RRN, r_envelope=envelope,
                        recipient_key=issued.private_key, clock=pki_env["clock"])
    assert _check(not_for_me, "vid").outcome is Outcome.FAILED


def test_openssl_decrypts_the_aes_envelope(pki_env, authority):
    d = pki_env["dir"]
    server = authority.issue_joint(name="정부", rrn="8001011234560")
    (d / "env.der").write_bytes(seal_r(pki_env["issued"].r, server.certificate))
    (d / "server.pem").write_bytes(server.certificate.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(server.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    done = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in",
                           str(d / "env.der"), "-recip", str(d / "server.pem"), "-inkey",
                           str(d / "server.key")], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == pki_env["issued"].r


_CACHE: dict[str, bytes] = {}


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_signatures_give_a_result_or_cannot_evaluate(pki_env, data):
    if "sig" not in _CACHE:
        _CACHE["sig"] = sign(DOC, pki_env["signer"], include_chain=True).der
    mutated = bytearray(_CACHE["sig"])
    pos = data.draw(st.integers(0, len(mutated) - 1))
    action = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    if action == "flip":
        mutated[pos] ^= data.draw(st.integers(1, 255))
    elif action == "truncate":
        del mutated[pos:]
    else:
        mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        result = verify(bytes(mutated), trust=[pki_env["root"]])
    except CannotEvaluateError:
        return
    assert isinstance(result.ok, bool) and result.summary()


def test_kpki_sign_and_verify_cli(pki_env, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pki.cli.main import cli
    from pki.keys.folder import write_npki_folder

    password = "Test-pass-1234!"
    folder = write_npki_folder(pki_env["issued"], tmp_path / "npki", password=password)[0].folder
    doc = tmp_path / "petition.txt"
    doc.write_bytes("민원 신청서".encode("cp949"))
    monkeypatch.setenv("KPKI_KEY_PASSWORD", password)
    runner = CliRunner()
    signed = runner.invoke(cli, ["sign", str(doc), "--npki", str(folder), "--detached", "--pss",
                                 "--json"], catch_exceptions=False)
    assert signed.exit_code == 0, signed.output
    sig = Path(doc.with_name("petition.txt.p7s"))
    ok = runner.invoke(cli, ["verify", str(sig), "--content", str(doc), "--trust",
                             str(pki_env["dir"] / "root.pem"), "--untrusted",
                             str(pki_env["dir"] / "ca.pem"), "--rrn", RRN, "--r",
                             pki_env["issued"].r.hex(), "--no-revocation", "--json"],
                       catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    doc.write_bytes("민원 신청서!".encode("cp949"))
    bad = runner.invoke(cli, ["verify", str(sig), "--content", str(doc), "--trust",
                              str(pki_env["dir"] / "root.pem"), "--no-revocation"],
                        catch_exceptions=False)
    assert bad.exit_code == 1 and "FAIL" in bad.stdout
    usage = runner.invoke(cli, ["verify", str(sig), "--r", "00"], catch_exceptions=False)
    assert usage.exit_code == 2
    garbage = tmp_path / "garbage.p7s"
    garbage.write_bytes(b"nope")
    broken = runner.invoke(cli, ["verify", str(garbage), "--trust",
                                 str(pki_env["dir"] / "root.pem")], catch_exceptions=False)
    assert broken.exit_code == 1 and broken.stderr.startswith("kpki: error:")


def test_demo_egov_tells_the_whole_story(tmp_path):
    from click.testing import CliRunner

    from pki.cli.main import cli

    result = CliRunner().invoke(cli, ["demo", "egov", "--home", str(tmp_path / "egov")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("valid: signed by 홍길동") >= 3  # UTF-8, CP949, and before revocation
    assert "signed before revocation" in out
    assert "signed after revocation: invalid: revocation" in out
    assert "back-dated after revocation: invalid: revocation" in out
    assert "only the signer's claim" in out
    assert out.count("ok    time-stamp") >= 3
    assert "vid                the signer is the holder" in out


def test_check_names_are_an_enum_whose_values_are_the_reported_names(pki_env):
    document = sign(DOC, pki_env["signer"], clock=pki_env["clock"])
    result = verify(document.der, trust=[pki_env["root"]], clock=pki_env["clock"],
                    **_records(pki_env))
    assert all(isinstance(c.name, CheckName) for c in result.checks)
    assert json.loads(json.dumps([c.name for c in result.checks])) == [
        c.name.value for c in result.checks]
    assert result.check(CheckName.SIGNATURE) is result.check("signature") is not None
    assert {c.name.value for c in result.checks} >= {
        "signer-certificate", "signature", "chain", "validity", "key-usage", "revocation"}


def test_an_ocsp_answer_made_after_a_live_verification_began_is_current(pki_env):
    """Verifying "now" against a live responder: the answer's thisUpdate (the responder's
    clock, in whole seconds) may be later than the moment the verification started, when a
    second boundary passes while it runs. It is judged at the time it is checked, as every
    client does, not refused as "after the validation time" (kpki serve under load did)."""
    home, clock = pki_env["home"], pki_env["clock"]
    responder = home.ocsp_responder("yessign", passphrase=None)
    root = home.store.get_ca("root")
    document = sign(DOC, pki_env["signer"], include_chain=True, clock=clock)
    clock.advance(dt.timedelta(microseconds=999_999 - clock.now().microsecond))

    def http(url, body):
        if body is None:
            return {root.crl_url: _crl_der(pki_env, "root")}[url]
        clock.advance(dt.timedelta(microseconds=2))  # the answer comes in the next second
        return responder.respond(body)

    result = Verifier(trust=[pki_env["root"]], use_ocsp=True, fetch_crls=True, http=http,
                      clock=clock).verify(document.der)
    assert result.ok, result.summary()
    assert "OCSP" in _check(result, "revocation").detail
    clock.advance(dt.timedelta(microseconds=999_999 - clock.now().microsecond))
    given = Verifier(trust=[pki_env["root"]], use_ocsp=True, fetch_crls=True, http=http,
                     clock=clock).verify(document.der, at=clock.now())
    # A time the caller gives stays the time every answer is judged at.
    assert "after the validation time" in _check(given, "revocation").detail
