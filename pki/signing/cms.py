"""CMS SignedData in every shape Korean clients produce.

Attached or detached; with signed attributes (contentType, messageDigest, signingTime) or
without (the signature then covers the content itself, as many Korean clients sign);
wrapped in ContentInfo or bare SignedData; RSASSA-PKCS1-v1_5 or RSASSA-PSS
(SHA-256, MGF1-SHA-256, 32-byte salt), always over SHA-256. The :class:`Signer` decides
where the key lives: :class:`KeySigner` holds one in memory (from an NPKI folder), the
cloud keystore brings its own.

With a :class:`Timestamper`, the SignerInfo also carries a signature time stamp (RFC 3161
appendix A, RFC 5816): an RFC 3161 token over the signature value, as the unsigned
attribute id-aa-signatureTimeStampToken (:mod:`pki.timestamp` makes and verifies tokens).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, cast

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..clock import Clock, SystemClock
from ..formats import cmsder
from ..formats.der import tlv
from ..purposes import Purpose

__all__ = [
    "PSS_SALT_LENGTH",
    "PURPOSES",
    "KeySigner",
    "SignedDocument",
    "Signer",
    "Timestamper",
    "sign",
    "sign_reference",
]

PSS_SALT_LENGTH = 32

PURPOSES: Mapping[str, str] = MappingProxyType({p.code: p.label for p in Purpose})
"""The purpose codes the KFTC financial-certificate SDK labels signatures with, and what
each means (:class:`pki.purposes.Purpose`)."""


class Signer(Protocol):
    """Signs with a key it keeps to itself."""

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """CA certificates to include on request, nearest first."""
        ...

    def sign_raw(self, data: bytes, *, pss: bool) -> bytes:
        """An RSA signature over SHA-256(``data``)."""
        ...


@dataclass(frozen=True)
class KeySigner:
    """A :class:`Signer` over a private key held in memory."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if self.certificate.public_key() != self.private_key.public_key():
            from ..errors import KeyMismatchError

            raise KeyMismatchError("the private key does not belong to the certificate")

    @classmethod
    def from_npki(cls, folder: Path, password: str, *,
                  chain: tuple[x509.Certificate, ...] = ()) -> KeySigner:
        from ..keys import npki

        credential = npki.load(folder, password)
        return cls(credential.certificate, credential.private_key, chain)

    def sign_raw(self, data: bytes, *, pss: bool) -> bytes:
        return self.private_key.sign(data, _padding(pss), hashes.SHA256())


class Timestamper(Protocol):
    """Gets a time-stamp token over a signature value: a TSA over HTTP
    (:class:`pki.timestamp.HTTPTimestamper`) or in process
    (:meth:`pki.timestamp.TimeStampAuthority.timestamp`)."""

    def __call__(self, signature_value: bytes, /) -> bytes:
        """The DER token (ContentInfo) whose message imprint is a hash of
        ``signature_value``."""
        ...


def _padding(pss: bool) -> padding.AsymmetricPadding:
    if pss:
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)
    return padding.PKCS1v15()


_SHA256 = {"algorithm": "sha256"}


def _signature_algorithm(pss: bool) -> dict[str, Any]:
    if pss:
        return {"algorithm": "rsassa_pss", "parameters": algos.RSASSAPSSParams({
            "hash_algorithm": _SHA256,
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": _SHA256},
            "salt_length": PSS_SALT_LENGTH, "trailer_field": "trailer_field_bc"})}
    return {"algorithm": "rsassa_pkcs1v15"}


@dataclass(frozen=True)
class SignedDocument:
    """A signature and what it was made with."""

    der: bytes
    signing_time: dt.datetime | None
    detached: bool
    signed_attributes: bool
    content_info: bool
    pss: bool
    timestamp_token: bytes | None = field(default=None, repr=False)
    """The signature time-stamp token inside the SignerInfo, if one was asked for."""

    @property
    def pem(self) -> bytes:
        import base64

        body = base64.encodebytes(self.der)
        return b"-----BEGIN CMS-----\n" + body + b"-----END CMS-----\n"


