"""kpki serve as a real process: CRLs and OCSP checked by openssl and pyOpenSSL."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from OpenSSL import crypto

from pki.home import Home
from pki.keys.folder import write_npki_folder

PASSWORD = "Test-pass-1234!"
RRN = "9005171234566"
DEADLINE = 30.0


def _kpki() -> str:
    return str(Path(sys.executable).parent / "kpki")


@pytest.fixture(scope="module")
def served(tmp_path_factory, key_pool):
    """A home with a good, a revoked and a suspended certificate, served by kpki serve."""
    root = tmp_path_factory.mktemp("serve")
    home = Home.create(root / "home", passphrase=None, key_generator=key_pool)
    authority = home.authority()
    certs = {name: authority.issue_joint(name="홍길동", rrn=RRN) for name in
             ("good", "revoked", "suspended", "later")}
    for issued in certs.values():
        write_npki_folder(issued, root / "npki", password=PASSWORD)
    from pki import lifecycle

    lifecycle.revoke(home.store, certs["revoked"].serial, at=home.clock.now(),
                     reason=x509.ReasonFlags.key_compromise)
    lifecycle.suspend(home.store, certs["suspended"].serial, at=home.clock.now())
    for label in ("root", "yessign"):
        (root / f"{label}.pem").write_bytes(home.store.get_ca(label).certificate.public_bytes(
            serialization.Encoding.PEM))
    home.close()

    proc = subprocess.Popen([_kpki(), "--home", str(root / "home"), "serve", "--port", "0",
                             "--poll", "0.05"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "KPKI_DEBUG": "1"})
    port = None
    lines = []
    start = time.monotonic()
    while port is None and time.monotonic() - start < DEADLINE:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            port = int(match.group(1))
    if port is None:
        proc.kill()
        pytest.fail("kpki serve did not start:\n" + "".join(lines))
    log_path = root / "serve.log"
    log_file = log_path.open("w")
    pump = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=log_file)
    proc.stderr.close()  # cat reads the rest
    yield {"url": f"http://127.0.0.1:{port}", "root": root, "certs": certs, "log": log_path,
           "home": root / "home"}
    proc.terminate()
    proc.wait(timeout=20)
    pump.wait(timeout=5)
    log_file.close()


def _get(url: str, data: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("content-type")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type")


def _crl_path(issued) -> str:
    dp = issued.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    return urllib.parse.urlsplit(dp.value[0].full_name[0].value).path


def _ocsp_path(issued) -> str:
    aia = issued.certificate.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value
    return urllib.parse.urlsplit(aia[0].access_location.value).path


def _fetch_crl(served) -> x509.CertificateRevocationList:
    status, body, ctype = _get(served["url"] + _crl_path(served["certs"]["good"]))
    assert status == 200 and ctype == "application/pkix-crl"
    return x509.load_der_x509_crl(body)


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_crl_is_served_at_the_certificates_url_and_openssl_checks_it(served, tmp_path):
    status, body, _ = _get(served["url"] + _crl_path(served["certs"]["good"]))
    assert status == 200
    (tmp_path / "crl.der").write_bytes(body)
    done = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"),
                           "-noout", "-CAfile", str(served["root"] / "yessign.pem")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "verify OK" in done.stdout + done.stderr
    crl = x509.load_der_x509_crl(body)
    serials = {r.serial_number for r in crl}
    assert served["certs"]["revoked"].serial in serials
    assert served["certs"]["suspended"].serial in serials
    assert served["certs"]["good"].serial not in serials


def test_delta_crl_is_served_beside_it(served):
    full = _fetch_crl(served)
    with pytest.raises(x509.ExtensionNotFound):  # made and served, not announced by default
        full.extensions.get_extension_for_class(x509.FreshestCRL)
    status, body, _ = _get(served["url"] + _crl_path(served["certs"]["good"])[:-len(".crl")]
                           + "-delta.crl")
    assert status == 200
    delta = x509.load_der_x509_crl(body)
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).critical


def _verify(served, tmp_path, name: str):
    (tmp_path / "crl.der").write_bytes(
        _get(served["url"] + _crl_path(served["certs"][name]))[1])
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"),
                    "-out", str(tmp_path / "crl.pem")], check=True)
    (tmp_path / "leaf.pem").write_bytes(_pem(served["certs"][name].certificate))
    return subprocess.run(
        ["openssl", "verify", "-crl_check", "-CAfile", str(served["root"] / "root.pem"),
         "-untrusted", str(served["root"] / "yessign.pem"), "-CRLfile",
         str(tmp_path / "crl.pem"), str(tmp_path / "leaf.pem")], capture_output=True, text=True)


def test_openssl_verify_crl_check(served, tmp_path):
    good = _verify(served, tmp_path, "good")
    assert good.returncode == 0, good.stdout + good.stderr
    revoked = _verify(served, tmp_path, "revoked")
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr


def _openssl_ocsp(served, name: str | x509.Certificate, tmp_path) -> str:
    cert = served["certs"][name].certificate if isinstance(name, str) else name
    (tmp_path / "leaf.pem").write_bytes(_pem(cert))
    done = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(served["root"] / "yessign.pem"), "-cert",
         str(tmp_path / "leaf.pem"), "-url", served["url"] + _ocsp_path(served["certs"]["good"]),
         "-CAfile", str(served["root"] / "root.pem")], capture_output=True, text=True)
    assert "Response verify OK" in done.stdout + done.stderr, done.stdout + done.stderr
    return done.stdout


def test_openssl_ocsp_good_revoked_unknown(served, tmp_path, key_pool):
    assert ": good" in _openssl_ocsp(served, "good", tmp_path)
    revoked = _openssl_ocsp(served, "revoked", tmp_path)
    assert ": revoked" in revoked and "Reason: keyCompromise" in revoked
    held = _openssl_ocsp(served, "suspended", tmp_path)
    assert ": revoked" in held and "certificateHold" in held
    # A certificate with the CA's name and key but a serial it never issued.
    with Home.open(served["home"]) as home:
        ca_key = home.load_ca_key("yessign", None)
    stranger = (x509.CertificateBuilder().subject_name(served["certs"]["good"].subject)
                .issuer_name(served["certs"]["good"].certificate.issuer)
                .public_key(key_pool.keys(2048, 6)[0].public_key()).serial_number(4242)
                .not_valid_before(served["certs"]["good"].certificate.not_valid_before_utc)
                .not_valid_after(served["certs"]["good"].certificate.not_valid_after_utc)
                .sign(ca_key, hashes.SHA256()))
    assert ": unknown" in _openssl_ocsp(served, stranger, tmp_path)


def _ocsp_request(issued, *, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(issued.certificate, issued.chain[0],
                                                        hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_ocsp_get_post_and_nonce(served):
    issued = served["certs"]["good"]
    url = served["url"] + _ocsp_path(issued)
    nonce = os.urandom(16)
    status, body, ctype = _get(url, _ocsp_request(issued, nonce=nonce),
                               {"Content-Type": "application/ocsp-request"})
    assert (status, ctype) == (200, "application/ocsp-response")
    response = ocsp.load_der_ocsp_response(body)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    signer = response.certificates[0]
    assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in signer.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    signer.extensions.get_extension_for_class(x509.OCSPNoCheck)
    encoded = urllib.parse.quote(base64.b64encode(_ocsp_request(issued)).decode(), safe="")
    status, body, _ = _get(f"{url}/{encoded}")
    assert ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_bad_requests(served):
    url = served["url"] + _ocsp_path(served["certs"]["good"])
    status, body, _ = _get(url, b"\x30\x03garbage")
    assert status == 200
    assert ocsp.load_der_ocsp_response(body).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    status, body, _ = _get(url + "/%%%notbase64")
    assert ocsp.load_der_ocsp_response(body).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert _get(url, b"\x00" * 100_000)[0] == 413
    assert _get(served["url"] + "/crl/no-such-ca.crl")[0] == 404


def test_an_ocsp_post_over_the_cap_is_refused_chunked_or_declared(served):
    """One reader for every capped body (pki.web.limits.read_capped): a chunked body is
    counted as it comes, a declared length is refused before it is read."""
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(served["url"] + _ocsp_path(served["certs"]["good"]))
    for declared in (False, True):
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            body = b"\x00" * (20 * 1024)
            if declared:
                connection.request("POST", url.path, body=body,
                                   headers={"Content-Type": "application/ocsp-request"})
            else:
                connection.request("POST", url.path, body=iter([body[:10_000], body[10_000:]]),
                                   headers={"Content-Type": "application/ocsp-request"},
                                   encode_chunked=True)
            assert connection.getresponse().status == 413
        finally:
            connection.close()


def test_pyopenssl_store_with_crl_checking_agrees(served):
    crl = crypto.CRL.from_cryptography(_fetch_crl(served)) if hasattr(crypto, "CRL") else None
    root = x509.load_pem_x509_certificate((served["root"] / "root.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((served["root"] / "yessign.pem").read_bytes())
    results = {}
    for name in ("good", "revoked"):
        store = crypto.X509Store()
        store.add_cert(crypto.X509.from_cryptography(root))
        store.add_cert(crypto.X509.from_cryptography(ca))
        store.add_crl(_fetch_crl(served) if crl is None else crl)
        store.set_flags(crypto.X509StoreFlags.CRL_CHECK)
        ctx = crypto.X509StoreContext(store, crypto.X509.from_cryptography(
            served["certs"][name].certificate))
        try:
            ctx.verify_certificate()
            results[name] = "ok"
        except crypto.X509StoreContextError as exc:
            results[name] = str(exc)
    assert results["good"] == "ok"
    assert "revoked" in results["revoked"]


def test_revocation_is_republished_without_a_restart(served, tmp_path):
    later = served["certs"]["later"]
    subprocess.run([_kpki(), "--home", str(served["home"]), "cert", "revoke",
                    format(later.serial, "X"), "--reason", "superseded", "--json"],
                   check=True, capture_output=True)
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        if later.serial in {r.serial_number for r in _fetch_crl(served)}:
            break
    else:
        pytest.fail("the CRL was not republished after the revocation")
    assert ": revoked" in _openssl_ocsp(served, "later", tmp_path)


def test_one_log_line_per_request(served):
    marker = f"/crl/marker-{os.getpid()}.crl"
    _get(served["url"] + marker)
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        lines = [line for line in served["log"].read_text().splitlines() if marker in line]
        if lines:
            break
    assert len(lines) == 1 and " 404 " in lines[0]


def test_crl_publish_command(served):
    done = subprocess.run([_kpki(), "--home", str(served["home"]), "crl", "publish", "--json"],
                          check=True, capture_output=True, text=True)
    rows = json.loads(done.stdout)
    assert {r["ca"] for r in rows} == {"root", "yessign"}
    assert all(Path(r["der"]).is_file() and Path(r["pem"]).is_file() for r in rows)
