"""Hand-written DER for CRLs, streamed from the store.

Why this exists: pyca/cryptography's ``CertificateRevocationListBuilder`` re-checks the
whole list on every ``add_revoked_certificate``, which is quadratic (100,000 entries take
over 20 s), and would need a million entry objects in memory besides. A CRL is a fixed
shape: this module encodes its entries (:class:`pki.store.CRLEntry`, streamed from the
store) into one growing buffer, times and reason extensions from small caches, and its
extensions from pyca's own ``public_bytes()``. ``tests/test_crl.py`` checks the output
byte for byte against pyca's builder; signing goes through pyca (RSA PKCS #1 v1.5,
SHA-256).

A full CRL's entries come from the store already as text (upper-case hex serial, times
``YYYY-MM-DDTHH:MM:SSZ``, the reason's RFC 5280 name): :func:`stored_entries_der` encodes
those rows directly, with no ``CRLEntry``, int or datetime per line (a third of the time
of a million-entry CRL went into building and taking apart those values), and
:func:`encode_crl` writes the whole CRL into one buffer with room left in front for its
headers, so the entries are copied once into the finished CRL (the signature is over the
SHA-256 of the TBS, taken in place). ``tests/test_crlder.py`` checks both paths against the
typed encoder and pyca byte for byte.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtensionOID

from .der import header, tlv

if TYPE_CHECKING:  # the store's SQL imports this module: no import of the store here
    from ..store import CRLEntry

__all__ = ["StoredEntry", "encode_crl", "encode_entry", "encode_time", "read_crl_number",
           "stored_entries_der"]

StoredEntry = tuple[str, str, str | None, str | None]
"""A CRL line as the store keeps it: the serial in upper-case hex, the time it went on the
CRL and the invalidity date as ``YYYY-MM-DDTHH:MM:SSZ``, the reason's RFC 5280 name (None:
none)."""

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


def encode_entry(entry: CRLEntry) -> bytes:
    """The DER of one revokedCertificates entry."""
    serial = entry.serial
    body = (tlv(0x02, serial.to_bytes(serial.bit_length() // 8 + 1, "big"))
            + encode_time(entry.revoked_at))
    extensions = _REASON_EXTENSIONS[entry.reason]
    if entry.invalidity_date is not None:
        extensions += _invalidity_extension(entry.invalidity_date)
    if extensions:
        body += tlv(0x30, extensions)
    return tlv(0x30, body)


_STORED_REASONS: dict[str | None, bytes] = {
    None: b"", **{reason.value: ext for reason, ext in _REASON_EXTENSIONS.items()
                  if reason is not None}}
_STORED_REASON_TAILS = {name: tlv(0x30, ext) if ext else b""
                        for name, ext in _STORED_REASONS.items()}
"""A stored reason's extensions field (none for none or unspecified)."""
_LENGTHS = [bytes((n,)) for n in range(0x80)]


def _stored_time(text: str, *, generalized: bool = False) -> bytes:
    """RFC 5280 Time of a stored time (``YYYY-MM-DDTHH:MM:SSZ``); GeneralizedTime always
    with ``generalized`` (an invalidity date)."""
    raw = text.encode().translate(None, b"-T:")  # YYYYMMDDHHMMSSZ
    if len(raw) != 15 or len(text) != 20 or not raw[:14].isdigit() or raw[14] != 0x5A:
        value = dt.datetime.fromisoformat(text)  # not as the store writes: the slow way
        return (b"\x18\x0f" + _digits(value).encode() + b"Z" if generalized
                else encode_time(value))
    if not generalized and b"1950" <= raw[:4] < b"2050":
        return b"\x17\x0d" + raw[2:]
    return b"\x18\x0f" + raw


def stored_entries_der(rows: Iterable[StoredEntry]) -> Iterator[bytes]:
    """The DER of each entry of ``rows`` (:data:`StoredEntry`), as :func:`encode_entry`
    writes the same entries.

    The reason (and invalidity date) are written as the entry's extensions from a table
    made once; a time's tag, length and date from a table of the days met, so a line's own
    work is its serial's bytes and its time of day."""
    reasons = _STORED_REASON_TAILS
    days: dict[str, bytes] = {}
    for serial_hex, revoked_at, reason, invalid_since in rows:
        serial = bytes.fromhex(serial_hex if len(serial_hex) % 2 == 0 else "0" + serial_hex)
        if serial[0] & 0x80:
            serial = b"\x00" + serial
        day = days.get(revoked_at[:11])
        if day is None:
            day = days[revoked_at[:11]] = _stored_day(revoked_at[:11])
        clock = revoked_at[11:]  # HH:MM:SSZ
        if day and len(clock) == 9 and clock[2] == clock[5] == ":" and clock[8] == "Z":
            time = day + clock.encode().translate(None, b":")
        else:
            time = _stored_time(revoked_at)
        if invalid_since is None:
            tail = time + reasons[reason]
        else:
            tail = time + tlv(0x30, _STORED_REASONS[reason] + tlv(
                0x30, _INVALIDITY_EXTENSION + tlv(
                    0x04, _stored_time(invalid_since, generalized=True))))
        size = 2 + len(serial) + len(tail)
        if size < 0x80:
            yield b"\x30%c\x02%c%b%b" % (size, len(serial), serial, tail)
        else:
            yield tlv(0x30, tlv(0x02, serial) + tail)


