"""Revocation, suspension and resumption (korean-pki.md section 7).

Each operation is one store transaction: the status change and its audit row, dated by
:meth:`pki.store.StoreTransaction.event_time` (never before the CA's previous event, even
when the clock has gone back). Rules:

* revoke: any valid or suspended, unexpired certificate, with an RFC 5280 reason (not
  ``certificateHold``, which is what suspend is, nor ``removeFromCRL``) and optionally an
  invalidity date;
* suspend (효력정지): valid, unexpired certificates; on a CRL as ``certificateHold``;
* resume (효력회복): suspended certificates, within 6 calendar months of the suspension
  (:func:`suspension_lapses_at`: the same day six months on by the Korean calendar,
  clipped to the month's end);
* a suspension older than 6 months becomes a revocation when CRLs are next made
  (:func:`lapse_suspensions`);
* revoke a CA certificate (:func:`revoke_ca`): it is recorded among its issuer's
  certificates, then revoked by the same rules, so the issuer's CRL lists it.

Renewal and reissue need the CA key and live on :class:`pki.authority.CertificateAuthority`.
"""

from __future__ import annotations

import calendar
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .clock import KST
from .errors import (
    AlreadyRevokedError,
    AmbiguousSerialError,
    CertificateExpiredError,
    CertificateNotFoundError,
    LifecycleError,
    NotSuspendedError,
)
from .store import AuditAction, CertificateRecord, CertStatus, KeyOrigin, Store, StoreTransaction

__all__ = [
    "CA_CERTIFICATE_PROFILE",
    "SUSPENSION_MONTHS",
    "find_certificate",
    "lapse_suspensions",
    "resume",
    "revoke",
    "revoke_ca",
    "revoke_in",
    "suspend",
    "suspension_lapses_at",
]

SUSPENSION_MONTHS = 6
_NOT_REVOCATION_REASONS = {x509.ReasonFlags.certificate_hold, x509.ReasonFlags.remove_from_crl}


def suspension_lapses_at(suspended_at: dt.datetime) -> dt.datetime:
    """Six calendar months after ``suspended_at``, by the Korean calendar: the same day
    of the month at the same KST time of day, or the last day of a month that has no such
    day (31 August lapses on 28 or 29 February). Returned in UTC."""
    local = suspended_at.astimezone(KST)
    months = local.month - 1 + SUSPENSION_MONTHS
    year, month = local.year + months // 12, months % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(dt.UTC)


def find_certificate(store: Store, serial: int, *, ca: str | None = None) -> CertificateRecord:
    """The one certificate with ``serial`` (at ``ca``, if given)."""
    matches = store.find_certificates(serial, ca=ca)
    if not matches:
        raise CertificateNotFoundError(serial, ca=ca)
    if len(matches) > 1:
        raise AmbiguousSerialError(serial, [m.ca for m in matches])
    return matches[0]


def _current(tx: StoreTransaction, record: CertificateRecord) -> CertificateRecord:
    """The record as it is now, under the write lock (another process may have moved it)."""
    current = tx.get_certificate(record.ca, record.serial)
    if current is None:
        raise CertificateNotFoundError(record.serial, ca=record.ca)
    return current


def _check_unexpired(record: CertificateRecord, at: dt.datetime, doing: str) -> None:
    if record.is_expired(at):
        raise CertificateExpiredError(
            f"certificate {record.serial:X} expired on {record.not_after:%Y-%m-%d}; "
            f"it cannot be {doing}", serial=record.serial)


def revoke(store: Store, serial: int, *, at: dt.datetime, ca: str | None = None,
           reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
           invalidity_date: dt.datetime | None = None) -> CertificateRecord:
    """Revoke a certificate. Raises :class:`AlreadyRevokedError`,
    :class:`CertificateExpiredError`, :class:`CertificateNotFoundError`."""
    _check_revocation(reason, invalidity_date, at)
    record = find_certificate(store, serial, ca=ca)
    with store.transaction() as tx:
        revoke_in(tx, record.ca, serial, at=at, reason=reason, invalidity_date=invalidity_date)
    return find_certificate(store, serial, ca=record.ca)


def _check_revocation(reason: x509.ReasonFlags, invalidity_date: dt.datetime | None,
                      at: dt.datetime) -> None:
    if not isinstance(reason, x509.ReasonFlags):
        raise TypeError("reason is an x509.ReasonFlags")
    if reason in _NOT_REVOCATION_REASONS:
        raise ValueError(f"{reason.value} is not a revocation reason (suspend for a hold)")
    if invalidity_date is not None and invalidity_date > at:
        raise ValueError("the invalidity date lies in the future")


def revoke_in(tx: StoreTransaction, ca: str, serial: int, *, at: dt.datetime,
              reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
              invalidity_date: dt.datetime | None = None) -> None:
    """Revoke certificate ``serial`` of ``ca`` inside ``tx``, a transaction the caller
    holds (so that its own rows, a cloud user's history say, commit with the revocation).
    The same rules and errors as :func:`revoke`."""
    _check_revocation(reason, invalidity_date, at)
    current = tx.get_certificate(ca, serial)
    if current is None:
        raise CertificateNotFoundError(serial, ca=ca)
    at = tx.event_time(ca, at)
    if current.status is CertStatus.REVOKED:
        raise AlreadyRevokedError(f"certificate {serial:X} is revoked already", serial=serial)
    _check_unexpired(current, at, "revoked")
    tx.set_status(ca, serial, status=CertStatus.REVOKED, at=at, revoked_at=at, reason=reason,
                  invalidity_date=invalidity_date)
    detail = {"reason": reason.value, "was": current.status.value}
    if invalidity_date is not None:
        detail["invalidity_date"] = invalidity_date.isoformat()
    tx.audit(AuditAction.CERTIFICATE_REVOKED, at=at, ca=ca, serial=serial, detail=detail)


