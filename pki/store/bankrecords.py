"""The store's records of the bank (:mod:`pki.bank`): customers, accounts, cards, OTP,
phone verification, sessions and transfers; split from :mod:`pki.store.records` so that a
command reading certificates does not build them (issue 18's start-up).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from .cloudrecords import Via

__all__ = [
    "Account",
    "BankCustomer",
    "BankSession",
    "CardChallenge",
    "Carrier",
    "DesignatedDevices",
    "LineState",
    "LineType",
    "LoginChallengeRecord",
    "OtpKind",
    "OtpRegistration",
    "OtpToken",
    "PhoneApp",
    "PhoneVerificationRecord",
    "SecurityCardRecord",
    "SessionMethod",
    "SimpleAuthKey",
    "SubscriberLine",
    "TransferOutcome",
    "TransferRecord",
    "TransferState",
    "VerificationMethod",
]


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
