"""The vault: private keys encrypted under a PIN *and* a secret the database never holds.

Each key is sealed with AES-256-GCM under

    KEK = HMAC-SHA256(vault secret, scrypt(PIN, salt; N=2^15, r=8, p=2))

The scrypt step makes every guess cost about 0.1 s and 32 MiB; the vault secret (a 0600
file or an environment variable, never in the database) means a stolen database alone
gives an attacker nothing to test guesses against: without the secret, no PIN, right or
wrong, yields a key that opens the ciphertext. The associated data binds each ciphertext
to its user, CA and serial, so sealed keys cannot be swapped between records. A key is
opened only inside :meth:`Vault.open`, used, and dropped by the caller.

Each record also keeps the vault secret's *check value* (an HMAC of a fixed label under
the secret, which reveals nothing about it). A lost or replaced secret is then told apart
from a wrong PIN: :func:`vault_secret_for` refuses to start a cloud whose records were
sealed under another secret (or whose secret is missing), and :meth:`Vault.open` raises
:class:`VaultError`, never :class:`WrongPasswordError`, for a record sealed under another
secret, so a PIN is never charged for the operator's mistake.

**Recovery copies (PIN reset).** An institution whose ``pin_reset`` setting is on lets a
holder who forgot the PIN set a new one after the full identity proofing of an issuance
(:mod:`pki.ra.financial`), keeping the certificate. A key sealed only under the PIN cannot
be re-sealed without it, so for certificates issued there the vault also keeps a
*recovery copy*: the same plaintext under AES-256-GCM with

    KEK = HMAC-SHA256(vault secret, "kpki-vault-recovery-v1" || salt)

the vault secret alone, as a cloud HSM holds keys and the PIN is only its access check.
The trade-off, stated plainly: a stolen store **plus** the vault secret opens every
recovery copy without any PIN guess, where the PIN-sealed record would still cost an
scrypt run per guess. The store alone still opens nothing (no secret, no KEK), and a
certificate issued where ``pin_reset`` is off never gets a copy: its key stays behind the
PIN only, and a forgotten PIN means revoke and reissue. A copy carries the secret's check
value as the PIN-sealed record does, and the same associated data (user, CA, serial).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import VaultError, WrongPasswordError
from ..fsutil import atomic_write
from ..keys.scrypt import ScryptParams
from ..store.records import Sealed

__all__ = ["RECOVERY_KDF", "KDFParams", "Sealed", "Sealer", "Vault", "VaultError",
           "load_vault_secret", "secret_check", "vault_secret_for"]

SECRET_ENV = "KPKI_VAULT_SECRET"
SECRET_BYTES = 32


def secret_check(secret: bytes) -> str:
    """The check value kept beside each sealed record: it names the secret, not a PIN."""
    return hmac.new(secret, b"kpki-vault-check-v1", hashlib.sha256).hexdigest()[:32]


RECOVERY_KDF = "recovery-v1"
"""The ``kdf`` of a recovery copy: no PIN, the vault secret alone (see the module doc)."""

KDFParams = ScryptParams
"""The vault's KDF cost (the shared :class:`pki.keys.scrypt.ScryptParams`)."""


def _stored_kdf(text: str) -> KDFParams:
    """The KDF cost a sealed record names; :class:`VaultError` if unreadable or out of
    bounds (refused, never run)."""
    params = KDFParams.read(text, min_n=2)
    if params is None:
        raise VaultError(f"KDF parameters unreadable or out of range: {text}")
    return params


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


def vault_secret_for(path: Path, checks: Mapping[str | None, int], *, create: bool) -> bytes:
    """The vault secret for a vault whose records carry ``checks`` (check value -> number
    of records). A new secret is made only for an empty vault (and with ``create``);
    :class:`VaultError` (with ``sealed_keys``) when records exist and the secret is
    missing, or is not the one they were sealed under."""
    sealed = sum(checks.values())
    where = f"${SECRET_ENV} or {path}"
    if sealed and not os.environ.get(SECRET_ENV) and not path.is_file():
        raise VaultError(f"the vault secret is missing ({where}) and the vault holds {sealed} "
                         "sealed key(s): restore it (a new one would open none of them)",
                         sealed_keys=sealed)
    secret = load_vault_secret(path, create=create and not sealed)
    other = sum(n for check, n in checks.items()
                if check is not None and check != secret_check(secret))
    if other:
        raise VaultError(f"the vault secret in {where} is not the one {other} of the "
                         f"{sealed} sealed key(s) were sealed under: restore the right one",
                         sealed_keys=sealed)
    return secret


