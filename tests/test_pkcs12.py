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


# -- the key-derivation work one file may cost (issue 10 item 14) --------------------------


def _pfx_of(safes, mac_iterations=None):
    """A PFX of the given ContentInfos; a MAC declaring ``mac_iterations`` (not valid)."""
    from asn1crypto import pkcs12 as a12

    auth_safe = a12.AuthenticatedSafe(safes).dump()
    value = {"version": "v3", "auth_safe": {"content_type": "data", "content": auth_safe}}
    if mac_iterations is not None:
        value["mac_data"] = {"mac": {"digest_algorithm": {"algorithm": "sha256"},
                                     "digest": bytes(32)},
                             "mac_salt": bytes(16), "iterations": mac_iterations}
    return a12.Pfx(value).dump()


def _data_safe(bags):
    from asn1crypto import cms
    from asn1crypto import pkcs12 as a12

    return cms.ContentInfo({"content_type": "data", "content": a12.SafeContents(bags).dump()})


def _key_bag(issued, iterations, password=PASSWORD):
    from pki.keys.atrest import pbes2_encrypt

    plain = pkcs12.npki.encode_private_key_info(issued.private_key, issued.r)
    return {"bag_id": "pkcs8_shrouded_key_bag",
            "bag_value": pbes2_encrypt(plain, password.encode(), iterations=iterations,
                                       salt=bytes(16), iv=bytes(16))}


def _encrypted_safe(bags, iterations, password=PASSWORD):
    from asn1crypto import cms
    from asn1crypto import pkcs12 as a12

    from pki.keys.atrest import pbes2_encrypt

    sealed = pbes2_encrypt(a12.SafeContents(bags).dump(), password.encode(),
                           iterations=iterations, salt=bytes(16), iv=bytes(16))
    return cms.ContentInfo({"content_type": "encrypted_data", "content": {
        "version": "v0", "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": sealed["encryption_algorithm"],
            "encrypted_content": sealed["encrypted_data"].native}}})


def test_mac_and_key_bag_each_within_limits_but_too_much_together(issued):
    # Each count alone is one a PFX may ask for; together they pass the per-file budget.
    # The refusal comes before any derivation runs (the MAC here would not even verify).
    data = _pfx_of([_data_safe([_key_bag_declaring(issued, 600_000)])],
                   mac_iterations=700_000)
    with pytest.raises(KeyFileError, match="key-derivation work"):
        pkcs12.loads(data, PASSWORD)
    honest = _pfx_of([_data_safe([pkcs12._cert_bag(issued.certificate, None),
                                  _key_bag(issued, 10)])])
    assert pkcs12.loads(honest, PASSWORD).r == issued.r


def _key_bag_declaring(issued, iterations):
    """A key bag encrypted with 10 iterations that claims ``iterations`` (cheap to make)."""
    bag = _key_bag(issued, 10)
    algorithm = bag["bag_value"]["encryption_algorithm"]
    algorithm["parameters"]["key_derivation_func"]["parameters"]["iteration_count"] = \
        iterations
    return bag


def test_many_encrypted_safes_are_counted_together(issued):
    safes = [_encrypted_safe([], 10) for _ in range(8)]
    for safe in safes:
        safe["content"]["encrypted_content_info"]["content_encryption_algorithm"][
            "parameters"]["key_derivation_func"]["parameters"]["iteration_count"] = 200_000
    with pytest.raises(KeyFileError, match="key-derivation work"):
        pkcs12.loads(_pfx_of([_data_safe([_key_bag(issued, 10)]), *safes]), PASSWORD)


def test_work_hidden_inside_an_encrypted_safe_is_counted(issued):
    hidden = [_key_bag_declaring(issued, 1_100_000)]
    data = _pfx_of([_encrypted_safe([], 10), _encrypted_safe(hidden, 200_000)])
    with pytest.raises(KeyFileError, match="key-derivation work"):
        pkcs12.loads(data, PASSWORD)


def test_a_key_bag_under_scrypt_is_refused(issued):
    bag = _key_bag(issued, 10)
    kdf = bag["bag_value"]["encryption_algorithm"]["parameters"]["key_derivation_func"]
    kdf["algorithm"] = "1.3.6.1.4.1.11591.4.11"  # scrypt: a cost kpki cannot bound
    with pytest.raises(KeyFileError, match="unsupported key derivation"):
        pkcs12.loads(_pfx_of([_data_safe([bag])]), PASSWORD)


def test_a_pfx_in_an_encrypted_safe_reads_without_pyca(issued, monkeypatch):
    from pki.keys import pkcs12 as module

    def no_pyca(*args, **kwargs):
        raise AssertionError("pyca's PKCS #12 reader was asked")

    monkeypatch.setattr(module.pyca_pkcs12, "load_pkcs12", no_pyca)
    cert_bag = pkcs12._cert_bag(issued.certificate, None)
    data = _pfx_of([_encrypted_safe([cert_bag], 1000), _data_safe([_key_bag(issued, 1000)])])
    credential = pkcs12.loads(data, PASSWORD)
    assert credential.certificate == issued.certificate and credential.r == issued.r


@pytest.mark.parametrize("legacy", [False, True])
def test_reads_what_openssl_exports(issued, tmp_path, legacy):
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "key.pem").write_bytes(issued.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "cert.pem").write_bytes(issued.certificate.public_bytes(
        serialization.Encoding.PEM))
    (tmp_path / "pass").write_text(PASSWORD)
    args = ["openssl", "pkcs12", "-export", "-inkey", str(tmp_path / "key.pem"), "-in",
            str(tmp_path / "cert.pem"), "-out", str(tmp_path / "x.p12"), "-passout",
            f"file:{tmp_path / 'pass'}", *(["-legacy"] if legacy else [])]
    done = subprocess.run(args, capture_output=True)
    if legacy and done.returncode != 0:
        pytest.skip(f"this openssl has no legacy provider: {done.stderr[:200]!r}")
    assert done.returncode == 0, done.stderr
    credential = pkcs12.load(tmp_path / "x.p12", PASSWORD)
    assert credential.certificate == issued.certificate and credential.r is None
    with pytest.raises(WrongPasswordError):
        pkcs12.load(tmp_path / "x.p12", "Wrong-pass-000!")
