"""Standard tools accept what kpki issues: the openssl CLI and OpenSSL's store (pyOpenSSL)."""

import datetime as dt
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import crypto

from pki.home import CASettings
from pki.profiles import PROFILES
from pki.rrn import synthetic_rrn

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


def _pem(cert):
    return cert.public_bytes(Encoding.PEM)


@pytest.fixture
def issued_everywhere(home):
    """One certificate of every profile each CA style can issue, with their chains."""
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    home.add_ca(CASettings(label="kica", style="kica"), passphrase=None)
    home.add_ca(CASettings(label="kbprivate", style="kbprivate"), passphrase=None)
    out = []
    for label in ("yessign", "signkorea", "kica", "kbprivate"):
        ca = home.authority(label)
        for profile in PROFILES.values():
            if ca.style.name in profile.policy_oids:
                out.append(ca.issue(profile, name="홍길동", rrn=RRN, alias="GD"))
    return out


def test_openssl_verify_accepts_every_issued_certificate(issued_everywhere, tmp_path):
    # 6 profiles at yessign (2 of them km), 2 each at the other licensed CAs (joint
    # general and its km), the private one at the private CA
    assert len(issued_everywhere) == 11
    for n, issued in enumerate(issued_everywhere):
        ca, root = issued.chain
        (tmp_path / f"root{n}.pem").write_bytes(_pem(root))
        (tmp_path / f"ca{n}.pem").write_bytes(_pem(ca))
        (tmp_path / f"leaf{n}.pem").write_bytes(_pem(issued.certificate))
        done = subprocess.run(
            ["openssl", "verify", "-attime", "1775000000", "-CAfile", tmp_path / f"root{n}.pem",
             "-untrusted", tmp_path / f"ca{n}.pem", tmp_path / f"leaf{n}.pem"],
            capture_output=True, text=True)
        assert done.returncode == 0, (issued.profile.name, issued.ca, done.stdout + done.stderr)
        assert done.stdout.strip().endswith(": OK")


def test_openssl_verify_with_explicit_policy(authority, tmp_path):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    ca, root = issued.chain
    for name, cert in (("root", root), ("ca", ca), ("leaf", issued.certificate)):
        (tmp_path / f"{name}.pem").write_bytes(_pem(cert))
    base = ["openssl", "verify", "-attime", "1775000000", "-CAfile", tmp_path / "root.pem",
            "-untrusted", tmp_path / "ca.pem", "-policy_check", "-explicit_policy"]
    ok = subprocess.run([*base, "-policy", "1.2.410.200005.1.1.1", tmp_path / "leaf.pem"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # A relying party that accepts only banking certificates refuses a general one.
    refused = subprocess.run([*base, "-policy", "1.2.410.200005.1.1.4", tmp_path / "leaf.pem"],
                             capture_output=True)
    assert refused.returncode != 0
    assert b"no explicit policy" in refused.stdout + refused.stderr


def test_openssl_refuses_a_certificate_from_another_root(make_home, authority, tmp_path):
    other = make_home("other")
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    (tmp_path / "root.pem").write_bytes(_pem(other.store.get_ca("root").certificate))
    (tmp_path / "ca.pem").write_bytes(_pem(issued.chain[0]))
    (tmp_path / "leaf.pem").write_bytes(_pem(issued.certificate))
    done = subprocess.run(["openssl", "verify", "-attime", "1775000000", "-CAfile",
                           tmp_path / "root.pem", "-untrusted", tmp_path / "ca.pem",
                           tmp_path / "leaf.pem"], capture_output=True)
    assert done.returncode != 0


def test_pyopenssl_store_verifies_the_chain(issued_everywhere):
    for issued in issued_everywhere:
        ca, root = issued.chain
        store = crypto.X509Store()
        store.add_cert(crypto.X509.from_cryptography(root))
        store.set_time(dt.datetime(2026, 4, 1))
        ctx = crypto.X509StoreContext(store, crypto.X509.from_cryptography(issued.certificate),
                                      chain=[crypto.X509.from_cryptography(ca)])
        chain = ctx.get_verified_chain()
        assert len(chain) == 3
