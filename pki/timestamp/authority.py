"""An RFC 3161 time-stamping authority (TSA) with RFC 5816 signing-certificate-v2.

The TSA holds its own certificate (:data:`pki.profiles.TSA_PROFILE`, issued by the root:
keyUsage digitalSignature + nonRepudiation, extendedKeyUsage id-kp-timeStamping alone and
critical, the TSA policy, the issuer's CRL distribution point). :meth:`respond` turns a DER
TimeStampReq into a DER TimeStampResp and never raises for bad input:

* granted: a token, that is ContentInfo / SignedData v3 over a TSTInfo carrying the
  request's message imprint, a fresh serial number, genTime from the injected clock (whole
  seconds, accuracy 1 s), the request's nonce; signed with SHA-256 and PKCS #1 v1.5 over
  the signed attributes contentType, messageDigest and signingCertificateV2 (ESSCertIDv2:
  SHA-256 of the TSA certificate, its issuer and serial); the TSA certificate inside when
  the request sets certReq;
* rejection, with one failure bit: badDataFormat (not a DER TimeStampReq, or an imprint of
  the wrong length), badRequest (a version other than 1), badAlg (a hash other than
  SHA-256/384/512), unacceptedPolicy, unacceptedExtensions, timeNotAvailable (the TSA
  certificate is not valid at the clock's time).

Serial numbers are 127 random bits from the injected entropy: unique per TSA with
overwhelming probability, without a store write per token (the TSA, like the OCSP
responder, keeps no record of what it answered).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, cast

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID

from .. import oids
from ..clock import Clock, SystemClock, add_years, kst_day_end, kst_day_start, kst_today
from ..entropy import Entropy, SystemEntropy
from ..errors import TimestampError
from ..extensions import certificate_policies
from ..keys.castore import CAKey
from ..profiles import TSA_PROFILE, ServiceProfile
from ..store import CARecord
from .protocol import TimeStampResp

__all__ = [
    "ACCEPTED_HASHES",
    "TimeStampAuthority",
    "issue_tsa_certificate",
    "rejection",
]

ACCEPTED_HASHES: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}
"""Message-imprint hashes the TSA stamps, with their digest sizes (SHA-1 is refused)."""
_SERIAL_BYTES = 16


def issue_tsa_certificate(issuer: CARecord, issuer_key: CAKey,
                          tsa_key: CAKey, *, at: dt.datetime, serial: int,
                          profile: ServiceProfile = TSA_PROFILE) -> x509.Certificate:
    """The TSA's certificate, issued by ``issuer`` (the root, in a kpki home).

    Valid from the KST day of ``at`` for ``profile.term_years``, never beyond the issuer.
    """
    ca = issuer.certificate
    day = kst_today(at)
    not_after = min(kst_day_end(add_years(day, profile.term_years)), ca.not_valid_after_utc)
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    base_name = str(cn[0].value) if cn else issuer.label
    subject = x509.Name([*(a for a in ca.subject if a.oid != NameOID.COMMON_NAME),
                         x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"{base_name} {profile.common_name_suffix}")])
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(tsa_key.public_key())
        .serial_number(serial)
        .not_valid_before(kst_day_start(day))
        .not_valid_after(not_after)
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()),
                       critical=False)
        .add_extension(profile.key_usage, critical=True)
        .add_extension(certificate_policies(profile.policy, notice=profile.notice,
                                            cps_url=issuer.cps_url), critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(issuer.crl_url)], None, None, None)]),
            critical=False)
    )
    if profile.extended_key_usage:  # a profile without one exists only to test verifiers
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(profile.extended_key_usage)),
            critical=profile.extended_key_usage_critical)
    return builder.sign(issuer_key, hashes.SHA256())


def rejection(fail_info: str, text: str) -> bytes:
    """A DER TimeStampResp with status rejection, one failure bit and a reason."""
    return cast(bytes, TimeStampResp({"status": {
        "status": "rejection", "status_string": [text],
        "fail_info": tsp.PKIFailureInfo({fail_info})}}).dump())


class _Rejected(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info
        self.text = text


class TimeStampAuthority:
    """Stamps message imprints with the TSA key; see the module documentation."""

    def __init__(self, certificate: x509.Certificate, private_key: CAKey, *,
                 clock: Clock | None = None, entropy: Entropy | None = None,
                 policy: x509.ObjectIdentifier = oids.TSA_POLICY,
                 accuracy: dt.timedelta | None = dt.timedelta(seconds=1)) -> None:
        if certificate.public_key() != private_key.public_key():
            from ..errors import KeyMismatchError

            raise KeyMismatchError("the TSA key does not belong to the TSA certificate")
        self.certificate = certificate
        self._key = private_key
        self.clock: Clock = clock or SystemClock()
        self.entropy: Entropy = entropy or SystemEntropy()
        self.policy = policy
        self.accuracy = accuracy
        # The parts that repeat in every token, encoded once: building them from values
        # (the Name above all) costs asn1crypto tens of milliseconds each time.
        self._cert_der = der = certificate.public_bytes(serialization.Encoding.DER)
        issuer = asn1_x509.Name.load(certificate.issuer.public_bytes())
        self._sid_der = cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": issuer, "serial_number": certificate.serial_number}).dump()
        self._signing_certificate_der = cms.CMSAttribute({
            "type": "signing_certificate_v2",
            "values": [{"certs": [{
                "cert_hash": hashlib.sha256(der).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer)],
                    "serial_number": certificate.serial_number}}]}],
        }).dump()

    # -- the protocol -----------------------------------------------------------------

    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp to a DER TimeStampReq; never raises for bad input."""
        try:
            imprint, nonce, cert_req = self._read_request(request_der)
            token = self._token(imprint, nonce=nonce, include_certificate=cert_req)
        except _Rejected as rejected:
            return rejection(rejected.fail_info, rejected.text)
        return cast(bytes, TimeStampResp({"status": {"status": "granted"},
                                              "time_stamp_token": token}).dump())

    def _read_request(self, der: bytes) -> tuple[tsp.MessageImprint, int | None, bool]:
        try:
            request = tsp.TimeStampReq.load(bytes(der), strict=True)
            fields = request.native  # asn1crypto parses lazily: parse everything now
        except Exception:  # asn1crypto raises many exception types for malformed input
            raise _Rejected("bad_data_format", "not a DER TimeStampReq") from None
        if fields["version"] != "v1":
            raise _Rejected("bad_request", "only version 1 requests are answered")
        imprint = request["message_imprint"]
        algorithm = fields["message_imprint"]["hash_algorithm"]["algorithm"]
        size = ACCEPTED_HASHES.get(algorithm)
        if size is None:
            raise _Rejected("bad_alg", f"the hash {algorithm} is not accepted "
                            f"({', '.join(ACCEPTED_HASHES)} are)")
        if len(fields["message_imprint"]["hashed_message"]) != size:
            raise _Rejected("bad_data_format",
                            f"the message imprint is not a {algorithm} digest")
        policy = fields["req_policy"]
        if policy is not None and policy != self.policy.dotted_string:
            raise _Rejected("unaccepted_policy",
                            f"policy {policy} is not this TSA's ({self.policy.dotted_string})")
        if fields["extensions"]:
            raise _Rejected("unaccepted_extensions", "request extensions are not supported")
        return imprint, fields["nonce"], bool(fields["cert_req"])

    # -- tokens ----------------------------------------------------------------------

    def stamp(self, digest: bytes, *, hash_algorithm: str = "sha256",
              nonce: int | None = None, include_certificate: bool = True) -> bytes:
        """A DER time-stamp token (ContentInfo) over a message imprint.

        Raises :class:`TimestampError` for an unaccepted hash or a digest of the wrong
        length, or when the TSA certificate is not valid at the clock's time.
        """
        size = ACCEPTED_HASHES.get(hash_algorithm)
        if size is None or len(digest) != size:
            raise TimestampError(f"cannot stamp a {len(digest)}-byte {hash_algorithm} digest",
                                 fail_info=("bad_alg" if size is None else "bad_data_format",))
        imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": hash_algorithm},
                                      "hashed_message": bytes(digest)})
        try:
            return cast(bytes, self._token(imprint, nonce=nonce,
                                           include_certificate=include_certificate).dump())
        except _Rejected as rejected:
            raise TimestampError(rejected.text, fail_info=(rejected.fail_info,)) from None

    def timestamp(self, data: bytes, *, nonce: int | None = None) -> bytes:
        """A token over SHA-256(``data``). As a :class:`pki.signing.cms.Timestamper` it
        stamps a SignerInfo's signature value in process: ``sign(...,
        timestamper=tsa.timestamp)``."""
        return self.stamp(hashlib.sha256(data).digest(), nonce=nonce)

    def _token(self, imprint: tsp.MessageImprint, *, nonce: int | None,
               include_certificate: bool) -> cms.ContentInfo:
        now = self.clock.now().astimezone(dt.UTC).replace(microsecond=0)
        cert = self.certificate
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise _Rejected("time_not_available",
                            f"the TSA certificate is not valid at {now:%Y-%m-%dT%H:%M:%SZ}")
        fields: dict[str, Any] = {
            "version": "v1",
            "policy": self.policy.dotted_string,
            "message_imprint": imprint,
            "serial_number": self._serial(),
            "gen_time": now,
        }
        if self.accuracy is not None:
            fields["accuracy"] = _accuracy(self.accuracy)
        if nonce is not None:
            fields["nonce"] = nonce
        info = tsp.TSTInfo(fields)
        attributes = cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.sha256(info.dump()).digest()]},
            cms.CMSAttribute.load(self._signing_certificate_der),
        ])
        # The signature covers the attributes as a SET (tag 0x31), not as [0] IMPLICIT.
        signature = self._key.sign(b"\x31" + attributes.dump()[1:], padding.PKCS1v15(),
                                   hashes.SHA256())
        signed = cms.SignedData({
            "version": "v3",  # RFC 5652 5.1: eContentType other than id-data
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "tst_info", "content": info},
            "certificates": [cms.CertificateChoices.load(self._cert_der)]
            if include_certificate else None,
            "signer_infos": [{
                "version": "v1",
                "sid": cms.SignerIdentifier.load(self._sid_der),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": attributes,
                "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
                "signature": signature,
            }],
        })
        return cms.ContentInfo({"content_type": "signed_data", "content": signed})

    def _serial(self) -> int:
        while True:
            value = int.from_bytes(self.entropy.token_bytes(_SERIAL_BYTES), "big") >> 1
            if value:
                return value


def _accuracy(value: dt.timedelta) -> dict[str, int]:
    micros = value // dt.timedelta(microseconds=1)
    seconds, rest = divmod(micros, 1_000_000)
    millis, micros = divmod(rest, 1000)
    out = {"seconds": seconds} if seconds else {}
    if millis:
        out["millis"] = millis
    if micros:
        out["micros"] = micros
    return out
