"""CA keys in an HSM over PKCS #11 (issue 16 item 3), against SoftHSM2.

Rules: keys are generated in the token, sensitive and never extractable (``private_bytes``
refuses); they are addressed by a PKCS #11 URI naming the token and its module, and the PIN
never comes from the URI; every signing path (certificates, CRLs with kpki's own encoder,
OCSP responses and responder certificates, time stamps, CMS, PKCS #1 v1.5 and PSS with salt
32) works with them and verifies with pyca, openssl and kpki's verifier; one lock makes them
safe for threads, and a forked child signs too; a wrong PIN, a token without the key, a
module path that does not exist and a token label that does not exist are one-line errors,
and a failed ``init`` or ``ca add`` leaves neither a home, a setting nor a key in the token.

Each test makes its own token in the worker's SoftHSM2 folder (SOFTHSM2_CONF set once per
process, before the module is loaded). Keys whose generation is not the point are pooled
keys imported into the token (generation in SoftHSM costs 0.2 to 1.5 s a key).
"""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from cli.main import cli
from pki.clock import FixedClock
from pki.errors import (
    CAKeyExistsError,
    CAKeyNotFoundError,
    HSMError,
    HSMProblem,
    UnsupportedKeyError,
    WrongPasswordError,
)
from pki.home import CASettings, Home
from pki.keys.castore import KeyLabel
from pki.keys.pkcs11 import PKCS11CAKeyStore, PKCS11RSAKey, key_id
from pki.profiles import KeyType
from pki.signing import KeySigner, sign, verify
from pki.timestamp import verify_timestamp_token

from .serve_process import serving

MODULE = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                           "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
               if os.path.isfile(p)), None)
_MISSING = MODULE is None or shutil.which("softhsm2-util") is None
# .ci/run installs SoftHSM2 and sets KPKI_REQUIRE_HSM: there a missing one fails the tests.
pytestmark = pytest.mark.skipif(_MISSING and not os.environ.get("KPKI_REQUIRE_HSM"),
                                reason="SoftHSM2 is not installed (.ci/run installs it)")
PIN = "1234"
NOW = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)
RRN = "9005171234566"
_numbers = itertools.count()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This process's SoftHSM2 folder; SOFTHSM2_CONF points at it from now on."""
    if _MISSING:
        pytest.fail("KPKI_REQUIRE_HSM is set but SoftHSM2 is not installed")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    yield folder
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


def _new_token(label: str) -> None:
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN,
                    "--so-pin", "5678"], check=True, capture_output=True)


@pytest.fixture
def token(softhsm: Path) -> str:
    """The URI of a token of this test's own."""
    label = f"t{os.getpid()}-{next(_numbers)}"
    _new_token(label)
    return f"pkcs11:token={label}?module-path={MODULE}"


@pytest.fixture
def store(token: str, key_pool) -> PKCS11CAKeyStore:  # type: ignore[no-untyped-def]
    """A key store over the test's token whose keys are pooled keys imported into it."""
    return PKCS11CAKeyStore(token, pin=PIN.encode(), key_generator=key_pool)


def _objects(uri: str, label: str | None = None) -> list[str]:
    """The labels of every key object in the token (logged in)."""
    import pkcs11
    from pkcs11 import Attribute

    from pki.keys import pkcs11 as hsm

    store = PKCS11CAKeyStore(uri, pin=PIN.encode())
    with hsm._locked():
        session = store._token.open(store.pin)
        found = [str(o[Attribute.LABEL]) for o in session.get_objects()
                 if o[Attribute.CLASS] in (pkcs11.ObjectClass.PRIVATE_KEY,
                                           pkcs11.ObjectClass.PUBLIC_KEY)]
    return sorted(f for f in found if label is None or f.startswith(label))


# -- keys generated in the token, never extractable -----------------------------------------


