"""Hand-written DER for kpki's SignedData, on the signing hot path.

Why this exists: building a SignedData with asn1crypto costs about 550 us, more than twice
the RSA-2048 signature it wraps. kpki's SignedData has a fixed shape (one signer, SHA-256,
PKCS #1 v1.5 or PSS, optional signed attributes contentType/signingTime/messageDigest, an
optional unsigned signature time-stamp token), so it is assembled here from constant pieces
and the few values that change. The asn1crypto
construction in :func:`pki.signing.cms.sign_reference` stays as the reference:
``tests/test_cmsder.py`` checks every shape byte for byte against it.
"""

from __future__ import annotations

import datetime as dt

from .der import tlv

__all__ = [
    "content_info",
    "signed_attributes",
    "signed_data",
    "signer_info",
    "timestamp_attribute",
]

SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")
RSA_PKCS1 = bytes.fromhex("300d06092a864886f70d0101010500")
RSA_PSS_SHA256 = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f7"
    "0d010108300d06096086480165030402010500a203020120")
_DATA_OID = bytes.fromhex("06092a864886f70d010701")
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")
_CONTENT_TYPE_ATTRIBUTE = bytes.fromhex("301806092a864886f70d010903310b06092a864886f70d010701")
_SIGNING_TIME_OID = bytes.fromhex("06092a864886f70d010905")
_MESSAGE_DIGEST_OID = bytes.fromhex("06092a864886f70d010904")
_SIGNATURE_TIME_STAMP_TOKEN_OID = bytes.fromhex("060b2a864886f70d010910020e")
_VERSION_1 = bytes.fromhex("020101")


def _time(value: dt.datetime) -> bytes:
    if 1950 <= value.year < 2050:
        return tlv(0x17, value.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, value.strftime("%Y%m%d%H%M%SZ").encode())


def signed_attributes(digest: bytes, signing_time: dt.datetime) -> bytes:
    """The contents of the signed attributes (without their SET or [0] header).

    DER orders a SET OF by encoding; these three already are in that order."""
    return (_CONTENT_TYPE_ATTRIBUTE
            + tlv(0x30, _SIGNING_TIME_OID + tlv(0x31, _time(signing_time)))
            + tlv(0x30, _MESSAGE_DIGEST_OID + tlv(0x31, tlv(0x04, digest))))


def timestamp_attribute(token: bytes) -> bytes:
    """The id-aa-signatureTimeStampToken attribute holding one DER token (ContentInfo)."""
    return tlv(0x30, _SIGNATURE_TIME_STAMP_TOKEN_OID + tlv(0x31, token))


def signer_info(sid: bytes, attributes: bytes | None, signature: bytes, *, pss: bool,
                unsigned: bytes | None = None) -> bytes:
    """SignerInfo v1; ``sid`` is the complete IssuerAndSerialNumber; ``unsigned`` the
    contents of the unsigned attributes (one :func:`timestamp_attribute`)."""
    body = _VERSION_1 + sid + SHA256_ALGORITHM
    if attributes is not None:
        body += tlv(0xA0, attributes)
    body += (RSA_PSS_SHA256 if pss else RSA_PKCS1) + tlv(0x04, signature)
    if unsigned is not None:
        body += tlv(0xA1, unsigned)
    return tlv(0x30, body)


def signed_data(content: bytes | None, certificates: bytes, info: bytes) -> bytes:
    """SignedData v1 with one signer; ``certificates`` are the concatenated DER."""
    encapsulated = _DATA_OID
    if content is not None:
        encapsulated += tlv(0xA0, tlv(0x04, content))
    return tlv(0x30, _VERSION_1 + tlv(0x31, SHA256_ALGORITHM) + tlv(0x30, encapsulated)
               + tlv(0xA0, certificates) + tlv(0x31, info))


def content_info(signed: bytes) -> bytes:
    return tlv(0x30, _SIGNED_DATA_OID + tlv(0xA0, signed))
