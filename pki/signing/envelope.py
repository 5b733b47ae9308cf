"""R for the VID check, encrypted to the relying party (CMS EnvelopedData).

The holder's R must reach the server that checks the VID without travelling in clear. It
is sent as EnvelopedData: the content key is wrapped for the relying party's certificate
with RSA (PKCS #1 v1.5 key transport, as Korean software expects) and R is encrypted with
AES-256-CBC, or SEED-CBC as RFC 4010 describes (``1.2.410.200004.1.4`` with the IV as
parameter) on request.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal, cast

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .. import oids
from ..errors import PKIError, WrongPasswordError

__all__ = ["EnvelopeError", "open_r_envelope", "seal_r"]

Cipher_ = Literal["aes256", "seed"]


class EnvelopeError(PKIError, ValueError):
    """An R envelope is malformed, uses an unknown algorithm, or is not for this key."""


def seal_r(r: bytes, recipient: x509.Certificate, *, cipher: Cipher_ = "aes256") -> bytes:
    """A DER ContentInfo(EnvelopedData) holding ``r`` for ``recipient``."""
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise EnvelopeError("the relying party's certificate has no RSA key")
    if cipher == "aes256":
        key, iv = secrets.token_bytes(32), secrets.token_bytes(16)
        algorithm: Any = algorithms.AES(key)
        content_algorithm = {"algorithm": "aes256_cbc", "parameters": iv}
    elif cipher == "seed":
        key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
        algorithm = SEED(key)
        content_algorithm = {"algorithm": oids.SEED_CBC.dotted_string,
                             "parameters": core.OctetString(iv)}
    else:
        raise ValueError(f"unknown cipher {cipher!r}")
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithm, modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(r) + padder.finalize()) + encryptor.finalize()
    recipient_info = cms.RecipientInfo(name="ktri", value={
        "version": "v0",
        "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value={
            "issuer": asn1_x509.Name.load(recipient.issuer.public_bytes()),
            "serial_number": recipient.serial_number}),
        "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
        "encrypted_key": public_key.encrypt(key, padding.PKCS1v15()),
    })
    enveloped = cms.EnvelopedData({
        "version": "v0",
        "recipient_infos": [recipient_info],
        "encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": content_algorithm,
            "encrypted_content": ciphertext,
        },
    })
    return cast(bytes, cms.ContentInfo({"content_type": "enveloped_data",
                                        "content": enveloped}).dump())


def open_r_envelope(data: bytes, private_key: rsa.RSAPrivateKey) -> bytes:
    """R from an envelope made by :func:`seal_r` (or any RSA/AES-or-SEED EnvelopedData)."""
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "enveloped_data":
            raise EnvelopeError("not EnvelopedData")
        enveloped = info["content"]
        recipients = [ri.chosen for ri in enveloped["recipient_infos"] if ri.name == "ktri"]
        encrypted = enveloped["encrypted_content_info"]
        algorithm = encrypted["content_encryption_algorithm"]
        oid = algorithm["algorithm"].dotted
        ciphertext = encrypted["encrypted_content"].native
        params = algorithm["parameters"]
        iv = params.native if isinstance(params, core.OctetString) else \
            core.OctetString.load(params.dump()).native
    except EnvelopeError:
        raise
    except (ValueError, TypeError, KeyError):
        raise EnvelopeError("malformed R envelope: the DER does not parse") from None
    if not recipients:
        raise EnvelopeError("the envelope has no RSA recipient")
    key = None
    for recipient in recipients:
        try:
            key = private_key.decrypt(recipient["encrypted_key"].native, padding.PKCS1v15())
            break
        except ValueError:
            continue
    if key is None:
        raise WrongPasswordError("the envelope was not sealed for this key")
    if oid == oids.AES256_CBC.dotted_string and len(key) == 32:
        cipher_algorithm: Any = algorithms.AES(key)
    elif oid == oids.SEED_CBC.dotted_string and len(key) == 16:
        cipher_algorithm = SEED(key)
    else:
        raise EnvelopeError(f"unsupported content encryption {oid}")
    if not isinstance(ciphertext, bytes) or len(ciphertext) % 16 or not isinstance(iv, bytes) \
            or len(iv) != 16:
        raise EnvelopeError("malformed encrypted content")
    decryptor = Cipher(cipher_algorithm, modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    try:
        unpadder = sym_padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise EnvelopeError("the envelope does not decrypt") from None
