"""What kpki publishes passes strict clients with their default settings.

A home made by ``kpki init`` (its defaults; only the base URL names the test's port) and
served by a real ``kpki serve``; each client gets only the root (trusted) and the licensed
CA certificate, fetches the revocation data itself where it can, and must accept a good
certificate and refuse a revoked one:

* pyhanko-certvalidator, ``allow_fetching=True``, ``revocation_mode="hard-fail"`` (it
  fetches no delta CRLs, so full CRLs must not announce one);
* ``openssl verify -crl_check_all`` with the root's and the CA's full CRLs (the root's CRL
  must cover the root certificate, which names no distribution point);
* ``openssl ocsp -policy_check -policy 2.5.29.32.0`` (the responder certificate needs
  certificatePolicies, the CAs require an explicit policy);
* Java's PKIX validator with revocation on and policy qualifiers allowed, through CRLs and
  through OCSP (a JDK is needed; skipped without one).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import lifecycle
from pki.cli.main import cli
from pki.home import Home
from pki.revocation.crl import delta_url, publish_path
from pki.store import OCSPSignerRecord
from tests.helpers import pyhanko_validate

RRN = "9005171234566"
KPKI = str(Path(sys.executable).parent / "kpki")
DEADLINE = 30.0

PKIX_JAVA = """
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.List;
import java.util.Set;

public class Pkix {
    public static void main(String[] args) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        X509Certificate root = load(cf, args[0]);
        X509Certificate ca = load(cf, args[1]);
        X509Certificate leaf = load(cf, args[2]);
        CertPath path = cf.generateCertPath(List.of(leaf, ca));
        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        params.setRevocationEnabled(true);
        params.setPolicyQualifiersRejected(false);  // Korean certificates carry qualifiers
        try {
            CertPathValidator.getInstance("PKIX").validate(path, params);
            System.out.println("VALID");
        } catch (CertPathValidatorException e) {
            System.out.println("INVALID " + e.getReason() + ": " + e.getMessage());
        }
    }

    static X509Certificate load(CertificateFactory cf, String name) throws Exception {
        try (FileInputStream in = new FileInputStream(name)) {
            return (X509Certificate) cf.generateCertificate(in);
        }
    }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def served(tmp_path_factory, key_pool):
    root = tmp_path_factory.mktemp("strict")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    subprocess.run([KPKI, "--home", str(root / "home"), "init", "--no-passphrase",
                    "--base-url", f"http://127.0.0.1:{port}"], env=env, check=True,
                   capture_output=True)
    with Home.open(root / "home", key_generator=key_pool) as home:
        authority = home.authority()
        good = authority.issue_joint(name="홍길동", rrn=RRN)
        revoked = authority.issue_joint(name="김철수", rrn=RRN)
        lifecycle.revoke(home.store, revoked.serial, at=home.clock.now(),
                         reason=x509.ReasonFlags.key_compromise)
        files = {"root": home.store.get_ca("root").certificate,
                 "ca": home.store.get_ca("yessign").certificate,
                 "good": good.certificate, "revoked": revoked.certificate}
    for name, cert in files.items():
        (root / f"{name}.pem").write_bytes(_pem(cert))
        (root / f"{name}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    proc = subprocess.Popen([KPKI, "--home", str(root / "home"), "serve", "--port", str(port),
                             "--no-cloud"], stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(r"listening on http://127\.0\.0\.1:\d+", line):
            break
    if "listening" not in "".join(lines):
        proc.kill()
        pytest.fail("kpki serve did not start:\n" + "".join(lines))
    drain = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
    proc.stderr.close()
    yield {"dir": root, "url": f"http://127.0.0.1:{port}", "files": files}
    proc.terminate()
    proc.wait(timeout=20)
    drain.wait(timeout=5)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _crls(served) -> dict[str, x509.CertificateRevocationList]:
    return {label: x509.load_der_x509_crl(_fetch(f"{served['url']}/crl/{label}.crl"))
            for label in ("root", "yessign")}


