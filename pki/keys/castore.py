"""CA keys behind a seam: a key store creates, loads and uses CA keys by label.

A **CA key** (:data:`CAKey`) is any object with pyca's RSA private-key interface,
:class:`~cryptography.hazmat.primitives.asymmetric.rsa.RSAPrivateKey`. kpki signs with CA keys
only through that interface: pyca's certificate, CRL, OCSP and PKCS #7 builders, the
hand-written CRL encoder and the time-stamping authority call ``public_key()``, ``key_size``
and ``sign()``, nothing else. So a subclass whose ``sign`` goes elsewhere (an HSM, a remote
signer) is accepted wherever kpki signs; ``tests/test_castore.py`` proves it with a key that
delegates and counts its calls. No code outside a key store reads key material: nothing
else calls ``private_bytes`` on a CA key.

Keys are named by :class:`KeyLabel`: a CA's own key (``yessign``), its delegated OCSP
signer's (``yessign/ocsp``), the time-stamping authority's (``root/tsa``). A store
implements :class:`CAKeyStore`:

* :class:`FileCAKeyStore`: PKCS #8 PEM files under ``<home>/cas/<ca>/`` (``key.pem``,
  ``ocsp-key.pem``, ``tsa-key.pem``), 0600 in 0700 folders, encrypted with PBES2
  (:mod:`pki.keys.atrest`: PBKDF2-HMAC-SHA256, 600,000 iterations, AES-256-CBC) when the
  home's keys are. The passphrase is given once, when the store is made.
* :class:`MemoryCAKeyStore`: keys held in memory only (test PKIs, memory homes).

* :class:`pki.keys.pkcs11.PKCS11CAKeyStore`: keys in a token over PKCS #11 (``kpki init
  --ca-keys``): a label becomes the objects' ``CKA_LABEL`` (with a ``CKA_ID`` derived from
  it), :meth:`CAKeyStore.generate` calls ``C_GenerateKeyPair`` with ``CKA_SENSITIVE`` set
  and ``CKA_EXTRACTABLE`` cleared, :meth:`CAKeyStore.load` returns an :class:`RSAPrivateKey`
  subclass whose ``sign`` calls ``C_Sign`` (and whose ``private_bytes`` refuses),
  :meth:`CAKeyStore.delete` destroys the objects. Nothing outside the store changed for it.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import (
    CAKeyExistsError,
    CAKeyNotFoundError,
    PKIError,
    UnsupportedKeyError,
    WrongPasswordError,
)
from ..fsutil import PRIVATE_DIR_MODE, atomic_write, make_dirs
from ..profiles import KeyType
from .atrest import CA_KDF_ITERATIONS, decrypt_private_key, encrypt_private_key
from .generate import KeyGenerator, RSAKeyGenerator

__all__ = [
    "CAKey",
    "CAKeyStore",
    "FileCAKeyStore",
    "KeyLabel",
    "KeyRole",
    "MemoryCAKeyStore",
    "check_ca_key",
]

CAKey: TypeAlias = rsa.RSAPrivateKey
"""A CA key: anything with pyca's RSA private-key interface (kpki's CA keys are RSA). Only
``public_key()``, ``key_size`` and ``sign()`` are ever called on it."""

_CA = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


class KeyRole(enum.Enum):
    """Whose key, of a CA's."""

    CA = "ca"
    """The CA's own key: it signs certificates and CRLs."""
    OCSP = "ocsp"
    """The CA's delegated OCSP signer."""
    TSA = "tsa"
    """The time-stamping authority whose certificate the CA (the root) issued."""


