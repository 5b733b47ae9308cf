"""Hand-written DER for CRLs, streamed from the store.

Why this exists: pyca/cryptography's ``CertificateRevocationListBuilder`` re-checks the
whole list on every ``add_revoked_certificate``, which is quadratic (100,000 entries take
over 20 s), and would need a million entry objects in memory besides. A CRL is a fixed
shape: this module encodes its entries (:class:`pki.store.CRLEntry`, streamed from the
store) into one growing buffer, times and reason extensions from small caches, and its
extensions from pyca's own ``public_bytes()``. ``tests/test_crl.py`` checks the output
byte for byte against pyca's builder; signing goes through pyca (RSA PKCS #1 v1.5,
SHA-256).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtensionOID

from ..store import CRLEntry
from .der import header, tlv

__all__ = ["encode_crl", "encode_time"]

_SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_VERSION_2 = bytes.fromhex("020101")
_CRITICAL = bytes.fromhex("0101ff")

# OBJECT IDENTIFIER elements (tag, length, value) of the extensions a kpki CRL carries.
_OID_DER = {
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: bytes.fromhex("0603551d23"),
    ExtensionOID.CRL_NUMBER: bytes.fromhex("0603551d14"),
    ExtensionOID.DELTA_CRL_INDICATOR: bytes.fromhex("0603551d1b"),
    ExtensionOID.ISSUING_DISTRIBUTION_POINT: bytes.fromhex("0603551d1c"),
    ExtensionOID.FRESHEST_CRL: bytes.fromhex("0603551d2e"),
}
_REASON_EXTENSION = bytes.fromhex("0603551d15")
_INVALIDITY_EXTENSION = bytes.fromhex("0603551d18")
# "unspecified" (0) is written as no reasonCode at all, as RFC 5280 section 5.3.1 asks.
_REASON_CODES = {
    x509.ReasonFlags.key_compromise: 1, x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3, x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5, x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8, x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}
_REASON_EXTENSIONS: dict[x509.ReasonFlags | None, bytes] = {
    reason: tlv(0x30, _REASON_EXTENSION + tlv(0x04, bytes((0x0A, 0x01, code))))
    for reason, code in _REASON_CODES.items()
}
_REASON_EXTENSIONS[None] = _REASON_EXTENSIONS[x509.ReasonFlags.unspecified] = b""


def _digits(value: dt.datetime) -> str:
    """``YYYYMMDDHHMMSS`` of ``value`` in UTC (a naive value is taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return (f"{value.year:04d}{value.month:02d}{value.day:02d}"
            f"{value.hour:02d}{value.minute:02d}{value.second:02d}")


@functools.lru_cache(maxsize=4096)
def encode_time(value: dt.datetime) -> bytes:
    """RFC 5280 Time to the second: UTCTime up to 2049, else GeneralizedTime."""
    digits = _digits(value)
    if 1950 <= int(digits[:4]) < 2050:
        return b"\x17\x0d" + digits[2:].encode() + b"Z"
    return b"\x18\x0f" + digits.encode() + b"Z"


@functools.lru_cache(maxsize=1024)
def _invalidity_extension(value: dt.datetime) -> bytes:
    return tlv(0x30, _INVALIDITY_EXTENSION + tlv(
        0x04, b"\x18\x0f" + _digits(value).encode() + b"Z"))


def _entry(entry: CRLEntry) -> bytes:
    serial = entry.serial
    body = (tlv(0x02, serial.to_bytes(serial.bit_length() // 8 + 1, "big"))
            + encode_time(entry.revoked_at))
    extensions = _REASON_EXTENSIONS[entry.reason]
    if entry.invalidity_date is not None:
        extensions += _invalidity_extension(entry.invalidity_date)
    if extensions:
        body += tlv(0x30, extensions)
    return tlv(0x30, body)


def _extension(ext: x509.Extension[x509.ExtensionType]) -> bytes:
    oid = _OID_DER[ext.oid]
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
            + encode_time(this_update) + encode_time(next_update))
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
