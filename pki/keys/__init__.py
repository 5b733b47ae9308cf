"""Private keys: generation, and encryption at rest."""

from .atrest import (
    CA_KDF_ITERATIONS,
    decrypt_private_key,
    encrypt_private_key,
    load_private_key_file,
)
from .generate import KeyGenerator, RSAKeyGenerator, check_subscriber_key

__all__ = [
    "CA_KDF_ITERATIONS",
    "KeyGenerator",
    "RSAKeyGenerator",
    "check_subscriber_key",
    "decrypt_private_key",
    "encrypt_private_key",
    "load_private_key_file",
]
