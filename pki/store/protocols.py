"""What every store backend does, as protocols.

Reads are methods of :class:`Store`; every write happens inside the one unit of work,
:meth:`Store.transaction`, whose object (:class:`StoreTransaction`) carries all writes:
certificates, revocation, CRLs, OCSP signers, deliveries, the audit log and the cloud. So a
cloud issuance records the certificate, its sealed key, its registrations and their audit
rows in one commit, or nothing. A transaction takes the store's write lock when it starts;
its reads see the state under that lock (read, decide, write, with no other writer in
between).

``tests/test_store_contract.py`` states what a backend must do; a new backend is tested by
adding it to that suite's backend parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from cryptography import x509

from .records import (
    Account,
    AuditAction,
    AuditEvent,
    BankCustomer,
    BankSession,
    CardChallenge,
    CARecord,
    Carrier,
    CertificateRecord,
    CertStatus,
    CloudUser,
    CRLEntry,
    CRLInfo,
    DeliveryRecord,
    DesignatedDevices,
    HistoryEntry,
    Institution,
    LineType,
    LoginChallengeRecord,
    Message,
    OCSPSignerRecord,
    OtpRegistration,
    OtpToken,
    PendingCode,
    PhoneApp,
    PhoneVerificationRecord,
    PrivateMediumRecord,
    PublishedCRL,
    RaSessionRecord,
    RaStepRecord,
    Sealed,
    SecurityCardRecord,
    SimpleAuthKey,
    SimpleAuthRequestRecord,
    SimpleAuthUser,
    SubscriberLine,
    TransferRecord,
    TransferState,
    VaultRecord,
    Via,
)
from .sdkrecords import SdkInstitution, SdkPad, SdkSession

__all__ = [
    "BankLookups",
    "BankReads",
    "BankWrites",
    "CertificateReads",
    "CertificateWrites",
    "CloudLookups",
    "CloudReads",
    "CloudWrites",
    "DeviceLookups",
    "DeviceReads",
    "DeviceWrites",
    "OtpLookups",
    "OtpReads",
    "OtpWrites",
    "PhoneLookups",
    "PhoneReads",
    "PhoneWrites",
    "RaLookups",
    "RaReads",
    "RaWrites",
    "RegistrationLookups",
    "RegistrationReads",
    "RegistrationWrites",
    "SdkLookups",
    "SdkReads",
    "SdkWrites",
    "Store",
    "StoreTransaction",
    "TransferLookups",
    "TransferReads",
    "TransferWrites",
]


# -- CAs, certificates, revocation, CRLs, OCSP signers, deliveries, audit ---------------------


class CertificateWrites(Protocol):
    """Writes of the CA side, inside a transaction."""

    def reserve_cn_sequence(self, ca: str, count: int = 1) -> int:
        """Reserve ``count`` consecutive numbers of the CA's subscriber CN sequence and
        return the first (the sequence starts at 1)."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...

    def put_ca(self, record: CARecord) -> None:
        """Record a CA; :class:`pki.errors.StoreError` if the label is taken."""
        ...

    def set_crl_shards(self, ca: str, shards: int) -> None:
        """Change how many CRL shards the CA's new certificates are spread over
        (:mod:`pki.revocation.shards` checks the number)."""
        ...

    def event_time(self, ca: str, at: dt.datetime) -> dt.datetime:
        """The time to record for an event of ``ca`` happening at ``at`` by the clock: never
        earlier than the CA's previous event, however the clock moved. Every write below
        that records a time of a CA goes through this rule (unless the store was opened for
        a clock that travels on purpose, as a test PKI's does)."""
        ...

    def put_certificate(self, record: CertificateRecord) -> None:
        """Record a certificate (with every field of ``record``) and its
        ``certificate.issued`` audit row (``issued_at`` as :meth:`event_time` gives it);
        :class:`pki.errors.SerialInUseError` if the CA has used the serial before (the
        transaction stays usable)."""
        ...

    def put_certificates(self, records: Sequence[CertificateRecord]
                         ) -> list[CertificateRecord]:
        """Record several certificates as :meth:`put_certificate` does each, in a few
        statements whatever their number (bulk issuance: a round trip per certificate is
        most of its cost on a database server); return the records refused because their
        CA has used the serial before, in order, having recorded all the others (the
        transaction stays usable). Two records of one CA with one serial are a
        ``ValueError`` (nothing recorded)."""
        ...

    def audit(self, action: AuditAction, *, at: dt.datetime, ca: str | None = None,
              serial: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
        """Append an audit row; a row about a CA is dated as :meth:`event_time` says. The
        log is append-only: the backend refuses to change or remove a row."""
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

    def put_published_crl(self, ca: str, number: int, delta: bool, der: bytes, *,
                          shard: int | None = None) -> bool:
        """Keep the bytes of CRL ``number`` as the published full (or ``delta``) CRL of
        ``ca`` (of its CRL ``shard``, which has no delta CRLs, when given); False, and
        nothing changed, when the published one has that number or a higher one (a slower
        publisher never goes back)."""
        ...

    def put_ocsp_signer(self, record: OCSPSignerRecord) -> None:
        """Record a delegated OCSP signing certificate of a CA."""
        ...

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


class CertificateReads(Protocol):
    """Reads of the CA side."""

    def get_meta(self, key: str) -> str | None: ...

    def get_ca(self, label: str) -> CARecord:
        """The CA labelled ``label``; :class:`pki.errors.UnknownCAError` if none."""
        ...

    def list_cas(self) -> Sequence[CARecord]: ...

    def find_certificates(self, serial: int, *, ca: str | None = None
                          ) -> Sequence[CertificateRecord]: ...

    def list_certificates(self, *, ca: str | None = None, status: CertStatus | None = None,
                          profile: str | None = None, holder: str | None = None
                          ) -> Sequence[CertificateRecord]: ...

    def certificate_pages(self, *, ca: str | None = None,
                          after: tuple[str, int] | None = None,
                          status: CertStatus | None = None, profile: str | None = None,
                          holder: str | None = None, page_size: int = 500
                          ) -> Iterator[list[CertificateRecord]]:
        """The certificates as :meth:`list_certificates` filters them, CA by CA (in the
        order they were made) and by serial, numerically, within a CA; read ``page_size``
        at a time (keyset paging: memory and the cost of a page do not grow with the
        store), starting after position ``after`` = (CA label, serial) when given.
        :class:`pki.errors.UnknownCAError` for an unknown CA."""
        ...

    def replaced_by(self, ca: str, serials: Sequence[int]) -> Mapping[int, Sequence[int]]:
        """Of ``serials`` (certificates of ``ca``), those renewed or reissued: the serials
        that replaced each, oldest first (:meth:`replacements` for one page)."""
        ...

    def audit_log(self, *, ca: str | None = None, serial: int | None = None
                  ) -> Sequence[AuditEvent]: ...

    def change_seq(self, ca: str) -> int:
        """The CA's change counter: it moves whenever a certificate's status changes."""
        ...

    def last_crl(self, ca: str, *, delta: bool = False, shard: int | None = None
                 ) -> CRLInfo | None:
        """The CA's latest full (or delta) CRL recorded: its unsharded CRL's, or CRL
        ``shard``'s."""
        ...

    def published_crl(self, ca: str, delta: bool = False, *, shard: int | None = None
                      ) -> PublishedCRL | None:
        """The bytes of the CA's latest published full (or delta) CRL, unsharded or of CRL
        ``shard``; None before one."""
        ...

    def crl_entries(self, ca: str, *, at: dt.datetime, shard: int | None = None
                    ) -> Iterator[CRLEntry]:
        """Revoked and suspended certificates not yet expired at ``at``, streamed: those on
        the unsharded CRL (no ``crl_shard``), or those of CRL ``shard``."""
        ...

    def crl_entries_der(self, ca: str, *, at: dt.datetime, shard: int | None = None
                        ) -> Iterator[bytes]:
        """The entries of :meth:`crl_entries`, in the same order, each as the DER of its
        revokedCertificates line (:func:`pki.formats.crlder.stored_entries_der`): what a
        full CRL is made of, without a :class:`CRLEntry` per line."""
        ...

    def changed_since(self, ca: str, change_seq: int, *, at: dt.datetime
                      ) -> Iterator[tuple[CertStatus, CRLEntry]]:
        """Certificates on the unsharded CRL whose status changed after ``change_seq`` (for
        delta CRLs, which shards do not have); a certificate valid again carries the time
        of its change as ``revoked_at``."""
        ...

    def status_of(self, ca: str, serial: int
                  ) -> tuple[CertStatus, dt.datetime | None, x509.ReasonFlags | None] | None:
        """Status, time on the CRL and reason of one certificate (what OCSP needs), or None
        if the CA never issued that serial."""
        ...

    def renewals_of(self, ca: str, serial: int) -> Sequence[int]:
        """Serials of the certificates that renewed or reissued ``serial``."""
        ...

    def replacements(self, *, ca: str | None = None) -> Mapping[tuple[str, int], Sequence[int]]:
        """Every certificate that was renewed or reissued (of ``ca``, else of every CA), by
        (CA label, serial): the serials that replaced it, oldest first. One read for a
        whole listing, where :meth:`renewals_of` answers for one certificate."""
        ...

    def suspended_before(self, ca: str, cutoff: dt.datetime) -> Sequence[int]:
        """Serials suspended since before ``cutoff``."""
        ...

    def ocsp_signer(self, ca: str) -> OCSPSignerRecord | None:
        """The CA's latest OCSP signing certificate, or None."""
        ...

    def pending_deliveries(self, *, ca: str | None = None) -> Sequence[DeliveryRecord]:
        """Deliveries recorded but not finished, oldest first."""
        ...


# -- registration: institutions, users, confirmation codes, messages --------------------------


class RegistrationLookups(Protocol):
    """Registration reads a transaction makes under its lock, as the store does outside."""

    def wrong_codes(self, phone: str, institution_id: int, since: dt.datetime) -> int:
        """Wrong confirmation codes to ``phone`` by ``institution_id``'s registrations made
        since ``since``, over all of them."""
        ...

    def cloud_user(self, user_id: str) -> CloudUser | None: ...


class RegistrationWrites(RegistrationLookups, Protocol):
    def add_institution(self, name: str, api_key_hash: str, *, at: dt.datetime,
                        code: str | None = None, settings: Mapping[str, Any] | None = None
                        ) -> Institution:
        """Record an institution (a bank with its 3-digit ``code`` and its ``settings``);
        :class:`pki.errors.StoreError` if the name or the code is taken."""
        ...

    def add_user(self, user: CloudUser) -> None: ...

    def put_code(self, user_id: str, code_hash: str, *, expires_at: dt.datetime) -> None:
        """The user's confirmation code (replacing one pending), no wrong guesses yet."""
        ...

    def pending_code(self, user_id: str) -> PendingCode | None: ...

    def count_wrong_code(self, user_id: str) -> None:
        """One more wrong guess of the user's pending code."""
        ...

    def confirm_user(self, user_id: str, *, at: dt.datetime) -> None:
        """Mark the user confirmed and drop the pending code."""
        ...

    def record_message(self, message: Message) -> None:
        """Keep a message sent to a phone (the built-in channel)."""
        ...


class RegistrationReads(RegistrationLookups, Protocol):
    def institution_by_key_hash(self, api_key_hash: str) -> Institution | None: ...

    def institutions(self) -> Sequence[Institution]: ...

    def cloud_users(self, *, institution_id: int | None = None,
                    phone: str | None = None) -> Sequence[CloudUser]:
        """Users, oldest first, registered by ``institution_id`` and/or to ``phone``."""
        ...

    def messages(self, phone: str, institution_id: int) -> Sequence[Message]:
        """Messages to ``phone`` that ``institution_id`` caused, oldest first."""
        ...


# -- the cloud: sealed keys, PIN checks, registrations, devices, history --------------------


class CloudLookups(Protocol):
    """Cloud reads a transaction makes under its lock, as the store does outside."""

    def vault_record(self, ca: str, serial: int) -> VaultRecord | None: ...

    def recovery_copy(self, ca: str, serial: int) -> Sealed | None:
        """The key's recovery copy (sealed under the vault secret alone), if it has one."""
        ...

    def registrations(self, ca: str, serial: int) -> Sequence[int]:
        """The institutions (ids) where the certificate is registered, oldest first."""
        ...

    def devices(self, user_id: str) -> Sequence[str]:
        """The user's designated devices, oldest first."""
        ...


class CloudWrites(CloudLookups, Protocol):
    def put_vault_record(self, record: VaultRecord) -> None:
        """Keep a sealed key (of a certificate recorded in this or an earlier
        transaction)."""
        ...

    def reseal(self, ca: str, serial: int, sealed: Sealed) -> None:
        """Replace a key's sealed record (a new PIN)."""
        ...

    def put_recovery_copy(self, ca: str, serial: int, sealed: Sealed, *,
                          at: dt.datetime) -> None:
        """Keep a recovery copy of a key kept in this or an earlier transaction."""
        ...

    def register_certificate(self, ca: str, serial: int, institution_id: int, *,
                             at: dt.datetime) -> bool:
        """Register the certificate at the institution; False if it was already."""
        ...

    def pin_checks_in_flight(self, ca: str, serial: int) -> int: ...

    def reserve_pin_check(self, ca: str, serial: int, *, boot: str, at: dt.datetime) -> int:
        """Note a PIN check in flight by process ``boot``; returns its reservation."""
        ...

    def end_pin_check(self, reservation: int) -> None: ...

    def forget_pin_checks(self, boot: str) -> int:
        """Drop the PIN checks in flight of a process that is gone; returns how many."""
        ...

    def set_pin_failures(self, ca: str, serial: int, failures: int, *,
                         locked_at: dt.datetime | None) -> None: ...

    def note_renewal(self, ca: str, serial: int, *, at: dt.datetime) -> bool:
        """Record the renewal notice unless one is; False if it was."""
        ...

    def adopt_secret_check(self, check: str) -> int:
        """Give sealed keys without a check value this one; returns how many."""
        ...

    def set_designated_only(self, user_id: str, on: bool) -> None: ...

    def add_device(self, user_id: str, device: str, *, at: dt.datetime) -> None: ...

    def remove_device(self, user_id: str, device: str) -> bool: ...

    def add_history(self, user_id: str, entry: HistoryEntry) -> None: ...


class CloudReads(CloudLookups, Protocol):
    def vault_records_of(self, user_id: str) -> Sequence[VaultRecord]: ...

    def is_registered(self, ca: str, serial: int, institution_id: int) -> bool: ...

    def related(self, user_id: str, institution_id: int) -> bool:
        """Whether the user registered with the institution: it registered the user, or
        one of the user's certificates is registered there."""
        ...

    def secret_checks(self) -> Mapping[str | None, int]:
        """Check value of the vault secret -> how many sealed keys carry it."""
        ...

    def pin_check_boots(self, *, ca: str | None = None, serial: int | None = None
                        ) -> Sequence[str]:
        """The processes (boots) with PIN checks in flight (of one key, or any)."""
        ...

    def history(self, user_id: str, limit: int = 20) -> Sequence[HistoryEntry]:
        """The user's latest events, newest first."""
        ...


# -- the bank: customers, accounts, security cards, limits -----------------------------------


class BankLookups(Protocol):
    """Bank reads a transaction makes under its lock, as the store does outside."""

    def institution(self, institution_id: int) -> Institution | None: ...

    def institution_by_code(self, code: str) -> Institution | None: ...

    def bank_customer(self, customer_id: str) -> BankCustomer | None: ...

    def bank_customer_and_holder(self, customer_id: str, institution_id: int, number: str
                                 ) -> tuple[BankCustomer, str | None] | None:
        """The customer, with the id of the customer who holds account ``number`` at
        ``institution_id`` (None: no such account), in one read; None if no such
        customer."""
        ...

    def bank_customer_by_rrn(self, institution_id: int, rrn: str) -> BankCustomer | None: ...

    def account(self, institution_id: int, number: str) -> Account | None: ...

    def security_card(self, card_id: str) -> SecurityCardRecord | None: ...

    def active_security_card(self, customer_id: str) -> SecurityCardRecord | None:
        """The customer's card that is not retired (a customer has at most one)."""
        ...

    def card_challenge(self, challenge_id: str) -> CardChallenge | None: ...

    def card_challenge_and_card(self, challenge_id: str
                                ) -> tuple[CardChallenge, SecurityCardRecord] | None:
        """The challenge and the card it is to, in one read; None if there is none."""
        ...

    def accounts_numbered(self, institution_id: int, numbers: Sequence[str]
                          ) -> dict[str, Account]:
        """The institution's accounts among ``numbers``, by number, in one read."""
        ...

    def limit_used(self, customer_id: str, day: dt.date) -> int:
        """KRW charged against the customer's limits on ``day`` (a KST date)."""
        ...


class BankWrites(BankLookups, Protocol):
    def set_institution_settings(self, institution_id: int, settings: Mapping[str, Any]
                                 ) -> None: ...

    def add_bank_customer(self, customer: BankCustomer) -> None:
        """Record a customer; :class:`pki.errors.StoreError` if the institution has one
        with the same RRN."""
        ...

    def set_customer_line(self, customer_id: str, *, phone: str, carrier: Carrier,
                          mvno: str | None, line_type: LineType) -> None: ...

    def set_enrolment(self, customer_id: str, *, signed_up_at: dt.datetime | None,
                      activated_at: dt.datetime | None) -> None: ...

    def add_account(self, account: Account) -> None:
        """Record an account; :class:`pki.errors.StoreError` if the number is taken at
        its institution."""
        ...

    def set_account_failures(self, institution_id: int, number: str, failures: int, *,
                             locked_at: dt.datetime | None) -> None: ...

    def set_account_password(self, institution_id: int, number: str, password_hash: str
                             ) -> None: ...

    def set_balance(self, institution_id: int, number: str, balance: int) -> None: ...

    def set_balances(self, institution_id: int, balances: Mapping[str, int]) -> None:
        """:meth:`set_balance` of each account number in ``balances``."""
        ...

    def add_security_card(self, record: SecurityCardRecord) -> None: ...

    def retire_security_card(self, card_id: str, *, at: dt.datetime) -> bool:
        """Retire a card (replaced or lost); False if it was retired already."""
        ...

    def set_card_failures(self, card_id: str, failures: int, *,
                          locked_at: dt.datetime | None) -> None: ...

    def add_card_challenge(self, challenge: CardChallenge) -> None: ...

    def answer_card_challenge(self, challenge_id: str, *, at: dt.datetime) -> bool:
        """Mark the challenge answered; False (and nothing changed) if it was already."""
        ...

    def add_limit_use(self, customer_id: str, day: dt.date, amount: int) -> None:
        """Charge ``amount`` KRW against the customer's limits on ``day`` (KST): the
        day's total grows by it (the charge itself is told by the caller's audit row)."""
        ...


class BankReads(BankLookups, Protocol):
    def bank_customers(self, institution_id: int) -> Sequence[BankCustomer]:
        """The institution's customers, oldest first."""
        ...

    def accounts_of(self, customer_id: str) -> Sequence[Account]: ...

    def security_cards_of(self, customer_id: str) -> Sequence[SecurityCardRecord]:
        """The customer's cards, oldest first (retired ones too)."""
        ...


# -- the OTP centre: tokens and where they are registered ----------------------------------


class OtpLookups(Protocol):
    """OTP reads a transaction makes under its lock, as the store does outside."""

    def otp_token(self, serial: str) -> OtpToken | None: ...

    def otp_token_of(self, serial: str, *, institution_id: int, customer_id: str
                     ) -> tuple[OtpToken, bool] | None:
        """The token, and whether it is registered at ``institution_id`` for
        ``customer_id``, in one read; None if there is no such token."""
        ...

    def otp_registrations(self, serial: str) -> Sequence[OtpRegistration]:
        """Where the token is registered, oldest first."""
        ...

    def otp_tokens(self, *, person: str | None = None, institution_id: int | None = None,
                   customer_id: str | None = None) -> Sequence[OtpToken]:
        """Tokens of ``person`` and/or registered at ``institution_id`` (for
        ``customer_id``), oldest first."""
        ...


class OtpWrites(OtpLookups, Protocol):
    def put_otp_token(self, token: OtpToken) -> None:
        """Record a token; :class:`pki.errors.StoreError` if the serial is taken."""
        ...

    def update_otp_token(self, token: OtpToken) -> None:
        """Write a token's state (everything but its serial, kind, holder, issuer, seed and
        issue time)."""
        ...

    def use_otp_step(self, serial: str, *, step: int, drift: int,
                     activated_at: dt.datetime | None) -> None:
        """A code of ``step`` accepted: the token's last step and drift set, its count of
        wrong codes cleared, its activation time set (the rest of its state as it was)."""
        ...

    def register_otp(self, registration: OtpRegistration) -> bool:
        """Register a token at an institution; False if it was already."""
        ...

    def unregister_otp(self, serial: str, institution_id: int) -> bool:
        """End a token's registration at an institution; False if there was none."""
        ...


class OtpReads(OtpLookups, Protocol):
    """OTP reads of the store (the lookups)."""


# -- phone verification: the carriers' lines, verifications, the carrier app --------------


class PhoneLookups(Protocol):
    """Phone-verification reads a transaction makes under its lock, as the store does
    outside."""

    def subscriber_line(self, phone: str) -> SubscriberLine | None: ...

    def phone_verification(self, verification_id: str) -> PhoneVerificationRecord | None: ...

    def phone_sends(self, phone: str, since: dt.datetime) -> int:
        """Codes sent to ``phone`` since ``since``, by every site."""
        ...

    def phone_app(self, phone: str) -> PhoneApp | None: ...

    def phone_mismatches(self, phone: str, since: dt.datetime) -> int:
        """Requests for ``phone`` since ``since``, by every site, that did not match its
        line (or named it without a line)."""
        ...


class PhoneWrites(PhoneLookups, Protocol):
    def add_subscriber_line(self, line: SubscriberLine) -> None:
        """Record a line; :class:`pki.errors.StoreError` if the phone has one."""
        ...

    def update_subscriber_line(self, line: SubscriberLine) -> None:
        """Replace what is kept of the line of ``line.phone``."""
        ...

    def add_phone_verification(self, record: PhoneVerificationRecord) -> None:
        """Record a verification with its first code (and that code's send)."""
        ...

    def resend_phone_code(self, verification_id: str, code_hash: str, *,
                          expires_at: dt.datetime, at: dt.datetime) -> None:
        """A new code for the verification: no wrong tries yet, one more send (counted for
        its phone at ``at``)."""
        ...

    def count_phone_mismatch(self, phone: str, institution_id: int, *, at: dt.datetime
                             ) -> None:
        """Record a request for ``phone`` by ``institution_id``, at ``at``, that did not
        match its line."""
        ...

    def count_phone_try(self, verification_id: str) -> None:
        """One more wrong try of the verification's current code."""
        ...

    def verify_phone(self, verification_id: str, *, at: dt.datetime, ci: str,
                     di: str) -> None: ...

    def put_phone_app(self, app: PhoneApp) -> None:
        """Keep the phone's carrier app (replacing one)."""
        ...

    def set_phone_app_failures(self, phone: str, failures: int, *,
                               locked_at: dt.datetime | None) -> None: ...

    def remove_phone_app(self, phone: str) -> bool:
        """Forget the phone's carrier app; False if there was none."""
        ...


class PhoneReads(PhoneLookups, Protocol):
    def phone_verifications(self, phone: str, *, via: Via | None = None,
                            since: dt.datetime | None = None, limit: int = 20
                            ) -> Sequence[PhoneVerificationRecord]:
        """The phone's verifications (whose code went ``via``; created at ``since`` or
        later), newest first, at most ``limit``."""
        ...


# -- sessions and transfers: simple-auth keys, login challenges, sessions, transfers -------


class TransferLookups(Protocol):
    """Session and transfer reads a transaction makes under its lock, as the store does
    outside."""

    def simple_auth_key(self, key_id: str) -> SimpleAuthKey | None: ...

    def login_challenge(self, challenge_id: str) -> LoginChallengeRecord | None: ...

    def bank_session(self, session_id: str) -> BankSession | None: ...

    def transfer_signature_used(self, digest: str) -> bool:
        """Whether a transfer was recorded with this signature digest."""
        ...

    def transfer_state(self, customer_id: str, *, digest: str, day: dt.date,
                       institution_id: int, from_account: str, to_account: str,
                       challenge_id: str | None = None) -> TransferState | None:
        """In one read: whether the signature ``digest`` is on a transfer, the KRW
        charged on the customer's limits on ``day`` (a KST date), their designated
        devices, the balances of accounts ``from_account`` and ``to_account`` at
        ``institution_id``, and the card challenge ``challenge_id`` with its card (as
        :meth:`BankLookups.card_challenge_and_card`); None if there is no such
        customer."""
        ...


class TransferWrites(TransferLookups, Protocol):
    def add_simple_auth_key(self, key: SimpleAuthKey) -> None: ...

    def remove_simple_auth_key(self, key_id: str, *, at: dt.datetime) -> bool:
        """Mark the key removed (its sessions end too); False if it was already."""
        ...

    def add_login_challenge(self, challenge: LoginChallengeRecord) -> None: ...

    def use_login_challenge(self, challenge_id: str, *, at: dt.datetime) -> bool:
        """Mark the challenge used; False (and nothing changed) if it was already."""
        ...

    def add_bank_session(self, session: BankSession) -> None: ...

    def end_bank_session(self, session_id: str, *, at: dt.datetime) -> bool:
        """End a live session; False if it had ended."""
        ...

    def add_transfer(self, record: TransferRecord) -> None:
        """Record a transfer's outcome; :class:`pki.errors.StoreError` if its signature
        digest is on another transfer already."""
        ...


class TransferReads(TransferLookups, Protocol):
    def simple_auth_keys_of(self, customer_id: str) -> Sequence[SimpleAuthKey]:
        """The customer's keys, oldest first (removed ones too)."""
        ...

    def transfer(self, transfer_id: str) -> TransferRecord | None: ...

    def transfers_of(self, customer_id: str) -> Sequence[TransferRecord]:
        """The customer's transfers, accepted and refused, oldest first."""
        ...


# -- designated devices of the bank's customers, and the extra steps used --------------------


class DeviceLookups(Protocol):
    """Device reads a transaction makes under its lock, as the store does outside."""

    def bank_devices(self, customer_id: str) -> DesignatedDevices:
        """The customer's designated devices and choices (none: the defaults)."""
        ...

    def step_up_used_at(self, verification_id: str) -> dt.datetime | None:
        """When the phone verification allowed an operation as its extra step, if it did."""
        ...


class DeviceWrites(DeviceLookups, Protocol):
    def add_bank_device(self, customer_id: str, device: str, *, at: dt.datetime) -> bool:
        """Designate a device; False if it was already."""
        ...

    def remove_bank_device(self, customer_id: str, device: str) -> bool:
        """Remove a designated device; False if it was not one."""
        ...

    def set_bank_device_options(self, customer_id: str, *, designated_only: bool,
                                step_up: str | None) -> None: ...

    def use_step_up(self, verification_id: str, *, customer_id: str, institution_id: int,
                    operation: str, at: dt.datetime) -> bool:
        """Mark the verification used as an extra step; False (nothing changed) if it was
        already."""
        ...


class DeviceReads(DeviceLookups, Protocol):
    """Device reads of the store (the lookups)."""


# -- issuance flows, private certificates as media, simple authentication ---------------------


class RaLookups(Protocol):
    """Reads of the flows a transaction makes under its lock, as the store does outside."""

    def ra_session(self, session_id: str) -> RaSessionRecord | None: ...

    def ra_steps(self, session_id: str) -> Sequence[RaStepRecord]:
        """Every step asked for in the session, done or refused, in order."""
        ...

    def ra_sessions_of(self, customer_id: str) -> Sequence[RaSessionRecord]:
        """The sessions identified as the customer's, oldest first."""
        ...

    def private_medium(self, customer_id: str) -> PrivateMediumRecord | None:
        """The customer's private certificate registered as a medium, if any."""
        ...

    def private_medium_of(self, ca: str, serial: int) -> PrivateMediumRecord | None: ...

    def simpleauth_user(self, provider: int, person: str) -> SimpleAuthUser | None: ...

    def simpleauth_users_with_phone(self, provider: int, phone: str
                                    ) -> Sequence[SimpleAuthUser]:
        """The apps at ``provider`` registered with ``phone`` (a request by birth date
        finds its person among them)."""
        ...

    def simpleauth_request(self, request_id: str) -> SimpleAuthRequestRecord | None: ...

    def simpleauth_pending(self, provider: int, person: str
                           ) -> Sequence[SimpleAuthRequestRecord]:
        """The person's requests at the provider stored as pending (expired ones too),
        oldest first."""
        ...


class RaWrites(RaLookups, Protocol):
    def add_ra_session(self, record: RaSessionRecord) -> None: ...

    def update_ra_session(self, record: RaSessionRecord) -> None:
        """Store the session's customer, steps, data, state, expiry and end as given."""
        ...

    def add_ra_step(self, record: RaStepRecord) -> None: ...

    def put_private_medium(self, record: PrivateMediumRecord) -> None:
        """Register (or replace) the customer's private certificate as a medium."""
        ...

    def remove_private_medium(self, customer_id: str) -> bool: ...

    def put_simpleauth_user(self, user: SimpleAuthUser) -> None:
        """Register (or replace: one app per person at a provider) a person's app."""
        ...

    def remove_simpleauth_user(self, provider: int, person: str) -> bool: ...

    def add_simpleauth_request(self, record: SimpleAuthRequestRecord) -> None: ...

    def update_simpleauth_request(self, record: SimpleAuthRequestRecord) -> None:
        """Store the request's state, answer time, result, CI and data as given."""
        ...


class RaReads(RaLookups, Protocol):
    """Reads of the flows (the lookups)."""


# -- the browser SDK: organisation codes, origins, iframe sessions, PIN pads ------------------


class SdkLookups(Protocol):
    """SDK reads a transaction makes under its lock, as the store does outside."""

    def sdk_institution(self, institution_id: int) -> SdkInstitution | None: ...

    def sdk_institution_by_org_code(self, org_code: str) -> SdkInstitution | None: ...

    def sdk_session(self, session_id: str) -> SdkSession | None: ...

    def sdk_pad(self, pad_id: str) -> SdkPad | None: ...


class SdkWrites(SdkLookups, Protocol):
    def add_sdk_institution(self, institution_id: int, org_code: str, key_hash: str, *,
                            at: dt.datetime) -> None:
        """Give an institution its organisation code and SDK key (hashed);
        :class:`pki.errors.StoreError` if either is another's or it has them already."""
        ...

    def add_sdk_origin(self, institution_id: int, origin: str, *, at: dt.datetime) -> bool:
        """Allow a page origin; False if it was already."""
        ...

    def remove_sdk_origin(self, institution_id: int, origin: str) -> bool: ...

    def add_sdk_session(self, record: SdkSession) -> None: ...

    def set_sdk_pending_user(self, session_id: str, user_id: str) -> None:
        """The registration a session's connection flow started (waiting for its code)."""
        ...

    def connect_sdk_session(self, session_id: str, user_id: str) -> bool:
        """Make ``user_id``, the session's pending registration, its connected user; False
        if it was not pending (another call connected it)."""
        ...

    def end_sdk_session(self, session_id: str, *, at: dt.datetime) -> bool:
        """End a session; False if it had ended."""
        ...

    def add_sdk_pad(self, record: SdkPad) -> None: ...

    def use_sdk_pad(self, pad_id: str, *, at: dt.datetime) -> bool:
        """Mark the pad answered; False (nothing changed) if it was already."""
        ...

    def purge_sdk(self, *, now: dt.datetime, limit: int) -> int:
        """Delete up to ``limit`` pads expired at ``now`` (answered or not), then up to
        ``limit`` sessions expired or ended that have no pad left; how many rows went."""
        ...


class SdkReads(SdkLookups, Protocol):
    def sdk_person_certificates(self, institution_id: int, *, name: str, phone: str,
                                birth_date: dt.date) -> Sequence[tuple[str, int]]:
        """(CA, serial) of the cloud keys of every user with this name, phone and birth
        date that are registered at the institution, oldest registration first."""
        ...


# -- the whole ---------------------------------------------------------------------------------


class StoreTransaction(CertificateWrites, RegistrationWrites, CloudWrites, BankWrites,
                       OtpWrites, PhoneWrites, TransferWrites, DeviceWrites, RaWrites,
                       SdkWrites, Protocol):
    """Writes that commit together or not at all (with the reads they need)."""


class Store(CertificateReads, RegistrationReads, CloudReads, BankReads, OtpReads,
            PhoneReads, TransferReads, DeviceReads, RaReads, SdkReads, Protocol):
    """Reads, and the one way to write: :meth:`transaction`."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """``with store.transaction() as tx:``: commits when the block ends, rolls back
        everything when it raises. Transactions on one store object do not nest."""
        ...

    def close(self) -> None: ...
