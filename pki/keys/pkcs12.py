"""PKCS #12 (``.pfx``/``.p12``) for joint certificates, with R kept as a key attribute.

Users move a joint certificate between devices as a PFX. The layout follows the real
yessign PFX: one unencrypted ``data`` safe holding the certificate bag and a PKCS #8
shrouded key bag, both with ``localKeyID`` = the certificate's subject key identifier, and
the randomNum attribute (R) inside the encrypted PrivateKeyInfo.

* default: the key bag under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), a SHA-256 MAC;
* ``legacy=True``: ``pbeWithSHAAnd3-KeyTripleDES-CBC`` and a SHA-1 MAC, as yessign writes.

Reading verifies the MAC first (a mismatch is :class:`WrongPasswordError`), then walks
every safe and bag itself (3DES and PBES2 with AES or 3DES; the first key bag is
decrypted, R taken from its attributes), counting the key-derivation work each declares
against one budget per file (:data:`MAX_KDF_WORK`), so a hostile file cannot keep a reader
busy. Only safes encrypted with what pyca has no public cipher for (RC2-40, as OpenSSL
``-legacy`` writes certificates) go to pyca/OpenSSL, their work counted, behind the key
already found so that OpenSSL derives no further key.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from asn1crypto import algos, cms, core, keys, pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12 as pyca_pkcs12

from ..entropy import Entropy, SystemEntropy
from ..errors import KeyFileError, KeyMismatchError, WrongPasswordError
from ..fsutil import atomic_write
from ..parsing import load_certificate
from . import npki
from .atrest import pbes2_encrypt
from .pkcs12kdf import IV_ID, KEY_ID, MAC_ID, bmp_password, pkcs12_kdf

__all__ = ["MAX_KDF_WORK", "PFXCredential", "dump", "dumps", "load", "loads"]

DEFAULT_ITERATIONS = 600_000  # PBKDF2 for the modern key bag
LEGACY_ITERATIONS = 1024  # what the real yessign PFX uses
MAC_ITERATIONS = 2048
MAX_KDF_WORK = 1_200_000
"""Key-derivation work one PFX may cost in all (iterations x derived blocks, summed over
the MAC and every bag and safe): twice what kpki's own files need. A hostile file within
any per-count limit could otherwise keep a reader busy for seconds per bag."""
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


class _Budget:
    """The key-derivation work one PFX may cost, charged before each KDF runs.

    Work is counted in KDF iterations times the output blocks derived (a 3DES key and IV
    from the PKCS #12 KDF are three SHA-1 blocks), summed over the MAC and every bag and
    safe the file declares, whether or not it is decrypted. A file asking for more than
    :data:`MAX_KDF_WORK` is refused before the work that would exceed it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0

    def charge(self, work: int, what: str) -> None:
        self.spent += work
        if self.spent > self.limit:
            raise KeyFileError(
                f"the PFX asks for more key-derivation work than kpki allows ({what} brings "
                f"it to {self.spent:,} iteration blocks; at most {self.limit:,})")


def _blocks(length: int, block: int) -> int:
    return max(1, -(-length // block))


_HASH_SIZES = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
_PRFS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def _kdf_work(algorithm: algos.EncryptionAlgorithm) -> int:
    """What deriving the key (and IV) of ``algorithm`` costs; :class:`KeyFileError` for a
    derivation whose cost kpki cannot bound (scrypt and anything unknown)."""
    kdf = algorithm.kdf
    if kdf not in ("pkcs12_kdf", "pbkdf2", "pbkdf1"):
        raise KeyFileError(f"unsupported key derivation {kdf} in the PFX")
    iterations = algorithm.kdf_iterations
    if not isinstance(iterations, int) or not 1 <= iterations <= MAX_KDF_WORK:
        raise KeyFileError(f"PFX iteration count {iterations} is outside 1..{MAX_KDF_WORK:,}")
    if kdf == "pkcs12_kdf":
        size = _HASH_SIZES[algorithm.kdf_hmac]
        iv = 8 if algorithm.encryption_cipher in ("tripledes", "rc2", "des") else 0
        return iterations * (_blocks(algorithm.key_length, size) + (_blocks(iv, size)
                                                                     if iv else 0))
    if kdf == "pbkdf2":
        prf_size = _HASH_SIZES.get(algorithm.kdf_hmac)
        if prf_size is None:
            raise KeyFileError(f"unsupported PBKDF2 PRF {algorithm.kdf_hmac} in the PFX")
        return iterations * _blocks(algorithm.key_length, prf_size)
    return iterations  # PBKDF1: one hash chain


def _pbe_decrypt(algorithm: algos.EncryptionAlgorithm, ciphertext: bytes, password: str,
                 budget: _Budget, what: str) -> bytes | None:
    """Decrypt a key bag or an encrypted safe; None if kpki has no cipher for it (the work
    it would cost is charged either way)."""
    budget.charge(_kdf_work(algorithm), what)
    name = algorithm["algorithm"].native
    block = 64
    if name == "pkcs12_sha1_tripledes_3key":
        bmp = bmp_password(password)
        salt, iterations = algorithm.kdf_salt, algorithm.kdf_iterations
        key = pkcs12_kdf("sha1", bmp, salt, iterations, 24, KEY_ID)
        iv = pkcs12_kdf("sha1", bmp, salt, iterations, 8, IV_ID)
        cipher: Cipher[Any] = Cipher(TripleDES(key), modes.CBC(iv))
    elif name == "pbes2" and algorithm.kdf == "pbkdf2" and algorithm.encryption_mode == "cbc" \
            and algorithm.encryption_cipher in ("aes", "tripledes"):
        kek = PBKDF2HMAC(_PRFS[algorithm.kdf_hmac](), algorithm.key_length,
                         algorithm.kdf_salt, algorithm.kdf_iterations
                         ).derive(password.encode("utf-8"))
        iv = algorithm.encryption_iv
        if algorithm.encryption_cipher == "aes":
            cipher, block = Cipher(algorithms.AES(kek), modes.CBC(iv)), 128
        else:
            cipher = Cipher(TripleDES(kek), modes.CBC(iv))
    else:
        return None
    decryptor = cipher.decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    try:
        unpadder = padding.PKCS7(block).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise WrongPasswordError("the password does not open this PFX") from None


def _verify_mac(pfx: pkcs12.Pfx, auth_safe_der: bytes, password: str, budget: _Budget
                ) -> None:
    mac_data = pfx["mac_data"]
    if isinstance(mac_data, core.Void):
        return
    hash_name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
    if hash_name not in ("sha1", "sha256", "sha384", "sha512"):
        raise KeyFileError(f"unsupported PFX MAC hash {hash_name}")
    iterations = mac_data["iterations"].native
    if not 1 <= iterations <= MAX_KDF_WORK:
        raise KeyFileError(f"PFX MAC iteration count {iterations} is outside "
                           f"1..{MAX_KDF_WORK:,}")
    budget.charge(iterations, "the MAC")
    key = pkcs12_kdf(hash_name, bmp_password(password), mac_data["mac_salt"].native,
                     iterations, hashlib.new(hash_name).digest_size, MAC_ID)
    expected = hmac.new(key, auth_safe_der, hash_name).digest()
    if not hmac.compare_digest(expected, mac_data["mac"]["digest"].native):
        raise WrongPasswordError("the password does not open this PFX")


@dataclass
class _Contents:
    """What a walk over a PFX found."""

    keys: list[bytes] = field(default_factory=list)
    """PrivateKeyInfo DER of the first key bag (only the first is decrypted)."""
    certificates: list[bytes] = field(default_factory=list)
    opaque: list[cms.ContentInfo] = field(default_factory=list)
    """Encrypted safes kpki has no cipher for (RC2-40 as OpenSSL -legacy writes)."""


_MAX_DEPTH = 4


def _walk(bags: pkcs12.SafeContents, found: _Contents, password: str, budget: _Budget,
          depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise KeyFileError("the PFX nests its bags too deep")
    for bag in bags:
        kind = bag["bag_id"].native
        if kind == "pkcs8_shrouded_key_bag":
            info = bag["bag_value"]
            algorithm = info["encryption_algorithm"]
            if found.keys:
                budget.charge(_kdf_work(algorithm), "a further key bag")
                continue
            plain = _pbe_decrypt(algorithm, info["encrypted_data"].native, password, budget,
                                 "the key bag")
            if plain is None:
                raise KeyFileError("the PFX key bag is encrypted with "
                                   f"{algorithm['algorithm'].native}, which kpki does not read")
            found.keys.append(plain)
        elif kind == "key_bag":
            if not found.keys:
                found.keys.append(bag["bag_value"].untag().dump())
        elif kind == "cert_bag":
            if bag["bag_value"]["cert_id"].native == "x509":
                found.certificates.append(bag["bag_value"]["cert_value"].parsed.dump())
        elif kind == "safe_contents":
            _walk(bag["bag_value"], found, password, budget, depth + 1)


def _declared_work(pfx: pkcs12.Pfx, auth_safe_der: bytes) -> int:
    """The work the file declares where it can be seen without decrypting anything (the
    MAC, every bag of the plain safes, every encrypted safe's own derivation), so most
    hostile files are refused before any derivation runs."""
    total = 0
    mac_data = pfx["mac_data"]
    if not isinstance(mac_data, core.Void):
        total += int(mac_data["iterations"].native)

    def bags(contents: pkcs12.SafeContents, depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise KeyFileError("the PFX nests its bags too deep")
        work = 0
        for bag in contents:
            kind = bag["bag_id"].native
            if kind == "pkcs8_shrouded_key_bag":
                work += _kdf_work(bag["bag_value"]["encryption_algorithm"])
            elif kind == "safe_contents":
                work += bags(bag["bag_value"], depth + 1)
        return work

    for content_info in pkcs12.AuthenticatedSafe.load(auth_safe_der, strict=True):
        kind = content_info["content_type"].native
        if kind == "data":
            total += bags(pkcs12.SafeContents.load(content_info["content"].native,
                                                   strict=True), 0)
        elif kind == "encrypted_data":
            total += _kdf_work(content_info["content"]["encrypted_content_info"][
                "content_encryption_algorithm"])
    return total


def _read_safes(auth_safe_der: bytes, password: str, budget: _Budget) -> _Contents:
    found = _Contents()
    for content_info in pkcs12.AuthenticatedSafe.load(auth_safe_der, strict=True):
        kind = content_info["content_type"].native
        if kind == "data":
            _walk(pkcs12.SafeContents.load(content_info["content"].native, strict=True),
                  found, password, budget)
        elif kind == "encrypted_data":
            info = content_info["content"]["encrypted_content_info"]
            plain = _pbe_decrypt(info["content_encryption_algorithm"],
                                 info["encrypted_content"].native, password, budget,
                                 "an encrypted safe")
            if plain is None:
                found.opaque.append(content_info)
            else:
                _walk(pkcs12.SafeContents.load(plain, strict=True), found, password, budget)
        else:
            raise KeyFileError(f"unsupported PFX safe {kind} (kpki reads password privacy)")
    return found


def _certificates_from_opaque(key_info: bytes, opaque: list[cms.ContentInfo],
                              password: str) -> list[x509.Certificate]:
    """Certificates from safes only pyca/OpenSSL can decrypt, without letting it derive
    any key it was not charged for: it sees our key as a plain key bag first (so OpenSSL
    skips every shrouded key bag after it), then only those safes, and no MAC."""
    safe = pkcs12.SafeContents([{"bag_id": "key_bag",
                                 "bag_value": keys.PrivateKeyInfo.load(key_info)}])
    auth_safe = pkcs12.AuthenticatedSafe([
        cms.ContentInfo({"content_type": "data", "content": safe.dump()}), *opaque])
    pfx = pkcs12.Pfx({"version": "v3",
                      "auth_safe": {"content_type": "data", "content": auth_safe.dump()}})
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PKCS#12 bundle could not be parsed",
                                    category=UserWarning)
            loaded = pyca_pkcs12.load_pkcs12(pfx.dump(), password.encode("utf-8"))
    except UnsupportedAlgorithm:
        raise KeyFileError("the PFX uses an encryption kpki does not read") from None
    except ValueError:
        raise WrongPasswordError("the password does not open this PFX") from None
    found = [] if loaded.cert is None else [loaded.cert.certificate]
    try:  # read again strictly, as the certificates in the other safes are
        return [load_certificate(c.public_bytes(serialization.Encoding.DER))
                for c in found + [c.certificate for c in loaded.additional_certs]]
    except ValueError as exc:
        raise KeyFileError(f"the PFX holds a malformed certificate: {exc}") from None


def loads(data: bytes, password: str) -> PFXCredential:
    """Read a PFX: its first key, the certificate that matches it, R, other certificates.

    The MAC is checked first, then every safe and bag is read here, so the total
    key-derivation work is counted (at most :data:`MAX_KDF_WORK`) and no derivation
    whose cost cannot be bounded (scrypt) runs. Raises :class:`WrongPasswordError` if the
    MAC or key does not open with ``password`` and :class:`KeyFileError` for anything
    malformed, unsupported or too costly.
    """
    if len(data) > _MAX_PFX_BYTES:
        raise KeyFileError(f"a PFX of {len(data)} bytes is too large")
    budget = _Budget(MAX_KDF_WORK)
    try:
        pfx = pkcs12.Pfx.load(data, strict=True)
        auth_safe_der = pfx["auth_safe"]["content"].native
        if pfx["auth_safe"]["content_type"].native != "data" or not isinstance(
                auth_safe_der, bytes):
            raise KeyFileError("only password-integrity PFX files are supported")
    except KeyFileError:
        raise
    except (ValueError, TypeError, KeyError):
        raise KeyFileError("not a PFX: the DER does not parse") from None
    try:
        declared = _declared_work(pfx, auth_safe_der)
    except KeyFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise KeyFileError(f"malformed PFX contents: {exc}".splitlines()[0]) from None
    if declared > MAX_KDF_WORK:
        raise KeyFileError(
            f"the PFX asks for more key-derivation work than kpki allows ({declared:,} "
            f"iteration blocks; at most {MAX_KDF_WORK:,})")
    try:
        _verify_mac(pfx, auth_safe_der, password, budget)
    except (KeyFileError, WrongPasswordError):
        raise
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto parses lazily
        raise KeyFileError(f"malformed PFX MAC data: {exc}".splitlines()[0]) from None
    try:
        found = _read_safes(auth_safe_der, password, budget)
    except (KeyFileError, WrongPasswordError):
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise KeyFileError(f"malformed PFX contents: {exc}".splitlines()[0]) from None
    if not found.keys:
        if found.opaque:
            raise KeyFileError("the PFX keeps its key in a safe encrypted with an algorithm "
                               "kpki does not read")
        raise KeyFileError("the PFX holds no key with its certificate")
    key, r = npki._decode_private_key_info(found.keys[0])
    certificates = []
    for der in found.certificates:
        try:
            # What pyca only warns about (a serial that is not positive, a country name
            # that is not two letters) is malformed input like any other here.
            certificates.append(load_certificate(der))
        except ValueError as exc:
            raise KeyFileError(f"the PFX holds a malformed certificate: {exc}") from None
    public = key.public_key()
    if found.opaque and not any(_holds_key(c, public) for c in certificates):
        certificates += _certificates_from_opaque(found.keys[0], found.opaque, password)
    matching = [c for c in certificates if _holds_key(c, public)]
    if not matching:
        raise KeyFileError("the PFX holds no certificate for its key")
    certificate = matching[0]
    others = tuple(c for c in certificates if c is not certificate)
    return PFXCredential(certificate, key, r, others)


def _holds_key(cert: x509.Certificate, public: rsa.RSAPublicKey) -> bool:
    """Whether ``cert`` carries ``public``; a key pyca cannot read is not it."""
    try:
        return bool(cert.public_key() == public)
    except (ValueError, UnsupportedAlgorithm):
        return False


def load(path: Path, password: str) -> PFXCredential:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    return loads(data, password)