def _stored_day(text: str) -> bytes:
    """The start of the Time of a stored time whose first 11 characters are ``text``
    (``YYYY-MM-DDT``): tag, length and date; empty if ``text`` is not such a day."""
    raw = text.encode().translate(None, b"-T")
    if len(text) != 11 or text[4] != "-" or text[7] != "-" or text[10] != "T" \
            or len(raw) != 8 or not raw.isdigit():
        return b""
    return b"\x17\x0d" + raw[2:] if b"1950" <= raw[:4] < b"2050" else b"\x18\x0f" + raw


def _extension(ext: x509.Extension[x509.ExtensionType]) -> bytes:
    oid = _OID_DER[ext.oid]
    return tlv(0x30, oid + (_CRITICAL if ext.critical else b"") +
               tlv(0x04, ext.value.public_bytes()))


_RESERVE = 6
"""Bytes left in front of a part whose header is written once its length is known: a tag
and a length of up to 4 octets (4 GiB), and one to spare."""


def encode_crl(*, issuer: x509.Name, this_update: dt.datetime, next_update: dt.datetime,
               entries: Iterable[CRLEntry] = (), encoded_entries: Iterable[bytes] | None = None,
               extensions: Sequence[x509.Extension[Any]], key: rsa.RSAPrivateKey
               ) -> tuple[bytes, int]:
    """Encode and sign a v2 CRL; returns the DER and the number of entries.

    The entries are ``entries`` (typed), or ``encoded_entries`` (the DER of each, as
    :func:`stored_entries_der` gives them) when given.
    """
    ders = map(encode_entry, entries) if encoded_entries is None else encoded_entries
    head = (_VERSION_2 + _SHA256_WITH_RSA + issuer.public_bytes()
            + encode_time(this_update) + encode_time(next_update))
    # [CRL header][TBS header][head][revoked header] are written right-aligned into the
    # room in front of the entries once their length is known.
    start = 3 * _RESERVE + len(head)
    buf = bytearray(start)
    count = 0
    for der in ders:
        buf += der
        count += 1
    revoked = len(buf) - start
    revoked_header = header(0x30, revoked) if count else b""
    buf += (tlv(0xA0, tlv(0x30, b"".join(_extension(e) for e in extensions)))
            if extensions else b"")
    front = head + revoked_header
    tbs_header = header(0x30, len(buf) - start + len(front))
    tbs_start = start - len(front) - len(tbs_header)
    buf[tbs_start:start] = tbs_header + front
    with memoryview(buf) as view:
        digest = hashlib.sha256(view[tbs_start:]).digest()
    signature = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    signature_part = _SHA256_WITH_RSA + tlv(0x03, b"\x00" + signature)
    tbs_length = len(buf) - tbs_start
    buf += signature_part
    crl_header = header(0x30, tbs_length + len(signature_part))
    crl_start = tbs_start - len(crl_header)
    buf[crl_start:tbs_start] = crl_header
    with memoryview(buf) as view:
        der = bytes(view[crl_start:])
    return der, count


def _read_header(fh: IO[bytes]) -> tuple[int, int] | None:
    """The tag and content length of the DER element at ``fh``'s position (None if they
    are not there)."""
    first = fh.read(2)
    if len(first) != 2:
        return None
    tag, length = first[0], first[1]
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4:
            return None
        more = fh.read(size)
        if len(more) != size:
            return None
        length = int.from_bytes(more, "big")
    return tag, length


def read_crl_number(fh: IO[bytes]) -> int | None:
    """The CRL number of the DER CRL in the seekable file ``fh``, read without reading its
    entries (a published CRL can be tens of megabytes); None if ``fh`` holds no CRL with
    a number.

    Walks the TBS's elements by their headers, skips the revokedCertificates, and lets pyca
    read the rest (as a CRL without entries, whose signature is not looked at)."""
    outer = _read_header(fh)
    if outer is None or outer[0] != 0x30:
        return None
    tbs = _read_header(fh)
    if tbs is None or tbs[0] != 0x30:
        return None
    end = fh.tell() + tbs[1]
    parts: list[bytes] = []
    timed = False  # a SEQUENCE after the times is the revokedCertificates
    while fh.tell() < end:
        at = fh.tell()
        element = _read_header(fh)
        if element is None:
            return None
        tag, length = element
        if tag == 0x30 and timed:
            fh.seek(length, 1)
            continue
        timed = timed or tag in (0x17, 0x18)
        if length > 1 << 16:  # nothing but the entries is that long
            return None
        size = fh.tell() - at + length
        fh.seek(at)
        part = fh.read(size)
        if len(part) != size:
            return None
        parts.append(part)
        if tag == 0xA0:
            return _crl_number_of(parts)
    return None


def _crl_number_of(parts: list[bytes]) -> int | None:
    """The CRL number of a CRL whose TBS holds ``parts`` (its elements, the entries left
    out), read by pyca."""
    tbs = tlv(0x30, b"".join(parts))
    try:
        crl = x509.load_der_x509_crl(tlv(0x30, tbs + _SHA256_WITH_RSA + tlv(0x03, b"\x00")))
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (ValueError, x509.ExtensionNotFound):
        return None
