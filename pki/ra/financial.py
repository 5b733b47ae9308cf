"""Financial certificates as a bank issues them (the Korea Post pages, issue 15 item 2).

Every flow runs on :mod:`pki.ra.sessions` and proves the person with the same five steps,
in this order, each within the institution's ``ra_step_seconds`` of the one before:

1. ``account``: an account number and its 4-digit password (:meth:`Customers.check_password`:
   counted, locks). The account names the customer, whose internet banking must be active
   at this bank. An unknown number, another bank's and (in a session started for a
   customer) another customer's are answered alike, ``not_found``, before any password is
   compared (:func:`pki.ra.proofs.proven_account`, the check of every issuance flow).
2. ``phone``: a phone verification by SMS (or push) or ARS that this bank asked for
   (:mod:`pki.bank.phone`), confirmed, for the customer's name, birth digits and phone,
   confirmed within the step expiry, used once: the used-marker (the bank's step-up
   marker, so one verification proves one thing) commits with the step. Checked under
   the lock by :func:`pki.ra.proofs.proven_phone`, the check of every issuance flow
   (``phone_not_found``, ``phone_used``, ``phone_not_confirmed``, ``phone_wrong_method``,
   ``phone_other_person``, ``phone_expired``).
3. ``medium``: the customer's security card (a challenge from :meth:`FinancialFlows.card_challenge`)
   or OTP token answers; wrong answers are counted by the medium, and a locked medium
   ends the session.
4. ``cloud``: the cloud connection: name, phone and birth date, which must be the
   customer's (``cloud_identity_mismatch``), registered with the cloud's registrar, which
   sends a 2-digit code to the phone.
5. ``confirm``: that code (wrong codes are counted as the registrar counts them; five end
   the session).

Then the flow's last step, in ONE transaction with the session's finish:

* ``financial-issue``, step ``issue``: the 6-digit PIN twice (``pin_mismatch``; then the
  cloud's PIN rules) and the certificate issued into the cloud's vault
  (:meth:`pki.cloud.service.Cloud.issue` joined by :class:`FinishingDelivery`); optionally
  restricted to a designated device (the cloud's device rules).
* ``financial-reissue`` (a forgotten PIN, the Korea Post way), step ``issue``: as above,
  and the certificate it replaces, the same person's and registered here, is revoked
  (``superseded``) in the same transaction.
* ``financial-pin-reset``, step ``pin``: only where the institution's ``pin_reset`` setting
  is on (``pin_reset_off`` otherwise, at the start and at this step). The new PIN twice
  (``pin_mismatch``; the cloud's PIN rules), for the person's certificate registered here
  (``certificate_not_found``; a revoked, suspended or expired one ``certificate_<state>``):
  the key is opened from its recovery copy, which the vault keeps for certificates issued
  where ``pin_reset`` is on (:mod:`pki.cloud.vault` says what that costs; one issued
  elsewhere has none: ``no_recovery_copy``, revoke and reissue), re-sealed under the new
  PIN, its failure count and lock cleared, the same certificate kept, audited
  ``ra.pin.reset``: :meth:`pki.cloud.service.Cloud.reset_pin`, in ONE transaction with the
  session's finish (of two resets at once, one wins, the other is ``step_repeated``).
* ``financial-register`` (타행 인증서 등록), step ``register``: a certificate issued at
  another institution, the same person's, registered here with its PIN
  (:meth:`pki.cloud.service.Cloud.register_certificate`), answered with its status as the
  KFTC message does (:class:`KftcStatus`).

**Device rules.** The last step is a covered operation of :mod:`pki.devices` from the
device the session was started on: a certificate (re)issue, or registering another
institution's certificate. A STEP_UP verdict is met by the session's own phone step when
its method is one the rule names; a REFUSED verdict (designated-only, an undesignated
device) is ``device_not_designated``.

Every refusal is recorded in the session's history with a stable code (the error's code,
or a finer one: ``code_exhausted``, ``account_not_found`` ...); a refusal that locks
something (``account_locked``, ``card_locked``, ``otp_locked``, ``code_exhausted``,
``code_limit``, ``pin_locked``) ends the session. Each step writes its own rows and its
step-done record in one transaction, so a crash between steps leaves the session waiting
for the step that did not commit; the steps that write through another service first
(a password, a medium's answer, a registration) are safe to repeat.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509

from .. import lifecycle
from ..authority import IssuedCertificate
from ..bank.cards import Challenge, SecurityCards, challenge_in
from ..bank.customers import Customers
from ..bank.devices import check_device, decide_in, step_up_proven
from ..bank.institutions import settings_of
from ..bank.otp import OtpCentre
from ..cloud.pin import check_pin
from ..cloud.service import Cloud
from ..delivery import Delivery
from ..devices import CoveredOperation, Verdict, check_room
from ..errors import (
    AccountLockedError,
    BankNotFoundError,
    BankRequestError,
    CardLockedError,
    CertificateUnusableError,
    CloudNotFoundError,
    CodeExhaustedError,
    CodeLimitError,
    FlowRefusedError,
    NoRecoveryCopyError,
    OtpLockedError,
    PinLockedError,
    PinPolicyError,
    PKIError,
    RequestRefusedError,
    StepUpRequiredError,
)
from ..registration import normalize_phone
from ..rrn import RRN
from ..store import (
    AuditAction,
    BankCustomer,
    HistoryEntry,
    Institution,
    RaSessionRecord,
    RevocationReason,
    Store,
    StoreTransaction,
)
from .proofs import proven_account, proven_phone, use_phone
from .sessions import FinishingDelivery, Flow, StepSessions

__all__ = [
    "FINANCIAL_FLOWS",
    "FinancialFlows",
    "FinancialIssued",
    "ForeignRegistration",
    "KftcStatus",
    "PinReset",
]

IDENTITY_STEPS = ("account", "phone", "medium", "cloud", "confirm")
ISSUE = Flow("financial-issue", (*IDENTITY_STEPS, "issue"))
REISSUE = Flow("financial-reissue", (*IDENTITY_STEPS, "issue"))
PIN_RESET = Flow("financial-pin-reset", (*IDENTITY_STEPS, "pin"))
REGISTER = Flow("financial-register", (*IDENTITY_STEPS, "register"))
FINANCIAL_FLOWS: Mapping[str, Flow] = {f.name: f for f in (ISSUE, REISSUE, PIN_RESET,
                                                           REGISTER)}
"""The flows by name (what ``start`` takes)."""

_ENDS = frozenset({AccountLockedError, CardLockedError, OtpLockedError, CodeExhaustedError,
                   CodeLimitError, PinLockedError})
"""Refusals that lock something: the session ends with them."""


T = TypeVar("T")


class KftcStatus(enum.Enum):
    """A certificate's status as the KFTC message answers a registration of another
    institution's financial certificate. 10 and 30 are the SDK's (korean-pki.md section
    8); 40 is one RA's code for a suspension (section 7); 50 for an expired certificate
    is kpki's choice: no source fixes one."""

    VALID = "10"
    REVOKED = "30"
    SUSPENDED = "40"
    EXPIRED = "50"


