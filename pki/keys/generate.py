"""Key generation, injected so tests can draw from a cache instead of paying ~50 ms a key."""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ..errors import UnsupportedKeyError

__all__ = ["KeyGenerator", "RSAKeyGenerator", "check_subscriber_key"]

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 4096


class KeyGenerator(Protocol):
    """Makes a fresh RSA private key of the given size."""

    def generate(self, bits: int) -> rsa.RSAPrivateKey: ...


class RSAKeyGenerator:
    """Fresh keys from the OS CSPRNG, public exponent 65537. What real issuance uses."""

    def generate(self, bits: int) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def check_subscriber_key(key: PublicKeyTypes) -> rsa.RSAPublicKey:
    """Korean subscriber certificates carry RSA keys of 2048 to 4096 bits."""
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedKeyError(
            f"Korean certificates carry RSA keys; got {type(key).__name__.lstrip('_')}"
        )
    if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
        raise UnsupportedKeyError(
            f"RSA key of {key.key_size} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
        )
    return key