def test_full_crls_fit_strict_clients(served):
    crls = _crls(served)
    for crl in crls.values():
        with pytest.raises(x509.ExtensionNotFound):  # no delta announced by default
            crl.extensions.get_extension_for_class(x509.FreshestCRL)
    with pytest.raises(x509.ExtensionNotFound):  # the root's CRL covers all it issued
        crls["root"].extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    idp = crls["yessign"].extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    dp = served["files"]["good"].extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert idp.critical and list(idp.value.full_name) == list(dp.value[0].full_name)


# -- pyhanko-certvalidator ---------------------------------------------------------------


def test_pyhanko_certvalidator_hard_fail_accepts_good_and_refuses_revoked(served):
    assert pyhanko_validate(served["dir"], "good") == "valid"
    assert pyhanko_validate(served["dir"], "revoked") == "revoked"


# -- openssl ------------------------------------------------------------------------------


def test_openssl_verify_crl_check_all_with_both_full_crls(served, tmp_path):
    crl_files = []
    for label, crl in _crls(served).items():
        path = tmp_path / f"{label}.crl.pem"
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        crl_files += ["-CRLfile", str(path)]
    d = served["dir"]

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", "verify", "-crl_check_all",
                               "-CAfile", str(d / "root.pem"), "-untrusted", str(d / "ca.pem"),
                               *crl_files, str(d / f"{name}.pem")],
                              capture_output=True, text=True)

    good = verify("good")
    assert good.returncode == 0 and good.stdout.strip().endswith(": OK"), good.stdout + good.stderr
    revoked = verify("revoked")
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr


def test_openssl_ocsp_with_policy_check(served):
    d = served["dir"]

    def ask(name: str) -> str:
        done = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(d / "ca.pem"), "-cert", str(d / f"{name}.pem"),
             "-url", f"{served['url']}/ocsp/yessign", "-CAfile", str(d / "root.pem"),
             "-verify_other", str(d / "ca.pem"), "-policy_check", "-policy", "2.5.29.32.0",
             "-explicit_policy"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Response verify OK" in done.stdout + done.stderr, done.stdout + done.stderr
        return done.stdout

    assert f"{d / 'good.pem'}: good" in ask("good")
    assert f"{d / 'revoked.pem'}: revoked" in ask("revoked")


# -- Java ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def java(tmp_path_factory):
    binary = shutil.which("java")
    if binary is None:
        pytest.skip("no JDK installed")
    folder = tmp_path_factory.mktemp("java")
    (folder / "Pkix.java").write_text(PKIX_JAVA)
    (folder / "ocsp.security").write_text("ocsp.enable=true\n")
    return binary, folder