class Sealer:
    """Seals under one PIN with the KDF already run, so that the cheap AES step can happen
    inside a store transaction (the record's serial, bound as associated data, is known
    only there)."""

    def __init__(self, kek: bytes, salt: bytes, kdf: str, check: str) -> None:
        self._kek, self._salt, self._kdf, self._check = kek, salt, kdf, check

    def seal(self, plaintext: bytes, *, associated: bytes) -> Sealed:
        nonce = secrets.token_bytes(12)
        return Sealed(self._salt, nonce, AESGCM(self._kek).encrypt(nonce, plaintext, associated),
                      self._kdf, self._check)


class Vault:
    """Seals and opens keys; holds the vault secret, never a PIN."""

    def __init__(self, secret: bytes, *, kdf: KDFParams | None = None) -> None:
        self._secret = secret
        self.kdf = kdf or KDFParams()
        self.check = secret_check(secret)

    def _kek(self, pin: str, salt: bytes, params: KDFParams) -> bytes:
        stretched = Scrypt(salt, 32, params.n, params.r, params.p).derive(pin.encode())
        return hmac.new(self._secret, b"kpki-vault-kek" + stretched, hashlib.sha256).digest()

    def sealer(self, pin: str) -> Sealer:
        """Run the KDF for a new record under ``pin`` (a fresh salt)."""
        salt = secrets.token_bytes(16)
        return Sealer(self._kek(pin, salt, self.kdf), salt, self.kdf.text(), self.check)

    def seal(self, plaintext: bytes, pin: str, *, associated: bytes) -> Sealed:
        return self.sealer(pin).seal(plaintext, associated=associated)

    def open(self, sealed: Sealed, pin: str, *, associated: bytes) -> bytes:
        """The plaintext; :class:`WrongPasswordError` if the PIN is wrong;
        :class:`VaultError` if the record was sealed under another vault secret."""
        if sealed.secret_check is not None and sealed.secret_check != self.check:
            raise VaultError("this key was sealed under another vault secret")
        kek = self._kek(pin, sealed.salt, _stored_kdf(sealed.kdf))
        try:
            return AESGCM(kek).decrypt(sealed.nonce, sealed.ciphertext, associated)
        except InvalidTag:
            raise WrongPasswordError("wrong PIN") from None

    def _recovery_kek(self, salt: bytes) -> bytes:
        return hmac.new(self._secret, b"kpki-vault-recovery-v1" + salt, hashlib.sha256).digest()

    def seal_recovery(self, plaintext: bytes, *, associated: bytes) -> Sealed:
        """A recovery copy of ``plaintext``: sealed under the vault secret alone (the
        module doc says what that costs), for a PIN reset."""
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        return Sealed(salt, nonce, AESGCM(self._recovery_kek(salt)).encrypt(
            nonce, plaintext, associated), RECOVERY_KDF, self.check)

    def open_recovery(self, sealed: Sealed, *, associated: bytes) -> bytes:
        """The plaintext of a recovery copy; :class:`VaultError` if it was sealed under
        another vault secret, is not a recovery copy, or does not open (tampered, or
        bound to another record)."""
        if sealed.kdf != RECOVERY_KDF:
            raise VaultError("not a recovery copy")
        if sealed.secret_check is not None and sealed.secret_check != self.check:
            raise VaultError("this recovery copy was sealed under another vault secret")
        try:
            return AESGCM(self._recovery_kek(sealed.salt)).decrypt(
                sealed.nonce, sealed.ciphertext, associated)
        except InvalidTag:
            raise VaultError("the recovery copy does not open under this vault secret"
                             ) from None
