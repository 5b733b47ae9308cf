"""CA private keys at rest: PKCS #8 EncryptedPrivateKeyInfo that ``openssl pkey`` reads.

pyca/cryptography's own PKCS #8 encryption uses PBKDF2 with 2,048 iterations and cannot be
tuned, so the envelope is built here from pyca primitives and asn1crypto structures:
PBES2 with PBKDF2-HMAC-SHA256 (600,000 iterations, 16-byte salt) and AES-256-CBC. Reading
goes through pyca, which accepts any PBES2 variant OpenSSL writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from asn1crypto import algos, core, keys, pem
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..errors import PKIError, WrongPasswordError

__all__ = [
    "CA_KDF_ITERATIONS",
    "decrypt_private_key",
    "encrypt_private_key",
    "load_private_key_file",
    "pbes2_encrypt",
]

CA_KDF_ITERATIONS = 600_000
_SALT_BYTES = 16


def encrypt_private_key(key: PrivateKeyTypes, passphrase: bytes, *,
                        iterations: int = CA_KDF_ITERATIONS,
                        salt: bytes | None = None, iv: bytes | None = None) -> bytes:
    """PEM ``ENCRYPTED PRIVATE KEY`` (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC).

    ``salt`` and ``iv`` default to fresh random values; pass them only for reproducible
    test fixtures.
    """
    if not passphrase:
        raise ValueError("an empty passphrase does not protect a key")
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    iv = os.urandom(16) if iv is None else iv
    plain = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    info = pbes2_encrypt(plain, passphrase, iterations=iterations, salt=salt, iv=iv)
    return cast(bytes, pem.armor("ENCRYPTED PRIVATE KEY", info.dump()))


def pbes2_encrypt(plain: bytes, passphrase: bytes, *, iterations: int, salt: bytes,
                  iv: bytes) -> keys.EncryptedPrivateKeyInfo:
    """Wrap DER ``plain`` (a PrivateKeyInfo) in PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC.

    The one writer of this envelope, for CA keys here and for PKCS #12 key bags.
    """
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    algorithm = algos.EncryptionAlgorithm({
        "algorithm": "pbes2",
        "parameters": {
            "key_derivation_func": {
                "algorithm": "pbkdf2",
                "parameters": {
                    "salt": algos.Pbkdf2Salt(name="specified", value=core.OctetString(salt)),
                    "iteration_count": iterations,
                    "prf": {"algorithm": "sha256"},
                },
            },
            "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
        },
    })
    return keys.EncryptedPrivateKeyInfo({"encryption_algorithm": algorithm,
                                         "encrypted_data": ciphertext})


def decrypt_private_key(data: bytes, passphrase: bytes | None, *,
                        own: bool = False) -> PrivateKeyTypes:
    """Load a PEM private key, encrypted or not.

    ``own``: a key kpki generated and wrote itself (a home's CA keys, 0600 in 0700
    folders), whose RSA parameters OpenSSL need not check again: that check costs ~0.1 s a
    key, most of ``kpki serve``'s start-up, and protects against malformed keys from
    elsewhere (whose signatures could leak them), which a home's own files are not.

    Raises :class:`WrongPasswordError` when the passphrase does not open it (or one is
    needed and none was given) and :class:`PKIError` when the data is not a key at all.
    """
    try:
        return serialization.load_pem_private_key(data, passphrase,
                                                  unsafe_skip_rsa_key_validation=own)
    except TypeError as exc:
        if passphrase is None:
            raise WrongPasswordError("this key is encrypted: a passphrase is needed") from None
        raise PKIError(f"cannot load the key: {exc}") from None
    except ValueError as exc:
        if passphrase is not None and b"ENCRYPTED" in data[:64]:
            raise WrongPasswordError("the passphrase does not open this key") from None
        raise PKIError(f"not a readable private key: {exc}") from None


def load_private_key_file(path: Path, passphrase: bytes | None) -> PrivateKeyTypes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read key file {path}: {exc.strerror}") from None
    return decrypt_private_key(data, passphrase)
