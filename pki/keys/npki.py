"""``signPri.key``: the NPKI private key file (korean-pki.md section 4), and NPKI folders.

A ``signPri.key`` is a DER ``EncryptedPrivateKeyInfo``. Three variants occur and all are
read; variant A is written by default, C on request:

* **A** ``seedCBCWithSHA1`` (1.2.410.200004.1.15): PBKDF1-SHA1 over password and an 8-byte
  salt; key = DK[0:16], IV = SHA1(DK[16:20])[0:16]; SEED-128-CBC.
* **B** ``seedCBC`` (1.2.410.200004.1.4) at the top level: the same key, the fixed IV
  ``0123456789012345``.
* **C** PBES2 with PBKDF2-HMAC-SHA1 (16-byte key) and seedCBC with an explicit IV.

The plaintext is a PKCS #8 ``PrivateKeyInfo`` (RSA) followed by ``[0]`` attributes holding
``randomNum`` (1.2.410.200004.10.1.1.3): the 20-byte R behind the VID.

SEED comes from pyca/cryptography's ``decrepit`` module and PBKDF2 from pyca; PBKDF1 is not
offered by pyca, so its iteration (T1 = SHA1(P || S), Ti = SHA1(Ti-1)) is composed here
from CPython's SHA-1 (``hashlib``'s own implementation, without OpenSSL's per-call
set-up). Wrong passwords are told apart from damaged files only by the padding and the
PKCS #8 structure of the plaintext, and both give the same :class:`WrongPasswordError`.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import os
import secrets
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from asn1crypto import core, parser
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .. import oids
from ..errors import (
    InvalidNameError,
    KeyFileError,
    KeyMismatchError,
    OutputError,
    WrongPasswordError,
)
from ..faults import fault_point
from ..formats.asn1specs import AlgorithmIdentifier
from ..fsutil import PRIVATE_DIR_MODE, atomic_write, ensure_writable_dir, fsync_dir
from ..names import check_folder_name, npki_folder_name
from ..parsing import load_certificate
from .password import check_password

__all__ = [
    "CERT_FILE",
    "DEFAULT_ITERATIONS",
    "KEY_FILE",
    "KM_CERT_FILE",
    "KM_KEY_FILE",
    "MAX_ITERATIONS",
    "KeyFile",
    "NPKICredential",
    "Variant",
    "change_password",
    "decode_private_key_info",
    "decrypt",
    "dump",
    "encode_private_key_info",
    "encrypt",
    "encrypt_plaintext",
    "folder_for",
    "load",
    "load_files",
    "read_certificate",
    "recover_password_change",
]

CERT_FILE = "signCert.der"
KEY_FILE = "signPri.key"
KM_CERT_FILE = "kmCert.der"
KM_KEY_FILE = "kmPri.key"

DEFAULT_ITERATIONS = 2048  # what real files use
MAX_ITERATIONS = 200_000
"""Refuse files that ask for more: a hostile file must not make the reader spin."""
SALT_BYTES = 8
R_BYTES = 20
_FIXED_IV = b"0123456789012345"
_PBES2 = oids.PBES2.dotted_string
_PBKDF2 = oids.PBKDF2.dotted_string
_HMAC_SHA1 = oids.HMAC_SHA1.dotted_string
_RSA = oids.RSA_ENCRYPTION.dotted_string
_MAX_FILE_BYTES = 64 * 1024


class Variant(enum.Enum):
    """The three ``signPri.key`` encryption variants of section 4."""

    SEED_CBC_WITH_SHA1 = "A"
    SEED_CBC_FIXED_IV = "B"
    PBES2_SEED = "C"


# -- ASN.1 ------------------------------------------------------------------------------


class _SeedParameters(core.Sequence):  # type: ignore[misc]
    _fields = [("salt", core.OctetString), ("iteration_count", core.Integer)]


class _Pbkdf2Parameters(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("salt", core.OctetString),
        ("iteration_count", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
        ("prf", AlgorithmIdentifier, {"optional": True}),
    ]


class _Pbes2Parameters(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("key_derivation_func", AlgorithmIdentifier),
        ("encryption_scheme", AlgorithmIdentifier),
    ]


class _EncryptedPrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("encryption_algorithm", AlgorithmIdentifier),
        ("encrypted_data", core.OctetString),
    ]


class _AttributeValues(core.SetOf):  # type: ignore[misc]
    _child_spec = core.Any


class _Attribute(core.Sequence):  # type: ignore[misc]
    _fields = [("type", core.ObjectIdentifier), ("values", _AttributeValues)]


class _Attributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _Attribute


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("version", core.Integer),
        ("private_key_algorithm", AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", _Attributes, {"implicit": 0, "optional": True}),
    ]


# -- the cipher -------------------------------------------------------------------------


def _password_bytes(password: str | bytes) -> bytes:
    return password.encode("utf-8") if isinstance(password, str) else bytes(password)


try:
    # CPython's own SHA-1: each of PBKDF1's 2,048 hashes of 20 bytes is a new hash object,
    # and hashlib's OpenSSL one sets up an EVP context for each; this one does not, and the
    # KDF runs 1.5 times as fast (bench/keyfile.py). Same function, same digests.
    from _sha1 import sha1 as _sha1  # type: ignore[import-not-found]
except ImportError:  # a Python built without it (FIPS builds, say)
    _sha1 = hashlib.sha1


def pbkdf1_sha1(password: bytes, salt: bytes, iterations: int) -> bytes:
    """PBKDF1 with SHA-1 and a 20-byte output (RFC 8018 section 5.1)."""
    sha1 = _sha1
    digest: bytes = sha1(password + salt).digest()
    for _ in range(iterations - 1):
        digest = sha1(digest).digest()
    return digest


def _check_iterations(count: int, limit: int) -> int:
    if not 1 <= count <= limit:
        raise KeyFileError(f"iteration count {count} is outside 1..{limit}")
    return count


def _seed_key_iv(variant: Variant, password: bytes, salt: bytes, iterations: int,
                 iv: bytes | None) -> tuple[bytes, bytes]:
    if variant is Variant.PBES2_SEED:
        if iv is None or len(iv) != 16:
            raise KeyFileError("PBES2 with SEED needs a 16-byte IV")
        key = PBKDF2HMAC(hashes.SHA1(), 16, salt, iterations).derive(password)
        return key, iv
    dk = pbkdf1_sha1(password, salt, iterations)
    if variant is Variant.SEED_CBC_FIXED_IV:
        return dk[:16], _FIXED_IV
    return dk[:16], hashlib.sha1(dk[16:20]).digest()[:16]


def _seed_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(SEED(key), modes.CBC(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


# -- plaintext --------------------------------------------------------------------------


def encode_private_key_info(key: rsa.RSAPrivateKey, r: bytes | None) -> bytes:
    """PKCS #8 PrivateKeyInfo v0 with the randomNum attribute (when ``r`` is given)."""
    if r is not None and len(r) != R_BYTES:
        raise ValueError(f"R is {R_BYTES} bytes, got {len(r)}")
    value: dict[str, object] = {
        "version": 0,
        "private_key_algorithm": {"algorithm": _RSA, "parameters": core.Null()},
        "private_key": key.private_bytes(serialization.Encoding.DER,
                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()),
    }
    if r is not None:
        value["attributes"] = [{"type": oids.RANDOM_NUM.dotted_string,
                                "values": [core.OctetBitString(r)]}]
    return cast(bytes, _PrivateKeyInfo(value).dump())


