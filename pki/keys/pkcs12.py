"""PKCS #12 (``.pfx``/``.p12``) for joint certificates, with R kept as a key attribute.

Users move a joint certificate between devices as a PFX. The layout follows the real
yessign PFX: one unencrypted ``data`` safe holding the certificate bag and a PKCS #8
shrouded key bag, both with ``localKeyID`` = the certificate's subject key identifier, and
the randomNum attribute (R) inside the encrypted PrivateKeyInfo.

* default: the key bag under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), a SHA-256 MAC;
* ``legacy=True``: ``pbeWithSHAAnd3-KeyTripleDES-CBC`` and a SHA-1 MAC, as yessign writes.

Reading verifies the MAC first (a mismatch is :class:`WrongPasswordError`), then takes
certificates and key through pyca/cryptography (which handles every encryption OpenSSL
writes) and R from the key bag's attributes.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from asn1crypto import algos, cms, core, keys, pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12 as pyca_pkcs12

from ..entropy import Entropy, SystemEntropy
from ..errors import KeyFileError, KeyMismatchError, WrongPasswordError
from ..fsutil import atomic_write
from . import npki
from .atrest import pbes2_encrypt
from .pkcs12kdf import IV_ID, KEY_ID, MAC_ID, bmp_password, pkcs12_kdf

__all__ = ["PFXCredential", "dump", "dumps", "load", "loads"]

DEFAULT_ITERATIONS = 600_000  # PBKDF2 for the modern key bag
LEGACY_ITERATIONS = 1024  # what the real yessign PFX uses
MAC_ITERATIONS = 2048
MAX_ITERATIONS = 2_000_000
_MAX_PFX_BYTES = 256 * 1024


@dataclass(frozen=True)
class PFXCredential:
    """A certificate, its private key, R and any further certificates from a PFX."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    r: bytes | None = field(repr=False)
    additional_certificates: tuple[x509.Certificate, ...] = ()

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


# -- writing ----------------------------------------------------------------------------


def _encrypt_modern(plain: bytes, password: str, iterations: int,
                    entropy: Entropy) -> keys.EncryptedPrivateKeyInfo:
    salt, iv = entropy.token_bytes(16), entropy.token_bytes(16)
    return pbes2_encrypt(plain, password.encode("utf-8"), iterations=iterations, salt=salt,
                         iv=iv)


def _encrypt_legacy(plain: bytes, password: str, iterations: int,
                    entropy: Entropy) -> keys.EncryptedPrivateKeyInfo:
    salt = entropy.token_bytes(8)
    bmp = bmp_password(password)
    key = pkcs12_kdf("sha1", bmp, salt, iterations, 24, KEY_ID)
    iv = pkcs12_kdf("sha1", bmp, salt, iterations, 8, IV_ID)
    padder = padding.PKCS7(64).padder()
    encryptor = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + \
        encryptor.finalize()
    algorithm = algos.EncryptionAlgorithm({
        "algorithm": "pkcs12_sha1_tripledes_3key",
        "parameters": {"salt": salt, "iterations": iterations},
    })
    return keys.EncryptedPrivateKeyInfo({"encryption_algorithm": algorithm,
                                         "encrypted_data": ciphertext})


def _local_key_id(certificate: x509.Certificate) -> bytes:
    try:
        ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return ski.value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _attributes(local_key_id: bytes | None) -> list[dict[str, Any]]:
    if local_key_id is None:
        return []
    return [{"type": "local_key_id", "values": [core.OctetString(local_key_id)]}]


def _cert_bag(certificate: x509.Certificate, local_key_id: bytes | None) -> dict[str, Any]:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "bag_id": "cert_bag",
        "bag_value": pkcs12.CertBag({"cert_id": "x509",
                                     "cert_value": asn1_x509.Certificate.load(der)}),
        "bag_attributes": _attributes(local_key_id),
    }


