"""Short secrets kept by the bank (a carrier app's 6-digit password, an account's 4-digit
password): a salted hash of their own, never the secret.

Two schemes, named by the stored text's prefix:

* ``hmac-sha256$<salt>$<mac>``: HMAC-SHA256 under a key the store never holds (the bank's
  service secret, :mod:`pki.usecases.banking`), as a bank verifies PINs with a key in its
  HSM. A copy of the store alone gives nothing to test guesses against; with the key, a
  4-digit secret is ten thousand guesses whatever the hash, so a slow KDF would add cost
  to every right answer and no safety. Account passwords use it when the caller has the
  key.
* ``scrypt$<n>$<salt>$<key>`` (n=2^14, r=8, p=1: some tens of milliseconds): for a secret
  kept without such a key (the carrier app's password, an account kept by a caller
  without the bank's key), every guess costs a KDF instead of a microsecond. The
  derivation is slow on purpose, so callers run it before they take the store's write
  lock and decide under the lock (see :meth:`pki.bank.customers.Customers.check_password`).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import VaultError

__all__ = ["KEYED", "SCRYPT", "SCRYPT_N", "hash_password", "keyed_hash", "password_matches",
           "scheme_of"]

SCRYPT_N = 2**14
SCRYPT = "scrypt"
KEYED = "hmac-sha256"


def hash_password(password: str, salt: bytes, *, context: str = "") -> str:
    """``scrypt$<n>$<salt hex>$<key hex>`` of ``password`` bound to ``context`` (what the
    secret guards, so one hash cannot stand in for another's)."""
    key = _derive(password, context, salt, SCRYPT_N)
    return f"{SCRYPT}${SCRYPT_N}${salt.hex()}${key.hex()}"


def keyed_hash(password: str, key: bytes, salt: bytes, *, context: str = "") -> str:
    """``hmac-sha256$<salt hex>$<mac hex>`` of ``password`` bound to ``context``, under
    ``key`` (never stored with it)."""
    return f"{KEYED}${salt.hex()}${_mac(password, context, key, salt).hex()}"


def scheme_of(stored: str) -> str | None:
    """The scheme a stored hash names (:data:`SCRYPT`, :data:`KEYED`), None for another
    text (a hash an older kpki kept)."""
    scheme = stored.split("$", 1)[0]
    return scheme if scheme in (SCRYPT, KEYED) else None


def password_matches(password: str, stored: str, *, context: str = "",
                     key: bytes | None = None) -> bool:
    """Whether ``password`` (with ``context``) is the one ``stored`` was made from. A
    keyed hash needs ``key``: without it :class:`VaultError` (never a wrong password:
    nothing may be counted for the caller's missing key). Raises ``ValueError`` for a
    text of neither scheme."""
    scheme = scheme_of(stored)
    if scheme == SCRYPT:
        _, n, salt, derived = stored.split("$")
        return hmac.compare_digest(_derive(password, context, bytes.fromhex(salt), int(n)),
                                   bytes.fromhex(derived))
    if scheme == KEYED:
        if key is None:
            raise VaultError("this password is kept under the bank's service secret: "
                             "check it through the bank that has the secret")
        _, salt, mac = stored.split("$")
        return hmac.compare_digest(_mac(password, context, key, bytes.fromhex(salt)),
                                   bytes.fromhex(mac))
    raise ValueError("not a password hash kpki keeps")


def _derive(password: str, context: str, salt: bytes, n: int) -> bytes:
    material = (f"{context}|{password}" if context else password).encode()
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(material)


def _mac(password: str, context: str, key: bytes, salt: bytes) -> bytes:
    material = salt + (f"{context}|{password}" if context else password).encode()
    return hmac.new(key, material, hashlib.sha256).digest()
