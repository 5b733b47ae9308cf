"""CA keys behind a seam (issue 12, item 2).

Rules: a CA key is any object with pyca's RSA private-key interface, so a key whose ``sign``
goes elsewhere (an HSM) is accepted wherever kpki signs with a CA key: certificates, CRLs
(pyca's builder and kpki's own encoder), OCSP responses, time stamps, PKCS #7 / CMS; no code
outside the key store reads CA key material; a key store creates, loads, replaces and deletes
keys by label, the same for every implementation; a CA whose creation fails leaves no key.
"""

from __future__ import annotations

import datetime as dt
import stat
from collections import Counter
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from pki.errors import (
    CAKeyExistsError,
    CAKeyNotFoundError,
    PKIError,
    StoreError,
    WrongPasswordError,
)
from pki.home import CASettings, Home
from pki.keys.castore import (
    CAKey,
    FileCAKeyStore,
    KeyLabel,
    KeyRole,
    MemoryCAKeyStore,
)
from pki.profiles import KeyType
from pki.signing import KeySigner, sign
from pki.timestamp import verify_timestamp_token

RRN = "9005171234566"
NOW = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)


class DelegatingKey(rsa.RSAPrivateKey):
    """A CA key whose ``sign`` goes elsewhere (here: to a real key it wraps), as a PKCS #11
    key's would; it refuses to give out key material and counts its signatures."""

    def __init__(self, inner: rsa.RSAPrivateKey, counts: Counter[str], label: str) -> None:
        self._inner = inner
        self._counts = counts
        self._label = label

    def sign(self, data: bytes, padding: padding.AsymmetricPadding,  # type: ignore[override]
             algorithm: hashes.HashAlgorithm) -> bytes:
        self._counts[self._label] += 1
        return self._inner.sign(data, padding, algorithm)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._inner.public_key()

    @property
    def key_size(self) -> int:
        return self._inner.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise AssertionError("a CA key is never used to decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise AssertionError(f"the key material of {self._label} was read")

    def private_bytes(self, encoding: serialization.Encoding,  # type: ignore[override]
                      format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        raise AssertionError(f"the key material of {self._label} was read")

    def __copy__(self) -> DelegatingKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> DelegatingKey:
        return self


class DelegatingKeyStore:
    """A key store handing out :class:`DelegatingKey`s (what a PKCS #11 store would do)."""

    description = "delegating test store"

    def __init__(self, key_pool) -> None:  # type: ignore[no-untyped-def]
        self.inner = MemoryCAKeyStore(key_generator=key_pool)
        self.counts: Counter[str] = Counter()
        self._wrapped: dict[KeyLabel, DelegatingKey] = {}

    def _wrap(self, label: KeyLabel, key: CAKey) -> DelegatingKey:
        wrapped = DelegatingKey(key, self.counts, str(label))
        self._wrapped[label] = wrapped
        return wrapped

    def generate(self, label: KeyLabel, key_type: KeyType, *,
                 replace: bool = False) -> CAKey:
        return self._wrap(label, self.inner.generate(label, key_type, replace=replace))

    def load(self, label: KeyLabel) -> CAKey:
        inner = self.inner.load(label)
        held = self._wrapped.get(label)
        return held if held is not None and held._inner is inner else self._wrap(label, inner)

    def exists(self, label: KeyLabel) -> bool:
        return self.inner.exists(label)

    def delete(self, label: KeyLabel) -> None:
        self.inner.delete(label)


def _verify(public_key: object, signature: bytes, data: bytes) -> None:
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_a_key_that_signs_elsewhere_signs_everything_a_home_signs(key_pool):
    from pki.clock import FixedClock

    keys = DelegatingKeyStore(key_pool)
    clock = FixedClock(NOW)
    home = Home.in_memory(keys=keys, key_generator=key_pool, clock=clock)
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    root = home.store.get_ca("root").certificate
    ca = home.store.get_ca("yessign").certificate
    ca.verify_directly_issued_by(root)  # the certificate builder, root key

    issued = home.authority().issue_joint(name="홍길동", rrn=RRN)  # certificate builder
    issued.certificate.verify_directly_issued_by(ca)

    for crl, _ in home.publish_crls(passphrase=None):  # kpki's hand-written CRL encoder
        issuer = home.store.get_ca(crl.info.ca).certificate
        assert x509.load_der_x509_crl(crl.der).is_signature_valid(
            issuer.public_key())  # type: ignore[arg-type]

    responder = home.ocsp_responder("yessign", passphrase=None)  # signer issued, then OCSP
    responder.signer.verify_directly_issued_by(ca)
    request = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, ca, hashes.SHA256()).build().public_bytes(serialization.Encoding.DER)
    answer = ocsp.load_der_ocsp_response(responder.respond(request))
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    _verify(responder.signer.public_key(), answer.signature, answer.tbs_response_bytes)

    tsa = home.tsa(passphrase=None)  # the TSA certificate (root key) and a token (TSA key)
    token = tsa.timestamp(b"signature value")
    [(root_crl, _)] = home.publish_crls(passphrase=None, labels=["root"])
    checked = verify_timestamp_token(token, signature_value=b"signature value", trust=[root],
                                     crls=[root_crl.der], clock=clock)
    assert checked.ok, checked.checks

    # root: itself, two CA certificates, the TSA's, two CRLs; yessign: a certificate, a
    # CRL, its OCSP signer's certificate.
    assert keys.counts == Counter({"root": 6, "yessign": 3, "signkorea": 1,
                                   "yessign/ocsp": 1, "root/tsa": 1})


def test_pycas_builders_and_cms_take_a_key_that_signs_elsewhere(key_pool):
    counts: Counter[str] = Counter()
    key = DelegatingKey(key_pool.generate(2048), counts, "ca")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Delegated CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(NOW)
            .not_valid_after(NOW + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name).last_update(NOW)
           .next_update(NOW + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    assert crl.is_signature_valid(key.public_key())
    answer = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=cert, algorithm=hashes.SHA256(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=NOW, next_update=NOW, revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, cert).sign(key, hashes.SHA256())
    _verify(key.public_key(), answer.signature, answer.tbs_response_bytes)
    pkcs7.PKCS7SignatureBuilder().set_data(b"data").add_signer(
        cert, key, hashes.SHA256()).sign(serialization.Encoding.DER, [])
    signed = sign(b"data", KeySigner(cert, key))  # kpki's CMS
    assert signed.der
    assert counts["ca"] == 5


def test_no_module_but_the_key_stores_reads_key_material():
    """``private_bytes`` of a CA key only in the key store and the at-rest envelope it uses;
    elsewhere it is applied to subscriber keys (their NPKI files) or the test key cache."""
    root = Path(__file__).resolve().parents[1] / "pki"
    users = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
             if "private_bytes(" in p.read_text(encoding="utf-8")}
    # usecases/keyfiles.py: a subscriber's key exported as PEM (kpki key export --unencrypted);
    # keys/devicekeystore.py: a private certificate's key sealed under the device PIN
    # keys/pkcs11.py: the PKCS #11 store importing a test's pooled key into the token
    assert users <= {"keys/castore.py", "keys/atrest.py", "keys/npki.py", "testing.py",
                     "usecases/keyfiles.py", "keys/devicekeystore.py", "keys/pkcs11.py"}


# -- the key store protocol, for every implementation -----------------------------------------


@pytest.fixture(params=["memory", "files", "encrypted files"])
def store(request, tmp_path, key_pool):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        return MemoryCAKeyStore(key_generator=key_pool)
    encrypted = request.param == "encrypted files"
    return FileCAKeyStore(tmp_path / "cas", encrypted=encrypted,
                          passphrase=b"secret" if encrypted else None, key_generator=key_pool,
                          iterations=1000)


LABEL = KeyLabel.of_ca("yessign")


def test_a_generated_key_is_loaded_by_its_label(store):
    assert not store.exists(LABEL)
    key = store.generate(LABEL, KeyType.RSA2048)
    assert store.exists(LABEL)
    assert store.load(LABEL).public_key() == key.public_key()
    assert not store.exists(KeyLabel.ocsp("yessign"))


def test_a_label_holds_one_key_unless_replaced(store):
    first = store.generate(LABEL, KeyType.RSA2048)
    with pytest.raises(CAKeyExistsError) as refused:
        store.generate(LABEL, KeyType.RSA2048)
    assert refused.value.label == "yessign"
    assert store.load(LABEL).public_key() == first.public_key()
    signer = KeyLabel.ocsp("yessign")
    store.generate(signer, KeyType.RSA2048)
    second = store.generate(signer, KeyType.RSA2048, replace=True)
    assert store.load(signer).public_key() == second.public_key()


def test_a_missing_key_is_not_found_and_delete_forgets(store):
    with pytest.raises(CAKeyNotFoundError) as missing:
        store.load(LABEL)
    assert missing.value.label == "yessign"
    store.generate(LABEL, KeyType.RSA2048)
    store.delete(LABEL)
    assert not store.exists(LABEL)
    store.delete(LABEL)  # nothing to delete: no error
    store.generate(LABEL, KeyType.RSA2048)  # the label is free again


def test_the_description_names_the_store_not_the_secret(store):
    assert store.description and "secret" not in store.description


@pytest.mark.parametrize("text", ["yessign", "yessign/ocsp", "root/tsa"])
def test_key_labels_read_back(text):
    assert str(KeyLabel.parse(text)) == text


@pytest.mark.parametrize("text", ["", "Yessign", "yessign/ca", "yessign/nope", "../x", "a/b/c"])
def test_bad_key_labels_are_refused(text):
    with pytest.raises(ValueError):
        KeyLabel.parse(text)


# -- encrypted files -------------------------------------------------------------------------


def test_files_are_0600_in_0700_folders_named_as_before(tmp_path, key_pool):
    store = FileCAKeyStore(tmp_path / "cas", encrypted=True, passphrase=b"secret",
                           key_generator=key_pool, iterations=1000)
    for label, name in ((KeyLabel.of_ca("root"), "key.pem"),
                        (KeyLabel.ocsp("root"), "ocsp-key.pem"),
                        (KeyLabel.tsa(), "tsa-key.pem")):
        store.generate(label, KeyType.RSA2048)
        path = tmp_path / "cas" / "root" / name
        assert store.path(label) == path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE((tmp_path / "cas" / "root").stat().st_mode) == 0o700
    assert KeyRole.TSA.value == "tsa"


def test_an_encrypted_store_needs_its_passphrase(tmp_path, key_pool):
    folder = tmp_path / "cas"
    made = FileCAKeyStore(folder, encrypted=True, passphrase=b"secret", key_generator=key_pool,
                          iterations=1000)
    key = made.generate(LABEL, KeyType.RSA2048)
    locked = FileCAKeyStore(folder, encrypted=True, key_generator=key_pool)
    with pytest.raises(WrongPasswordError):
        locked.load(LABEL)
    with pytest.raises(WrongPasswordError):
        locked.generate(KeyLabel.of_ca("other"), KeyType.RSA2048)
    with pytest.raises(WrongPasswordError):
        locked.with_passphrase(b"wrong").load(LABEL)
    assert locked.with_passphrase(b"secret").load(LABEL).public_key() == key.public_key()


def test_unlocked_keys_are_shared_and_a_rotated_key_replaces_the_held_one(tmp_path, key_pool):
    store = FileCAKeyStore(tmp_path / "cas", encrypted=True, passphrase=b"secret",
                           key_generator=key_pool, iterations=1000)
    signer = KeyLabel.ocsp("yessign")
    store.generate(signer, KeyType.RSA2048)
    store.unlock([signer])
    store.path(signer).write_bytes(b"gone")  # held: the file is not read again
    view = FileCAKeyStore(tmp_path / "cas", encrypted=True, key_generator=key_pool)
    assert store.load(signer) is store.with_passphrase(b"other").load(signer)
    with pytest.raises(PKIError):  # a separate store holds nothing: the file is read
        view.with_passphrase(b"secret").load(signer)
    rotated = store.generate(signer, KeyType.RSA2048, replace=True)
    assert store.load(signer) is rotated


def test_a_ca_whose_creation_fails_leaves_no_key(make_home):
    home = make_home()
    home.store.fail_commits(1)
    with pytest.raises(StoreError):
        home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    assert not home.keys.exists(KeyLabel.of_ca("signkorea"))
    assert not home.ca_dir("signkorea").exists()
    assert [r.label for r in home.list_cas()] == ["root", "yessign"]
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