def decode_private_key_info(plain: bytes) -> tuple[rsa.RSAPrivateKey, bytes | None]:
    """The key and R (None when absent) of a PrivateKeyInfo that
    :func:`encode_private_key_info` made (the cloud's vault keeps keys in this form).
    Raises :class:`WrongPasswordError` for bytes that are no PrivateKeyInfo (what a wrong
    password yields) and :class:`KeyFileError` for a key kpki cannot use."""
    return _decode_private_key_info(plain)


def _decode_private_key_info(plain: bytes) -> tuple[rsa.RSAPrivateKey, bytes | None]:
    """Parse the decrypted plaintext; any structural failure means a wrong password."""
    try:
        # pyca checks the PKCS #8 structure (attributes included) and loads the key.
        # OpenSSL's full RSA key check (primality tests) costs ~30 ms, sixty times the
        # PBKDF1 a read must do; _check_rsa_consistency below does the checks that matter
        # for a key that will sign (n = pq and the CRT values agree) in microseconds.
        key = serialization.load_der_private_key(plain, None,
                                                 unsafe_skip_rsa_key_validation=True)
        r = _random_num(plain)
    except UnsupportedAlgorithm:
        # The plaintext is well-formed PKCS #8 (so the password was right) for a key
        # algorithm pyca does not know.
        raise KeyFileError("the key file holds a key of an algorithm kpki does not know "
                           "(kpki reads RSA keys)") from None
    except (ValueError, TypeError, KeyError, IndexError):
        raise WrongPasswordError("the password does not open this key file") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError("the key file does not hold an RSA key")
    _check_rsa_consistency(key)
    if r is not None and len(r) != R_BYTES:
        raise KeyFileError(f"randomNum is {len(r)} bytes, not {R_BYTES}")
    return key, r


