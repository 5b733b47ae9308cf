"""The PKCS #12 key derivation function (RFC 7292, appendix B.2).

Why this exists: PKCS #12 derives its MAC key (and, for the legacy
``pbeWithSHAAnd3-KeyTripleDES-CBC`` the real yessign PFX uses, the cipher key and IV)
with this KDF. pyca/cryptography implements it internally but does not expose it;
oscrypto's copy cannot load its backend against OpenSSL 3.0.x here, and pyjks would add
pycryptodomex and twofish for one function. So the construction is written here over
:mod:`hashlib`; the hash itself is never reimplemented. It is checked against OpenSSL by
``tests/test_pkcs12.py``: the MAC of the real yessign PFX verifies, its 3DES key bag
decrypts, and ``openssl pkcs12`` accepts what kpki writes.
"""

from __future__ import annotations

import hashlib

__all__ = ["IV_ID", "KEY_ID", "MAC_ID", "bmp_password", "pkcs12_kdf"]

KEY_ID = 1
IV_ID = 2
MAC_ID = 3

_BLOCK = {"sha1": 64, "sha256": 64, "sha384": 128, "sha512": 128}


def bmp_password(password: str) -> bytes:
    """The password as PKCS #12 hashes it: BMPString (UTF-16BE) with a two-byte NUL."""
    return password.encode("utf-16-be") + b"\x00\x00"


def pkcs12_kdf(hash_name: str, password: bytes, salt: bytes, iterations: int, length: int,
               purpose: int) -> bytes:
    """``length`` bytes of key material; ``password`` as :func:`bmp_password` gives it."""
    if hash_name not in _BLOCK:
        raise ValueError(f"unsupported PKCS #12 KDF hash {hash_name!r}")
    if iterations < 1:
        raise ValueError("iterations must be positive")
    v = _BLOCK[hash_name]
    d = bytes((purpose,)) * v

    def fill(data: bytes) -> bytes:
        if not data:
            return b""
        size = v * -(-len(data) // v)
        return (data * (size // len(data) + 1))[:size]

    i = bytearray(fill(salt) + fill(password))
    out = b""
    while len(out) < length:
        a = hashlib.new(hash_name, d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(hash_name, a).digest()
        out += a
        if len(out) >= length:
            break
        b = int.from_bytes((a * (v // len(a) + 1))[:v], "big") + 1
        for start in range(0, len(i), v):
            block = (int.from_bytes(i[start:start + v], "big") + b) % (1 << (8 * v))
            i[start:start + v] = block.to_bytes(v, "big")
    return out[:length]