def dumps(certificate: x509.Certificate, private_key: rsa.RSAPrivateKey, password: str, *,
          r: bytes | None, legacy: bool = False, chain: tuple[x509.Certificate, ...] = (),
          iterations: int | None = None, entropy: Entropy | None = None) -> bytes:
    """PFX bytes for ``certificate`` and ``private_key``, with R as a key attribute.

    ``entropy`` (salts, IV) defaults to the OS CSPRNG; a seeded one reproduces a file."""
    entropy = entropy or SystemEntropy()
    if certificate.public_key() != private_key.public_key():
        raise KeyMismatchError("the private key does not belong to the certificate")
    if not password:
        raise ValueError("a PFX needs a password")
    plain = npki.encode_private_key_info(private_key, r)
    if legacy:
        shrouded = _encrypt_legacy(plain, password, iterations or LEGACY_ITERATIONS, entropy)
    else:
        shrouded = _encrypt_modern(plain, password, iterations or DEFAULT_ITERATIONS, entropy)
    local_key_id = _local_key_id(certificate)
    bags = [
        _cert_bag(certificate, local_key_id),
        *(_cert_bag(c, None) for c in chain),
        {"bag_id": "pkcs8_shrouded_key_bag", "bag_value": shrouded,
         "bag_attributes": _attributes(local_key_id)},
    ]
    safe = pkcs12.SafeContents(bags)
    auth_safe = pkcs12.AuthenticatedSafe([
        cms.ContentInfo({"content_type": "data", "content": safe.dump()}),
    ])
    auth_safe_der = auth_safe.dump()
    hash_name = "sha1" if legacy else "sha256"
    mac_iterations = LEGACY_ITERATIONS if legacy else MAC_ITERATIONS
    mac_salt = entropy.token_bytes(8 if legacy else 16)
    mac_key = pkcs12_kdf(hash_name, bmp_password(password), mac_salt, mac_iterations,
                         hashlib.new(hash_name).digest_size, MAC_ID)
    digest = hmac.new(mac_key, auth_safe_der, hash_name).digest()
    pfx = pkcs12.Pfx({
        "version": "v3",
        "auth_safe": {"content_type": "data", "content": auth_safe_der},
        "mac_data": {
            "mac": {"digest_algorithm": {"algorithm": hash_name}, "digest": digest},
            "mac_salt": mac_salt,
            "iterations": mac_iterations,
        },
    })
    return cast(bytes, pfx.dump())


def dump(path: Path, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey,
         password: str, *, r: bytes | None, legacy: bool = False,
         chain: tuple[x509.Certificate, ...] = ()) -> Path:
    """Write a PFX file atomically, mode 0600."""
    atomic_write(Path(path), dumps(certificate, private_key, password, r=r, legacy=legacy,
                                   chain=chain), mode=0o600)
    return Path(path)


# -- reading ----------------------------------------------------------------------------


def _verify_mac(pfx: pkcs12.Pfx, auth_safe_der: bytes, password: str) -> None:
    mac_data = pfx["mac_data"]
    if isinstance(mac_data, core.Void):
        return
    hash_name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
    if hash_name not in ("sha1", "sha256", "sha384", "sha512"):
        raise KeyFileError(f"unsupported PFX MAC hash {hash_name}")
    iterations = mac_data["iterations"].native
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise KeyFileError(f"PFX MAC iteration count {iterations} is outside 1..{MAX_ITERATIONS}")
    key = pkcs12_kdf(hash_name, bmp_password(password), mac_data["mac_salt"].native,
                     iterations, hashlib.new(hash_name).digest_size, MAC_ID)
    expected = hmac.new(key, auth_safe_der, hash_name).digest()
    if not hmac.compare_digest(expected, mac_data["mac"]["digest"].native):
        raise WrongPasswordError("the password does not open this PFX")