CA_CERTIFICATE_PROFILE = "ca"
"""The profile under which a CA certificate is recorded among its issuer's certificates."""


def revoke_ca(store: Store, label: str, *, at: dt.datetime,
              reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
              invalidity_date: dt.datetime | None = None) -> CertificateRecord:
    """Revoke CA ``label``'s certificate (a licensed CA's, by the root). It is recorded
    among its issuer's certificates (profile ``ca``, as the TSA's is), in the same
    transaction, so the issuer's CRL lists it and a home's verifier refuses what was signed
    under it. The same rules and errors as :func:`revoke`; a root cannot be revoked
    (:class:`LifecycleError`: take it out of the trust stores instead)."""
    _check_revocation(reason, invalidity_date, at)
    record = store.get_ca(label)
    cert = record.certificate
    if record.parent is None:
        raise LifecycleError(f"CA {label!r} is a root: no CRL can revoke it; remove it from "
                             "the trust stores instead", serial=cert.serial_number)
    with store.transaction() as tx:
        if tx.get_certificate(record.parent, cert.serial_number) is None:
            cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            tx.put_certificate(CertificateRecord(
                ca=record.parent, serial=cert.serial_number,
                subject=cert.subject.rfc4514_string(),
                holder=str(cn[0].value) if cn else label, profile=CA_CERTIFICATE_PROFILE,
                status=CertStatus.VALID, not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                der=cert.public_bytes(serialization.Encoding.DER),
                issued_at=record.created_at, key_origin=KeyOrigin.GENERATED))
        revoke_in(tx, record.parent, cert.serial_number, at=at, reason=reason,
                  invalidity_date=invalidity_date)
    return find_certificate(store, cert.serial_number, ca=record.parent)


def suspend(store: Store, serial: int, *, at: dt.datetime,
            ca: str | None = None) -> CertificateRecord:
    """Suspend (hold) a valid certificate."""
    record = find_certificate(store, serial, ca=ca)
    with store.transaction() as tx:
        current = _current(tx, record)
        at = tx.event_time(current.ca, at)
        if current.status is CertStatus.REVOKED:
            raise AlreadyRevokedError(f"certificate {serial:X} is revoked", serial=serial)
        if current.status is CertStatus.SUSPENDED:
            raise LifecycleError(f"certificate {serial:X} is suspended already",
                                 serial=serial)
        _check_unexpired(current, at, "suspended")
        tx.set_status(current.ca, serial, status=CertStatus.SUSPENDED, at=at, revoked_at=at,
                      reason=x509.ReasonFlags.certificate_hold, invalidity_date=None)
        tx.audit(AuditAction.CERTIFICATE_SUSPENDED, at=at, ca=current.ca, serial=serial,
                 detail={"lapses_at": suspension_lapses_at(at).isoformat()})
    return find_certificate(store, serial, ca=record.ca)


def resume(store: Store, serial: int, *, at: dt.datetime,
           ca: str | None = None) -> CertificateRecord:
    """Resume a suspended certificate (within 6 months of its suspension)."""
    record = find_certificate(store, serial, ca=ca)
    with store.transaction() as tx:
        current = _current(tx, record)
        at = tx.event_time(current.ca, at)
        if current.status is CertStatus.REVOKED:
            raise AlreadyRevokedError(f"certificate {serial:X} is revoked; it cannot be "
                                      "resumed", serial=serial)
        if current.status is not CertStatus.SUSPENDED or current.revoked_at is None:
            raise NotSuspendedError(f"certificate {serial:X} is not suspended", serial=serial)
        if at >= suspension_lapses_at(current.revoked_at):
            raise LifecycleError(
                f"certificate {serial:X} was suspended on {current.revoked_at:%Y-%m-%d}, more "
                f"than {SUSPENSION_MONTHS} months ago; it is revoked", serial=serial)
        tx.set_status(current.ca, serial, status=CertStatus.VALID, at=at, revoked_at=None,
                      reason=None, invalidity_date=None)
        tx.audit(AuditAction.CERTIFICATE_RESUMED, at=at, ca=current.ca, serial=serial)
    return find_certificate(store, serial, ca=record.ca)


def lapse_suspensions(store: Store, ca: str, *, at: dt.datetime) -> list[int]:
    """Revoke every certificate of ``ca`` suspended for more than 6 months; one
    transaction. Returns their serials."""
    cutoff_candidates = store.suspended_before(ca, at)
    lapsed = []
    with store.transaction() as tx:
        for serial in cutoff_candidates:
            current = tx.get_certificate(ca, serial)
            if (current is None or current.status is not CertStatus.SUSPENDED
                    or current.revoked_at is None
                    or at < suspension_lapses_at(current.revoked_at)):
                continue
            tx.set_status(ca, serial, status=CertStatus.REVOKED, at=at,
                          revoked_at=current.revoked_at,
                          reason=x509.ReasonFlags.unspecified, invalidity_date=None)
            tx.audit(AuditAction.CERTIFICATE_REVOKED, at=at, ca=ca, serial=serial,
                     detail={"reason": "unspecified", "was": "suspended",
                             "automatic": f"suspended more than {SUSPENSION_MONTHS} months"})
            lapsed.append(serial)
    return lapsed