_STATUS_OF_STATE = {"revoked": KftcStatus.REVOKED, "suspended": KftcStatus.SUSPENDED,
                    "expired": KftcStatus.EXPIRED}


@dataclass(frozen=True)
class FinancialIssued:
    """A financial certificate issued into the cloud at the end of a flow."""

    session: RaSessionRecord
    user_id: str
    """The holder's cloud registration at the institution."""
    certificate: x509.Certificate
    replaced: int | None = None
    """The serial revoked in the same transaction (a reissue)."""

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


@dataclass(frozen=True)
class ForeignRegistration:
    """The answer to registering another institution's certificate here."""

    session: RaSessionRecord
    serial: int
    status: KftcStatus
    registered: bool
    """Only a valid certificate (``10``) is registered."""


@dataclass(frozen=True)
class PinReset:
    """A PIN reset: the same certificate under a new PIN, its failures cleared."""

    session: RaSessionRecord
    serial: int


class _Then:
    """A delivery that stages ``inner`` and then runs ``then`` in the same transaction."""

    def __init__(self, inner: Delivery,
                 then: Callable[[StoreTransaction, IssuedCertificate, dt.datetime], None]
                 ) -> None:
        self.inner = inner
        self.then = then

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        self.inner.stage(store, tx, issued, at=at)
        self.then(tx, issued, at)

    def abort(self) -> None:
        self.inner.abort()

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        self.inner.publish(store, at=at)


