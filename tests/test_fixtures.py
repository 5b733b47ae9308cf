"""The committed fixture PKI is reproducible and valid."""

import json
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from pki.keys import npki
from pki.rrn import RRN
from pki.vid import decode_identify_data, vid_matches

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AT = "1767400000"  # 2026-01-03, inside every fixture's validity


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


def test_fixture_certificates_verify_and_carry_their_vid():
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    password = manifest["key_password"].encode()
    for entry in manifest["certificates"].values():
        folder = FIXTURES / entry["folder"]
        cert_path = folder / "signCert.der"
        pem = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(cert_path)],
                             capture_output=True, check=True).stdout
        done = subprocess.run(["openssl", "verify", "-attime", AT, "-CAfile",
                               str(FIXTURES / "root.pem"), "-untrusted",
                               str(FIXTURES / "yessign-ca.pem")], input=pem,
                              capture_output=True)
        assert done.returncode == 0, done.stdout + done.stderr
        cert = x509.load_der_x509_certificate(cert_path.read_bytes())
        assert format(cert.serial_number, "X") == entry["serial"]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        data = decode_identify_data(san.get_values_for_type(x509.OtherName)[0].value)
        assert vid_matches(data, RRN.parse(entry["rrn"]), bytes.fromhex(entry["r"]))
        credential = npki.load(folder, password.decode())
        assert credential.certificate == cert
        assert credential.r == bytes.fromhex(entry["r"])