@pytest.mark.real_keys
def test_a_generated_key_is_made_in_the_token_sensitive_and_not_extractable(token):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    from pki.keys import pkcs11 as hsm

    store = PKCS11CAKeyStore(token, pin=PIN.encode())
    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    assert isinstance(key, PKCS11RSAKey) and key.key_size == 2048
    with hsm._locked():
        session = store._token.open(store.pin)
        [private] = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
        assert private[Attribute.LABEL] == "yessign"
        assert private[Attribute.ID] == key_id(KeyLabel.of_ca("yessign"))
        assert private[Attribute.SENSITIVE] and not private[Attribute.EXTRACTABLE]
        assert private[Attribute.NEVER_EXTRACTABLE] and private[Attribute.ALWAYS_SENSITIVE]
        assert private[Attribute.LOCAL]  # generated there, not imported
        assert private[Attribute.TOKEN] and private[Attribute.PRIVATE]
        with pytest.raises(pkcs11.PKCS11Error):
            private[Attribute.PRIVATE_EXPONENT]
    for export in (lambda: key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()),
                   key.private_numbers):
        with pytest.raises(UnsupportedKeyError, match="in a token"):
            export()
    data = b"to be signed"
    key.public_key().verify(key.sign(data, padding.PKCS1v15(), hashes.SHA256()), data,
                            padding.PKCS1v15(), hashes.SHA256())


def test_the_key_store_protocol_holds_for_a_token(store):
    label = KeyLabel.of_ca("yessign")
    assert not store.exists(label)
    key = store.generate(label, KeyType.RSA2048)
    assert store.exists(label) and store.load(label).public_key() == key.public_key()
    with pytest.raises(CAKeyExistsError) as refused:
        store.generate(label, KeyType.RSA2048)
    assert refused.value.label == "yessign"
    signer = KeyLabel.ocsp("yessign")
    old = store.generate(signer, KeyType.RSA2048)
    new = store.generate(signer, KeyType.RSA2048, replace=True)
    assert store.load(signer).public_key() == new.public_key() != old.public_key()
    assert _objects(str(store.uri), "yessign/ocsp") == ["yessign/ocsp", "yessign/ocsp"]
    with pytest.raises(CAKeyNotFoundError):  # the replaced key is not used in its stead
        old.sign(b"x", padding.PKCS1v15(), hashes.SHA256())
    store.delete(signer)
    assert not store.exists(signer)
    with pytest.raises(CAKeyNotFoundError) as missing:
        store.load(signer)
    assert missing.value.label == "yessign/ocsp"
    assert "1234" not in store.description and "token" in store.description


# -- every signing path ---------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_every_signing_path_works_with_keys_in_a_token(store, key_pool, tmp_path):
    clock = FixedClock(NOW)
    home = Home.in_memory(keys=store, key_generator=key_pool, clock=clock)
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    root = home.store.get_ca("root").certificate
    ca = home.store.get_ca("yessign").certificate
    ca.verify_directly_issued_by(root)
    issued = home.authority().issue_joint(name="홍길동", rrn=RRN)
    issued.certificate.verify_directly_issued_by(ca)
    (tmp_path / "root.pem").write_bytes(_pem(root))
    (tmp_path / "ca.pem").write_bytes(_pem(ca))
    (tmp_path / "leaf.pem").write_bytes(_pem(issued.certificate))

    crl_files = []
    for crl, _ in home.publish_crls(passphrase=None):  # kpki's own CRL encoder
        issuer = home.store.get_ca(crl.info.ca).certificate
        loaded = x509.load_der_x509_crl(crl.der)
        assert loaded.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        path = tmp_path / f"{crl.info.ca}.crl.pem"
        path.write_bytes(loaded.public_bytes(serialization.Encoding.PEM))
        crl_files.append(path)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(p.read_bytes() for p in crl_files)
                      + _pem(root) + _pem(ca))
    done = subprocess.run(["openssl", "verify", "-attime", str(int(NOW.timestamp()) + 3600),
                           "-crl_check_all", "-CAfile", str(chain), str(tmp_path / "leaf.pem")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

    responder = home.ocsp_responder("yessign", passphrase=None)  # responder certificate
    responder.signer.verify_directly_issued_by(ca)
    request = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, ca, hashes.SHA256()).build().public_bytes(serialization.Encoding.DER)
    answer = ocsp.load_der_ocsp_response(responder.respond(request))
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    signer_key = responder.signer.public_key()
    assert isinstance(signer_key, rsa.RSAPublicKey)
    signer_key.verify(answer.signature, answer.tbs_response_bytes, padding.PKCS1v15(),
                      hashes.SHA256())

    tsa = home.tsa(passphrase=None)  # the TSA's certificate (root key), a token (TSA key)
    stamp = tsa.timestamp(b"signature value")
    [(root_crl, _)] = home.publish_crls(passphrase=None, labels=["root"])
    checked = verify_timestamp_token(stamp, signature_value=b"signature value", trust=[root],
                                     crls=[root_crl.der], clock=clock)
    assert checked.ok, checked.checks

    for pss in (False, True):  # CMS with the CA key, PKCS #1 v1.5 and PSS
        signed = sign(b"document", KeySigner(ca, home.keys.load(KeyLabel.of_ca("yessign"))),
                      pss=pss, clock=clock)
        result = verify(signed.der, trust=[root], crls=[c.der for c, _ in
                                                         home.publish_crls(passphrase=None)],
                        clock=clock)
        assert result.intact, result


def test_pss_signatures_have_a_32_byte_salt(store):
    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    public = key.public_key()
    data = b"document"
    pss32 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signature = key.sign(data, pss32, hashes.SHA256())
    public.verify(signature, data, pss32, hashes.SHA256())
    with pytest.raises(InvalidSignature):  # the salt is 32 bytes, not another length
        public.verify(signature, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                   salt_length=20), hashes.SHA256())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PSS CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1))
            .sign(key, hashes.SHA256(), rsa_padding=pss32))
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.signature_algorithm_parameters, padding.PSS)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA224(), hashes.SHA256(),
                                       hashes.SHA384(), hashes.SHA512()],
                         ids=lambda a: a.name)