class FinancialFlows:
    """The financial-certificate flows of one store (see the module doc), over the bank's
    customers and media, and the cloud (its registrar, vault and CA)."""

    def __init__(self, sessions: StepSessions, *, customers: Customers,
                 cards: SecurityCards, otp: OtpCentre, cloud: Cloud) -> None:
        self.sessions = sessions
        self.customers = customers
        self.cards = cards
        self.otp = otp
        self.cloud = cloud
        self.store = sessions.store
        self.clock = sessions.clock

    # -- sessions ---------------------------------------------------------------------

    def start(self, institution: Institution, flow: str = ISSUE.name, *,
              device: str | None = None, customer_id: str | None = None) -> RaSessionRecord:
        """Open a session of the flow named ``flow`` (:data:`FINANCIAL_FLOWS`) from
        ``device`` (the device rules judge the last step from it); ``customer_id`` when
        the customer is known already (logged in): then only their accounts identify
        them. Raises :class:`BankRequestError` (an unknown flow, a bad device id),
        :class:`BankNotFoundError` (no such customer) or :class:`FlowRefusedError`
        (``pin_reset_off``)."""
        chosen = FINANCIAL_FLOWS.get(flow) if isinstance(flow, str) else None
        if chosen is None:
            raise BankRequestError("a financial flow is one of "
                                   + ", ".join(FINANCIAL_FLOWS), field="flow")
        if device is not None:
            check_device(device)
        if customer_id is not None:
            self.customers.get(institution, customer_id)
        if chosen is PIN_RESET:
            _check_pin_reset(institution, step="start")
        return self.sessions.start(institution, chosen, customer_id=customer_id,
                                   data={"device": device})

    def session(self, institution: Institution, session_id: object) -> RaSessionRecord:
        record = self.sessions.get(institution, session_id)
        if record.flow not in FINANCIAL_FLOWS:
            raise BankNotFoundError("session")
        return record

    def _run(self, institution: Institution, session_id: object, step: str,
             work: Callable[[RaSessionRecord, Flow], T]) -> T:
        """Check ``step`` is due, run ``work``, and record any refusal it raises (ending
        the session for one that locks something)."""
        record = self.session(institution, session_id)
        flow = FINANCIAL_FLOWS[record.flow]
        if step not in flow.steps:
            raise BankRequestError(f"a {flow.name} session has no step {step}",
                                   field="session")
        record = self.sessions.check(institution, flow, record.id, step)
        try:
            return work(record, flow)
        except RequestRefusedError as refusal:
            self.sessions.refused(institution, record.id, step, _history_code(refusal),
                                  ends=type(refusal) in _ENDS)
            raise

    def _done(self, institution: Institution, flow: Flow, record: RaSessionRecord,
              step: str, *, data: Mapping[str, Any] | None = None,
              customer_id: str | None = None,
              also: Callable[[StoreTransaction], None] | None = None) -> RaSessionRecord:
        with self.store.transaction() as tx:
            if also is not None:
                also(tx)
            return self.sessions.done_in(tx, institution, flow, record.id, step, data=data,
                                         customer_id=customer_id)

    def _customer(self, record: RaSessionRecord) -> BankCustomer:
        customer = (self.store.bank_customer(record.customer_id)
                    if record.customer_id is not None else None)
        assert customer is not None, "the account step names the customer"
        return customer

    # -- the identity steps -------------------------------------------------------------

    def account(self, institution: Institution, session_id: str, *, account: str,
                password: str) -> RaSessionRecord:
        """Step ``account`` (see the module doc)."""

        def work(record: RaSessionRecord, flow: Flow) -> RaSessionRecord:
            found = proven_account(self.customers, institution, account, password,
                                   customer_id=record.customer_id)
            return self._done(institution, flow, record, "account",
                              data={"account": found.number}, customer_id=found.customer_id)

        return self._run(institution, session_id, "account", work)

    def phone(self, institution: Institution, session_id: str, *, verification: str
              ) -> RaSessionRecord:
        """Step ``phone``: the confirmed phone verification ``verification`` (see the
        module doc); its used-marker commits with the step."""

        def work(record: RaSessionRecord, flow: Flow) -> RaSessionRecord:
            customer = self._customer(record)
            lifetime = settings_of(institution).ra_step_lifetime

            def use(tx: StoreTransaction) -> None:
                now = self.clock.now()
                found = proven_phone(tx, institution, customer, verification, now=now,
                                     lifetime=lifetime)
                use_phone(tx, institution, customer, found.id, now=now,
                          operation=f"ra:{flow.name}")

            method = self.store.phone_verification(verification)
            return self._done(institution, flow, record, "phone", also=use, data={
                "verification": verification,
                "method": None if method is None else method.method.value})

        return self._run(institution, session_id, "phone", work)

    def card_challenge(self, institution: Institution, session_id: str) -> Challenge:
        """A challenge to the customer's security card for step ``medium`` (the session
        must wait for it). Raises :class:`CardLockedError` (which ends the session) or
        :class:`BankNotFoundError` (no card)."""

        def work(record: RaSessionRecord, flow: Flow) -> Challenge:
            return self.cards.challenge(institution, self._customer(record).id)

        return self._run(institution, session_id, "medium", work)

    def medium(self, institution: Institution, session_id: str, *, response: str,
               card_challenge: str | None = None, otp_serial: str | None = None
               ) -> RaSessionRecord:
        """Step ``medium``: ``response`` answers the customer's card challenge
        ``card_challenge`` or is the code of their OTP token ``otp_serial`` (one of the
        two). The medium counts wrong answers; a locked one ends the session."""

        def work(record: RaSessionRecord, flow: Flow) -> RaSessionRecord:
            customer = self._customer(record)
            if (card_challenge is None) == (otp_serial is None):
                raise BankRequestError("answer a card challenge or give an OTP code (one)",
                                       field="card_challenge")
            if card_challenge is not None:
                found = challenge_in(self.store, card_challenge)
                if found is None or found[1].customer_id != customer.id:
                    raise BankNotFoundError("challenge")
                self.cards.answer(institution, card_challenge, response)
                kind = "security-card"
            else:
                assert otp_serial is not None
                device = record.data.get("device")
                self.otp.verify(customer, otp_serial, response, device=device)
                kind = "otp"
            return self._done(institution, flow, record, "medium", data={"medium": kind})

        return self._run(institution, session_id, "medium", work)

    def connect_cloud(self, institution: Institution, session_id: str, *, name: str,
                      phone: str, birth_date: str | dt.date) -> RaSessionRecord:
        """Step ``cloud``: the cloud connection with name, phone and birth date, which must
        be the customer's; the cloud's registrar sends a 2-digit code to the phone (the
        session's ``user`` is the registration)."""

        def work(record: RaSessionRecord, flow: Flow) -> RaSessionRecord:
            customer = self._customer(record)
            try:
                born = (birth_date if isinstance(birth_date, dt.date)
                        else dt.date.fromisoformat(birth_date))
                same = (name == customer.name and normalize_phone(phone) == customer.phone
                        and born == RRN(customer.rrn).birth_date)
            except (PKIError, ValueError, TypeError):
                raise BankRequestError("name, phone and birth_date (YYYY-MM-DD) are needed",
                                       field="birth_date") from None
            if not same:
                raise FlowRefusedError("cloud_identity_mismatch", "the name, phone and birth "
                                       "date are not the customer's", step="cloud")
            user = self.cloud.registrar.register(institution, name=name, phone=phone,
                                                 birth_date=born)
            return self._done(institution, flow, record, "cloud", data={"user": user.id})

        return self._run(institution, session_id, "cloud", work)

    def confirm(self, institution: Institution, session_id: str, *, code: str
                ) -> RaSessionRecord:
        """Step ``confirm``: the 2-digit code the cloud sent to the phone."""

        def work(record: RaSessionRecord, flow: Flow) -> RaSessionRecord:
            self.cloud.registrar.confirm(institution, str(record.data["user"]), code)
            return self._done(institution, flow, record, "confirm")

        return self._run(institution, session_id, "confirm", work)

    # -- the last steps -----------------------------------------------------------------

    def issue(self, institution: Institution, session_id: str, *, pin: str,
              pin_confirm: str, replaces: int | None = None,
              designate: str | None = None) -> FinancialIssued:
        """Step ``issue`` of ``financial-issue`` and ``financial-reissue``: the PIN twice
        and the certificate issued into the vault, with the session's finish in one
        transaction (of two calls at once, one issues, the other is ``step_repeated``).
        A reissue names the certificate it ``replaces`` (the same person's, registered
        here), revoked in that transaction. ``designate``: the holder's device, designated
        in the cloud with designated-only on (the device-restriction option)."""

        def work(record: RaSessionRecord, flow: Flow) -> FinancialIssued:
            if pin != pin_confirm:
                raise FlowRefusedError("pin_mismatch", "the two PINs differ", step="issue")
            if designate is not None:
                check_device(designate)
            customer = self._customer(record)
            user_id = str(record.data["user"])
            check_pin(pin, birth_date=RRN(customer.rrn).birth_date)
            old = None
            if flow is REISSUE:
                if replaces is None:
                    raise BankRequestError("a reissue names the certificate it replaces",
                                           field="replaces")
                old = self._own_certificate(institution, user_id, replaces,
                                            registered_here=True)
            elif replaces is not None:
                raise BankRequestError("only a reissue replaces a certificate",
                                       field="replaces")
            operation = CoveredOperation.CERTIFICATE_REISSUE

            def then(tx: StoreTransaction, issued: IssuedCertificate, at: dt.datetime) -> None:
                self._device_rules(tx, institution, customer, record, operation)
                if old is not None:
                    lifecycle.revoke_in(tx, issued.ca, old, at=at,
                                        reason=RevocationReason.SUPERSEDED.flag)
                    owner = tx.vault_record(issued.ca, old)
                    if owner is not None:
                        tx.add_history(owner.user_id, HistoryEntry(
                            at, institution.name, None, None, old, "revoked-reissued"))
                if designate is not None:
                    if check_room(tx.devices(user_id), designate):
                        tx.add_device(user_id, designate, at=at)
                    tx.set_designated_only(user_id, True)
                    tx.audit(AuditAction.CLOUD_DEVICES_DESIGNATED_ONLY, at=at,
                             detail={"user": user_id, "institution": institution.name,
                                     "on": True})

            finishing = FinishingDelivery(self.sessions, institution, flow, record.id,
                                          flow.steps[-1], data={"user": user_id,
                                                                "replaced": _hex(old)})

            def joined(vault: Delivery) -> Delivery:
                finishing.inner = _Then(vault, then)
                return finishing

            issued = self.cloud.issue(institution, user_id, rrn=customer.rrn, pin=pin,
                                      pin_confirm=pin_confirm, joined=joined,
                                      recovery=settings_of(institution).pin_reset)
            assert finishing.record is not None
            return FinancialIssued(finishing.record, user_id, issued.certificate, old)

        return self._run(institution, session_id, "issue", work)

    def reset_pin(self, institution: Institution, session_id: str, *, serial: int,
                  pin: str, pin_confirm: str) -> PinReset:
        """Step ``pin`` of ``financial-pin-reset`` (see the module doc): the certificate
        ``serial`` under the new PIN entered twice, with the session's finish in one
        transaction; the device rules as for a reissue."""

        def work(record: RaSessionRecord, flow: Flow) -> PinReset:
            _check_pin_reset(institution, step="pin")
            if pin != pin_confirm:
                raise FlowRefusedError("pin_mismatch", "the two PINs differ", step="pin")
            customer = self._customer(record)
            user_id = str(record.data["user"])
            check_pin(pin, birth_date=RRN(customer.rrn).birth_date)
            own = self._own_certificate(institution, user_id, serial, registered_here=True,
                                        step="pin")
            finished: list[RaSessionRecord] = []

            def within(tx: StoreTransaction) -> None:
                self._device_rules(tx, institution, customer, record,
                                   CoveredOperation.CERTIFICATE_REISSUE)
                finished.append(self.sessions.done_in(
                    tx, institution, flow, record.id, "pin",
                    data={"user": user_id, "serial": _hex(own)}))

            try:
                self.cloud.reset_pin(institution, own, pin=pin, pin_confirm=pin_confirm,
                                     within=within, detail={"session": record.id})
            except NoRecoveryCopyError:
                raise FlowRefusedError("no_recovery_copy", "this certificate was issued "
                                       "where PINs are not reset, so no recovery copy of "
                                       "its key exists: revoke and reissue it "
                                       "(financial-reissue)", step="pin") from None
            return PinReset(finished[0], own)

        return self._run(institution, session_id, "pin", work)

    def register(self, institution: Institution, session_id: str, *, serial: int,
                 pin: str) -> ForeignRegistration:
        """Step ``register`` of ``financial-register`` (타행 인증서 등록): the person's
        certificate issued at another institution, registered here with its PIN when it
        is valid; the answer is its :class:`KftcStatus` (only a ``10`` is registered,
        and only a valid one's PIN is asked). Another person's certificate, or none, is
        ``certificate_not_found``."""

        def work(record: RaSessionRecord, flow: Flow) -> ForeignRegistration:
            customer = self._customer(record)
            user_id = str(record.data["user"])
            operation = CoveredOperation.FOREIGN_CERTIFICATE_REGISTRATION
            finished: list[RaSessionRecord] = []

            def within(tx: StoreTransaction) -> None:
                self._device_rules(tx, institution, customer, record, operation)
                finished.append(self.sessions.done_in(
                    tx, institution, flow, record.id, "register",
                    data={"serial": _hex(serial), "status": KftcStatus.VALID.value}))
                tx.audit(AuditAction.RA_FOREIGN_CERTIFICATE_REGISTERED, at=self.clock.now(),
                         ca=self.cloud.authority.label, serial=serial,
                         detail={"institution": institution.name, "session": record.id})

            self._own_certificate(institution, user_id, serial, registered_here=False)
            try:
                self.cloud.register_certificate(institution, serial, pin=pin, user=user_id,
                                                within=within)
            except CloudNotFoundError:
                raise FlowRefusedError("certificate_not_found", "no such certificate of "
                                       "this person", step="register") from None
            except CertificateUnusableError as unusable:
                status = _STATUS_OF_STATE[unusable.state]
                done = self._done(institution, flow, record, "register", data={
                    "serial": _hex(serial), "status": status.value})
                return ForeignRegistration(done, serial, status, registered=False)
            return ForeignRegistration(finished[0], serial, KftcStatus.VALID, registered=True)

        return self._run(institution, session_id, "register", work)

    # -- helpers ------------------------------------------------------------------------

    def _own_certificate(self, institution: Institution, user_id: str, serial: object, *,
                         registered_here: bool, step: str = "issue") -> int:
        """``serial`` if it is a cloud certificate (``registered_here``: registered at
        ``institution``) whose holder is the person of the session's registration
        ``user_id``; else ``certificate_not_found``, the same for one that does not exist."""
        label = self.cloud.authority.label
        vault = self.store.vault_record(label, serial) if isinstance(serial, int) else None
        owner = None if vault is None else self.store.cloud_user(vault.user_id)
        mine = self.store.cloud_user(user_id)
        if (vault is None or owner is None or mine is None
                or (registered_here
                    and not self.store.is_registered(label, vault.serial, institution.id))
                or (owner.name, owner.phone, owner.birth_date)
                != (mine.name, mine.phone, mine.birth_date)):
            raise FlowRefusedError("certificate_not_found", "no such certificate of this "
                                   "person", step=step)
        return vault.serial

    def _device_rules(self, tx: StoreTransaction, institution: Institution,
                      customer: BankCustomer, record: RaSessionRecord,
                      operation: CoveredOperation) -> None:
        """The device rules for the last step, under the lock: REFUSED raises; STEP_UP is
        met by the session's phone step when its method is one the rule names."""
        device = record.data.get("device")
        decision = decide_in(tx, settings_of(institution), customer,
                             device if isinstance(device, str) else None, operation)
        if decision.verdict is Verdict.REFUSED:
            raise decision.refusal()
        if decision.verdict is Verdict.STEP_UP:
            method = record.data.get("method")
            if not step_up_proven(method, decision.methods):
                raise StepUpRequiredError(methods=tuple(m.value for m in decision.methods))


def _check_pin_reset(institution: Institution, *, step: str) -> None:
    """``pin_reset_off`` unless the institution resets PINs (checked at the start and
    again at the last step: the setting may change between them)."""
    if not settings_of(institution).pin_reset:
        raise FlowRefusedError("pin_reset_off", "this institution does not reset PINs: "
                               "revoke and reissue (financial-reissue)", step=step)


def _hex(serial: int | None) -> str | None:
    return None if serial is None else format(serial, "X")


def _history_code(refusal: RequestRefusedError) -> str:
    """The code a refusal leaves in the session's history: its own, finer where the
    error's code is shared (``account_not_found``, ``code_exhausted``)."""
    if isinstance(refusal, BankNotFoundError):
        return f"{refusal.what}_not_found"
    if isinstance(refusal, CodeExhaustedError):
        return "code_exhausted"
    if isinstance(refusal, PinPolicyError):
        return f"pin_{refusal.rule.replace('-', '_')}"
    if isinstance(refusal, CertificateUnusableError):
        return f"certificate_{refusal.state}"
    return refusal.code