def sign(content: bytes, signer: Signer, *, detached: bool = False,
         signed_attributes: bool = True, content_info: bool = True, pss: bool = False,
         include_chain: bool = False, signing_time: dt.datetime | None = None,
         clock: Clock | None = None, timestamper: Timestamper | None = None
         ) -> SignedDocument:
    """CMS SignedData over the exact bytes of ``content``.

    ``signing_time`` (default: the clock's now) goes into the signed attributes; without
    signed attributes there is no signing time. ``timestamper`` adds a signature time
    stamp (it raises :class:`pki.errors.TimestampError` when the TSA refuses).
    """
    content, when = _inputs(content, signing_time, clock)
    cert = signer.certificate
    sid, certificates = _signer_parts(cert, signer.chain if include_chain else ())
    if signed_attributes:
        attributes = cmsder.signed_attributes(hashlib.sha256(content).digest(), when)
        signature = signer.sign_raw(tlv(0x31, attributes), pss=pss)
    else:
        attributes = None
        signature = signer.sign_raw(content, pss=pss)
    token = None if timestamper is None else timestamper(signature)
    info = cmsder.signer_info(sid, attributes, signature, pss=pss,
                              unsigned=None if token is None else
                              cmsder.timestamp_attribute(token))
    signed = cmsder.signed_data(None if detached else content, certificates, info)
    der = cmsder.content_info(signed) if content_info else signed
    return SignedDocument(der, when if signed_attributes else None, detached,
                          signed_attributes, content_info, pss, token)


def _inputs(content: bytes, signing_time: dt.datetime | None, clock: Clock | None
            ) -> tuple[bytes, dt.datetime]:
    """The document's bytes and the signing time, whole seconds, UTC."""
    if not isinstance(content, bytes | bytearray | memoryview):
        raise TypeError("sign() takes the document's bytes; encode text first")
    when = signing_time or (clock or SystemClock()).now()
    return bytes(content), when.astimezone(dt.UTC).replace(microsecond=0)


@functools.lru_cache(maxsize=64)
def _signer_parts(cert: x509.Certificate, chain: tuple[x509.Certificate, ...]
                  ) -> tuple[bytes, bytes]:
    """IssuerAndSerialNumber and the certificates, which repeat in every signature."""
    serial = cert.serial_number
    body = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    sid = tlv(0x30, cert.issuer.public_bytes() + tlv(0x02, body))
    # A SET OF in DER is ordered by encoding.
    certificates = b"".join(sorted(c.public_bytes(serialization.Encoding.DER)
                                   for c in (cert, *chain)))
    return sid, certificates


def sign_reference(content: bytes, signer: Signer, *, detached: bool = False,
         signed_attributes: bool = True, content_info: bool = True, pss: bool = False,
         include_chain: bool = False, signing_time: dt.datetime | None = None,
         clock: Clock | None = None, timestamper: Timestamper | None = None
         ) -> SignedDocument:
    """:func:`sign` built with asn1crypto: the reference the fast encoder is tested
    against, byte for byte."""
    content, when = _inputs(content, signing_time, clock)
    cert = signer.certificate
    digest = hashlib.sha256(content).digest()
    signer_info: dict[str, Any] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": asn1_x509.Name.load(cert.issuer.public_bytes()),
            "serial_number": cert.serial_number}),
        "digest_algorithm": _SHA256,
        "signature_algorithm": _signature_algorithm(pss),
    }
    if signed_attributes:
        attrs = cms.CMSAttributes([
            {"type": "content_type", "values": ["data"]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=when)
                                                if 1950 <= when.year < 2050 else
                                                cms.Time(name="generalized_time", value=when)]},
            {"type": "message_digest", "values": [digest]},
        ])
        signer_info["signed_attrs"] = attrs
        to_sign = attrs.dump()
        # The signature covers the attributes as a SET (tag 0x31), not as [0] IMPLICIT.
        to_sign = b"\x31" + to_sign[1:]
    else:
        to_sign = content
    signer_info["signature"] = signature = signer.sign_raw(to_sign, pss=pss)
    token = None if timestamper is None else timestamper(signature)
    if token is not None:
        signer_info["unsigned_attrs"] = cms.CMSAttributes([
            {"type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]}])

    certificates = [cert, *(signer.chain if include_chain else ())]
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [_SHA256],
        "encap_content_info": {"content_type": "data",
                               "content": None if detached else content},
        "certificates": [cms.CertificateChoices(
            name="certificate",
            value=asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)))
            for c in certificates],
        "signer_infos": [signer_info],
    })
    if content_info:
        der = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    else:
        der = signed_data.dump()
    return SignedDocument(cast(bytes, der), when if signed_attributes else None, detached,
                          signed_attributes, content_info, pss, token)