@pytest.mark.parametrize("mode", ["crl", "ocsp-then-crl"])
def test_java_pkix_with_revocation_accepts_good_and_refuses_revoked(served, java, mode):
    binary, folder = java
    options = ["-Dcom.sun.security.enableCRLDP=true"]
    if mode == "ocsp-then-crl":  # OCSP where the certificate names a responder
        options.append(f"-Djava.security.properties={folder / 'ocsp.security'}")
    d = served["dir"]

    def validate(name: str) -> str:
        done = subprocess.run([binary, *options, str(folder / "Pkix.java"), str(d / "root.pem"),
                               str(d / "ca.pem"), str(d / f"{name}.der")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert validate("good") == "VALID"
    assert validate("revoked").startswith("INVALID REVOKED")


# -- delta CRLs, when the user turns them on ---------------------------------------------


def test_delta_crls_are_announced_only_when_turned_on(make_home):
    home = make_home(delta_crls=True)
    assert home.delta_crls
    published = dict(home.publish_crls(passphrase=None))
    for crl in published:
        freshest = x509.load_der_x509_crl(crl.der).extensions.get_extension_for_class(
            x509.FreshestCRL).value
        record = home.store.get_ca(crl.info.ca)
        assert freshest[0].full_name[0].value == delta_url(record.crl_url)
    home.set_delta_crls(False)
    for crl, _ in home.publish_crls(passphrase=None):
        with pytest.raises(x509.ExtensionNotFound):
            x509.load_der_x509_crl(crl.der).extensions.get_extension_for_class(x509.FreshestCRL)


def test_kpki_crl_deltas_turns_the_announcement_on_and_off(home):
    runner = CliRunner()
    args = ["--home", str(home.path), "crl", "deltas"]
    assert "not announced" in runner.invoke(cli, args, catch_exceptions=False).stdout
    assert "announced by" in runner.invoke(cli, [*args, "on"], catch_exceptions=False).stdout
    assert home.delta_crls
    assert "not announced" in runner.invoke(cli, [*args, "off"],
                                            catch_exceptions=False).stdout
    assert not home.delta_crls


def test_kpki_serve_republishes_when_the_announcement_changes(home):
    publisher = home.publisher()
    publisher.round()
    assert publisher.round().labels == []
    home.set_delta_crls(True)
    assert sorted(publisher.round().labels) == ["root", "yessign"]
    full = home.store.published_crl("yessign")
    assert full is not None
    x509.load_der_x509_crl(full.der).extensions.get_extension_for_class(x509.FreshestCRL)


def test_openssl_uses_announced_deltas_with_extended_crl(make_home, tmp_path):
    home = make_home(delta_crls=True)
    authority = home.authority()
    good = authority.issue_joint(name="홍길동", rrn=RRN)
    later = authority.issue_joint(name="김철수", rrn=RRN)
    home.publish_crls(passphrase=None)
    lifecycle.revoke(home.store, later.serial, at=home.clock.now())
    home.publish_crls(passphrase=None, delta=True)  # the revocation is on the delta only
    files = []
    for record in home.store.list_cas():
        for url in (record.crl_url, delta_url(record.crl_url)):
            files += ["-CRLfile", str(publish_path(home.publish_dir, url)) + ".pem"]
    (tmp_path / "root.pem").write_bytes(_pem(home.store.get_ca("root").certificate))
    (tmp_path / "ca.pem").write_bytes(_pem(authority.certificate))
    for name, issued in (("good", good), ("later", later)):
        (tmp_path / f"{name}.pem").write_bytes(_pem(issued.certificate))

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        at = str(int(home.clock.now().timestamp()))
        return subprocess.run(
            ["openssl", "verify", "-crl_check_all", "-extended_crl", "-use_deltas",
             "-attime", at, "-CAfile", str(tmp_path / "root.pem"),
             "-untrusted", str(tmp_path / "ca.pem"), *files, str(tmp_path / f"{name}.pem")],
            capture_output=True, text=True)

    assert verify("good").returncode == 0, verify("good").stdout + verify("good").stderr
    later_done = verify("later")
    assert later_done.returncode != 0
    assert "certificate revoked" in later_done.stdout + later_done.stderr


def test_an_older_responder_certificate_without_policies_is_replaced(home):
    first = home.ocsp_responder("yessign", passphrase=None).signer
    policies = first.extensions.get_extension_for_class(x509.CertificatePolicies)
    assert not policies.critical
    assert [p.policy_identifier.dotted_string for p in policies.value] == ["2.999.6960.1"]
    # what kpki wrote before: the same certificate without certificatePolicies
    from cryptography.hazmat.primitives import hashes

    builder = (x509.CertificateBuilder().subject_name(first.subject)
               .issuer_name(first.issuer).public_key(first.public_key())
               .serial_number(first.serial_number + 1)
               .not_valid_before(first.not_valid_before_utc)
               .not_valid_after(first.not_valid_after_utc))
    for ext in first.extensions:
        if not isinstance(ext.value, x509.CertificatePolicies):
            builder = builder.add_extension(ext.value, ext.critical)
    old = builder.sign(home.load_ca_key("yessign", None), hashes.SHA256())
    with home.store.transaction() as tx:
        tx.put_ocsp_signer(OCSPSignerRecord(
            ca="yessign", serial=old.serial_number,
            der=old.public_bytes(serialization.Encoding.DER),
            not_after=old.not_valid_after_utc, key_label="yessign/ocsp",
            issued_at=home.clock.now()))
    again = home.ocsp_responder("yessign", passphrase=None).signer
    assert again.serial_number != old.serial_number
    again.extensions.get_extension_for_class(x509.CertificatePolicies)