@pytest.mark.parametrize("kind", ["pkcs1v15", "pss", "pkcs1v15-prehashed", "pss-prehashed"])
def test_every_hash_and_padding_kpki_uses_signs_in_the_token(store, algorithm, kind):
    key = store.load(KeyLabel.of_ca("yessign")) if store.exists(KeyLabel.of_ca("yessign")) \
        else store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15() if kind.startswith("pkcs1v15")
        else padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size))
    data = b"data to sign"
    if kind.endswith("prehashed"):
        digest = hashes.Hash(algorithm)
        digest.update(data)
        signature = key.sign(digest.finalize(), pad, Prehashed(algorithm))
    else:
        signature = key.sign(data, pad, algorithm)
    key.public_key().verify(signature, data, pad, algorithm)


def test_a_padding_or_hash_kpki_does_not_offer_is_a_mechanism_error(store):
    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    refused = [
        (padding.PKCS1v15(), hashes.MD5()),
        (padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32), hashes.SHA256()),
        (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
         hashes.SHA256()),
        (padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                      label=None), hashes.SHA256()),
    ]
    for pad, algorithm in refused:
        with pytest.raises(HSMError) as failed:
            key.sign(b"x", pad, algorithm)
        assert failed.value.problem is HSMProblem.MECHANISM
        assert "\n" not in str(failed.value)
    # one kpki passes on and the token refuses: PSS with a salt longer than the key allows
    with pytest.raises(HSMError) as failed:
        key.sign(b"x", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=300),
                 hashes.SHA256())
    assert failed.value.problem is HSMProblem.MECHANISM
    assert "SHA256_RSA_PKCS_PSS" in str(failed.value)


# -- threads and fork -----------------------------------------------------------------------


def test_threads_sign_at_once_without_errors(store):
    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    public = key.public_key()
    errors: list[BaseException] = []
    signed: Counter[int] = Counter()

    def work(n: int) -> None:
        try:
            for i in range(25):
                data = f"{n}-{i}".encode()
                public.verify(key.sign(data, padding.PKCS1v15(), hashes.SHA256()), data,
                              padding.PKCS1v15(), hashes.SHA256())
                signed[n] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert signed == Counter({0: 25, 1: 25, 2: 25, 3: 25})


