"""``kpki verify`` defaults (issue 11 item 4) and the strict rules seen from the shell."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import lifecycle
from pki.cli.main import cli
from pki.keys import npki
from pki.signing import KeySigner, sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
FIXTURE_NOW = dt.datetime.fromisoformat(MANIFEST["now"])
DOC = "민원 신청서".encode()


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.delenv("KPKI_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.kpki here
    return CliRunner()


def run(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _at(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def signed(home, authority, clock, tmp_path):
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    signer = KeySigner(issued.certificate, issued.private_key, issued.chain)
    path = tmp_path / "petition.p7s"
    path.write_bytes(sign(DOC, signer, include_chain=True, clock=clock).der)
    return {"path": path, "issued": issued, "signer": signer}


def test_inside_a_home_verify_needs_no_flags(runner, home, clock, signed, tmp_path):
    clock.advance(dt.timedelta(minutes=5))
    ok = run(runner, "--home", home.path, "verify", signed["path"], "--at", _at(clock.now()))
    assert ok.exit_code == 0, ok.output
    assert "revocation" in ok.stdout and "the home's records" in ok.stdout
    lifecycle.revoke(home.store, signed["issued"].serial, at=clock.now(),
                     reason=x509.ReasonFlags.key_compromise)
    clock.advance(dt.timedelta(minutes=5))
    late = tmp_path / "late.p7s"
    late.write_bytes(sign(DOC, signed["signer"], include_chain=True, clock=clock).der)
    refused = run(runner, "--home", home.path, "verify", late, "--at", _at(clock.now()))
    assert refused.exit_code == 1, refused.output
    assert "revoked on" in refused.stdout


def test_no_revocation_is_explicit_and_reported(runner, home, clock, signed):
    done = run(runner, "--home", home.path, "verify", signed["path"], "--no-revocation",
               "--at", _at(clock.now()), "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["revocation_checked"] is False
    assert "revocation not checked" in report["summary"]
    both = run(runner, "--home", home.path, "verify", signed["path"], "--no-revocation",
               "--online")
    assert both.exit_code == 2


def test_outside_a_home_without_trust_names_trust_and_home(runner, signed, tmp_path):
    done = run(runner, "--home", tmp_path / "nowhere", "verify", signed["path"])
    assert done.exit_code == 2
    assert "--trust" in done.stderr and "--home" in done.stderr
    default = run(runner, "verify", signed["path"])
    assert default.exit_code == 2 and "--trust" in default.stderr


def test_trust_without_revocation_data_fails_and_says_what_to_give(runner, home, clock,
                                                                   signed, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(home.store.get_ca("root").certificate.public_bytes(
        serialization.Encoding.PEM))
    done = run(runner, "--home", tmp_path / "nowhere", "verify", signed["path"], "--trust",
               root, "--at", _at(clock.now()))
    assert done.exit_code == 1, done.output
    assert "no revocation data" in done.stdout
    assert "--crl" in done.stdout and "--no-revocation" in done.stdout


def _fixture_signature(tmp_path: Path, name: str, when: dt.datetime) -> Path:
    entry = MANIFEST["certificates"][name]
    credential = npki.load(FIXTURES / entry["folder"], MANIFEST["key_password"])
    chain = x509.load_pem_x509_certificates((FIXTURES / "chain.pem").read_bytes())
    signer = KeySigner(credential.certificate, credential.private_key, tuple(chain[:1]))
    path = tmp_path / f"{name}.p7s"
    path.write_bytes(sign(DOC, signer, include_chain=True, signing_time=when).der)
    return path


def test_a_delta_crl_is_not_taken_as_complete(runner, tmp_path):
    # The revoked fixture is on the full CRL, not on the delta made an hour later.
    signature = _fixture_signature(tmp_path, "revoked", FIXTURE_NOW + dt.timedelta(minutes=30))
    base = ["verify", signature, "--trust", FIXTURES / "root.pem", "--at",
            _at(FIXTURE_NOW + dt.timedelta(minutes=90))]
    delta = run(runner, *base, "--crl", FIXTURES / "crl" / "yessign-delta.crl")
    assert delta.exit_code == 1, delta.output
    assert "full CRL" in delta.stdout
    both = run(runner, *base, "--crl", FIXTURES / "crl" / "yessign-delta.crl",
               "--crl", FIXTURES / "crl" / "yessign-full.crl")
    assert both.exit_code == 1 and "revoked on" in both.stdout


def test_an_expired_crl_is_refused_unless_stale_is_allowed(runner, tmp_path):
    signature = _fixture_signature(tmp_path, "joint", FIXTURE_NOW + dt.timedelta(days=3))
    base = ["verify", signature, "--trust", FIXTURES / "root.pem", "--crl",
            FIXTURES / "crl" / "yessign-full.crl", "--crl", FIXTURES / "crl" / "root.crl",
            "--at", _at(FIXTURE_NOW + dt.timedelta(days=3))]
    expired = run(runner, *base)
    assert expired.exit_code == 1 and "nextUpdate" in expired.stdout
    allowed = run(runner, *base, "--allow-stale")
    assert allowed.exit_code == 0, allowed.output
    assert "stale" in allowed.stdout


def test_the_ca_certificate_needs_the_root_crl_too(runner, tmp_path):
    # openssl verify -crl_check_all, pyHanko and Java PKIX check the licensed CA
    # certificate against the root's CRL: kpki asks for it as they do.
    signature = _fixture_signature(tmp_path, "joint", FIXTURE_NOW + dt.timedelta(minutes=5))
    base = ["verify", signature, "--trust", FIXTURES / "root.pem", "--at",
            _at(FIXTURE_NOW + dt.timedelta(minutes=10)), "--crl",
            FIXTURES / "crl" / "yessign-full.crl"]
    alone = run(runner, *base)
    assert alone.exit_code == 1, alone.output
    assert "the CA certificate yessignCA" in alone.stdout
    assert "no CRL of Kisa Test RootCA 7" in alone.stdout
    both = run(runner, *base, "--crl", FIXTURES / "crl" / "root.crl")
    assert both.exit_code == 0, both.output
    assert "the CA certificate yessignCA-Test Class 4: not revoked (CRL 1 of" in both.stdout
