"""What the store keeps, as typed values: times are ``datetime`` (UTC), serials ``int``,
closed sets enums. No backend's text (timestamps as stored, hex serials, SQL) leaves the
backend; these records are all the rest of the library sees.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cryptography import x509

from ..purposes import Purpose

__all__ = [
    "AuditAction",
    "AuditEvent",
    "CARecord",
    "CRLEntry",
    "CRLInfo",
    "CertStatus",
    "CertificateRecord",
    "CloudUser",
    "DeliveryRecord",
    "HistoryEntry",
    "Institution",
    "KeyOrigin",
    "Message",
    "OCSPSignerRecord",
    "PendingCode",
    "PublishedCRL",
    "RevocationReason",
    "Sealed",
    "VaultRecord",
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


class RevocationReason(enum.Enum):
    """What a certificate may be revoked for: the RFC 5280 reason codes, spelled as RFC
    5280 and ``x509.ReasonFlags`` spell them, less ``certificateHold`` (that is a
    suspension, 효력정지) and ``removeFromCRL`` (a delta CRL's, never a revocation). The
    one vocabulary of ``kpki cert revoke``, ``kpki cloud revoke`` and the cloud API."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    CA_COMPROMISE = "cACompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"
    AA_COMPROMISE = "aACompromise"

    @property
    def flag(self) -> x509.ReasonFlags:
        """The reason as pyca's certificate and CRL builders take it."""
        return x509.ReasonFlags(self.value)

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """The reason named ``text``, in any letter case; :class:`ValueError` naming the
        reasons for anything else."""
        for reason in cls:
            if isinstance(text, str) and reason.value.lower() == text.lower():
                return reason
        raise ValueError(f"a revocation reason is one of {', '.join(r.value for r in cls)}")


# -- CAs, certificates, revocation ----------------------------------------------------------


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
    """A CRL that was issued (its bytes: :class:`PublishedCRL`)."""

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


@dataclass(frozen=True, slots=True)
class CRLEntry:
    """One line of a CRL. A full CRL streams a million of these from the store into the
    encoder (:mod:`pki.formats.crlder`), one at a time."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None
    """None or ``unspecified``: no reasonCode on the line (RFC 5280 section 5.3.1)."""
    invalidity_date: dt.datetime | None


@dataclass(frozen=True)
class PublishedCRL:
    """The bytes of the latest CRL published for a CA (full or delta), as the web layer
    serves them."""

    ca: str
    number: int
    delta: bool
    der: bytes


@dataclass(frozen=True)
class OCSPSignerRecord:
    """A delegated OCSP signing certificate of a CA; its key is held by label elsewhere
    (never in the store)."""

    ca: str
    serial: int
    der: bytes
    not_after: dt.datetime
    key_label: str
    """The label under which the signer's key is held."""
    issued_at: dt.datetime

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


class AuditAction(enum.StrEnum):
    """What an audit row records. The value is the text stored in the row, shown by
    ``kpki audit`` and matched by its ``--action`` (a value or a family: ``certificate``,
    ``cloud.pin``)."""

    CA_CREATED = "ca.created"
    CERTIFICATE_ISSUED = "certificate.issued"
    """Written by the backend with the certificate row itself (see :meth:`put_certificate`)."""
    CERTIFICATE_DELIVERED = "certificate.delivered"
    CERTIFICATE_RENEWED = "certificate.renewed"
    CERTIFICATE_REVOKED = "certificate.revoked"
    CERTIFICATE_SUSPENDED = "certificate.suspended"
    CERTIFICATE_RESUMED = "certificate.resumed"
    CRL_ISSUED = "crl.issued"
    CRL_DELTAS = "crl.deltas"
    OCSP_SIGNER_ISSUED = "ocsp-signer.issued"
    CLOUD_USER_REGISTERED = "cloud.user.registered"
    CLOUD_USER_CONFIRMED = "cloud.user.confirmed"
    CLOUD_CODE_WRONG = "cloud.code.wrong"
    CLOUD_INSTITUTION_ADDED = "cloud.institution.added"
    CLOUD_VAULT_CHECK_ADOPTED = "cloud.vault.check-adopted"
    CLOUD_KEY_SEALED = "cloud.key.sealed"
    CLOUD_REGISTERED = "cloud.registered"
    CLOUD_RENEWAL_NOTICED = "cloud.renewal.noticed"
    CLOUD_PIN_CHANGED = "cloud.pin.changed"
    CLOUD_PIN_FAILED = "cloud.pin.failed"
    CLOUD_PIN_LOCKED = "cloud.pin.locked"
    CLOUD_PIN_RESET = "cloud.pin.reset"
    CLOUD_DEVICE_ADDED = "cloud.device.added"
    CLOUD_DEVICE_REMOVED = "cloud.device.removed"
    CLOUD_DEVICES_DESIGNATED_ONLY = "cloud.devices.designated-only"


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only audit log. ``action`` is the stored text: an
    :class:`AuditAction` value for every row kpki writes (compare with the enum member or its
    value alike)."""

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


# -- registration (users, codes, the messages carrying them) --------------------------------


@dataclass(frozen=True)
class Institution:
    """An institution allowed to call the cloud (its API key is kept only hashed)."""

    id: int
    name: str
    added_at: dt.datetime


@dataclass(frozen=True)
class CloudUser:
    """A person registered by an institution, by name, phone and birth date."""

    id: str
    name: str
    phone: str
    """Digits only."""
    birth_date: dt.date
    institution_id: int | None
    """The institution that registered the user (None for users registered before kpki
    kept it)."""
    created_at: dt.datetime
    confirmed_at: dt.datetime | None = None
    """When the code sent to the phone came back; None while unconfirmed."""
    designated_only: bool = False
    """Signing is allowed from designated devices only."""

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True)
class PendingCode:
    """A confirmation code waiting for its user, with what the limits need."""

    user_id: str
    code_hash: str
    expires_at: dt.datetime
    attempts: int
    """Wrong guesses so far."""
    phone: str
    institution_id: int | None


@dataclass(frozen=True)
class Message:
    """A message sent to a phone (the built-in channel keeps them for the test channel)."""

    phone: str
    text: str
    at: dt.datetime
    institution_id: int | None
    """The institution whose request caused it."""


# -- the vault -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """What the store keeps of one key: nothing usable without the PIN and the vault
    secret (:mod:`pki.cloud.vault` seals and opens it)."""

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    kdf: str
    secret_check: str | None = None
    """The check value of the secret it was sealed under (None: sealed before kpki kept
    one; adopted at the next start)."""


@dataclass(frozen=True)
class VaultRecord:
    """A certificate's sealed key in the cloud, with its PIN count."""

    ca: str
    serial: int
    user_id: str
    sealed: Sealed
    failures: int = 0
    """Verified wrong PINs in a row."""
    locked_at: dt.datetime | None = None
    """When the last allowed wrong PIN locked it for good."""
    renewal_noticed_at: dt.datetime | None = None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True)
class HistoryEntry:
    """One event in a user's history (the last twenty are shown)."""

    at: dt.datetime
    institution: str
    device: str | None
    purpose: Purpose | None
    serial: int | None
    outcome: str
    """``signed``, ``registered``, ``pin-changed``, ``revoked``, ``refused-device``, or the
    code of the refusal (``wrong_pin`` ...)."""