def _sign_in_child(key: PKCS11RSAKey, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        queue.put(key.sign(b"child", padding.PKCS1v15(), hashes.SHA256()))
    except BaseException as exc:
        queue.put(repr(exc))


def test_a_forked_child_signs_with_a_key_loaded_before_the_fork(store):
    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    key.sign(b"parent", padding.PKCS1v15(), hashes.SHA256())  # logged in before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_sign_in_child, args=(key, queue))
    child.start()
    signature = queue.get(timeout=60)
    child.join(timeout=60)
    assert isinstance(signature, bytes), signature
    key.public_key().verify(signature, b"child", padding.PKCS1v15(), hashes.SHA256())
    key.sign(b"parent again", padding.PKCS1v15(), hashes.SHA256())  # the parent still signs


# -- bad input ------------------------------------------------------------------------------


def test_a_wrong_pin_is_refused_once_and_never_tried_again(store, token, monkeypatch):
    store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    from pki.keys import pkcs11 as hsm

    logins = Counter[str]()
    find = hsm._Token._find

    def counted(self, module):  # type: ignore[no-untyped-def]
        logins["login"] += 1
        return find(self, module)

    monkeypatch.setattr(hsm._Token, "_find", counted)
    asked = Counter[str]()

    def wrong_pin() -> bytes:
        asked["pin"] += 1
        return b"pin-0000"  # no token label or path holds it, so its absence means something

    wrong = PKCS11CAKeyStore(token, pin=wrong_pin)
    for _ in range(3):
        with pytest.raises(WrongPasswordError, match="wrong user PIN") as refused:
            wrong.load(KeyLabel.of_ca("yessign"))
        assert "pin-0000" not in str(refused.value)
    assert asked["pin"] == 1 and logins["login"] == 1  # asked once, tried once
    assert store.load(KeyLabel.of_ca("yessign")).sign(  # the right PIN still works
        b"x", padding.PKCS1v15(), hashes.SHA256())


def test_twenty_threads_with_a_wrong_pin_at_once_try_it_on_the_token_once(store, token,
                                                                            monkeypatch):
    store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    from pki.keys import pkcs11 as hsm

    logins = Counter[str]()
    find = hsm._Token._find

    def counted(self, module):  # type: ignore[no-untyped-def]
        logins["login"] += 1
        return find(self, module)

    monkeypatch.setattr(hsm._Token, "_find", counted)
    start = threading.Barrier(20)
    refused: list[BaseException] = []

    def load() -> None:
        wrong = PKCS11CAKeyStore(token, pin=b"0000")
        start.wait()
        try:
            wrong.load(KeyLabel.of_ca("yessign"))
        except BaseException as exc:
            refused.append(exc)

    threads = [threading.Thread(target=load) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(refused) == 20
    assert all(isinstance(e, WrongPasswordError) for e in refused), refused
    assert logins["login"] == 1  # the token judged the PIN once, not twenty times
    assert store.load(KeyLabel.of_ca("yessign")).sign(  # the right PIN still works
        b"x", padding.PKCS1v15(), hashes.SHA256())


def test_a_token_logged_in_to_through_another_uri_is_used_only_with_the_same_pin(store,
                                                                                   token):
    """Two URIs naming one token (the second adds its manufacturer): the token's login
    covers the process, so the second store does not log in again; it uses the session
    only with the PIN the token accepted, and a wrong PIN is refused, not let through."""
    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    key.sign(b"logged in", padding.PKCS1v15(), hashes.SHA256())
    label, _, query = token.removeprefix("pkcs11:").partition("?")
    other = f"pkcs11:{label};manufacturer=SoftHSM%20project?{query}"
    with pytest.raises(HSMError, match="another PIN") as refused:
        PKCS11CAKeyStore(other, pin=b"x9y8z7").load(KeyLabel.of_ca("yessign"))
    assert refused.value.problem is HSMProblem.DEVICE and "x9y8z7" not in str(refused.value)
    same = PKCS11CAKeyStore(other, pin=PIN.encode()).load(KeyLabel.of_ca("yessign"))
    signature = same.sign(b"second uri", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"second uri", padding.PKCS1v15(), hashes.SHA256())


def test_a_pin_the_token_locked_is_a_one_line_error_for_its_security_officer(token,
                                                                                monkeypatch):
    """SoftHSM2 never locks a PIN, so the token's answer (CKR_PIN_LOCKED) is staged."""
    import pkcs11

    from pki.keys import pkcs11 as hsm

    class Locked:
        def open(self, **kwargs: object) -> None:
            raise pkcs11.PinLocked()

    monkeypatch.setattr(hsm._Token, "_find", lambda self, module: Locked())
    with pytest.raises(HSMError) as failed:
        PKCS11CAKeyStore(token, pin=PIN.encode()).check()
    assert failed.value.problem is HSMProblem.PIN_LOCKED
    assert "security officer" in str(failed.value) and "\n" not in str(failed.value)


def test_no_pin_is_a_wrong_password_naming_where_to_give_it(token):
    with pytest.raises(WrongPasswordError, match="--pin-file"):
        PKCS11CAKeyStore(token).load(KeyLabel.of_ca("yessign"))


@pytest.mark.parametrize("uri, problem, words", [
    (f"pkcs11:token=nowhere?module-path={MODULE}", HSMProblem.TOKEN, "no token 'nowhere'"),
    ("pkcs11:token=kpki?module-path=/nonexistent/libpkcs11.so", HSMProblem.MODULE,
     "does not exist"),
    ("pkcs11:token=kpki?module-path=/bin/sh", HSMProblem.MODULE, "cannot load"),
])
def test_a_missing_token_or_module_is_a_one_line_error(softhsm, uri, problem, words):
    with pytest.raises(HSMError) as failed:
        PKCS11CAKeyStore(uri, pin=PIN.encode()).check()
    assert failed.value.problem is problem
    assert words in str(failed.value) and "\n" not in str(failed.value)
    assert "--ca-keys" in str(failed.value)


# -- the home and the CLI -------------------------------------------------------------------


def _run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _one_line_error(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error:"), result.output
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("uri, words", [
    (f"pkcs11:token=nowhere?module-path={MODULE}", ("no token 'nowhere'", "token=")),
    ("pkcs11:token=kpki?module-path=/nonexistent/libpkcs11.so",
     ("/nonexistent/libpkcs11.so does not exist", "module-path")),
])
def test_init_with_a_missing_token_or_module_writes_nothing(softhsm, tmp_path, uri, words,
                                                            monkeypatch):
    monkeypatch.setenv("KPKI_CA_PIN", PIN)
    result = _run("--home", str(tmp_path / "h"), "init", "--ca-keys", uri)
    _one_line_error(result, *words)
    assert list(tmp_path.iterdir()) == []


def test_init_with_a_wrong_pin_writes_nothing(token, tmp_path, monkeypatch):
    monkeypatch.setenv("KPKI_CA_PIN", "0000")
    result = _run("--home", str(tmp_path / "h"), "init", "--ca-keys", token)
    _one_line_error(result, "wrong user PIN")
    assert list(tmp_path.iterdir()) == [] and _objects(token) == []


def test_a_failed_init_destroys_the_keys_it_made_in_the_token(token, tmp_path, key_pool,
                                                               monkeypatch):
    from pki import hierarchy

    def refused(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("stopped after the keys were made")

    monkeypatch.setattr(hierarchy, "_sign_and_record", refused)
    _new_keys_imported(monkeypatch, key_pool)
    with pytest.raises(RuntimeError):
        Home.create(tmp_path / "h", passphrase=None, ca_keys=token, pin=PIN.encode())
    assert list(tmp_path.iterdir()) == []
    assert _objects(token) == []


def test_a_second_home_in_the_same_token_is_refused_and_leaves_the_first_whole(
        token, tmp_path, key_pool, monkeypatch):
    _new_keys_imported(monkeypatch, key_pool)
    first = Home.create(tmp_path / "a", passphrase=None, ca_keys=token, pin=PIN.encode())
    before = _objects(token)
    with pytest.raises(CAKeyExistsError):
        Home.create(tmp_path / "b", passphrase=None, ca_keys=token, pin=PIN.encode())
    assert not (tmp_path / "b").exists() and _objects(token) == before
    first.authority().issue_joint(name="홍길동", rrn=RRN)
    first.close()


def test_a_failed_ca_add_leaves_no_setting_and_no_key(make_home, token, key_pool,
                                                      monkeypatch):
    from pki import hierarchy

    _new_keys_imported(monkeypatch, key_pool)
    home = make_home()  # its keys are files; the new CA's go into the token
    home.pin = PIN.encode()
    real = hierarchy._sign_and_record
    monkeypatch.setattr(hierarchy, "_sign_and_record", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("stopped")))
    with pytest.raises(RuntimeError):
        home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None,
                    ca_keys=token)
    assert not home.store.get_meta("ca_keys:signkorea")
    assert _objects(token) == []
    assert [r.label for r in home.list_cas()] == ["root", "yessign"]
    monkeypatch.setattr(hierarchy, "_sign_and_record", real)
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None,
                ca_keys=token)
    assert _objects(token) == ["signkorea", "signkorea"]
    reopened = Home.open(home.path, pin=PIN.encode(), clock=home.clock)
    issued = reopened.authority("signkorea").issue_joint(name="홍길동", rrn=RRN)
    issued.certificate.verify_directly_issued_by(reopened.store.get_ca("signkorea").certificate)
    reopened.authority("yessign").issue_joint(name="홍길동", rrn=RRN)  # files still
    reopened.close()


def _new_keys_imported(monkeypatch: pytest.MonkeyPatch, key_pool) -> None:  # type: ignore[no-untyped-def]
    """Stores made by the home import pooled keys instead of generating them (slow)."""
    from pki.keys import pkcs11 as hsm

    made = hsm.PKCS11CAKeyStore.__init__

    def pooled(self, uri, *, pin=None, key_generator=None):  # type: ignore[no-untyped-def]
        made(self, uri, pin=pin, key_generator=key_pool)

    monkeypatch.setattr(hsm.PKCS11CAKeyStore, "__init__", pooled)


def test_a_home_pointed_at_a_token_without_its_keys_says_so(token, tmp_path, key_pool,
                                                             monkeypatch):
    _new_keys_imported(monkeypatch, key_pool)
    Home.create(tmp_path / "h", passphrase=None, ca_keys=token, pin=PIN.encode()).close()
    other = f"t{os.getpid()}-{next(_numbers)}"
    _new_token(other)
    home = Home.open(tmp_path / "h", pin=PIN.encode())
    with home.store.transaction() as tx:  # the setting, as an operator editing it would
        tx.set_meta("ca_keys", f"pkcs11:token={other}?module-path={MODULE}")
    home.close()
    monkeypatch.setenv("KPKI_CA_PIN", PIN)
    result = _run("--home", str(tmp_path / "h"), "crl", "publish")
    _one_line_error(result, "no key labelled", other)


@pytest.mark.real_keys
def test_cli_init_ca_add_issue_publish_and_serve_ocsp_with_keys_in_a_token(
        token, tmp_path, monkeypatch):
    """The whole flow through the CLI, keys generated in the token, then ``kpki serve`` as
    a real process answering OCSP with its signer's key from the token."""
    home = tmp_path / "h"
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    result = _run("--home", str(home), "init", "--ca-keys", token, "--pin-file",
                  str(pin_file), "--json")
    assert result.exit_code == 0, result.output
    assert token.split("?")[0] in result.output and PIN not in result.output
    monkeypatch.setenv("KPKI_CA_PIN", PIN)
    monkeypatch.setenv("KPKI_KEY_PASSWORD", "subscriber-Pa55!")
    result = _run("--home", str(home), "ca", "add", "signkorea", "--ca-keys", token)
    assert result.exit_code == 0, result.output
    assert _objects(token) == sorted(["root", "root", "yessign", "yessign", "root/tsa",
                                      "root/tsa", "signkorea", "signkorea"])
    assert not any((home / "cas").rglob("*key*"))  # nothing of a key on disk
    result = _run("--home", str(home), "issue", "joint", "--name", "홍길동", "--rrn", RRN,
                  "--ca", "signkorea", "--out", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    result = _run("--home", str(home), "crl", "publish")
    assert result.exit_code == 0, result.output
    with Home.open(home) as opened:
        ca = opened.store.get_ca("signkorea")
        [record] = list(opened.store.list_certificates(ca="signkorea"))
        for path in (home / "publish").rglob("*.crl"):
            crl = x509.load_der_x509_crl(path.read_bytes())
            issuer = opened.store.get_ca(path.stem).certificate
            assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    leaf = x509.load_der_x509_certificate(record.der)
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ocsp_path = urllib.parse.urlsplit(aia[0].access_location.value).path
    request = ocsp.OCSPRequestBuilder().add_certificate(
        leaf, ca.certificate, hashes.SHA256()).build().public_bytes(serialization.Encoding.DER)
    with serving(home) as server:
        answer = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{server.port}{ocsp_path}", data=request,
            headers={"Content-Type": "application/ocsp-request"}), timeout=30).read()
    response = ocsp.load_der_ocsp_response(answer)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    [signer] = response.certificates
    signer.verify_directly_issued_by(ca.certificate)
    public = signer.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                  hashes.SHA256())
    assert "signkorea/ocsp" in _objects(token)


