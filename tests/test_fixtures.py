"""The committed fixture catalogue is reproducible, valid, and says what it claims."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from pki.keys import npki, pkcs12
from pki.rrn import RRN
from pki.signing.verify import CRLIndex, Verifier
from pki.vid import decode_identify_data, vid_matches

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NOW = dt.datetime.fromisoformat(MANIFEST["now"])
PASSWORD = MANIFEST["key_password"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and "keys" not in p.parts and p.suffix not in (".py", ".md")}


def test_regenerate_rebuilds_the_fixtures_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(FIXTURES / "regenerate.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    committed = _files(FIXTURES)
    rebuilt = _files(tmp_path)
    assert sorted(rebuilt) == sorted(committed)
    for name, data in committed.items():
        assert rebuilt[name] == data, name


def test_the_ocsp_responses_were_produced_at_the_fixtures_time():
    # kpki's responder dates producedAt by its injected clock (pki/formats/ocspder.py),
    # where pyca's builder stamped the real time and made the responses differ per run
    for name in ("good", "revoked", "suspended", "unknown"):
        response = ocsp.load_der_ocsp_response((FIXTURES / "ocsp" / f"{name}.resp").read_bytes())
        assert response.produced_at_utc == NOW, name


def _root() -> x509.Certificate:
    return x509.load_pem_x509_certificate((FIXTURES / "root.pem").read_bytes())


def _ca() -> x509.Certificate:
    return x509.load_pem_x509_certificate((FIXTURES / "yessign-ca.pem").read_bytes())


@pytest.mark.parametrize("name", sorted(MANIFEST["certificates"]))
def test_every_certificate_opens_verifies_and_carries_its_vid(name):
    entry = MANIFEST["certificates"][name]
    credential = npki.load(FIXTURES / entry["folder"], PASSWORD)
    cert = credential.certificate
    assert format(cert.serial_number, "X") == entry["serial"]
    assert credential.r == bytes.fromhex(entry["r"])
    cert.verify_directly_issued_by(_ca())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    data = decode_identify_data(san.get_values_for_type(x509.OtherName)[0].value)
    assert vid_matches(data, RRN.parse(entry["rrn"]), credential.r)


def test_states_are_what_the_names_say():
    certs = MANIFEST["certificates"]
    assert dt.datetime.fromisoformat(certs["expired"]["not_after"]) < NOW
    renewed, renewal = certs["renewed"], certs["renewal"]
    assert dt.datetime.fromisoformat(renewal["not_after"]).year == \
        dt.datetime.fromisoformat(renewed["not_after"]).year + 1
    full = CRLIndex.load((FIXTURES / "crl" / "yessign-full.crl").read_bytes())
    delta = x509.load_der_x509_crl((FIXTURES / "crl" / "yessign-delta.crl").read_bytes())
    on_full = {r.serial_number for r in full.crl}
    assert on_full == {int(certs["revoked"]["serial"], 16), int(certs["suspended"]["serial"], 16)}
    assert {r.serial_number for r in delta} == {int(renewed["serial"], 16)}
    assert full.signed_by(_ca())


@pytest.mark.parametrize(("name", "status"), [("good", ocsp.OCSPCertStatus.GOOD),
                                              ("revoked", ocsp.OCSPCertStatus.REVOKED),
                                              ("suspended", ocsp.OCSPCertStatus.REVOKED),
                                              ("unknown", ocsp.OCSPCertStatus.UNKNOWN)])
def test_ocsp_responses(name, status):
    response = ocsp.load_der_ocsp_response((FIXTURES / "ocsp" / f"{name}.resp").read_bytes())
    assert response.certificate_status is status
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == \
        bytes(range(16))


@pytest.mark.parametrize("signature", sorted(p.name for p in (FIXTURES / "signatures").glob(
    "*.p7s")))
def test_every_signature_shape_verifies(signature):
    document = (FIXTURES / "signatures" / "document.txt").read_bytes()
    data = (FIXTURES / "signatures" / signature).read_bytes()
    crls = [CRLIndex.load((FIXTURES / "crl" / name).read_bytes())
            for name in ("yessign-full.crl", "yessign-delta.crl", "root.crl")]
    result = Verifier(trust=[_root()], crls=crls).verify(
        data, content=document if "detached" in signature else None, at=NOW)
    assert result.ok, result.summary()


@pytest.mark.parametrize("name", ["joint.pfx", "joint-legacy.pfx"])
def test_pfx_files_keep_r(name):
    credential = pkcs12.load(FIXTURES / "pfx" / name, PASSWORD)
    assert credential.r == bytes.fromhex(MANIFEST["certificates"]["joint"]["r"])
