"""An RFC 6960 OCSP responder with a delegated signing certificate per CA.

The responder certificate is issued by the CA it answers for: keyUsage digitalSignature,
extendedKeyUsage id-kp-OCSPSigning, id-pkix-ocsp-nocheck (so clients need not check its
own revocation) and certificatePolicies (:data:`pki.oids.OCSP_RESPONDER_POLICY`, since the
CAs above it require an explicit policy: ``openssl ocsp -policy_check`` refuses a responder
certificate without one). Answers: ``good``, ``revoked`` (time and reason; a suspended certificate
is revoked with reason certificateHold), ``unknown`` for serials the CA never issued. A
request about another issuer gets ``unauthorized``; anything unparseable gets
``malformedRequest``, never an exception.

Requests without a nonce are answered with responses produced ahead of time (RFC 5019),
reused until :data:`REFRESH_FRACTION` of their validity has passed or the certificate's
status in the store changes; see :class:`OCSPResponder`.

The signer is kept in the store (:class:`pki.store.OCSPSignerRecord`) and its key in the CA
key store under ``<ca>/ocsp`` (:mod:`pki.keys.castore`). Only the publisher makes and
rotates signers (:func:`ensure_signer`, from :mod:`pki.publisher`); a server only reads them
(:func:`load_signer`), so several servers can share one store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .. import oids
from ..clock import Clock, kst_day_end, kst_day_start, kst_today
from ..entropy import Entropy, SystemEntropy, random_serial
from ..errors import NotFoundError
from ..extensions import certificate_policies
from ..formats import ocspder
from ..keys.castore import CAKey, CAKeyStore, KeyLabel
from ..profiles import TEST_NOTICE, KeyType
from ..store import AuditAction, CARecord, CertStatus, OCSPSignerRecord, Store

__all__ = ["CACHE_SIZE", "REFRESH_FRACTION", "RESPONSE_VALIDITY", "SIGNER_DAYS", "Answer",
           "OCSPResponder", "ensure_signer", "issue_signer", "load_signer",
           "signer_is_current"]

RESPONSE_VALIDITY = dt.timedelta(hours=1)
"""How long a response is valid: its nextUpdate is its thisUpdate plus this."""
REFRESH_FRACTION = 0.25
"""A pre-produced response (a request without a nonce) is served again until this fraction
of its validity has passed, then signed anew: with an hour's validity, a response served
is at most 15 minutes old and has at least 45 minutes left. A change of the certificate's
status in the store is answered at once, whatever this says."""
CACHE_SIZE = 16_384
"""Pre-produced responses a responder keeps (per CA); past it the oldest signed goes."""
_MALFORMED = ocspder.unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
_UNAUTHORIZED = ocspder.unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
SIGNER_DAYS = 90
_HASHES: tuple[type[hashes.HashAlgorithm], ...] = (hashes.SHA1, hashes.SHA256, hashes.SHA384,
                                                   hashes.SHA512)


def issue_signer(ca: CARecord, ca_key: CAKey, signer_key: CAKey, *,
                 at: dt.datetime, entropy: Entropy | None = None,
                 days: int = SIGNER_DAYS) -> x509.Certificate:
    """A delegated OCSP-signing certificate for ``ca`` (valid ``days``, within the CA's)."""
    cert = ca.certificate
    day = kst_today(at)
    not_after = min(kst_day_end(day + dt.timedelta(days=days)), cert.not_valid_after_utc)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    base_name = str(cn[0].value) if cn else ca.label
    subject_attrs = [a for a in cert.subject if a.oid != NameOID.COMMON_NAME]
    subject = x509.Name([*subject_attrs, x509.NameAttribute(
        NameOID.COMMON_NAME, f"{base_name} OCSP Responder")])
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(cert.subject)
        .public_key(signer_key.public_key())
        .serial_number(random_serial(entropy or SystemEntropy()))
        .not_valid_before(kst_day_start(day))
        .not_valid_after(not_after)
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()),
                       critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                     False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                       critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(certificate_policies(oids.OCSP_RESPONDER_POLICY, notice=TEST_NOTICE,
                                            cps_url=ca.cps_url), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def signer_is_current(signer: x509.Certificate, *, at: dt.datetime) -> bool:
    """Whether a responder certificate made earlier can still be used at ``at``: more
    than a week left, and the shape :func:`issue_signer` gives today (older kpki versions
    issued it without certificatePolicies)."""
    if signer.not_valid_after_utc - at < dt.timedelta(days=7):
        return False
    try:
        signer.extensions.get_extension_for_oid(x509.oid.ExtensionOID.CERTIFICATE_POLICIES)
    except x509.ExtensionNotFound:
        return False
    return True


def load_signer(store: Store, keys: CAKeyStore, ca: str
                ) -> tuple[OCSPSignerRecord, CAKey] | None:
    """The CA's current OCSP signer and its key, read only; None when the publisher has
    made none yet, or its key is not (yet) the one its certificate names (a rotation in
    progress: the key is written before the certificate is recorded)."""
    record = store.ocsp_signer(ca)
    if record is None:
        return None
    try:
        key = keys.load(KeyLabel.parse(record.key_label))
    except NotFoundError:
        return None
    if key.public_key() != record.certificate.public_key():
        return None
    return record, key


def ensure_signer(store: Store, keys: CAKeyStore, ca: CARecord, *, at: dt.datetime,
                  entropy: Entropy | None = None, ca_key: CAKey | None = None
                  ) -> tuple[OCSPSignerRecord, CAKey]:
    """The CA's OCSP signer, made anew when there is none, its key does not match, or it is
    no longer current (:func:`signer_is_current`): a new key under ``<ca>/ocsp`` (replacing
    the old one), a certificate signed with the CA's key (``ca_key`` or the key store's),
    recorded with its ``ocsp-signer.issued`` audit row in one transaction."""
    found = load_signer(store, keys, ca.label)
    if found is not None and signer_is_current(found[0].certificate, at=at):
        return found
    if ca_key is None:
        ca_key = keys.load(KeyLabel.of_ca(ca.label))
    label = KeyLabel.ocsp(ca.label)
    signer_key = keys.generate(label, KeyType.RSA2048, replace=True)
    signer = issue_signer(ca, ca_key, signer_key, at=at, entropy=entropy)
    record = OCSPSignerRecord(
        ca=ca.label, serial=signer.serial_number,
        der=signer.public_bytes(serialization.Encoding.DER),
        not_after=signer.not_valid_after_utc, key_label=str(label), issued_at=at)
    with store.transaction() as tx:
        tx.put_ocsp_signer(record)
        tx.audit(AuditAction.OCSP_SIGNER_ISSUED, at=at, ca=ca.label, serial=signer.serial_number,
                 detail={"not_after": signer.not_valid_after_utc.isoformat(),
                         "key": str(label)})
    return record, signer_key


@dataclass(frozen=True)
class _IssuerHashes:
    name: bytes
    key: bytes


_Status: TypeAlias = tuple[CertStatus, dt.datetime | None, x509.ReasonFlags | None] | None
"""What :meth:`pki.store.Store.status_of` says of a serial."""


@dataclass(frozen=True)
class _Produced:
    """A response signed ahead of time for one (CertID hash, serial)."""

    status: _Status
    """What the store said when it was signed (status, time, reason): any change of
    status gives another value, and the response is not served again."""
    this_update: dt.datetime
    der: bytes


Answer: TypeAlias = bytes | Callable[[], bytes]
"""What :meth:`OCSPResponder.answer` gives: the response, or a call that signs it."""


class OCSPResponder:
    """Answers OCSP requests about the certificates of one CA.

    Requests without a nonce get a response produced ahead of time (RFC 5019): the first
    such request about a serial signs it, and later ones get the same bytes until
    ``refresh`` of its validity has passed (:data:`REFRESH_FRACTION`) or the certificate's
    status changes. The status is read from the store for every request (one indexed
    lookup) and a response is only reused while the status it was signed for is still the
    store's, so the first request after a revocation, suspension or resumption, in this
    process or any other sharing the store, is answered with the new status: a
    pre-produced response is never staler than the store. A request with a nonce is
    signed for that request and never reused. Responses are encoded by
    :mod:`pki.formats.ocspder` and signed with ``key.sign`` (which releases the GIL).
    """

    def __init__(self, ca: CARecord, signer: x509.Certificate, signer_key: CAKey,
                 store: Store, clock: Clock, *,
                 validity: dt.timedelta = RESPONSE_VALIDITY,
                 refresh: float = REFRESH_FRACTION,
                 cache_size: int = CACHE_SIZE) -> None:
        if not 0 <= refresh <= 1:
            raise ValueError("refresh is a fraction of the validity, between 0 and 1")
        self.ca = ca
        self.signer = signer
        self._signer_key = signer_key
        self._store = store
        self._clock = clock
        self._validity = validity
        self._fresh_for = validity * refresh
        self._cache_size = cache_size
        self._produced: dict[tuple[str, int], _Produced] = {}
        self._key_hash = x509.SubjectKeyIdentifier.from_public_key(signer.public_key()).digest
        self._certificates = signer.public_bytes(serialization.Encoding.DER)
        cert = ca.certificate
        name_der = cert.subject.public_bytes()
        key_bits = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.PKCS1)
        self._issuer: dict[str, _IssuerHashes] = {}
        for algorithm_class in _HASHES:
            algorithm = algorithm_class()
            digest = hashes.Hash(algorithm)
            digest.update(name_der)
            name_hash = digest.finalize()
            digest = hashes.Hash(algorithm)
            digest.update(key_bits)
            self._issuer[algorithm.name] = _IssuerHashes(name_hash, digest.finalize())

    @staticmethod
    def malformed() -> bytes:
        return _MALFORMED

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSP response to a DER request; never raises for bad input."""
        answer = self.answer(request_der)
        return answer if isinstance(answer, bytes) else answer()

    def answer(self, request_der: bytes) -> Answer:
        """The response to a DER request when no signature is needed (a pre-produced one
        still fresh, or an error status), else a call that signs it (to run where signing
        may block: it releases the GIL). Reads the certificate's status from the store;
        never raises for bad input."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm.name
            serial = request.serial_number
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
            nonce = None
            for ext in request.extensions:
                if isinstance(ext.value, x509.OCSPNonce):
                    nonce = ext.value.nonce
        except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
            return _MALFORMED
        except Exception:  # pyca raises UnsupportedAlgorithm and friends for odd requests
            return _MALFORMED
        if serial < 0:  # not a serial any CA issues, and not one a response can carry
            return _MALFORMED
        expected = self._issuer.get(algorithm)
        if expected is None or (name_hash, key_hash) != (expected.name, expected.key):
            return _UNAUTHORIZED

        found = self._store.status_of(self.ca.label, serial)
        now = self._clock.now().replace(microsecond=0)
        if nonce is None:
            held = self._held(algorithm, serial, found, now)
            if held is not None:
                return held
        return functools.partial(self._sign, algorithm, serial, found, now, nonce)

    def _held(self, algorithm: str, serial: int, found: _Status, now: dt.datetime
              ) -> bytes | None:
        """The kept response for (``algorithm``, ``serial``) if it was signed for status
        ``found`` and is still fresh at ``now``."""
        held = self._produced.get((algorithm, serial))
        if (held is not None and held.status == found
                and held.this_update <= now < held.this_update + self._fresh_for):
            return held.der
        return None

    def _sign(self, algorithm: str, serial: int, found: _Status, now: dt.datetime,
              nonce: bytes | None) -> bytes:
        if nonce is None:
            # a burst of the same request all missed the cache before the first was signed:
            # the first signs, the rest (queued behind it) take what it kept
            held = self._held(algorithm, serial, found, now)
            if held is not None:
                return held
        revocation_time = None
        reason = None
        if found is None:
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif found[0] is CertStatus.VALID:
            status = ocsp.OCSPCertStatus.GOOD
        else:
            status = ocsp.OCSPCertStatus.REVOKED
            revocation_time = found[1] or now
            reason = None if found[2] is x509.ReasonFlags.unspecified else found[2]
        issuer = self._issuer[algorithm]
        single = ocspder.single_response(
            ocspder.cert_id(algorithm, issuer.name, issuer.key, serial), status,
            this_update=now, next_update=now + self._validity,
            revocation_time=revocation_time, reason=reason)
        tbs = ocspder.response_data(self._key_hash, now, single, nonce=nonce)
        signature = self._signer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        der = ocspder.basic_response(tbs, signature, self._certificates)
        if nonce is None:
            produced = self._produced
            produced.pop((algorithm, serial), None)  # re-signed: no other entry goes for it
            if len(produced) >= self._cache_size:
                with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                    del produced[next(iter(produced))]  # the oldest signed
            produced[(algorithm, serial)] = _Produced(found, now, der)
        return der
