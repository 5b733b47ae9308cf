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


# -- registration (users, codes, the messages carrying them) --------------------------------


@dataclass(frozen=True)
class Institution:
    """An institution allowed to call the cloud and the bank (its API key is kept only
    hashed)."""

    id: int
    name: str
    added_at: dt.datetime
    code: str | None = None
    """Its 3-digit financial institution code (``081`` Hana), for a bank; None for an
    institution that only calls the cloud."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Its bank settings as stored (:class:`pki.bank.institutions.BankSettings` reads
    them); empty: the defaults."""


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


class Via(enum.Enum):
    """How a message reached a phone."""

    SMS = "sms"
    APP = "app"
    """A push to the carrier's app (phone verification's push protection)."""
    CALL = "call"
    """A voice call (ARS)."""


@dataclass(frozen=True)
class Message:
    """A message sent to a phone (the built-in channel keeps them for the test channel)."""

    phone: str
    text: str
    at: dt.datetime
    institution_id: int | None
    """The institution whose request caused it."""
    via: Via = Via.SMS


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


# -- the bank (pki.bank) ---------------------------------------------------------------------


class Carrier(enum.Enum):
    """A Korean mobile network. An MVNO (알뜰폰) runs on one of them: its customer's
    :attr:`BankCustomer.carrier` is the host network and :attr:`BankCustomer.mvno` the
    MVNO's name."""

    SKT = "SKT"
    KT = "KT"
    LGU = "LGU+"


class LineType(enum.Enum):
    """What kind of mobile line a phone number is (phone verification's eligibility)."""

    POSTPAID = "postpaid"
    PREPAID = "prepaid"
    CORPORATE = "corporate"
    SUSPENDED = "suspended"
    LOST = "lost"


@dataclass(frozen=True)
class BankCustomer:
    """A person who is a customer of one institution."""

    id: str
    institution_id: int
    name: str
    rrn: str = field(repr=False)
    """The resident registration number, 13 digits (never in an audit row)."""
    phone: str
    """Digits only (:func:`pki.registration.normalize_phone`)."""
    carrier: Carrier
    mvno: str | None
    """The MVNO's name when the line is an MVNO's on :attr:`carrier`."""
    line_type: LineType
    created_at: dt.datetime
    signed_up_at: dt.datetime | None = None
    """When the customer signed up for internet banking at a branch (None: never)."""
    activated_at: dt.datetime | None = None
    """When that sign-up was activated online (None: not yet)."""


@dataclass(frozen=True)
class Account:
    """A bank account: its number (unique at its institution), its 4-digit password
    (kept only hashed) and its balance in KRW."""

    institution_id: int
    number: str
    customer_id: str
    password_hash: str = field(repr=False)
    balance: int
    opened_at: dt.datetime
    failures: int = 0
    """Wrong passwords in a row."""
    locked_at: dt.datetime | None = None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True)
class SecurityCardRecord:
    """A security card (보안카드) as the bank keeps it: its serial ("No") and its codes."""

    id: str
    institution_id: int
    customer_id: str
    serial: str
    codes: tuple[str, ...] = field(repr=False)
    """The four-digit codes, position 1 first."""
    issued_at: dt.datetime
    failures: int = 0
    """Wrong answers in a row."""
    locked_at: dt.datetime | None = None
    """When the last allowed wrong answer locked it (only a branch clears it)."""
    retired_at: dt.datetime | None = None
    """When it was replaced by a new card or reported lost; a retired card is never
    challenged again."""

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True)
class CardChallenge:
    """A security-card challenge: two positions of one card, answered once."""

    id: str
    card_id: str
    first: int
    second: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None = None


class OtpKind(enum.Enum):
    """The three kinds of OTP (:mod:`pki.bank.otp`)."""

    HARDWARE = "hardware"
    """A hardware token of the shared OTP centre: usable at every institution it is
    registered with, one failure count across them."""
    MOBILE = "mobile"
    """A bank's mobile OTP: usable only at its bank, bound to one device."""
    DIGITAL = "digital"
    """The shared digital OTP: one app per person, usable at participating
    institutions."""


