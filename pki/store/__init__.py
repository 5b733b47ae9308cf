"""The store: what kpki keeps about CAs, certificates and every change made to them.

The rest of the library talks to the narrow :class:`Store` interface; only
:mod:`pki.store.sqlite` knows SQL. Every state change happens inside one
:meth:`Store.transaction` together with its audit row.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from cryptography import x509

__all__ = [
    "AuditEvent",
    "CARecord",
    "CRLEntry",
    "CRLInfo",
    "CertStatus",
    "CertificateRecord",
    "DeliveryRecord",
    "KeyOrigin",
    "Store",
    "StoreTransaction",
]


class CertStatus(enum.Enum):
    """Stored status. Expiry is not a status: it follows from the clock and notAfter.

    The numeric codes are those one Korean RA uses (10 valid, 30 revoked, 40 suspended).
    """

    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"

    @property
    def code(self) -> int:
        return {"valid": 10, "revoked": 30, "suspended": 40}[self.value]


class KeyOrigin(enum.Enum):
    """Where a certificate's key came from."""

    GENERATED = "generated"  # kpki made it and handed it to the caller
    CSR = "csr"
    PUBLIC_KEY = "public-key"


@dataclass(frozen=True)
class CARecord:
    """A CA known to the store. Its private key is not here: the home keeps it in a file."""

    label: str
    parent: str | None
    style: str
    """``root`` for the root, else a :data:`pki.profiles.STYLES` name."""
    der: bytes
    crl_url: str
    ocsp_url: str | None
    cps_url: str | None
    created_at: dt.datetime

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def is_root(self) -> bool:
        return self.parent is None


@dataclass(frozen=True)
class CertificateRecord:
    """A subscriber certificate as stored."""

    ca: str
    serial: int
    subject: str
    holder: str
    profile: str
    status: CertStatus
    not_before: dt.datetime
    not_after: dt.datetime
    der: bytes
    issued_at: dt.datetime
    key_origin: KeyOrigin
    revoked_at: dt.datetime | None = None
    """When it went on the CRL (revocation or suspension time); None while valid."""
    reason: x509.ReasonFlags | None = None
    invalidity_date: dt.datetime | None = None
    status_changed_at: dt.datetime | None = None
    ra: str = ""
    """The registration authority as ``UNIT:INSTITUTION:BRANCH``."""
    alias: str = ""
    replaces: int | None = None
    """The serial of the certificate this one renewed or reissued."""

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    def is_expired(self, at: dt.datetime) -> bool:
        return at > self.not_after


@dataclass(frozen=True)
class CRLInfo:
    """A CRL that was issued (the DER itself lives in the publish folder)."""

    ca: str
    number: int
    delta_base: int | None
    this_update: dt.datetime
    next_update: dt.datetime
    change_seq: int
    entries: int
    sha256: str

    @property
    def is_delta(self) -> bool:
        return self.delta_base is not None


