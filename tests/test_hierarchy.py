"""The CA hierarchy, CA keys at rest and the home (korean-pki.md section 2)."""

import datetime as dt
import os
import sqlite3
import stat
import subprocess

import pytest
from asn1crypto import keys as akeys
from asn1crypto import pem
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from pki import oids
from pki.errors import (
    HomeExistsError,
    HomeNotFoundError,
    PKIError,
    ProfileError,
    StoreError,
    UnknownCAError,
    WrongPasswordError,
)
from pki.home import CASettings, Home, RootSettings
from pki.keys.atrest import CA_KDF_ITERATIONS
from pki.profiles import KeyType
from tests.conftest import PASSPHRASE
from tests.helpers import assert_kst_day_aligned, extension_layout, policy_notice_type


def _ext(cert, oid):
    return cert.extensions.get_extension_for_oid(oid)


def test_root_is_a_self_signed_kisa_style_ca(home):
    root = home.store.get_ca("root").certificate
    assert root.subject == root.issuer
    assert root.subject.rfc4514_string() == (
        "CN=Kisa Test RootCA 7,OU=Korea Certification Authority Central,O=KISA,C=KR")
    root.verify_directly_issued_by(root)
    assert root.not_valid_after_utc.year - root.not_valid_before_utc.year == 20
    assert_kst_day_aligned(root)
    bc = _ext(root, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value.ca and bc.value.path_length is None


def test_licensed_ca_profile(home):
    ca = home.store.get_ca("yessign").certificate
    root = home.store.get_ca("root").certificate
    ca.verify_directly_issued_by(root)
    assert ca.subject.rfc4514_string() == "CN=yessignCA-Test Class 4,OU=AccreditedCA,O=yessign,C=kr"
    assert ca.not_valid_after_utc.year - ca.not_valid_before_utc.year == 10
    assert_kst_day_aligned(ca)
    bc = _ext(ca, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = _ext(ca, ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    pc = _ext(ca, ExtensionOID.POLICY_CONSTRAINTS)
    assert pc.critical and pc.value.require_explicit_policy == 0
    cp = _ext(ca, ExtensionOID.CERTIFICATE_POLICIES)
    assert cp.critical and cp.value[0].policy_identifier == oids.ANY_POLICY
    assert policy_notice_type(ca) == "bmp_string"
    dp = _ext(ca, ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert dp[0].full_name[0].value == home.store.get_ca("root").crl_url
    assert [oid for oid, _ in extension_layout(ca)][:2] == ["2.5.29.35", "2.5.29.14"]


def test_ca_names_are_configurable(make_home):
    home = make_home(root=RootSettings(common_name="KISA RootCA 4"),
                     ca=CASettings(label="ys", common_name="yessignCA Class 2"))
    assert home.store.get_ca("root").certificate.subject.rfc4514_string().startswith(
        "CN=KISA RootCA 4,")
    assert home.default_ca_label() == "ys"


def test_rsa_3072_is_selectable(make_home):
    home = make_home(root=RootSettings(key_type=KeyType.RSA3072),
                     ca=CASettings(key_type=KeyType.RSA3072))
    assert {r.certificate.public_key().key_size for r in home.list_cas()} == {3072}


def test_ca_keys_are_encrypted_with_a_strong_kdf(make_home):
    home = make_home(passphrase=PASSPHRASE)
    for label in ("root", "yessign"):
        path = home.ca_dir(label) / "key.pem"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kind, _, der = pem.unarmor(path.read_bytes())
        assert kind == "ENCRYPTED PRIVATE KEY"
        alg = akeys.EncryptedPrivateKeyInfo.load(der)["encryption_algorithm"]
        kdf = alg["parameters"]["key_derivation_func"]["parameters"]
        assert alg["algorithm"].native == "pbes2"
        assert kdf["prf"]["algorithm"].native == "sha256"
        assert kdf["iteration_count"].native >= CA_KDF_ITERATIONS >= 600_000
        assert alg["parameters"]["encryption_scheme"]["algorithm"].native == "aes256_cbc"


def test_openssl_pkey_reads_the_encrypted_ca_key(make_home, tmp_path):
    home = make_home(passphrase=PASSPHRASE)
    pass_file = tmp_path / "pass"
    pass_file.write_bytes(PASSPHRASE)
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(home.ca_dir("yessign") / "key.pem"),
         "-passin", f"file:{pass_file}", "-pubout"], capture_output=True, check=True)
    cert = home.store.get_ca("yessign").certificate
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    assert load_pem_public_key(out.stdout) == cert.public_key()


def test_wrong_or_missing_passphrase_is_refused(make_home):
    home = make_home(passphrase=PASSPHRASE)
    with pytest.raises(WrongPasswordError):
        home.authority(passphrase=b"not the passphrase")
    with pytest.raises(WrongPasswordError):
        home.authority(passphrase=None)
    assert home.authority(passphrase=PASSPHRASE).label == "yessign"


def test_unlock_opens_each_ca_key_once(make_home):
    home = make_home(passphrase=PASSPHRASE)
    with pytest.raises(WrongPasswordError):
        home.unlock(b"not the passphrase")
    home.unlock(PASSPHRASE)
    for label in ("root", "yessign"):  # held in memory: the files are not read again
        (home.ca_dir(label) / "key.pem").write_bytes(b"gone")
    assert [crl.info.ca for crl, _ in home.publish_crls(passphrase=None)] == ["root", "yessign"]
    other = Home.open(home.path, clock=home.clock)
    try:
        with pytest.raises(PKIError):
            other.load_ca_key("yessign", PASSPHRASE)
        other.unlock(None, keys_from=home)
        assert other.authority().label == "yessign"
    finally:
        other.close()


def test_no_passphrase_stores_plain_keys(home):
    assert not home.keys_encrypted
    assert b"BEGIN PRIVATE KEY" in (home.ca_dir("root") / "key.pem").read_bytes()


def test_ca_add_puts_a_further_licensed_ca_under_the_root(make_home):
    home = make_home(passphrase=PASSPHRASE)
    record = home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=PASSPHRASE)
    root = home.store.get_ca("root").certificate
    record.certificate.verify_directly_issued_by(root)
    assert record.parent == "root"
    assert [r.label for r in home.list_cas()] == ["root", "yessign", "signkorea"]
    assert home.chain_of("signkorea") == (root,)
    assert b"ENCRYPTED" in (home.ca_dir("signkorea") / "key.pem").read_bytes()


def test_ca_add_refuses_duplicates_bad_labels_and_wrong_passphrase(make_home):
    home = make_home(passphrase=PASSPHRASE)
    with pytest.raises(ProfileError):
        home.add_ca(CASettings(label="yessign"), passphrase=PASSPHRASE)
    with pytest.raises(ProfileError):
        home.add_ca(CASettings(label="Bad Label"), passphrase=PASSPHRASE)
    with pytest.raises(ProfileError):
        home.add_ca(CASettings(label="x", style="nosuchstyle"), passphrase=PASSPHRASE)
    with pytest.raises(WrongPasswordError):
        home.add_ca(CASettings(label="x"), passphrase=b"wrong")
    assert [r.label for r in home.list_cas()] == ["root", "yessign"]
    assert not home.ca_dir("x").exists()


def test_unknown_ca_is_an_error(home):
    with pytest.raises(UnknownCAError):
        home.authority("nope")
    with pytest.raises(ProfileError):
        home.authority("root")


def test_home_is_not_created_over_something(tmp_path, key_pool):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(HomeExistsError):
        Home.create(tmp_path / "full", passphrase=None, key_generator=key_pool)


def test_interrupted_init_leaves_nothing(tmp_path, key_pool):
    class Failing:
        calls = 0

        def generate(self, bits):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("power cut")
            return key_pool.generate(bits)

    with pytest.raises(RuntimeError):
        Home.create(tmp_path / "home", passphrase=None, key_generator=Failing())
    assert list(tmp_path.iterdir()) == []


def test_missing_home_is_an_error(tmp_path):
    with pytest.raises(HomeNotFoundError):
        Home.open(tmp_path / "nothing")


def test_corrupted_home_is_an_error(home, tmp_path):
    path = home.path
    home.close()
    (path / "kpki.db").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (path / f"kpki.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreError):
        Home.open(path)


def test_foreign_sqlite_file_is_not_a_home(tmp_path):
    (tmp_path / "h").mkdir()
    sqlite3.connect(tmp_path / "h" / "kpki.db").execute("CREATE TABLE meta (x)").connection.close()
    with pytest.raises(StoreError):
        Home.open(tmp_path / "h")


def test_home_folder_is_private(home):
    assert stat.S_IMODE(os.stat(home.path).st_mode) == 0o700


def test_ca_creation_is_audited(home):
    events = home.store.audit_log()
    assert [(e.action, e.ca) for e in events] == [("ca.created", "root"),
                                                  ("ca.created", "yessign")]
    assert events[0].at == dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)


def test_ca_certificates_are_x509_v3(home):
    for record in home.list_cas():
        assert record.certificate.version is x509.Version.v3


# -- serial numbers shaped like real Korean CAs' (issue 11, item 7) ------------------------


class _Scripted:
    """Plays back given byte strings (each asked for with its exact length), then a
    seeded stream."""

    def __init__(self, *chunks):
        from pki.entropy import SeededEntropy

        self.chunks = list(chunks)
        self.rest = SeededEntropy("scripted")

    def token_bytes(self, n):
        if self.chunks and len(self.chunks[0]) == n:
            return self.chunks.pop(0)
        return self.rest.token_bytes(n)


def _der_integer_octets(serial):
    from asn1crypto import core

    return len(core.Integer(serial).contents)


def test_serials_fit_a_signed_64_bit_integer(home, authority):
    serials = [authority.issue_joint(name="홍길동", rrn="9005171234566").serial
               for _ in range(30)]
    serials.append(authority.issue_financial(name="홍길동", rrn="9005171234566").serial)
    cas = [r.certificate.serial_number for r in home.list_cas()]
    for serial in serials + cas:
        assert 0 < serial < 2**63
        assert _der_integer_octets(serial) <= 8
    assert len(set(serials)) == len(serials)
    # Unpredictable: 63 random bits, not a counter.
    assert max(s.bit_length() for s in serials) > 48


def test_serial_bits_asks_for_longer_serials(authority):
    authority.entropy = _Scripted(b"\x01" * 20, b"\xff" * 20)  # R, then the serial
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566", serial_bits=159)
    assert issued.serial == 2**159 - 1
    assert _der_integer_octets(issued.serial) == 20  # RFC 5280's limit
    with pytest.raises(ProfileError, match="159"):
        authority.issue_joint(name="홍길동", rrn="9005171234566", serial_bits=160)
    with pytest.raises(ProfileError):
        authority.issue_joint(name="홍길동", rrn="9005171234566", serial_bits=16)


def test_a_serial_taken_at_the_ca_is_drawn_again(home, authority):
    same = bytes.fromhex("7f" * 8)
    r = b"\x01" * 20
    authority.entropy = _Scripted(r, same, r, same)  # R, then the serial, twice
    first = authority.issue_joint(name="홍길동", rrn="9005171234566")
    second = authority.issue_joint(name="홍길동", rrn="9005171234566")
    assert first.serial == int.from_bytes(same, "big") >> 1
    assert second.serial != first.serial
    assert len(home.store.list_certificates()) == 2


def test_ca_certificates_take_serial_bits_and_draw_again_on_collision(make_home):
    home = make_home(root=RootSettings(serial_bits=100), ca=CASettings(serial_bits=120),
                     entropy=_Scripted(b"\xff" * 13, b"\xff" * 15))
    assert home.store.get_ca("root").certificate.serial_number == 2**100 - 1
    assert home.store.get_ca("yessign").certificate.serial_number == 2**120 - 1
    # A second CA whose first draw is the serial the root gave the first one.
    taken = home.store.get_ca("yessign").certificate.serial_number
    home.entropy = _Scripted(b"\xff" * 15)
    added = home.add_ca(CASettings(label="signkorea", style="signkorea", serial_bits=120),
                        passphrase=None)
    assert added.certificate.serial_number != taken
    assert added.certificate.serial_number < 2**120
    assert [e.action for e in home.store.audit_log(ca="signkorea")] == ["ca.created"]


def test_cli_serial_bits(tmp_path):
    from click.testing import CliRunner

    from pki.cli.main import cli

    runner = CliRunner()
    home = tmp_path / "h"
    made = runner.invoke(cli, ["--home", str(home), "init", "--no-passphrase",
                               "--serial-bits", "96", "--json"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    env = {"KPKI_KEY_PASSWORD": "Test-pass-1234!"}
    args = ["--home", str(home), "issue", "joint", "--name", "홍길동", "--rrn",
            "9005171234566", "--out", str(tmp_path / "out"), "--json"]
    short = runner.invoke(cli, args, env=env, catch_exceptions=False)
    long = runner.invoke(cli, [*args, "--serial-bits", "127"], env=env,
                         catch_exceptions=False)
    assert short.exit_code == 0 and long.exit_code == 0, short.output + long.output
    import json

    assert int(json.loads(short.stdout)["serial"], 16) < 2**63
    assert int(json.loads(long.stdout)["serial"], 16) < 2**127
    refused = runner.invoke(cli, [*args, "--serial-bits", "200"], env=env,
                            catch_exceptions=False)
    assert refused.exit_code == 2 and "--serial-bits" in refused.stderr
    with Home.open(home) as opened:
        assert all(r.certificate.serial_number < 2**96 for r in opened.list_cas())