@dataclass(frozen=True)
class OtpToken:
    """An OTP token as the OTP centre keeps it. One record however many institutions it
    is registered with, so its failure count, lock and loss hold everywhere at once."""

    serial: str
    kind: OtpKind
    person: str
    """Who holds it, the same at every institution (a keyed hash of the RRN, never the
    RRN)."""
    issuer_id: int
    """The institution that issued it (a mobile OTP's bank)."""
    sealed_seed: bytes = field(repr=False)
    """The seed, encrypted (:mod:`pki.bank.otp`); never stored or shown in the clear."""
    issued_at: dt.datetime
    device: str | None = None
    """The device a mobile or digital OTP is bound to."""
    activated_at: dt.datetime | None = None
    """When it was activated (a hardware token is active when issued)."""
    drift: int = 0
    """The token's clock offset in time steps, as learned from its accepted codes."""
    last_step: int | None = None
    """The time step of the last accepted code: no code of this step or an earlier one is
    accepted again."""
    failures: int = 0
    """Verified wrong codes in a row, over every institution."""
    locked_at: dt.datetime | None = None
    lost_at: dt.datetime | None = None
    disabled_at: dt.datetime | None = None
    """When a newer medium replaced it (a mobile OTP reissued, a digital OTP moved to
    another phone)."""

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True)
class OtpRegistration:
    """An OTP token registered at an institution, for that institution's customer."""

    serial: str
    institution_id: int
    customer_id: str
    at: dt.datetime


# -- phone verification (pki.bank.phone) -----------------------------------------------------


class LineState(enum.Enum):
    """Whether a mobile line works (phone verification refuses a suspended or lost one)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    LOST = "lost"


@dataclass(frozen=True)
class SubscriberLine:
    """A mobile line as its carrier knows it: the carrier side of phone verification, test
    data that tests and fixtures add (:class:`pki.bank.phone.Subscribers`)."""

    phone: str
    """Digits only (:func:`pki.registration.normalize_phone`)."""
    carrier: Carrier
    """The network; for an MVNO's line the host network."""
    mvno: str | None
    """The MVNO's name, for an MVNO's line."""
    name: str
    """The holder's name (명의자)."""
    rrn: str = field(repr=False)
    """The holder's resident registration number, 13 digits (never in an audit row)."""
    line_type: LineType
    """:attr:`LineType.POSTPAID`, :attr:`LineType.PREPAID` or :attr:`LineType.CORPORATE`."""
    state: LineState
    added_at: dt.datetime
    other_name: bool = False
    """The line is in another person's name than its user's (a parent's line a child
    uses): refused for push protection."""
    ars_blocked: bool = False
    """The phone blocks the ARS number: ARS calls never arrive."""


class VerificationMethod(enum.Enum):
    """How a phone verification was asked for."""

    SMS = "sms"
    PUSH = "push"
    """The code goes to the carrier's app."""
    ARS = "ars"
    """A call-back: the holder keys in the number the site shows."""


@dataclass(frozen=True)
class PhoneVerificationRecord:
    """One phone verification (본인확인) asked for by a site, with its current code."""

    id: str
    institution_id: int
    """The site (institution) that asked; only it sees the verification."""
    phone: str
    method: VerificationMethod
    via: Via
    """Where the code went: an SMS, the carrier app (push protection, or the PUSH
    method), a call (ARS)."""
    name: str
    """The name the site sent (it matched the line's holder)."""
    rrn7: str
    """The first 7 RRN digits the site sent (they matched)."""
    code_hash: str = field(repr=False)
    expires_at: dt.datetime
    """When the current code stops being accepted."""
    created_at: dt.datetime
    tries: int = 0
    """Wrong tries of the current code."""
    sends: int = 1
    """Codes sent so far (the first and each resend)."""
    verified_at: dt.datetime | None = None
    ci: str | None = None
    """The holder's CI, kept when verified."""
    di: str | None = None
    """The holder's DI for this site, kept when verified."""


@dataclass(frozen=True)
class DesignatedDevices:
    """A bank customer's designated devices and choices (:mod:`pki.bank.devices`)."""

    devices: tuple[str, ...] = ()
    """Oldest first."""
    designated_only: bool = False
    step_up: str | None = None
    """The extra-step service subscribed to: ``sms``, ``ars``, or None."""


@dataclass(frozen=True)
class PhoneApp:
    """The carrier app on a phone with push protection on: its password (kept only hashed)
    and its count of wrong ones."""

    phone: str
    password_hash: str = field(repr=False)
    enrolled_at: dt.datetime
    failures: int = 0
    """Wrong app passwords in a row."""
    locked_at: dt.datetime | None = None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


# -- sessions and transfers (pki.bank.sessions, pki.bank.transfers) ---------------------------


class SessionMethod(enum.Enum):
    """How a bank customer logged in (:mod:`pki.bank.sessions`)."""

    SIMPLE_AUTH = "simple-auth"
    """A signature over the bank's challenge with a registered simple-authentication key
    (the app's PIN or biometrics unlock it on the phone)."""
    PASSWORD = "password"
    """ID and password."""
    CERTIFICATE = "certificate"
    """A joint or financial certificate's signature over the bank's challenge."""


