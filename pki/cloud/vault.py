"""The vault: private keys encrypted under a PIN *and* a secret the database never holds.

Each key is sealed with AES-256-GCM under

    KEK = HMAC-SHA256(vault secret, scrypt(PIN, salt; N=2^15, r=8, p=2))

The scrypt step makes every guess cost about 0.1 s and 32 MiB; the vault secret (a 0600
file or an environment variable, never in the database) means a stolen database alone
gives an attacker nothing to test guesses against: without the secret, no PIN, right or
wrong, yields a key that opens the ciphertext. The associated data binds each ciphertext
to its user, CA and serial, so sealed keys cannot be swapped between records. A key is
opened only inside :meth:`Vault.open`, used, and dropped by the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import PKIError, WrongPasswordError
from ..fsutil import atomic_write

__all__ = ["KDFParams", "Sealed", "Vault", "VaultError", "load_vault_secret"]

SECRET_ENV = "KPKI_VAULT_SECRET"
SECRET_BYTES = 32


class VaultError(PKIError):
    """The vault secret is missing or unusable."""


@dataclass(frozen=True)
class KDFParams:
    n: int = 2**15
    r: int = 8
    p: int = 2

    def text(self) -> str:
        return f"scrypt:{self.n}:{self.r}:{self.p}"

    @classmethod
    def parse(cls, text: str) -> KDFParams:
        name, n, r, p = text.split(":")
        if name != "scrypt":
            raise VaultError(f"unknown KDF {name}")
        params = cls(int(n), int(r), int(p))
        if not (2 <= params.n <= 2**20 and 1 <= params.r <= 32 and 1 <= params.p <= 16):
            raise VaultError(f"KDF parameters out of range: {text}")
        return params


@dataclass(frozen=True)
class Sealed:
    """What the database keeps for one key: nothing usable without PIN and secret."""

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    kdf: str


def load_vault_secret(path: Path, *, create: bool = False) -> bytes:
    """The vault secret from ``$KPKI_VAULT_SECRET`` (hex) or the 0600 file ``path``."""
    env = os.environ.get(SECRET_ENV)
    if env:
        try:
            secret = bytes.fromhex(env.strip())
        except ValueError:
            raise VaultError(f"${SECRET_ENV} is not hex") from None
    elif path.is_file():
        secret = path.read_bytes().strip()
        try:
            secret = bytes.fromhex(secret.decode())
        except (ValueError, UnicodeDecodeError):
            raise VaultError(f"{path} does not hold a hex vault secret") from None
    elif create:
        secret = secrets.token_bytes(SECRET_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, secret.hex().encode() + b"\n", mode=0o600)
    else:
        raise VaultError(f"no vault secret: set ${SECRET_ENV} or create {path}")
    if len(secret) < 16:
        raise VaultError("the vault secret is too short (at least 16 bytes)")
    return secret


class Vault:
    """Seals and opens keys; holds the vault secret, never a PIN."""

    def __init__(self, secret: bytes, *, kdf: KDFParams | None = None) -> None:
        self._secret = secret
        self.kdf = kdf or KDFParams()

    def _kek(self, pin: str, salt: bytes, params: KDFParams) -> bytes:
        stretched = Scrypt(salt, 32, params.n, params.r, params.p).derive(pin.encode())
        return hmac.new(self._secret, b"kpki-vault-kek" + stretched, hashlib.sha256).digest()

    def seal(self, plaintext: bytes, pin: str, *, associated: bytes) -> Sealed:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        kek = self._kek(pin, salt, self.kdf)
        return Sealed(salt, nonce, AESGCM(kek).encrypt(nonce, plaintext, associated),
                      self.kdf.text())

    def open(self, sealed: Sealed, pin: str, *, associated: bytes) -> bytes:
        """The plaintext; :class:`WrongPasswordError` if the PIN (or secret) is wrong."""
        kek = self._kek(pin, sealed.salt, KDFParams.parse(sealed.kdf))
        try:
            return AESGCM(kek).decrypt(sealed.nonce, sealed.ciphertext, associated)
        except InvalidTag:
            raise WrongPasswordError("wrong PIN") from None
