"""Hand-written DER for kpki's OCSP responses, on the responder's hot path.

Why this exists: pyca's ``OCSPResponseBuilder.sign`` holds the GIL for the whole build and
RSA signature, so signing threads gain 1.23x where bare ``key.sign`` (which releases it)
gains 2.0x on two cores; and building the response around the signature costs about as
much Python time again as the rest of the responder (issue 18's audit: OCSP through
``kpki serve`` at 0.32 of raw single-thread RSA-2048 signing). kpki's response has one
fixed shape: one SingleResponse, the responder named by key hash, RSA PKCS #1 v1.5 with
SHA-256, the delegated responder certificate attached, an optional nonce echoed. So the
ResponseData is assembled here from constant pieces and the few values that change, and
signed with ``key.sign(tbs)``, which releases the GIL. Every time is a GeneralizedTime to
the second, as pyca writes it.

The reference is pyca's builder: ``tests/test_ocspder.py`` checks every combination
(status, reason, hash algorithm, nonce, certificate) byte for byte against it, and
Hypothesis over serials, times and nonces.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.x509 import ocsp

from .der import tlv

__all__ = [
    "CERT_ID_ALGORITHMS",
    "SHA256_WITH_RSA",
    "basic_response",
    "cert_id",
    "generalized_time",
    "response_data",
    "single_response",
    "unsuccessful",
]

SHA256_WITH_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
"""The signature algorithm of every kpki OCSP response (sha256WithRSAEncryption)."""

CERT_ID_ALGORITHMS: dict[str, bytes] = {
    "sha1": bytes.fromhex("300906052b0e03021a0500"),
    "sha256": bytes.fromhex("300d06096086480165030402010500"),
    "sha384": bytes.fromhex("300d06096086480165030402020500"),
    "sha512": bytes.fromhex("300d06096086480165030402030500"),
}
"""The AlgorithmIdentifier (with NULL parameters, as pyca writes them) of each hash a
CertID may use, by pyca's hash name."""

_SUCCESSFUL = bytes.fromhex("0a0100")
_BASIC_OID = bytes.fromhex("06092b0601050507300101")
_NONCE_OID = bytes.fromhex("06092b0601050507300102")
_GOOD = bytes.fromhex("8000")
_UNKNOWN = bytes.fromhex("8200")
_REASON_CODES = {
    x509.ReasonFlags.unspecified: 0, x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2, x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4, x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6, x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9, x509.ReasonFlags.aa_compromise: 10,
}
_REASONS = {reason: tlv(0xA0, bytes((0x0A, 0x01, code)))
            for reason, code in _REASON_CODES.items()}


def generalized_time(value: dt.datetime) -> bytes:
    """A GeneralizedTime to the second, in UTC (a naive value is taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return b"\x18\x0f" + (f"{value.year:04d}{value.month:02d}{value.day:02d}{value.hour:02d}"
                          f"{value.minute:02d}{value.second:02d}Z").encode()


def cert_id(algorithm: str, name_hash: bytes, key_hash: bytes, serial: int) -> bytes:
    """The CertID of a certificate: ``algorithm`` is a key of :data:`CERT_ID_ALGORITHMS`,
    ``serial`` not negative."""
    return tlv(0x30, CERT_ID_ALGORITHMS[algorithm] + tlv(0x04, name_hash)
               + tlv(0x04, key_hash)
               + tlv(0x02, serial.to_bytes(serial.bit_length() // 8 + 1, "big")))


def single_response(certificate_id: bytes, status: ocsp.OCSPCertStatus, *,
                    this_update: dt.datetime, next_update: dt.datetime | None,
                    revocation_time: dt.datetime | None = None,
                    reason: x509.ReasonFlags | None = None) -> bytes:
    """One SingleResponse; ``revocation_time`` (and ``reason``, when there is one) only
    for a revoked status."""
    if status is ocsp.OCSPCertStatus.GOOD:
        body = _GOOD
    elif status is ocsp.OCSPCertStatus.UNKNOWN:
        body = _UNKNOWN
    else:
        if revocation_time is None:
            raise ValueError("a revoked status needs its revocation time")
        body = tlv(0xA1, generalized_time(revocation_time)
                   + (b"" if reason is None else _REASONS[reason]))
    body += generalized_time(this_update)
    if next_update is not None:
        body += tlv(0xA0, generalized_time(next_update))
    return tlv(0x30, certificate_id + body)


def response_data(responder_key_hash: bytes, produced_at: dt.datetime, single: bytes, *,
                  nonce: bytes | None = None) -> bytes:
    """The ResponseData (v1, the responder by key hash) around one :func:`single_response`;
    ``nonce`` echoed as a non-critical extension. These are the bytes that are signed."""
    body = (tlv(0xA2, tlv(0x04, responder_key_hash)) + generalized_time(produced_at)
            + tlv(0x30, single))
    if nonce is not None:
        body += tlv(0xA1, tlv(0x30, tlv(0x30, _NONCE_OID + tlv(0x04, tlv(0x04, nonce)))))
    return tlv(0x30, body)


def basic_response(tbs: bytes, signature: bytes, certificates: bytes = b"") -> bytes:
    """A successful OCSPResponse holding the BasicOCSPResponse of ``tbs`` (a
    :func:`response_data`) signed with SHA-256 and RSA; ``certificates``: the concatenated
    DER of the certificates to attach (none when empty)."""
    basic = tbs + SHA256_WITH_RSA + tlv(0x03, b"\x00" + signature)
    if certificates:
        basic += tlv(0xA0, tlv(0x30, certificates))
    return tlv(0x30, _SUCCESSFUL + tlv(0xA0, tlv(0x30, _BASIC_OID + tlv(0x04, tlv(0x30, basic)))))


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """An OCSPResponse without a body: ``malformedRequest``, ``tryLater``, ``unauthorized``
    and the like."""
    if status is ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ValueError("a successful response has a body: basic_response")
    return tlv(0x30, bytes((0x0A, 0x01, status.value)))