def _random_num(plain: bytes) -> bytes | None:
    """R from the ``[0]`` attributes of a PrivateKeyInfo (already checked by pyca), or None.

    Only the attributes are decoded: the walk over the top-level elements uses
    asn1crypto's header parser, so the 1.2 kB key is not parsed a second time.
    """
    content = parser.parse(plain)[4]
    pointer = 0
    while pointer < len(content):
        length = parser.peek(content[pointer:])
        if content[pointer] == 0xA0:  # [0] constructed: the attributes
            element = content[pointer:pointer + length]
            break
        pointer += length
    else:
        return None
    attributes = _Attributes.load(element, implicit=0)
    for attribute in attributes:
        if attribute["type"].dotted == oids.RANDOM_NUM.dotted_string:
            bits = attribute["values"][0].parse(core.OctetBitString)
            return cast(bytes, bits.native)
    return None


def _check_rsa_consistency(key: rsa.RSAPrivateKey) -> None:
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    consistent = (
        p > 1 and q > 1 and p * q == n and 2048 <= n.bit_length() <= 8192
        and numbers.dmp1 == d % (p - 1) and numbers.dmq1 == d % (q - 1)
        # with the two lines above, these mean e * d = 1 mod p-1 and mod q-1
        and (numbers.dmp1 * e) % (p - 1) == 1 and (numbers.dmq1 * e) % (q - 1) == 1
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise KeyFileError("the RSA key in the key file is inconsistent or too small")


# -- files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFile:
    """A decrypted ``signPri.key``."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    r: bytes | None = field(repr=False)
    variant: Variant
    iterations: int


def _parse(data: bytes, max_iterations: int
           ) -> tuple[Variant, bytes, int, bytes | None, bytes]:
    if len(data) > _MAX_FILE_BYTES:
        raise KeyFileError(f"a key file of {len(data)} bytes is not a signPri.key")
    try:
        info = _EncryptedPrivateKeyInfo.load(data, strict=True)
        algorithm = info["encryption_algorithm"]["algorithm"].dotted
        ciphertext = cast(bytes, info["encrypted_data"].native)
        parameters = info["encryption_algorithm"]["parameters"]
        if algorithm in (oids.SEED_CBC_WITH_SHA1.dotted_string, oids.SEED_CBC.dotted_string):
            params = parameters.parse(_SeedParameters)
            variant = (Variant.SEED_CBC_WITH_SHA1
                       if algorithm == oids.SEED_CBC_WITH_SHA1.dotted_string
                       else Variant.SEED_CBC_FIXED_IV)
            salt = cast(bytes, params["salt"].native)
            count = cast(int, params["iteration_count"].native)
            iv = None
        elif algorithm == _PBES2:
            pbes2 = parameters.parse(_Pbes2Parameters)
            kdf = pbes2["key_derivation_func"]
            scheme = pbes2["encryption_scheme"]
            if kdf["algorithm"].dotted != _PBKDF2:
                raise KeyFileError(f"unsupported key derivation {kdf['algorithm'].dotted}")
            if scheme["algorithm"].dotted != oids.SEED_CBC.dotted_string:
                raise KeyFileError(f"unsupported PBES2 cipher {scheme['algorithm'].dotted}")
            kdf_params = kdf["parameters"].parse(_Pbkdf2Parameters)
            prf = kdf_params["prf"]
            if not isinstance(prf, core.Void) and prf["algorithm"].dotted != _HMAC_SHA1:
                raise KeyFileError(f"unsupported PBKDF2 PRF {prf['algorithm'].dotted}")
            key_length = kdf_params["key_length"].native
            if key_length not in (None, 16):
                raise KeyFileError(f"SEED takes a 16-byte key, not {key_length}")
            salt = cast(bytes, kdf_params["salt"].native)
            count = cast(int, kdf_params["iteration_count"].native)
            iv = cast(bytes, scheme["parameters"].parse(core.OctetString).native)
            variant = Variant.PBES2_SEED
        else:
            raise KeyFileError(f"unknown key-file encryption algorithm {algorithm}")
    except KeyFileError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError):
        raise KeyFileError("not a signPri.key: the DER does not parse") from None
    _check_iterations(count, max_iterations)
    if not ciphertext or len(ciphertext) % 16:
        raise KeyFileError("the encrypted key is truncated (not a whole number of blocks)")
    if not 1 <= len(salt) <= 64:
        raise KeyFileError(f"a salt of {len(salt)} bytes is not plausible")
    return variant, salt, count, iv, ciphertext


def decrypt(data: bytes, password: str | bytes, *,
            max_iterations: int = MAX_ITERATIONS) -> KeyFile:
    """Decrypt a ``signPri.key`` of any variant.

    Raises :class:`WrongPasswordError` if the password does not open it and
    :class:`KeyFileError` if the file is malformed, truncated, uses an unknown algorithm
    or more than ``max_iterations`` iterations.
    """
    variant, salt, count, iv, ciphertext = _parse(data, max_iterations)
    key, iv = _seed_key_iv(variant, _password_bytes(password), salt, count, iv)
    padded = _seed_cbc(key, iv, ciphertext, encrypt=False)
    try:
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise WrongPasswordError("the password does not open this key file") from None
    private_key, r = _decode_private_key_info(plain)
    return KeyFile(private_key, r, variant, count)


def encrypt_plaintext(plaintext: bytes, password: str | bytes, *,
                      variant: Variant = Variant.SEED_CBC_WITH_SHA1,
                      salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS,
                      iv: bytes | None = None) -> bytes:
    """Encrypt a PrivateKeyInfo into ``signPri.key`` bytes.

    ``salt`` (8 bytes) and, for variant C, ``iv`` (16 bytes) default to fresh values from
    :mod:`secrets`; pass them only to reproduce a known file.
    """
    _check_iterations(iterations, MAX_ITERATIONS)
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if variant is Variant.PBES2_SEED and iv is None:
        iv = secrets.token_bytes(16)
    key, iv = _seed_key_iv(variant, _password_bytes(password), salt, iterations, iv)
    padder = padding.PKCS7(128).padder()
    ciphertext = _seed_cbc(key, iv, padder.update(plaintext) + padder.finalize(),
                           encrypt=True)
    seed_params = _SeedParameters({"salt": salt, "iteration_count": iterations})
    if variant is Variant.PBES2_SEED:
        algorithm = {"algorithm": _PBES2, "parameters": _Pbes2Parameters({
            "key_derivation_func": {"algorithm": _PBKDF2, "parameters": _Pbkdf2Parameters({
                "salt": salt, "iteration_count": iterations})},
            "encryption_scheme": {"algorithm": oids.SEED_CBC.dotted_string,
                                  "parameters": core.OctetString(iv)},
        })}
    else:
        oid = (oids.SEED_CBC_WITH_SHA1 if variant is Variant.SEED_CBC_WITH_SHA1
               else oids.SEED_CBC)
        algorithm = {"algorithm": oid.dotted_string, "parameters": seed_params}
    info = _EncryptedPrivateKeyInfo({"encryption_algorithm": algorithm,
                                     "encrypted_data": ciphertext})
    return cast(bytes, info.dump())


def encrypt(private_key: rsa.RSAPrivateKey, password: str | bytes, *, r: bytes | None,
            variant: Variant = Variant.SEED_CBC_WITH_SHA1, salt: bytes | None = None,
            iterations: int = DEFAULT_ITERATIONS, iv: bytes | None = None) -> bytes:
    """``signPri.key`` bytes for ``private_key`` with R inside (variant A by default)."""
    return encrypt_plaintext(encode_private_key_info(private_key, r), password,
                             variant=variant, salt=salt, iterations=iterations, iv=iv)


# -- NPKI folders -----------------------------------------------------------------------


@dataclass(frozen=True)
class NPKICredential:
    """A certificate with its private key and R, as an NPKI folder holds them."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    r: bytes | None = field(repr=False)
    folder: Path | None = None

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


def _read(path: Path, what: str) -> bytes:
    try:
        # Without blocking, then only a regular file: a FIFO or device under a key file's
        # name (a folder found by discovery is anyone's) would block the reader for ever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise KeyFileError(f"{path} is not a file that can hold a {what}")
            data = fh.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"no {what} at {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise KeyFileError(f"{path} is too large to be a {what}")
    return data


def _load_certificate(data: bytes, path: Path) -> x509.Certificate:
    try:
        return load_certificate(data)  # names and serial read now: malformed, or never warns
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a certificate: {exc}") from None


def read_certificate(path: Path) -> x509.Certificate:
    """A DER or PEM certificate file; :class:`KeyFileError` if it is not one."""
    return _load_certificate(_read(Path(path), "certificate"), Path(path))


def load_files(certificate: Path, key: Path, password: str | bytes, *,
               max_iterations: int = MAX_ITERATIONS) -> NPKICredential:
    """Load a certificate file and its ``signPri.key``; the key must match the certificate."""
    cert = _load_certificate(_read(Path(certificate), "certificate"), Path(certificate))
    opened = decrypt(_read(Path(key), "key file"), password, max_iterations=max_iterations)
    try:
        public_key = cert.public_key()
    except UnsupportedAlgorithm:  # a KCDSA certificate, say, beside an RSA key
        raise KeyFileError(f"the certificate {certificate} has a key of an algorithm kpki "
                           "cannot use") from None
    if public_key != opened.private_key.public_key():
        raise KeyMismatchError(f"the key in {key} does not belong to the certificate "
                               f"{certificate}")
    return NPKICredential(cert, opened.private_key, opened.r, Path(certificate).parent)


def load(folder: Path, password: str | bytes, *, key_management: bool = False,
         max_iterations: int = MAX_ITERATIONS) -> NPKICredential:
    """Load ``signCert.der`` + ``signPri.key`` (or the ``km`` pair) from an NPKI folder.

    A password change that was interrupted in this folder is finished first (see
    :func:`change_password`), so the two key files never answer to different passwords.
    """
    folder = Path(folder)
    if (folder / PASSWD_JOURNAL).exists():
        recover_password_change(folder)
    cert_name, key_name = (KM_CERT_FILE, KM_KEY_FILE) if key_management else (CERT_FILE,
                                                                              KEY_FILE)
    return load_files(folder / cert_name, folder / key_name, password,
                      max_iterations=max_iterations)


def folder_for(base: Path, certificate: x509.Certificate) -> Path:
    """``<base>/NPKI/<CA org>/USER/<subject DN>``: where NPKI software looks for it.

    Raises :class:`KeyFileError` if the subject has no O or either name cannot be a folder
    (:func:`pki.names.check_folder_name`: a separator, an escaped character, too long).
    """
    with warnings.catch_warnings():
        # pyca warns (and the folder-name check below refuses) when a certificate from
        # elsewhere has an attribute longer than X.509 allows.
        warnings.filterwarnings("ignore", message="Attribute's length", category=UserWarning)
        subject = certificate.subject
        orgs = subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        org = str(orgs[0].value) if orgs else ""
        folder_name = npki_folder_name(subject)
    if not orgs:
        raise KeyFileError("the certificate's subject has no O; it has no NPKI folder")
    try:
        check_folder_name(org)
    except InvalidNameError as exc:
        raise KeyFileError(f"the certificate's organisation cannot be a folder name: "
                           f"{exc}") from None
    try:
        name = check_folder_name(folder_name)
    except InvalidNameError as exc:
        raise KeyFileError(f"the certificate's subject cannot be an NPKI folder name: "
                           f"{exc}") from None
    return Path(base) / "NPKI" / org / "USER" / name


PASSWD_JOURNAL = ".kpki-passwd"
"""The journal of a password change in progress: present from the moment the change is
decided until every key file has its new content."""


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder itself while its key files change (released
    by the kernel if the process dies)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise KeyFileError(f"cannot open {folder}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _staged_name(name: str, token: str) -> str:
    return f".{name}.{token}.new"


def _is_leftover(entry: str) -> bool:
    """A file a password change (or an atomic write) leaves while it works: a staged key
    (``.signPri.key.<token>.new``), or an atomic write's temporary file of a key file, of
    a staged key (``..signPri.key.<token>.new.<x>.tmp``) or of the journal."""
    return any(entry.startswith(f".{name}.") and entry.endswith((".new", ".tmp"))
               for name in (KEY_FILE, KM_KEY_FILE, "." + KEY_FILE, "." + KM_KEY_FILE)
               ) or (entry.startswith(f".{PASSWD_JOURNAL}.") and entry.endswith(".tmp"))


def _recover(folder: Path) -> str | None:
    """Finish or undo an interrupted password change; the caller holds the folder lock."""
    journal = folder / PASSWD_JOURNAL
    outcome = None
    try:
        entries = os.listdir(folder)
        plan: dict[str, object] | None = None
        if PASSWD_JOURNAL in entries:
            try:
                plan = json.loads(journal.read_bytes())
            except (OSError, ValueError):
                plan = None  # atomic_write never leaves a partial journal: not ours
        if isinstance(plan, dict) and isinstance(plan.get("token"), str) and isinstance(
                plan.get("files"), list):
            token = cast(str, plan["token"])
            for name in cast(list[object], plan["files"]):
                if isinstance(name, str) and name in (KEY_FILE, KM_KEY_FILE):
                    staged = folder / _staged_name(name, token)
                    if staged.exists():
                        os.replace(staged, folder / name)
            outcome = "finished"
        elif PASSWD_JOURNAL in entries or any(_is_leftover(e) for e in entries):
            outcome = "undone"
        for entry in os.listdir(folder):
            if _is_leftover(entry):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(folder / entry)
        fsync_dir(folder)
        with contextlib.suppress(FileNotFoundError):
            journal.unlink()
        fsync_dir(folder)
    except OSError as exc:
        raise OutputError(f"cannot finish the password change in {folder}: {exc.strerror}",
                          path=str(folder)) from None
    return outcome


def recover_password_change(folder: Path) -> str | None:
    """Finish (``"finished"``) or undo (``"undone"``) a password change of ``folder`` that a
    crash interrupted; None if there was none. :func:`change_password` and :func:`load` call
    this, so the key files of a folder always answer to one password."""
    folder = Path(folder)
    with _folder_lock(folder):
        return _recover(folder)


def change_password(folder: Path, old: str, new: str, *,
                    max_iterations: int = MAX_ITERATIONS) -> list[Path]:
    """Re-encrypt the key files of an NPKI folder under a new password: all or none.

    ``signPri.key`` and, if present, ``kmPri.key`` keep their variant and iteration count
    with a fresh salt. Everything is decrypted and checked before anything is written.
    Then, under a lock on the folder: the new files are written under temporary names, a
    journal naming them is written (the commit point), they are renamed over the old ones
    and the journal is removed. A crash before the journal leaves the old password on both
    files, a crash after it leaves the change for the next :func:`change_password` or
    :func:`load` to finish (:func:`recover_password_change`).
    Raises :class:`WrongPasswordError`, :class:`PasswordPolicyError`,
    :class:`KeyFileError`, :class:`KeyMismatchError` or :class:`OutputError`.
    """
    check_password(new)
    folder = Path(folder)
    with _folder_lock(folder):
        _recover(folder)
        plans = []
        for km in (False, True):
            cert_name, key_name = (KM_CERT_FILE, KM_KEY_FILE) if km else (CERT_FILE, KEY_FILE)
            if km and not (folder / key_name).exists():
                continue
            cert = _load_certificate(_read(folder / cert_name, "certificate"),
                                     folder / cert_name)
            opened = decrypt(_read(folder / key_name, "key file"), old,
                             max_iterations=max_iterations)
            if cert.public_key() != opened.private_key.public_key():
                raise KeyMismatchError(f"the key in {folder / key_name} does not belong to "
                                       f"{folder / cert_name}")
            data = encrypt(opened.private_key, new, r=opened.r, variant=opened.variant,
                           iterations=opened.iterations)
            plans.append((key_name, data))
        token = secrets.token_hex(8)
        try:
            for name, data in plans:
                atomic_write(folder / _staged_name(name, token), data, mode=0o600)
            fsync_dir(folder)
            fault_point("passwd.staged")
            journal = json.dumps({"token": token, "files": [n for n, _ in plans]})
            atomic_write(folder / PASSWD_JOURNAL, journal.encode(), mode=0o600)
        except BaseException:
            _recover(folder)  # no journal yet: undo
            raise
        fsync_dir(folder)
        fault_point("passwd.committed")
        try:
            for name, _ in plans:
                os.replace(folder / _staged_name(name, token), folder / name)
                fault_point("passwd.renamed")
        except OSError as exc:
            raise OutputError(f"cannot finish the password change in {folder}: "
                              f"{exc.strerror} (the next change or load finishes it)",
                              path=str(folder)) from None
        _recover(folder)  # removes the journal
    return [folder / name for name, _ in plans]


@dataclass(frozen=True)
class NPKIFiles:
    """Where a certificate and its key were written."""

    folder: Path
    certificate: Path
    private_key: Path | None


def dump(folder: Path, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey | None,
         password: str | None, *, r: bytes | None, key_management: bool = False,
         variant: Variant = Variant.SEED_CBC_WITH_SHA1,
         iterations: int = DEFAULT_ITERATIONS, check_policy: bool = True) -> NPKIFiles:
    """Write ``signCert.der`` and ``signPri.key`` (or the ``km`` pair) into ``folder``.

    Both files are written atomically, the key 0600; if the second write fails the first
    is removed. Without ``private_key`` only the certificate is written. The password must
    follow the joint-certificate rules (:func:`pki.keys.password.check_password`) unless
    ``check_policy`` is false (to reproduce an existing file).
    """
    if private_key is not None:
        if not password:
            raise ValueError("a password is needed to write a private key")
        if check_policy:
            check_password(password)
        if certificate.public_key() != private_key.public_key():
            raise KeyMismatchError("the private key does not belong to the certificate")
    folder = Path(folder)
    cert_name, key_name = (KM_CERT_FILE, KM_KEY_FILE) if key_management else (CERT_FILE,
                                                                              KEY_FILE)
    ensure_writable_dir(folder, mode=PRIVATE_DIR_MODE)
    cert_path = folder / cert_name
    key_path = folder / key_name if private_key is not None else None
    key_bytes = None
    if private_key is not None and password:
        key_bytes = encrypt(private_key, password, r=r, variant=variant,
                            iterations=iterations)
    try:
        atomic_write(cert_path, certificate.public_bytes(serialization.Encoding.DER))
        if key_path is not None and key_bytes is not None:
            atomic_write(key_path, key_bytes, mode=0o600)
    except OutputError:
        for path in (cert_path, key_path):
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        raise
    return NPKIFiles(folder, cert_path, key_path)