@dataclass(frozen=True)
class CRLEntry:
    """One line of a CRL, straight from the store (times as stored, serial as hex) so a
    million of them can be encoded without building objects."""

    serial_hex: str
    revoked_at: str
    reason: str | None
    invalidity_date: str | None


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only audit log."""

    id: int
    at: dt.datetime
    action: str
    ca: str | None
    serial: int | None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryRecord:
    """A certificate on its way into an NPKI folder (:mod:`pki.delivery`).

    Recorded with the certificate, in the issuing transaction, before its files leave their
    temporary names; ``delivered_at`` is set once they are in ``folder``. A record still
    pending after the issuing process is gone is a delivery to finish or a certificate to
    report as undelivered.
    """

    ca: str
    serial: int
    folder: str
    """The NPKI folder the certificate goes to (absolute)."""
    staging: str
    """The folder where its files wait under temporary names until the commit (absolute)."""
    recorded_at: dt.datetime
    delivered_at: dt.datetime | None = None


class StoreTransaction(Protocol):
    """Writes that commit together or not at all."""

    def reserve_cn_sequence(self, ca: str, count: int = 1) -> int:
        """Reserve ``count`` consecutive numbers of the CA's subscriber CN sequence and
        return the first (the sequence starts at 1)."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...

    def put_ca(self, record: CARecord) -> None: ...

    def event_time(self, ca: str, at: dt.datetime) -> dt.datetime:
        """The time to record for an event of ``ca`` happening at ``at`` by the clock: never
        earlier than the CA's previous event, however the clock moved. Every write below
        that records a time of a CA goes through this rule (unless the store was opened for
        a clock that travels on purpose, as a test PKI's does)."""
        ...

    def put_certificate(self, record: CertificateRecord) -> None:
        """Record a certificate and its ``certificate.issued`` audit row (``issued_at``
        as :meth:`event_time` gives it);
        :class:`pki.errors.SerialInUseError` if the CA has used the serial before (the
        transaction stays usable)."""
        ...

    def audit(self, action: str, *, at: dt.datetime, ca: str | None = None,
              serial: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        """Append an audit row; a row about a CA is dated as :meth:`event_time` says."""
        ...

    def get_certificate(self, ca: str, serial: int) -> CertificateRecord | None:
        """Read a certificate inside the transaction (under its write lock)."""
        ...

    def set_status(self, ca: str, serial: int, *, status: CertStatus, at: dt.datetime,
                   revoked_at: dt.datetime | None, reason: x509.ReasonFlags | None,
                   invalidity_date: dt.datetime | None) -> None:
        """Change a certificate's status; the CA's change counter moves on. ``at`` follows
        :meth:`event_time`, and so does ``revoked_at`` when it equals ``at`` (the event puts
        the certificate on the CRL); an earlier ``revoked_at`` (a suspension lapsing into a
        revocation) is kept."""
        ...

    def reserve_crl(self, ca: str, at: dt.datetime) -> tuple[int, dt.datetime]:
        """The next CRL number of ``ca`` (shared by full and delta CRLs) and the CRL's
        thisUpdate: ``at``, or the CA's latest event time if that is later (a CRL is never
        dated before a change it lists). Raises :class:`pki.errors.ClockBehindError` if
        ``at`` is earlier than the thisUpdate of a CRL reserved before."""
        ...

    def record_crl(self, info: CRLInfo) -> None: ...

    def record_delivery(self, record: DeliveryRecord) -> None:
        """Note where a certificate recorded in this transaction is being delivered."""
        ...

    def mark_delivered(self, ca: str, serial: int, *, at: dt.datetime) -> bool:
        """Finish a pending delivery and write its ``certificate.delivered`` audit row;
        False (and nothing written) if it was not pending."""
        ...

    def pending_deliveries(self) -> Sequence[DeliveryRecord]:
        """Deliveries not finished, read under the transaction's write lock."""
        ...


class Store(Protocol):
    """Reads, and the one way to write: :meth:`transaction`."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]: ...

    def get_meta(self, key: str) -> str | None: ...

    def get_ca(self, label: str) -> CARecord: ...

    def list_cas(self) -> Sequence[CARecord]: ...

    def find_certificates(self, serial: int, *, ca: str | None = None
                          ) -> Sequence[CertificateRecord]: ...

    def list_certificates(self, *, ca: str | None = None, status: CertStatus | None = None,
                          profile: str | None = None, holder: str | None = None
                          ) -> Sequence[CertificateRecord]: ...

    def audit_log(self, *, ca: str | None = None, serial: int | None = None
                  ) -> Sequence[AuditEvent]: ...

    def change_seq(self, ca: str) -> int:
        """The CA's change counter: it moves whenever a certificate's status changes."""
        ...

    def last_crl(self, ca: str, *, delta: bool = False) -> CRLInfo | None: ...

    def crl_entries(self, ca: str, *, at: dt.datetime) -> Iterator[CRLEntry]:
        """Revoked and suspended certificates not yet expired at ``at``, streamed."""
        ...

    def changed_since(self, ca: str, change_seq: int, *, at: dt.datetime
                      ) -> Iterator[tuple[CertStatus, CRLEntry]]:
        """Certificates whose status changed after ``change_seq`` (for delta CRLs)."""
        ...

    def status_of(self, ca: str, serial: int
                  ) -> tuple[CertStatus, dt.datetime | None, x509.ReasonFlags | None] | None:
        """Status, time on the CRL and reason of one certificate (what OCSP needs), or None
        if the CA never issued that serial."""
        ...

    def renewals_of(self, ca: str, serial: int) -> Sequence[int]:
        """Serials of the certificates that renewed or reissued ``serial``."""
        ...

    def suspended_before(self, ca: str, cutoff: dt.datetime) -> Sequence[int]:
        """Serials suspended since before ``cutoff``."""
        ...

    def pending_deliveries(self, *, ca: str | None = None) -> Sequence[DeliveryRecord]:
        """Deliveries recorded but not finished, oldest first."""
        ...

    def close(self) -> None: ...