def test_commands_that_sign_nothing_never_ask_for_the_pin(token, tmp_path, key_pool,
                                                          monkeypatch):
    _new_keys_imported(monkeypatch, key_pool)
    Home.create(tmp_path / "h", passphrase=None, ca_keys=token, pin=PIN.encode()).close()
    monkeypatch.delenv("KPKI_CA_PIN", raising=False)
    for command in (["ca", "list"], ["cert", "list"], ["ca", "show", "yessign"]):
        result = _run("--home", str(tmp_path / "h"), *command)
        assert result.exit_code == 0, result.output
    result = _run("--home", str(tmp_path / "h"), "crl", "publish")
    assert result.exit_code == 2 and "$KPKI_CA_PIN" in result.output  # signing asks


@pytest.mark.real_keys
def test_a_ca_add_killed_after_its_key_was_made_leaves_what_a_rerun_clears(
        token, tmp_path, key_pool):
    """``kpki ca add --ca-keys`` SIGKILLed right after the key was generated in the token
    (fault point ``pkcs11.generated``): no CA is recorded; the setting written first names the
    token, so running the command again destroys the leftover key and adds the CA, with one
    key pair under its label."""
    home = tmp_path / "h"
    Home.create(home, passphrase=None, key_generator=key_pool).close()  # keys in files
    kpki = str(Path(sys.executable).parent / "kpki")
    env = {**os.environ, "KPKI_CA_PIN": PIN}
    argv = [kpki, "--home", str(home), "ca", "add", "signkorea", "--ca-keys", token]
    killed = subprocess.run(argv, env={**env, "KPKI_FAULT": "pkcs11.generated"},
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Home.open(home) as opened:
        assert [r.label for r in opened.list_cas()] == ["root", "yessign"]
        assert opened.store.get_meta("ca_keys:signkorea") == token
    assert _objects(token) == ["signkorea", "signkorea"]  # made, not yet known as a CA
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _objects(token) == ["signkorea", "signkorea"]  # the leftover went, one pair left
    with Home.open(home, pin=PIN.encode()) as opened:
        ca = opened.store.get_ca("signkorea")
        key = opened.keys.load(KeyLabel.of_ca("signkorea"))
        assert key.public_key() == ca.certificate.public_key()


def test_the_pin_prompt_is_shown_once_per_command_however_many_stores_use_it(
        token, tmp_path, key_pool, monkeypatch):
    """``kpki serve`` opens the home twice (its publisher has a handle of its own), each
    with a key store of its own over the token: the user types the PIN once."""
    import click

    from cli import secrets

    _new_keys_imported(monkeypatch, key_pool)
    Home.create(tmp_path / "h", passphrase=None, ca_keys=token, pin=PIN.encode()).close()
    monkeypatch.delenv("KPKI_CA_PIN", raising=False)
    monkeypatch.setattr(secrets, "_at_terminal", lambda: True)
    prompts = Counter[str]()

    def prompt(label: str, **kwargs: object) -> str:
        prompts[label] += 1
        return PIN

    monkeypatch.setattr(click, "prompt", prompt)
    home = Home.open(tmp_path / "h", pin=secrets.token_pin(None))
    home.use_passphrase(None)
    publishing = Home.open(tmp_path / "h", pin=home.pin)
    for opened in (home, publishing):
        opened.keys.load(KeyLabel.of_ca("yessign")).sign(b"x", padding.PKCS1v15(),
                                                         hashes.SHA256())
        opened.close()
    assert prompts == Counter({"Token PIN": 1})


def test_serve_with_a_wrong_pin_stops_at_start_up_in_one_line(token, tmp_path, key_pool,
                                                              monkeypatch):
    _new_keys_imported(monkeypatch, key_pool)
    Home.create(tmp_path / "h", passphrase=None, ca_keys=token, pin=PIN.encode()).close()
    monkeypatch.setenv("KPKI_CA_PIN", "0000")
    result = _run("--home", str(tmp_path / "h"), "serve", "--port", "0", "--read-only")
    _one_line_error(result, "wrong user PIN")


def test_a_session_the_token_dropped_is_opened_again_and_the_signature_made(store):
    from pki.keys import pkcs11 as hsm

    key = store.generate(KeyLabel.of_ca("yessign"), KeyType.RSA2048)
    key.sign(b"before", padding.PKCS1v15(), hashes.SHA256())
    with hsm._locked():
        store._token.session.close()  # as a token restarting would: the handle is gone
    signature = key.sign(b"after", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"after", padding.PKCS1v15(), hashes.SHA256())
