"""PKCS #12 with R as a key attribute; the RFC 7292 KDF checked against OpenSSL."""

import contextlib
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12 as pyca_pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.errors import KeyFileError, KeyMismatchError, WrongPasswordError
from pki.keys import pkcs12
from tests.conftest import VECTORS

PASSWORD = "Test-pass-1234!"


@pytest.fixture
def issued(authority):
    return authority.issue_joint(name="홍길동", rrn="9005171234566")


@pytest.fixture
def vector():
    if not (VECTORS / "cert.pfx").is_file():
        pytest.skip(f"the real yessign vector is not at {VECTORS} (see shared/vectors/README)")
    return json.loads((VECTORS / "vector.json").read_text()), (VECTORS / "cert.pfx").read_bytes()


def test_reads_the_real_yessign_pfx_with_r(vector):
    meta, data = vector
    credential = pkcs12.loads(data, meta["password"])
    assert credential.r.hex() == meta["randomNum_R_hex"]
    assert credential.certificate.serial_number == meta["serial"]


def test_real_pfx_wrong_password(vector):
    _, data = vector
    with pytest.raises(WrongPasswordError):
        pkcs12.loads(data, "not-the-password-1!")


@pytest.mark.parametrize("legacy", [False, True])
def test_round_trip_keeps_key_and_r(issued, legacy):
    data = pkcs12.dumps(issued.certificate, issued.private_key, PASSWORD, r=issued.r,
                        legacy=legacy, iterations=1000 if not legacy else None)
    credential = pkcs12.loads(data, PASSWORD)
    assert credential.r == issued.r
    assert credential.certificate == issued.certificate
    assert credential.private_key.private_numbers() == issued.private_key.private_numbers()


@pytest.mark.parametrize(("legacy", "expect"), [
    (False, [b"MAC: sha256", b"PBES2, PBKDF2, AES-256-CBC", b"hmacWithSHA256"]),
    (True, [b"MAC: sha1", b"pbeWithSHA1And3-KeyTripleDES-CBC"]),
])
def test_openssl_pkcs12_reads_the_export(issued, tmp_path, legacy, expect):
    path = pkcs12.dump(tmp_path / "x.pfx", issued.certificate, issued.private_key, PASSWORD,
                       r=issued.r, legacy=legacy)
    (tmp_path / "pass").write_text(PASSWORD)
    args = ["openssl", "pkcs12", "-in", str(path), "-info", "-noout", "-passin",
            f"file:{tmp_path / 'pass'}"]
    if legacy:
        args.append("-legacy")
    done = subprocess.run(args, capture_output=True)
    assert done.returncode == 0, done.stderr
    for text in expect:
        assert text in done.stdout + done.stderr
    ski = issued.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    dump_args = [a for a in args if a not in ("-info", "-noout")] + ["-nodes"]
    keys_out = subprocess.run(dump_args, capture_output=True)
    assert ski.hex(" ").upper().encode() in keys_out.stdout  # localKeyID = SKI


def test_pyca_reads_the_export(issued):
    data = pkcs12.dumps(issued.certificate, issued.private_key, PASSWORD, r=issued.r)
    loaded = pyca_pkcs12.load_pkcs12(data, PASSWORD.encode())
    assert loaded.cert.certificate == issued.certificate


def test_wrong_password_and_mismatch(issued, key_pool):
    data = pkcs12.dumps(issued.certificate, issued.private_key, PASSWORD, r=issued.r,
                        iterations=1000)
    with pytest.raises(WrongPasswordError):
        pkcs12.loads(data, PASSWORD + "x")
    with pytest.raises(KeyMismatchError):
        pkcs12.dumps(issued.certificate, key_pool.other_than(issued.certificate.public_key()),
                     PASSWORD, r=None)


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x03"])
def test_garbage_pfx(data):
    with pytest.raises(KeyFileError):
        pkcs12.loads(data, PASSWORD)


_CACHE = {}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_pfx_only_gives_typed_errors(issued, data):
    if "pfx" not in _CACHE:
        _CACHE["pfx"] = pkcs12.dumps(issued.certificate, issued.private_key, PASSWORD,
                                     r=issued.r, iterations=10)
    mutated = bytearray(_CACHE["pfx"])
    pos = data.draw(st.integers(0, len(mutated) - 1))
    if data.draw(st.booleans()):
        mutated[pos] ^= data.draw(st.integers(1, 255))
    else:
        del mutated[pos:]
    with contextlib.suppress(KeyFileError, WrongPasswordError, KeyMismatchError):
        pkcs12.loads(bytes(mutated), PASSWORD)
