"""signPri.key (korean-pki.md section 4): reader, writer, NPKI folders."""

import json
import stat

import pytest
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.errors import KeyFileError, KeyMismatchError, WrongPasswordError
from pki.keys import npki
from pki.keys.npki import Variant
from tests import npki_reference
from tests.conftest import VECTORS

PASSWORD = "Test-pass-1234!"
R = bytes(range(20))


@pytest.fixture
def vector():
    if not (VECTORS / "vector.json").is_file():
        pytest.skip(f"the real yessign vector is not at {VECTORS} (see shared/vectors/README)")
    meta = json.loads((VECTORS / "vector.json").read_text())
    key_file = (VECTORS / "signPri.key").read_bytes()
    return meta, key_file, (VECTORS / "signPri.plain.der").read_bytes()


@pytest.fixture
def key(key_pool):
    return key_pool.keys(2048, 6)[0]


# -- the real file -----------------------------------------------------------------------


def test_reads_the_real_yessign_key_with_its_r(vector):
    meta, data, _ = vector
    opened = npki.decrypt(data, meta["password"])
    assert opened.variant is Variant.SEED_CBC_WITH_SHA1
    assert opened.iterations == meta["kdf"]["iterations"]
    assert opened.r.hex() == meta["randomNum_R_hex"]
    cert = x509.load_der_x509_certificate((VECTORS / "signCert.der").read_bytes())
    assert opened.private_key.public_key() == cert.public_key()


def test_rewrites_the_real_file_byte_for_byte(vector):
    meta, data, plain = vector
    opened = npki.decrypt(data, meta["password"])
    assert npki.encode_private_key_info(opened.private_key, opened.r) == plain
    salt = bytes.fromhex(meta["kdf"]["salt_hex"])
    assert npki.encrypt_plaintext(plain, meta["password"], salt=salt,
                                  iterations=meta["kdf"]["iterations"]) == data
    assert npki.encrypt(opened.private_key, meta["password"], r=opened.r, salt=salt) == data


def test_variant_a_key_derivation_matches_the_vector(vector):
    import hashlib

    meta, _, _ = vector
    dk = npki.pbkdf1_sha1(meta["password"].encode(), bytes.fromhex(meta["kdf"]["salt_hex"]),
                          meta["kdf"]["iterations"])
    assert dk[:16].hex() == meta["kdf"]["seed_key_hex"]
    assert hashlib.sha1(dk[16:20]).digest()[:16].hex() == meta["kdf"]["seed_iv_hex"]


def test_variant_c_key_derivation_matches_the_vector(vector):
    meta, _, _ = vector
    sample = meta["pbes2_sample"]
    data = (VECTORS / sample["file"]).read_bytes()
    variant, salt, count, iv, _ = npki._parse(data, npki.MAX_ITERATIONS)
    assert variant is Variant.PBES2_SEED
    assert iv.hex() == sample["expected_iv_hex"]
    key, _ = npki._seed_key_iv(variant, sample["password"].encode(), salt, count, iv)
    assert key.hex() == sample["expected_pbkdf2_hmac_sha1_key_hex"]
    # Its ciphertext was made with another password (see the vector's note).
    with pytest.raises(WrongPasswordError):
        npki.decrypt(data, sample["password"])


# -- writing and reading ------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize("r", [R, None])
def test_round_trip_every_variant(key, variant, r):
    data = npki.encrypt(key, PASSWORD, r=r, variant=variant)
    opened = npki.decrypt(data, PASSWORD)
    assert opened.variant is variant and opened.r == r
    assert opened.private_key.private_numbers() == key.private_numbers()


@pytest.mark.parametrize("variant", list(Variant))
def test_an_independent_reader_opens_what_kpki_writes(key, variant):
    data = npki.encrypt(key, PASSWORD, r=R, variant=variant)
    plain = npki_reference.decrypt_signpri(data, PASSWORD)
    assert npki_reference.random_num(plain) == R
    loaded = serialization.load_der_private_key(plain, None)
    assert loaded.private_numbers() == key.private_numbers()


def test_writer_defaults_are_those_of_real_files(key):
    data = npki.encrypt(key, PASSWORD, r=R)
    variant, salt, count, _, _ = npki._parse(data, npki.MAX_ITERATIONS)
    assert (variant, len(salt), count) == (Variant.SEED_CBC_WITH_SHA1, 8, 2048)
    assert npki._parse(npki.encrypt(key, PASSWORD, r=R), npki.MAX_ITERATIONS)[1] != salt
    plain = npki_reference.decrypt_signpri(data, PASSWORD)
    # The randomNum attribute exactly as section 4 shows it.
    assert plain.endswith(bytes.fromhex("a0273025060a2a831a8c9a440a0101033117031500") + R)