def _decrypt_key_bag(info: keys.EncryptedPrivateKeyInfo, password: str) -> bytes | None:
    """The PrivateKeyInfo inside a shrouded key bag, for its attributes; None if kpki does
    not know the encryption (pyca still reads the key)."""
    algorithm = info["encryption_algorithm"]
    name = algorithm["algorithm"].native
    ciphertext = info["encrypted_data"].native
    if name == "pkcs12_sha1_tripledes_3key":
        params = algorithm["parameters"]
        iterations = params["iterations"].native
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise KeyFileError(f"key bag iteration count {iterations} is too large")
        bmp = bmp_password(password)
        salt = params["salt"].native
        key = pkcs12_kdf("sha1", bmp, salt, iterations, 24, KEY_ID)
        iv = pkcs12_kdf("sha1", bmp, salt, iterations, 8, IV_ID)
        cipher: Cipher[Any] = Cipher(TripleDES(key), modes.CBC(iv))
        block = 64
    elif name == "pbes2" and algorithm.encryption_cipher == "aes":
        kdf = algorithm["parameters"]["key_derivation_func"]
        if kdf["algorithm"].native != "pbkdf2":
            return None
        iterations = algorithm.kdf_iterations
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise KeyFileError(f"key bag iteration count {iterations} is too large")
        prf = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
               "sha512": hashes.SHA512()}.get(algorithm.kdf_hmac)
        if prf is None:
            return None
        kek = PBKDF2HMAC(prf, algorithm.key_length, algorithm.kdf_salt,
                         iterations).derive(password.encode("utf-8"))
        cipher = Cipher(algorithms.AES(kek), modes.CBC(algorithm.encryption_iv))
        block = 128
    else:
        return None
    decryptor = cipher.decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    try:
        unpadder = padding.PKCS7(block).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise WrongPasswordError("the password does not open this PFX") from None


def loads(data: bytes, password: str) -> PFXCredential:
    """Read a PFX: its first key, the certificate that matches it, R, other certificates.

    Raises :class:`WrongPasswordError` if the MAC or key does not open with ``password``
    and :class:`KeyFileError` for anything malformed or unsupported.
    """
    if len(data) > _MAX_PFX_BYTES:
        raise KeyFileError(f"a PFX of {len(data)} bytes is too large")
    try:
        pfx = pkcs12.Pfx.load(data, strict=True)
        auth_safe_der = pfx["auth_safe"]["content"].native
        if pfx["auth_safe"]["content_type"].native != "data" or not isinstance(
                auth_safe_der, bytes):
            raise KeyFileError("only password-integrity PFX files are supported")
    except KeyFileError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFileError(f"not a PFX: {exc}".splitlines()[0]) from None
    try:
        _verify_mac(pfx, auth_safe_der, password)
    except (KeyFileError, WrongPasswordError):
        raise
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto parses lazily
        raise KeyFileError(f"malformed PFX MAC data: {exc}".splitlines()[0]) from None

    r = None
    try:
        auth_safe = pkcs12.AuthenticatedSafe.load(auth_safe_der, strict=True)
        for content_info in auth_safe:
            if content_info["content_type"].native != "data":
                continue  # encrypted safes hold certificates; pyca reads those
            for bag in pkcs12.SafeContents.load(content_info["content"].native, strict=True):
                if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                    plain = _decrypt_key_bag(bag["bag_value"], password)
                    if plain is not None:
                        r = npki._decode_private_key_info(plain)[1]
                    break
    except (KeyFileError, WrongPasswordError):
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFileError(f"malformed PFX contents: {exc}".splitlines()[0]) from None

    try:
        with warnings.catch_warnings():
            # Many real PFX files (Windows exports) are BER, not DER; pyca reads them and
            # says so in a warning.
            warnings.filterwarnings("ignore", message="PKCS#12 bundle could not be parsed",
                                    category=UserWarning)
            loaded = pyca_pkcs12.load_pkcs12(data, password.encode("utf-8"))
    except ValueError:
        raise WrongPasswordError("the password does not open this PFX") from None
    key = loaded.key
    if key is None or loaded.cert is None:
        raise KeyFileError("the PFX holds no key with its certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError("the PFX does not hold an RSA key")
    certificate = loaded.cert.certificate
    if certificate.public_key() != key.public_key():
        raise KeyMismatchError("the PFX key does not belong to its certificate")
    others = tuple(c.certificate for c in loaded.additional_certs)
    return PFXCredential(certificate, key, r, others)


def load(path: Path, password: str) -> PFXCredential:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    return loads(data, password)