@dataclass(frozen=True)
class KeyLabel:
    """The name of a key in a :class:`CAKeyStore`: ``<ca>`` or ``<ca>/<role>``.

    Typed, so a key label cannot be passed where a CA label is expected.
    """

    ca: str
    role: KeyRole = KeyRole.CA

    def __post_init__(self) -> None:
        if not _CA.match(self.ca):
            raise ValueError(f"not a CA label: {self.ca!r}")

    @classmethod
    def of_ca(cls, ca: str) -> KeyLabel:
        return cls(ca)

    @classmethod
    def ocsp(cls, ca: str) -> KeyLabel:
        return cls(ca, KeyRole.OCSP)

    @classmethod
    def tsa(cls, ca: str = "root") -> KeyLabel:
        return cls(ca, KeyRole.TSA)

    @classmethod
    def parse(cls, text: str) -> KeyLabel:
        """``yessign``, ``yessign/ocsp``, ``root/tsa``; :class:`ValueError` otherwise."""
        ca, _, role = text.partition("/")
        if not role:
            return cls(ca)
        if role == KeyRole.CA.value:
            raise ValueError(f"not a key label: {text!r}")
        return cls(ca, KeyRole(role))

    def __str__(self) -> str:
        return self.ca if self.role is KeyRole.CA else f"{self.ca}/{self.role.value}"


class CAKeyStore(Protocol):
    """Creates, loads and holds CA keys by label; the one place key material lives."""

    @property
    def description(self) -> str:
        """What holds the keys, for the audit log (never a secret)."""
        ...

    def generate(self, label: KeyLabel, key_type: KeyType, *,
                 replace: bool = False) -> CAKey:
        """Make a new key under ``label`` and return it.

        Raises :class:`CAKeyExistsError` when the label holds a key already, unless
        ``replace`` (a signer rotating its key: the new key takes the label, atomically).
        """
        ...

    def load(self, label: KeyLabel) -> CAKey:
        """The key under ``label``; :class:`CAKeyNotFoundError` if there is none,
        :class:`WrongPasswordError` if the store cannot open it."""
        ...

    def exists(self, label: KeyLabel) -> bool: ...

    def delete(self, label: KeyLabel) -> None:
        """Remove the key under ``label`` (a CA whose creation failed); nothing if none."""
        ...


def check_ca_key(key: object) -> CAKey:
    """``key`` as a CA key; :class:`UnsupportedKeyError` if it is not an RSA private key."""
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedKeyError("kpki CA keys are RSA")
    return key


class MemoryCAKeyStore:
    """CA keys held in memory only: nothing on disk (memory homes, :class:`TestPKI`)."""

    description = "memory"

    def __init__(self, *, key_generator: KeyGenerator | None = None) -> None:
        self.key_generator: KeyGenerator = key_generator or RSAKeyGenerator()
        self._keys: dict[KeyLabel, CAKey] = {}
        self._lock = threading.Lock()

    def generate(self, label: KeyLabel, key_type: KeyType, *,
                 replace: bool = False) -> CAKey:
        with self._lock:
            if label in self._keys and not replace:
                raise CAKeyExistsError(f"a key labelled {str(label)!r} exists already",
                                       label=str(label))
        key = check_ca_key(self.key_generator.generate(key_type.bits))
        with self._lock:
            self._keys[label] = key
        return key

    def load(self, label: KeyLabel) -> CAKey:
        try:
            return self._keys[label]
        except KeyError:
            raise CAKeyNotFoundError(f"no key labelled {str(label)!r}",
                                     label=str(label)) from None

    def exists(self, label: KeyLabel) -> bool:
        return label in self._keys

    def delete(self, label: KeyLabel) -> None:
        with self._lock:
            self._keys.pop(label, None)


_FILE_NAMES = {KeyRole.CA: "key.pem", KeyRole.OCSP: "ocsp-key.pem",
               KeyRole.TSA: "tsa-key.pem"}