def test_iterations_are_configurable(key):
    data = npki.encrypt(key, PASSWORD, r=R, iterations=4096)
    assert npki.decrypt(data, PASSWORD).iterations == 4096


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(Variant))
def test_wrong_password(key, variant):
    data = npki.encrypt(key, PASSWORD, r=R, variant=variant)
    with pytest.raises(WrongPasswordError) as info:
        npki.decrypt(data, PASSWORD + "x")
    assert str(info.value) == "the password does not open this key file"


@pytest.mark.parametrize("data", [b"", b"\x00", b"garbage" * 10, b"\x30\x03\x02\x01\x00",
                                  b"\x30\x80" + b"\x00" * 10])
def test_garbage_is_a_key_file_error(data):
    with pytest.raises(KeyFileError):
        npki.decrypt(data, PASSWORD)


def test_truncated_file(key):
    data = npki.encrypt(key, PASSWORD, r=R)
    for cut in (10, 40, len(data) // 2, len(data) - 1):
        with pytest.raises((KeyFileError, WrongPasswordError)):
            npki.decrypt(data[:cut], PASSWORD)


def test_unknown_algorithm_oid(key):
    data = npki.encrypt(key, PASSWORD, r=R)
    # 1.2.410.200004.1.15 -> 1.2.410.200004.1.99
    bad = data.replace(bytes.fromhex("06082a831a8c9a44010f"), bytes.fromhex("06082a831a8c9a440163"))
    with pytest.raises(KeyFileError, match="unknown"):
        npki.decrypt(bad, PASSWORD)


def test_hostile_iteration_count_is_refused_at_once(key):
    honest = npki._EncryptedPrivateKeyInfo.load(npki.encrypt(key, PASSWORD, r=R))
    params = honest["encryption_algorithm"]["parameters"].parse(npki._SeedParameters)
    forged = npki._EncryptedPrivateKeyInfo({
        "encryption_algorithm": {"algorithm": "1.2.410.200004.1.15",
                                 "parameters": npki._SeedParameters({
                                     "salt": params["salt"].native,
                                     "iteration_count": 10**9})},
        "encrypted_data": honest["encrypted_data"].native}).dump()
    with pytest.raises(KeyFileError, match="iteration"):
        npki.decrypt(forged, PASSWORD)


def test_non_rsa_key_is_refused():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    plain = ec_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    with pytest.raises(KeyFileError, match="RSA"):
        npki.decrypt(npki.encrypt_plaintext(plain, PASSWORD), PASSWORD)


def test_a_key_of_an_unknown_algorithm_is_a_key_file_error():
    # Well-formed PKCS #8 under the right password, for a key OID pyca does not know: the
    # reader used to let cryptography's UnsupportedAlgorithm escape.
    plain = npki._PrivateKeyInfo({
        "version": 0,
        "private_key_algorithm": {"algorithm": "1.2.410.200004.99.1", "parameters": core.Null()},
        "private_key": b"\x04\x20" + bytes(32),
    }).dump()
    with pytest.raises(KeyFileError, match="algorithm"):
        npki.decrypt(npki.encrypt_plaintext(plain, PASSWORD), PASSWORD)


def test_inconsistent_rsa_key_is_refused(key):
    from cryptography.hazmat.primitives.asymmetric import rsa

    n = key.private_numbers()
    broken = rsa.RSAPrivateNumbers(n.p, n.q, n.d, n.dmp1, n.dmq1, (n.iqmp + 1) % n.p,
                                   n.public_numbers)
    plain = npki._PrivateKeyInfo({
        "version": 0,
        "private_key_algorithm": {"algorithm": "1.2.840.113549.1.1.1",
                                  "parameters": core.Null()},
        "private_key": _pkcs1(broken)}).dump()
    with pytest.raises(KeyFileError, match="inconsistent"):
        npki.decrypt(npki.encrypt_plaintext(plain, PASSWORD), PASSWORD)


def _pkcs1(numbers):
    from asn1crypto import keys

    pn = numbers.public_numbers
    return keys.RSAPrivateKey({
        "version": 0, "modulus": pn.n, "public_exponent": pn.e, "private_exponent": numbers.d,
        "prime1": numbers.p, "prime2": numbers.q, "exponent1": numbers.dmp1,
        "exponent2": numbers.dmq1, "coefficient": numbers.iqmp}).dump()


_VALID = {}


def _valid_file(key_pool):
    if "data" not in _VALID:
        _VALID["data"] = npki.encrypt(key_pool.keys(2048, 6)[0], PASSWORD, r=R, iterations=16)
    return _VALID["data"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(st.data())
def test_mutated_files_only_give_a_key_or_typed_errors(key_pool, data):
    original = _valid_file(key_pool)
    mutated = bytearray(original)
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "splice"]))
    pos = data.draw(st.integers(0, len(mutated) - 1))
    if kind == "flip":
        mutated[pos] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        del mutated[pos:]
    elif kind == "insert":
        mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        mutated[pos:pos + 4] = data.draw(st.binary(max_size=4))
    try:
        opened = npki.decrypt(bytes(mutated), PASSWORD)
    except (KeyFileError, WrongPasswordError):
        return
    assert opened.private_key.key_size >= 2048