@dataclass(frozen=True)
class SimpleAuthKey:
    """A customer's simple-authentication key: an EC P-256 public key bound to a device."""

    id: str
    institution_id: int
    customer_id: str
    device: str
    public_key: bytes = field(repr=False)
    """DER SubjectPublicKeyInfo."""
    registered_at: dt.datetime
    removed_at: dt.datetime | None = None


@dataclass(frozen=True)
class LoginChallengeRecord:
    """A login challenge: the random text a customer signs to log in, answered once."""

    id: str
    institution_id: int
    customer_id: str
    nonce: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None


@dataclass(frozen=True)
class BankSession:
    """A customer's internet-banking session."""

    id: str
    institution_id: int
    customer_id: str
    method: SessionMethod
    key_id: str | None
    """The simple-authentication key of a :attr:`SessionMethod.SIMPLE_AUTH` session."""
    started_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None


class TransferOutcome(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"


@dataclass(frozen=True)
class TransferRecord:
    """One transfer asked for and what became of it (accepted, or refused with its
    reason code)."""

    id: str
    institution_id: int
    customer_id: str
    from_account: str
    to_account: str
    amount: int
    medium: str | None
    """The kind of security medium answered (a :class:`pki.bank.media.MediumKind` value)."""
    device: str | None
    signature: str | None
    """``certificate`` or ``simple-auth``: what signed it, once the signature verified."""
    signature_digest: str | None
    """What makes the signature used once: set when the signature verified, and never on
    two transfers."""
    outcome: TransferOutcome
    reason: str | None
    """The refusal's stable code; None when accepted."""
    at: dt.datetime


@dataclass(frozen=True)
class TransferState:
    """What a transfer reads under its write lock before it decides, in one read
    (:meth:`pki.store.protocols.TransferLookups.transfer_state`)."""

    signature_used: bool
    """Whether a transfer was recorded with the signature's digest already."""
    limit_used: int
    """KRW charged against the customer's limits on the KST day."""
    devices: DesignatedDevices
    balance: int | None
    """The balance of the account to debit; None if the institution has no such account."""
    payee_balance: int | None
    """The balance of the account to credit; None if it is not at the institution."""
    challenge: tuple[CardChallenge, SecurityCardRecord] | None = None
    """The security-card challenge asked for, with its card (None: none asked, or no
    such challenge)."""


# -- registration-authority flows, private certificates as media, simple authentication -------


class RaSessionState(enum.Enum):
    """Where a registration authority's step session is (:mod:`pki.ra.sessions`)."""

    OPEN = "open"
    FINISHED = "finished"
    FAILED = "failed"
    """Ended by a refusal that ends the flow (a locked medium, ...); no step is taken
    after it."""


@dataclass(frozen=True)
class RaSessionRecord:
    """One run of an issuance flow: the steps done so far, in order, and what they
    established (``data``: JSON-able facts such as the customer's id or the phone
    verification used, never a secret)."""

    id: str
    institution_id: int
    flow: str
    customer_id: str | None
    steps_done: tuple[str, ...]
    data: Mapping[str, Any]
    state: RaSessionState
    created_at: dt.datetime
    expires_at: dt.datetime
    """The next step must come before this (re-armed by every step done)."""
    finished_at: dt.datetime | None = None


@dataclass(frozen=True)
class RaStepRecord:
    """One step asked for in a session, done or refused with its reason code."""

    session_id: str
    step: str
    accepted: bool
    reason: str | None
    at: dt.datetime


@dataclass(frozen=True)
class PrivateMediumRecord:
    """A bank customer's private certificate, registered at its bank, where it counts as
    a security medium (one per customer)."""

    customer_id: str
    institution_id: int
    ca: str
    serial: int
    device: str
    registered_at: dt.datetime


class SimpleAuthState(enum.Enum):
    """A simple-authentication request's state as stored; ``expired`` is read from the
    clock (a pending request past its expiry), not written."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    COLLECTED = "collected"
    """Approved, and its result handed to the relying party (once)."""


@dataclass(frozen=True)
class SimpleAuthUser:
    """A person's app at a simple-authentication provider: who (``person``: a keyed hash
    of the RRN, never the RRN), and the private certificate on the app's device."""

    provider: int
    person: str
    name: str
    phone: str
    birth_date: dt.date
    ca: str
    serial: int
    device: str
    registered_at: dt.datetime


@dataclass(frozen=True)
class SimpleAuthRequestRecord:
    """A relying party's request pushed to a person's app."""

    id: str
    provider: int
    institution_id: int
    """The relying party."""
    person: str | None
    """The person it matched; None when it matched nobody (it then stays pending until
    it expires, so a relying party cannot tell who has the app)."""
    nonce: str
    state: SimpleAuthState
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None = None
    result: bytes | None = None
    """The signed result (CMS, DER) once approved."""
    ci: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    """What else the flow keeps (the text shown in the app, ...); never a secret."""
