"""Hand-written DER for CRLs, streamed from the store.

Why this exists: pyca/cryptography's ``CertificateRevocationListBuilder`` re-checks the
whole list on every ``add_revoked_certificate``, which is quadratic (100,000 entries take
over 20 s), and would need a million entry objects in memory besides. A CRL is a fixed
shape: this module encodes its entries straight from the stored strings (serial hex,
timestamps, reason names) into one growing buffer, and its extensions from pyca's own
``public_bytes()``. ``tests/test_crl.py`` checks the output byte for byte against pyca's
builder; signing goes through pyca (RSA PKCS #1 v1.5, SHA-256).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..der import header, tlv
from ..store import CRLEntry

__all__ = ["encode_crl", "encode_time", "utc_text"]

_SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_VERSION_2 = bytes.fromhex("020101")
_CRITICAL = bytes.fromhex("0101ff")

# OBJECT IDENTIFIER elements (tag, length, value) of the extensions a kpki CRL carries.
_OID_DER = {
    "2.5.29.35": bytes.fromhex("0603551d23"),  # authorityKeyIdentifier
    "2.5.29.20": bytes.fromhex("0603551d14"),  # cRLNumber
    "2.5.29.27": bytes.fromhex("0603551d1b"),  # deltaCRLIndicator
    "2.5.29.28": bytes.fromhex("0603551d1c"),  # issuingDistributionPoint
    "2.5.29.46": bytes.fromhex("0603551d2e"),  # freshestCRL
}
_REASON_EXTENSION = bytes.fromhex("0603551d15")
_INVALIDITY_EXTENSION = bytes.fromhex("0603551d18")
_REASON_CODES = {
    "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3, "superseded": 4,
    "cessationOfOperation": 5, "certificateHold": 6, "removeFromCRL": 8,
    "privilegeWithdrawn": 9, "aACompromise": 10,
}
# "unspecified" (0) is written as no reasonCode at all, as RFC 5280 section 5.3.1 asks.
_REASON_EXTENSIONS = {
    name: tlv(0x30, _REASON_EXTENSION + tlv(0x04, bytes((0x0A, 0x01, code))))
    for name, code in _REASON_CODES.items()
}


def utc_text(value: dt.datetime) -> str:
    """The store's timestamp text for ``value``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_time(text: str) -> bytes:
    """``YYYY-MM-DDTHH:MM:SSZ`` as RFC 5280 Time: UTCTime up to 2049, else GeneralizedTime."""
    digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    if 1950 <= int(text[0:4]) < 2050:
        return b"\x17\x0d" + digits[2:].encode() + b"Z"
    return b"\x18\x0f" + digits.encode() + b"Z"


def _generalized_time(text: str) -> bytes:
    digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    return b"\x18\x0f" + digits.encode() + b"Z"


def _serial(serial_hex: str) -> bytes:
    value = int(serial_hex, 16)  # canonical whatever the padding of the text
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _entry(entry: CRLEntry) -> bytes:
    extensions = b""
    if entry.reason is not None and entry.reason != "unspecified":
        extensions += _REASON_EXTENSIONS[entry.reason]
    if entry.invalidity_date is not None:
        extensions += tlv(0x30, _INVALIDITY_EXTENSION + tlv(
            0x04, _generalized_time(entry.invalidity_date)))
    body = _serial(entry.serial_hex) + encode_time(entry.revoked_at)
    if extensions:
        body += tlv(0x30, extensions)
    return tlv(0x30, body)


def _extension(ext: x509.Extension[x509.ExtensionType]) -> bytes:
    oid = _OID_DER[ext.oid.dotted_string]
    return tlv(0x30, oid + (_CRITICAL if ext.critical else b"") +
               tlv(0x04, ext.value.public_bytes()))


def encode_crl(*, issuer: x509.Name, this_update: dt.datetime, next_update: dt.datetime,
               entries: Iterable[CRLEntry], extensions: Sequence[x509.Extension[Any]],
               key: rsa.RSAPrivateKey) -> tuple[bytes, int]:
    """Encode and sign a v2 CRL; returns the DER and the number of entries."""
    revoked = bytearray()
    count = 0
    for entry in entries:
        revoked += _entry(entry)
        count += 1
    head = (_VERSION_2 + _SHA256_WITH_RSA + issuer.public_bytes()
            + encode_time(utc_text(this_update)) + encode_time(utc_text(next_update)))
    revoked_header = header(0x30, len(revoked)) if count else b""
    tail = (tlv(0xA0, tlv(0x30, b"".join(_extension(e) for e in extensions)))
            if extensions else b"")
    body_length = len(head) + len(revoked_header) + len(revoked) + len(tail)
    # One copy of the large buffer into the TBS, and one into the finished CRL.
    tbs = b"".join((header(0x30, body_length), head, revoked_header, revoked, tail))
    del revoked
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    signature_part = _SHA256_WITH_RSA + tlv(0x03, b"\x00" + signature)
    return b"".join((header(0x30, len(tbs) + len(signature_part)), tbs, signature_part)), count