# -- folders ------------------------------------------------------------------------------


def test_dump_and_load_a_folder(authority, tmp_path):
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    files = npki.dump(tmp_path / "f", issued.certificate, issued.private_key, PASSWORD,
                      r=issued.r)
    assert stat.S_IMODE(files.private_key.stat().st_mode) == 0o600
    loaded = npki.load(tmp_path / "f", PASSWORD)
    assert loaded.certificate == issued.certificate and loaded.r == issued.r
    assert npki.load_files(files.certificate, files.private_key, PASSWORD).r == issued.r


def test_key_and_certificate_must_match(authority, tmp_path, key_pool):
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    other = key_pool.other_than(issued.certificate.public_key())
    with pytest.raises(KeyMismatchError):
        npki.dump(tmp_path / "f", issued.certificate, other, PASSWORD, r=R)
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "signCert.der").write_bytes(issued.certificate.public_bytes(
        serialization.Encoding.DER))
    (folder / "signPri.key").write_bytes(npki.encrypt(other, PASSWORD, r=R))
    with pytest.raises(KeyMismatchError):
        npki.load(folder, PASSWORD)


def test_missing_files_are_key_file_errors(tmp_path):
    with pytest.raises(KeyFileError):
        npki.load(tmp_path, PASSWORD)


def test_npki_folders_are_0700_and_keys_0600_whatever_the_umask(authority, tmp_path):
    import os

    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    previous = os.umask(0)
    try:
        files = npki.dump(npki.folder_for(tmp_path / "base", issued.certificate),
                          issued.certificate, issued.private_key, PASSWORD, r=issued.r)
    finally:
        os.umask(previous)
    created = [files.folder, *files.folder.parents][:4]  # the folder, USER, yessign, NPKI
    assert [stat.S_IMODE(p.stat().st_mode) for p in created] == [0o700] * 4
    assert stat.S_IMODE(files.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "base").stat().st_mode) == 0o700  # created by kpki too


def test_a_subject_no_folder_can_hold_is_a_key_file_error(key):
    import datetime as dt

    from cryptography.hazmat.primitives import hashes

    def cert_named(*attributes):
        name = x509.Name(list(attributes))
        now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(1).not_valid_before(now)
                .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))

    o = x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "yessign")
    for cn in ("a,b", "#x", "a/b", "a\\b", "x+y"):
        with pytest.raises(KeyFileError, match="folder name"):
            npki.folder_for(".", cert_named(o, x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)))
    units = [x509.NameAttribute(x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "u" * 60)] * 5
    with pytest.raises(KeyFileError, match="255"):
        npki.folder_for(".", cert_named(o, *units))
    with pytest.raises(KeyFileError, match="folder name"):
        npki.folder_for(".", cert_named(x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME,
                                                           "..")))


@settings(max_examples=50)
@given(password=st.binary(max_size=40), salt=st.binary(min_size=8, max_size=8),
       iterations=st.integers(min_value=1, max_value=300))
def test_pbkdf1_is_iterated_sha1_from_hashlib(password, salt, iterations):
    """PBKDF1 (RFC 8018 5.1): T1 = SHA1(P || S), Ti = SHA1(Ti-1); whichever SHA-1 kpki
    uses underneath, the result is hashlib's."""
    import hashlib

    expected = hashlib.sha1(password + salt).digest()
    for _ in range(iterations - 1):
        expected = hashlib.sha1(expected).digest()
    assert npki.pbkdf1_sha1(password, salt, iterations) == expected
