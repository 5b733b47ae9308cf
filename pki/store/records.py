"""What the store keeps, as typed values: times are ``datetime`` (UTC), serials ``int``,
closed sets enums. No backend's text (timestamps as stored, hex serials, SQL) leaves the
backend; these records are all the rest of the library sees.

This module holds the records of CAs, certificates and revocation; the other domains' are
in :mod:`pki.store.cloudrecords`, :mod:`pki.store.bankrecords` and
:mod:`pki.store.rarecords`, imported when first asked for here (PEP 562): reading a
certificate (``kpki cert show``) does not build the bank's thirty dataclasses (issue 18).
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cryptography import x509

if TYPE_CHECKING:
    from .bankrecords import (
        Account,
        BankCustomer,
        BankSession,
        CardChallenge,
        Carrier,
        DesignatedDevices,
        LineState,
        LineType,
        LoginChallengeRecord,
        OtpKind,
        OtpRegistration,
        OtpToken,
        PhoneApp,
        PhoneVerificationRecord,
        SecurityCardRecord,
        SessionMethod,
        SimpleAuthKey,
        SubscriberLine,
        TransferOutcome,
        TransferRecord,
        TransferState,
        VerificationMethod,
    )
    from .cloudrecords import (
        CloudUser,
        HistoryEntry,
        Institution,
        Message,
        PendingCode,
        Sealed,
        VaultRecord,
        Via,
    )
    from .rarecords import (
        PrivateMediumRecord,
        RaSessionRecord,
        RaSessionState,
        RaStepRecord,
        SimpleAuthRequestRecord,
        SimpleAuthState,
        SimpleAuthUser,
    )

__all__ = [
    "Account",
    "AuditAction",
    "AuditEvent",
    "BankCustomer",
    "BankSession",
    "CARecord",
    "CRLEntry",
    "CRLInfo",
    "CardChallenge",
    "Carrier",
    "CertStatus",
    "CertificateRecord",
    "CloudUser",
    "DeliveryRecord",
    "DesignatedDevices",
    "HistoryEntry",
    "Institution",
    "KeyOrigin",
    "LineState",
    "LineType",
    "LoginChallengeRecord",
    "Message",
    "OCSPSignerRecord",
    "OtpKind",
    "OtpRegistration",
    "OtpToken",
    "PendingCode",
    "PhoneApp",
    "PhoneVerificationRecord",
    "PrivateMediumRecord",
    "PublishedCRL",
    "RaSessionRecord",
    "RaSessionState",
    "RaStepRecord",
    "RevocationReason",
    "Sealed",
    "SecurityCardRecord",
    "SessionMethod",
    "SimpleAuthKey",
    "SimpleAuthRequestRecord",
    "SimpleAuthState",
    "SimpleAuthUser",
    "SubscriberLine",
    "TransferOutcome",
    "TransferRecord",
    "TransferState",
    "VaultRecord",
    "VerificationMethod",
    "Via",
]


ELSEWHERE = {
    "Institution": "cloudrecords",
    "CloudUser": "cloudrecords",
    "PendingCode": "cloudrecords",
    "Via": "cloudrecords",
    "Message": "cloudrecords",
    "Sealed": "cloudrecords",
    "VaultRecord": "cloudrecords",
    "HistoryEntry": "cloudrecords",
    "Carrier": "bankrecords",
    "LineType": "bankrecords",
    "BankCustomer": "bankrecords",
    "Account": "bankrecords",
    "SecurityCardRecord": "bankrecords",
    "CardChallenge": "bankrecords",
    "OtpKind": "bankrecords",
    "OtpToken": "bankrecords",
    "OtpRegistration": "bankrecords",
    "LineState": "bankrecords",
    "SubscriberLine": "bankrecords",
    "VerificationMethod": "bankrecords",
    "PhoneVerificationRecord": "bankrecords",
    "DesignatedDevices": "bankrecords",
    "PhoneApp": "bankrecords",
    "SessionMethod": "bankrecords",
    "SimpleAuthKey": "bankrecords",
    "LoginChallengeRecord": "bankrecords",
    "BankSession": "bankrecords",
    "TransferOutcome": "bankrecords",
    "TransferRecord": "bankrecords",
    "TransferState": "bankrecords",
    "RaSessionState": "rarecords",
    "RaSessionRecord": "rarecords",
    "RaStepRecord": "rarecords",
    "PrivateMediumRecord": "rarecords",
    "SimpleAuthState": "rarecords",
    "SimpleAuthUser": "rarecords",
    "SimpleAuthRequestRecord": "rarecords",
}
"""Each record of another domain and the module that holds it."""


def __getattr__(name: str) -> Any:
    module = ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)




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
    crl_shards: int = 1
    """How many CRLs new certificates are spread over (:mod:`pki.revocation.shards`); 1:
    one CRL at ``crl_url``."""

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
    crl_shard: int | None = None
    """The CRL shard its distribution point names (:mod:`pki.revocation.shards`); None: the
    CA's unsharded CRL."""

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
    shard: int | None = None
    """The shard this CRL covers (:mod:`pki.revocation.shards`); None: the unsharded CRL."""

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
    shard: int | None = None
    """The shard's CRL (:mod:`pki.revocation.shards`); None: the unsharded one."""


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
    CA_CRL_SHARDS = "ca.crl-shards"
    """A CA's number of CRL shards changed (:mod:`pki.revocation.shards`)."""
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
    SDK_INSTITUTION_ADDED = "sdk.institution.added"
    """An institution was given an organisation code and SDK key (:mod:`pki.cloud.sdk`)."""
    SDK_ORIGIN_ADDED = "sdk.origin.added"
    SDK_ORIGIN_REMOVED = "sdk.origin.removed"
    SDK_CONNECTED = "sdk.connected"
    """An iframe session connected a cloud user (its code confirmed)."""
    SDK_DISCONNECTED = "sdk.disconnected"
    BANK_SETTINGS_CHANGED = "bank.settings.changed"
    BANK_CUSTOMER_ADDED = "bank.customer.added"
    BANK_CUSTOMER_LINE_CHANGED = "bank.customer.line-changed"
    BANK_ENROLMENT_SIGNED_UP = "bank.enrolment.signed-up"
    BANK_ENROLMENT_ACTIVATED = "bank.enrolment.activated"
    BANK_ACCOUNT_OPENED = "bank.account.opened"
    BANK_ACCOUNT_PASSWORD_WRONG = "bank.account.password-wrong"
    BANK_ACCOUNT_LOCKED = "bank.account.locked"
    BANK_ACCOUNT_RESET = "bank.account.reset"
    BANK_CARD_ISSUED = "bank.card.issued"
    BANK_CARD_CHALLENGED = "bank.card.challenged"
    BANK_CARD_ANSWERED = "bank.card.answered"
    BANK_CARD_WRONG = "bank.card.wrong"
    BANK_CARD_LOCKED = "bank.card.locked"
    BANK_CARD_RESET = "bank.card.reset"
    BANK_CARD_LOST = "bank.card.lost"
    BANK_LIMIT_CHARGED = "bank.limit.charged"
    BANK_CARD_RETIRED = "bank.card.retired"
    BANK_OTP_ISSUED = "bank.otp.issued"
    BANK_OTP_REGISTERED = "bank.otp.registered"
    BANK_OTP_UNREGISTERED = "bank.otp.unregistered"
    BANK_OTP_DISABLED = "bank.otp.disabled"
    BANK_OTP_ACTIVATED = "bank.otp.activated"
    BANK_OTP_ACCEPTED = "bank.otp.accepted"
    BANK_OTP_WRONG = "bank.otp.wrong"
    BANK_OTP_LOCKED = "bank.otp.locked"
    BANK_OTP_RESYNCHRONISED = "bank.otp.resynchronised"
    BANK_OTP_RESET = "bank.otp.reset"
    BANK_OTP_LOST = "bank.otp.lost"
    BANK_DEVICE_ADDED = "bank.device.added"
    BANK_DEVICE_REMOVED = "bank.device.removed"
    BANK_DEVICES_CHANGED = "bank.devices.changed"
    """Designated-only mode or the extra-step service turned on or off."""
    BANK_STEP_UP_USED = "bank.step-up.used"
    PHONE_LINE_ADDED = "phone.line.added"
    PHONE_LINE_CHANGED = "phone.line.changed"
    PHONE_CODE_SENT = "phone.code.sent"
    PHONE_CODE_WRONG = "phone.code.wrong"
    PHONE_IDENTITY_MISMATCH = "phone.identity-mismatch"
    PHONE_VERIFIED = "phone.verified"
    PHONE_APP_ENROLLED = "phone.app.enrolled"
    PHONE_APP_REMOVED = "phone.app.removed"
    PHONE_APP_PASSWORD_WRONG = "phone.app.password-wrong"
    PHONE_APP_LOCKED = "phone.app.locked"
    BANK_SIMPLE_AUTH_KEY_REGISTERED = "bank.simple-auth.key-registered"
    BANK_SIMPLE_AUTH_KEY_REMOVED = "bank.simple-auth.key-removed"
    BANK_LOGIN_CHALLENGED = "bank.login.challenged"
    BANK_SESSION_STARTED = "bank.session.started"
    BANK_SESSION_ENDED = "bank.session.ended"
    BANK_TRANSFER_ACCEPTED = "bank.transfer.accepted"
    BANK_TRANSFER_REFUSED = "bank.transfer.refused"
    BANK_PRIVATE_MEDIUM_REGISTERED = "bank.private-medium.registered"
    BANK_PRIVATE_MEDIUM_REMOVED = "bank.private-medium.removed"
    RA_SESSION_STARTED = "ra.session.started"
    RA_STEP_DONE = "ra.step.done"
    RA_STEP_REFUSED = "ra.step.refused"
    RA_SESSION_FINISHED = "ra.session.finished"
    RA_SESSION_FAILED = "ra.session.failed"
    RA_PIN_RESET = "ra.pin.reset"
    RA_FOREIGN_CERTIFICATE_REGISTERED = "ra.foreign-certificate.registered"
    SIMPLEAUTH_USER_REGISTERED = "simpleauth.user.registered"
    SIMPLEAUTH_USER_REMOVED = "simpleauth.user.removed"
    SIMPLEAUTH_REQUESTED = "simpleauth.requested"
    SIMPLEAUTH_APPROVED = "simpleauth.approved"
    SIMPLEAUTH_DECLINED = "simpleauth.declined"
    SIMPLEAUTH_FAILED = "simpleauth.failed"
    SIMPLEAUTH_COLLECTED = "simpleauth.collected"


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
