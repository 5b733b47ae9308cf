"""Short secrets kept by the bank (a carrier app's 6-digit password, an account's 4-digit
password): an scrypt hash with a salt of their own, never the secret.

A short secret stays guessable by anyone holding the store (10^4 or 10^6 values); scrypt
(n=2^14, r=8, p=1: some tens of milliseconds) makes every guess cost that much instead of a
microsecond of SHA-256. The derivation is slow on purpose, so callers run it before they take
the store's write lock and decide under the lock (see :meth:`pki.bank.customers.Customers.
check_password`).
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["SCRYPT_N", "hash_password", "password_matches"]

SCRYPT_N = 2**14


def hash_password(password: str, salt: bytes, *, context: str = "") -> str:
    """``scrypt$<n>$<salt hex>$<key hex>`` of ``password`` bound to ``context`` (what the
    secret guards, so one hash cannot stand in for another's)."""
    key = _derive(password, context, salt, SCRYPT_N)
    return f"scrypt${SCRYPT_N}${salt.hex()}${key.hex()}"


def password_matches(password: str, stored: str, *, context: str = "") -> bool:
    """Whether ``password`` (with ``context``) is the one ``stored`` was made from."""
    _, n, salt, key = stored.split("$")
    return hmac.compare_digest(_derive(password, context, bytes.fromhex(salt), int(n)),
                               bytes.fromhex(key))


def _derive(password: str, context: str, salt: bytes, n: int) -> bytes:
    material = (f"{context}|{password}" if context else password).encode()
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(material)