class FileCAKeyStore:
    """CA keys in PKCS #8 PEM files, encrypted with the home's passphrase when ``encrypted``.

    ``folder`` is ``<home>/cas``; the key labelled ``<ca>/<role>`` lives in
    ``<folder>/<ca>/`` (:data:`_FILE_NAMES`). ``passphrase`` opens (and seals) every key
    of an encrypted store; without it, :meth:`load` and :meth:`generate` raise
    :class:`WrongPasswordError`. Keys are read from their file on each :meth:`load` unless
    :meth:`unlock` has loaded and kept them (one PBKDF2 run per key file, ~0.3 s).
    """

    def __init__(self, folder: Path, *, encrypted: bool, passphrase: bytes | None = None,
                 key_generator: KeyGenerator | None = None,
                 iterations: int = CA_KDF_ITERATIONS) -> None:
        self.folder = Path(folder)
        self.encrypted = encrypted
        self._passphrase = passphrase or None
        self.key_generator: KeyGenerator = key_generator or RSAKeyGenerator()
        self._iterations = iterations
        self._held: dict[KeyLabel, CAKey] = {}
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        sealing = (f"encrypted (PBES2, PBKDF2-HMAC-SHA256 {self._iterations}, AES-256-CBC)"
                   if self.encrypted else "unencrypted")
        return f"PKCS #8 files in {self.folder}, {sealing}"

    def with_passphrase(self, passphrase: bytes | None) -> FileCAKeyStore:
        """This store opened with ``passphrase`` (None: this store's own), sharing the keys
        :meth:`unlock` holds."""
        if passphrase is None or passphrase == self._passphrase:
            return self
        other = FileCAKeyStore(self.folder, encrypted=self.encrypted, passphrase=passphrase,
                               key_generator=self.key_generator, iterations=self._iterations)
        other._held, other._lock = self._held, self._lock
        return other

    def path(self, label: KeyLabel) -> Path:
        """The file of the key labelled ``label``."""
        return self.folder / label.ca / _FILE_NAMES[label.role]

    # -- the protocol ---------------------------------------------------------------------

    def exists(self, label: KeyLabel) -> bool:
        return label in self._held or self.path(label).is_file()

    def load(self, label: KeyLabel) -> CAKey:
        held = self._held.get(label)
        if held is not None:
            return held
        path = self.path(label)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CAKeyNotFoundError(f"no key labelled {str(label)!r} (no {path})",
                                     label=str(label)) from None
        except OSError as exc:
            raise CAKeyNotFoundError(f"cannot read key file {path}: {exc.strerror}",
                                     label=str(label)) from None
        if self.encrypted and self._passphrase is None:
            raise WrongPasswordError(
                "the CA keys of this home are encrypted: give the passphrase")
        return check_ca_key(decrypt_private_key(
            data, self._passphrase if self.encrypted else None, own=True))

    def generate(self, label: KeyLabel, key_type: KeyType, *,
                 replace: bool = False) -> CAKey:
        if self.encrypted and self._passphrase is None:
            raise WrongPasswordError(
                "the CA keys of this home are encrypted: give the passphrase")
        path = self.path(label)
        # A CA's folder is its key's: a CA label whose folder exists is refused.
        taken = path.parent if label.role is KeyRole.CA else path
        if not replace and (label in self._held or taken.exists()):
            raise CAKeyExistsError(f"files for CA {label.ca!r} exist already in {path.parent}",
                                   label=str(label))
        key = check_ca_key(self.key_generator.generate(key_type.bits))
        make_dirs(path.parent, mode=PRIVATE_DIR_MODE)
        try:
            os.chmod(path.parent, PRIVATE_DIR_MODE)
        except OSError as exc:
            raise PKIError(f"cannot set the mode of {path.parent}: {exc.strerror}") from None
        atomic_write(path, self._seal(key), mode=0o600)
        with self._lock:
            if label in self._held:  # a rotated key replaces the one held
                self._held[label] = key
        return key

    def delete(self, label: KeyLabel) -> None:
        path = self.path(label)
        with self._lock:
            self._held.pop(label, None)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when nothing else is left in it

    # -- holding keys ---------------------------------------------------------------------

    def unlock(self, labels: list[KeyLabel]) -> None:
        """Load the keys under ``labels`` now and keep them, so later work does not read
        and decrypt their files again (a long-running process calls this once).

        Raises what :meth:`load` raises; nothing is kept then."""
        loaded = {label: self.load(label) for label in labels}
        with self._lock:
            self._held.update(loaded)

    def _seal(self, key: CAKey) -> bytes:
        if self.encrypted:
            assert self._passphrase is not None
            return encrypt_private_key(key, self._passphrase, iterations=self._iterations)
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
