"""Joint certificates as a bank issues them: issuance, reissue and renewal step by step
(the KB help pages; issue 15 item 1), over the step engine of :mod:`pki.ra.sessions`.

**The flows** (:data:`JOINT_ISSUE`, :data:`JOINT_REISSUE`, :data:`JOINT_RENEW`). Every
session starts with the customer's device id (:meth:`JointIssuance.start`); a reissue or a
renewal also names the certificate (its serial at the issuing CA).

1. ``terms``: the terms the flow requires (:data:`REQUIRED_TERMS`), each agreed
   (``terms_not_agreed`` names the first missing); a first issuance also chooses the
   certificate: general-purpose (paid) or banking-only (free).
2. ``identify``: the resident number and the internet-banking ID (kpki's customer id). A
   stranger's RRN, an ID of no customer, another bank's customer and an RRN that is not the
   ID's are one refusal, ``identity_not_matched``, so the step tells no one who is a
   customer. Then internet banking must be active (``not_enrolled``,
   ``enrolment_expired``), and the device rules decide (below). A reissue checks here that
   the certificate may be replaced (``certificate_not_replaceable``, see *Reissue*).
3. ``phone``: a phone verification (SMS, the carrier app, or ARS: :mod:`pki.bank.phone`)
   this bank asked for (``phone_not_found``), not used (``phone_used``), confirmed
   (``phone_not_confirmed``), for the customer's name, phone and RRN
   (``phone_other_person``), confirmed within the step expiry (``phone_expired``):
   :func:`pki.ra.proofs.proven_phone`, the check of every issuance flow. It is marked used
   (the bank's step-up ledger, with its audit row: :func:`pki.ra.proofs.use_phone`) in
   the transaction that records the step, so it serves no other step, session or transfer
   (``phone_used``).
4. ``account``: an account of the customer's (another's, or none: ``not_found``, before
   any password is compared) and its 4-digit password
   (:meth:`pki.bank.customers.Customers.check_password`: counted, locks), then internet
   banking still active (:func:`pki.ra.proofs.proven_account`).
5. ``medium``: a security-card challenge's answer (the challenge asked for with
   :meth:`JointIssuance.card_challenge`) or an OTP code, checked by the card
   (:meth:`pki.bank.cards.SecurityCards.answer`) or the OTP centre
   (:meth:`pki.bank.otp.OtpCentre.verify`) themselves, so wrong answers count and lock as
   they do for a transfer. A medium that locks (or was locked) ends the session.
6. ``issue``: the certificate password (kpki's rules for NPKI key files,
   :func:`pki.keys.password.check_password`; never stored or logged) and the certificate
   issued into an NPKI folder by :class:`pki.delivery.NPKIDelivery` (what ``kpki issue``
   uses): the certificate, its delivery record, the fee charged to the verified account
   (:mod:`pki.ra.fees`; ``insufficient_balance`` issues nothing) and the session finished
   are ONE transaction (:class:`pki.ra.sessions.FinishingDelivery`). The files get their
   names after the commit; a crash in between is finished by the delivery recovery.

**Reissue** (lost key, forgotten password) runs the same steps and ends with
:meth:`pki.authority.CertificateAuthority.reissue`: the old certificate revoked as
superseded in the same transaction, the new one keeping its notAfter. The certificate must
be a joint certificate of this CA, in the customer's name, and one this registration
authority issued to this customer: a finished session of this bank records it. The store
keeps no resident number, and a customer who lost the key has no R to prove the VID with,
so the RA's own record of the issuance is what ties the certificate to the customer
(certificates issued elsewhere are reissued where they were issued).

**Renewal** inside the window: ``terms``, ``sign`` (the customer's id, and a CMS
signature by the certificate to renew over the text the session gives:
:attr:`pki.store.RaSessionRecord.data` ``challenge``, verified with chain, revocation and
the VID against the customer's RRN by :func:`pki.bank.sessions.check_certificate_signature`;
its codes: ``signature_invalid``, ``vid_mismatch``, ``certificate_revoked`` ...; a signer
that is not the certificate named: ``signer_not_certificate``; outside the window:
``renewal_window``), then ``issue`` (:meth:`CertificateAuthority.renew`). A paid renewal is
charged to an account of the customer named in the ``sign`` step: the certificate's
signature authorises it, as it authorises a transfer.

**Devices.** The bank channel's rules (:mod:`pki.devices`) as the certificate-(re)issue
operation: from a designated device everything is allowed; a designated-only customer on
another device is refused (``device_not_designated``, ending the session) unless subscribed
to the extra step; otherwise the decision may ask for the extra step, and the ``phone``
step's verification is that step (of the method the decision names: ``step_up_method``).
A renewal, which has no phone step, applies the designated-only rule only.

**Refusals.** Every refusal of a step after the session was found is recorded in the
session's history with its stable code (:meth:`pki.ra.sessions.StepSessions.refused`);
out of order, expired, repeated and finished come from the engine. Bad input is
:class:`pki.errors.BankRequestError` (``bad_request``, naming the field), recorded too.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from ..authority import CertificateAuthority, IssuedCertificate
from ..bank.cards import Challenge, SecurityCards, challenge_in
from ..bank.customers import Customers
from ..bank.devices import check_device, decide_in, step_up_proven
from ..bank.institutions import settings_of
from ..bank.otp import OtpCentre, medium_kind
from ..bank.sessions import check_certificate_signature
from ..bank.transfers import CardAnswer, OtpAnswer
from ..clock import Clock
from ..delivery import NPKIDelivery
from ..devices import CoveredOperation, StepUpMethod, Verdict
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    AccountLockedError,
    AlreadyRevokedError,
    BankNotFoundError,
    BankRequestError,
    CardLockedError,
    CertificateExpiredError,
    DeviceNotDesignatedError,
    FlowRefusedError,
    InvalidRRNError,
    LifecycleError,
    OtpLockedError,
    PasswordPolicyError,
    RenewalWindowError,
    RequestRefusedError,
)
from ..keys.npki import NPKIFiles
from ..keys.password import check_password
from ..profiles import JOINT_PROFILES, JointPolicy, get_profile
from ..rrn import RRN
from ..signing.verify import Verifier
from ..store import (
    BankCustomer,
    CertificateRecord,
    CertStatus,
    Institution,
    RaSessionRecord,
    RaSessionState,
    RaStepRecord,
    Store,
    StoreTransaction,
)
from .fees import DEFAULT_FEES, FeeTable, Operation
from .proofs import proven_account, proven_phone, use_phone
from .sessions import FinishingDelivery, Flow, StepSessions

__all__ = [
    "JOINT_FLOWS",
    "JOINT_ISSUE",
    "JOINT_REISSUE",
    "JOINT_RENEW",
    "REQUIRED_TERMS",
    "JointIssuance",
    "JointIssued",
    "JointOperation",
]

_PROOFING = ("terms", "identify", "phone", "account", "medium", "issue")
JOINT_ISSUE = Flow("joint-issue", _PROOFING)
JOINT_REISSUE = Flow("joint-reissue", _PROOFING)
JOINT_RENEW = Flow("joint-renew", ("terms", "sign", "issue"))


class JointOperation(enum.Enum):
    """What a joint-certificate session does."""

    ISSUE = "issue"
    REISSUE = "reissue"
    RENEW = "renew"

    @property
    def flow(self) -> Flow:
        return {JointOperation.ISSUE: JOINT_ISSUE, JointOperation.REISSUE: JOINT_REISSUE,
                JointOperation.RENEW: JOINT_RENEW}[self]

    @property
    def fee_operation(self) -> Operation:
        return Operation(self.value)


JOINT_FLOWS: Mapping[str, JointOperation] = {op.flow.name: op for op in JointOperation}

REQUIRED_TERMS: tuple[str, ...] = ("certificate-terms", "privacy-collection",
                                   "unique-id-processing")
"""The terms a joint-certificate session requires: the certificate's terms of use
(공동인증서 이용약관), the collection and use of personal information (개인정보 수집·이용)
and the processing of unique identifiers (고유식별정보 처리)."""

_LOCKS = frozenset({CardLockedError.code, OtpLockedError.code, AccountLockedError.code,
                    DeviceNotDesignatedError.code})
"""Refusals after which the session cannot go on: they end it."""



@dataclass(frozen=True)
class JointIssued:
    """A certificate a flow issued (or reissued, renewed) into its NPKI folder."""

    session: RaSessionRecord
    """The session, finished."""
    issued: IssuedCertificate
    files: tuple[NPKIFiles, ...]
    fee: int
    """KRW charged to :attr:`account` (0: free)."""
    account: str | None

    @property
    def folder(self) -> Path:
        return self.files[0].folder


class _Refusal(Exception):
    """A step's refusal raised inside its transaction, recorded once it rolled back."""


class _FeeAndFolder:
    """The issuance's delivery inside :class:`FinishingDelivery`: the fee charged to the
    account (refused with ``insufficient_balance``), then the NPKI folder staged."""

    def __init__(self, institution: Institution, account: str | None, fee: int,
                 folder: NPKIDelivery) -> None:
        self.institution = institution
        self.account = account
        self.fee = fee
        self.folder = folder

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        if self.fee:
            account = (tx.account(self.institution.id, self.account)
                       if self.account is not None else None)
            if account is None:
                raise FlowRefusedError("no_account", "a paid certificate needs an account",
                                       step="issue")
            if account.balance < self.fee:
                raise FlowRefusedError(
                    "insufficient_balance", f"the account holds less than the fee of "
                    f"{self.fee:,} KRW", step="issue")
            tx.set_balance(self.institution.id, account.number, account.balance - self.fee)
        self.folder.stage(store, tx, issued, at=at)

    def abort(self) -> None:
        self.folder.abort()

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        self.folder.publish(store, at=at)


class JointIssuance:
    """The joint-certificate flows of one store (see the module doc).

    ``authority`` gives the CA that issues (called at the ``issue`` step only: opening a CA
    key may cost a KDF), ``ca`` is its label; ``verifier`` makes the verifier a renewal's
    signature is checked with; ``fees`` prices the certificates."""

    def __init__(self, store: Store, *, clock: Clock, customers: Customers,
                 cards: SecurityCards, otp: OtpCentre, sessions: StepSessions, ca: str,
                 authority: Callable[[], CertificateAuthority],
                 verifier: Callable[[], Verifier], entropy: Entropy | None = None,
                 fees: FeeTable = DEFAULT_FEES) -> None:
        self.store = store
        self.clock = clock
        self.customers = customers
        self.cards = cards
        self.otp = otp
        self.sessions = sessions
        self.ca = ca
        self._authority = authority
        self._verifier = verifier
        self.entropy: Entropy = entropy or SystemEntropy()
        self.fees = fees

    # -- sessions -------------------------------------------------------------------------

    def start(self, institution: Institution, operation: JointOperation | str, *,
              device: str, serial: int | None = None) -> RaSessionRecord:
        """Open a session of ``operation`` from the customer's ``device``; a reissue or a
        renewal names the certificate's ``serial`` (at this CA). A renewal's session
        carries the text to sign (``data["challenge"]``). Raises
        :class:`BankRequestError` (``operation``, ``device``, ``serial``)."""
        try:
            chosen = JointOperation(operation)
        except ValueError:
            raise BankRequestError("an operation is issue, reissue or renew",
                                   field="operation") from None
        data: dict[str, Any] = {"device": check_device(device), "ca": self.ca}
        if chosen is JointOperation.ISSUE:
            if serial is not None:
                raise BankRequestError("a first issuance names no certificate",
                                       field="serial")
        else:
            if isinstance(serial, bool) or not isinstance(serial, int) or serial <= 0:
                raise BankRequestError(f"a {chosen.value} names the certificate's serial",
                                       field="serial")
            data["replaces"] = format(serial, "X")
        if chosen is JointOperation.RENEW:
            data["challenge"] = (f"kpki ra joint renew v1\ninstitution: "
                                 f"{institution.code or institution.id}\nserial: "
                                 f"{serial:X}\nnonce: {self.entropy.token_bytes(16).hex()}\n")
        return self.sessions.start(institution, chosen.flow, data=data)

    def get(self, institution: Institution, session_id: object) -> RaSessionRecord:
        """The bank's joint-certificate session; :class:`BankNotFoundError` for any other."""
        return self._session(institution, session_id)[0]

    def history(self, institution: Institution, session_id: object
                ) -> tuple[RaStepRecord, ...]:
        record = self.get(institution, session_id)
        return self.sessions.history(institution, record.id)

    @staticmethod
    def operation_of(record: RaSessionRecord) -> JointOperation:
        return JOINT_FLOWS[record.flow]

    # -- the steps ------------------------------------------------------------------------

    def terms(self, institution: Institution, session_id: str, *, agreed: Iterable[str],
              certificate: JointPolicy | str | None = None) -> RaSessionRecord:
        """Step 1: the terms agreed; a first issuance chooses the certificate
        (``general`` or ``banking``)."""

        def work(record: RaSessionRecord, operation: JointOperation) -> dict[str, Any]:
            given = _terms(agreed)
            missing = next((t for t in REQUIRED_TERMS if t not in given), None)
            if missing is not None:
                raise FlowRefusedError("terms_not_agreed",
                                       f"the terms {missing!r} are not agreed", step="terms")
            data: dict[str, Any] = {"terms": sorted(given)}
            if operation is JointOperation.ISSUE:
                try:
                    policy = JointPolicy(certificate)
                except ValueError:
                    raise BankRequestError("a joint certificate is general or banking",
                                           field="certificate") from None
                data["profile"] = JOINT_PROFILES[policy].name
            elif certificate is not None:
                raise BankRequestError(f"a {operation.value} keeps the certificate's kind",
                                       field="certificate")
            return data

        return self._step(institution, session_id, "terms", work)

    def identify(self, institution: Institution, session_id: str, *, rrn: str,
                 customer_id: str) -> RaSessionRecord:
        """Step 2: the customer by resident number and internet-banking ID."""
        customer: list[BankCustomer] = []

        def work(record: RaSessionRecord, operation: JointOperation) -> dict[str, Any]:
            found = self._identified(institution, rrn, customer_id)
            self.customers.require_enrolled(institution, found.id)
            data = self._device_rule(institution, record, found, operation)
            if operation is JointOperation.REISSUE:
                replaced = self._replaceable(institution, found, record)
                data["profile"] = replaced.profile
            customer.append(found)
            return data

        return self._step(institution, session_id, "identify", work,
                          customer=lambda: customer[0].id)

    def phone(self, institution: Institution, session_id: str, *, verification_id: str
              ) -> RaSessionRecord:
        """Step 3: a confirmed phone verification of the customer, used once."""
        use: list[Callable[[StoreTransaction], None]] = []

        def work(record: RaSessionRecord, operation: JointOperation) -> dict[str, Any]:
            customer = self._customer(institution, record)
            now = self.clock.now()
            verification = proven_phone(self.store, institution, customer, verification_id,
                                        now=now,
                                        lifetime=settings_of(institution).ra_step_lifetime)
            methods = [StepUpMethod(m) for m in record.data.get("step_up") or ()]
            if methods and not step_up_proven(verification.method, methods):
                raise FlowRefusedError("step_up_method", "the device rules ask for the extra "
                                       "step by " + " or ".join(m.value for m in methods),
                                       step="phone")
            use.append(lambda tx: use_phone(
                tx, institution, customer, verification.id, now=now,
                operation="certificate-reissue" if methods else f"ra-{record.flow}"))
            return {"phone_verification": verification.id}

        return self._step(institution, session_id, "phone", work,
                          write=lambda tx: use[0](tx))

    def account(self, institution: Institution, session_id: str, *, number: str,
                password: str) -> RaSessionRecord:
        """Step 4: an account of the customer's and its password (counted, locks)."""

        def work(record: RaSessionRecord, operation: JointOperation) -> dict[str, Any]:
            account = proven_account(self.customers, institution, number, password,
                                     customer_id=self._customer(institution, record).id)
            return {"account": account.number}

        return self._step(institution, session_id, "account", work)

    def card_challenge(self, institution: Institution, session_id: str) -> Challenge:
        """A challenge to the identified customer's security card, for the ``medium``
        step. Raises :class:`BankNotFoundError` (no card, or no customer identified yet),
        :class:`CardLockedError`."""
        record = self.get(institution, session_id)
        if record.customer_id is None or record.state is not RaSessionState.OPEN:
            raise BankNotFoundError("card")
        return self.cards.challenge(institution, record.customer_id)

    def medium(self, institution: Institution, session_id: str, *,
               answer: CardAnswer | OtpAnswer) -> RaSessionRecord:
        """Step 5: a security-card answer or an OTP code, checked by the medium."""

        def work(record: RaSessionRecord, operation: JointOperation) -> dict[str, Any]:
            customer = self._customer(institution, record)
            if isinstance(answer, CardAnswer):
                found = challenge_in(self.store, answer.challenge_id)
                if found is None or found[1].customer_id != customer.id:
                    raise FlowRefusedError("medium_not_found", "no challenge to the "
                                           "customer's card has that id", step="medium")
                self.cards.answer(institution, answer.challenge_id, answer.answer)
                return {"medium": "security-card"}
            if isinstance(answer, OtpAnswer):
                accepted = self.otp.verify(customer, answer.serial, answer.code,
                                           device=record.data.get("device"))
                return {"medium": medium_kind(accepted.kind).value, "otp": accepted.serial}
            raise BankRequestError("a medium's answer is a card answer or an OTP code",
                                   field="medium")

        return self._step(institution, session_id, "medium", work)

    def sign(self, institution: Institution, session_id: str, *, customer_id: str,
             signature: bytes, r: bytes, account: str | None = None) -> RaSessionRecord:
        """A renewal's step 2: the customer's signature with the certificate to renew over
        the session's text; ``account`` (the customer's) pays a paid renewal."""
        customer: list[BankCustomer] = []

        def work(record: RaSessionRecord, operation: JointOperation) -> dict[str, Any]:
            try:
                found = self.customers.get(institution, customer_id)
            except BankNotFoundError:
                raise _not_matched("sign") from None
            self.customers.require_enrolled(institution, found.id)
            now = self.clock.now()
            signed = check_certificate_signature(self._verifier(), signature, r,
                                                 rrn=found.rrn, at=now)
            if signed.text != str(record.data["challenge"]).encode():
                raise FlowRefusedError("signed_text_mismatch", "the signature is not over "
                                       "the session's text", step="sign")
            old = self._named(record)
            if signed.signer is None or signed.signer.serial_number != old.serial or \
                    signed.signer.public_bytes(Encoding.DER) != old.der:
                raise FlowRefusedError("signer_not_certificate", "the signature is not by "
                                       "the certificate to renew", step="sign")
            profile = get_profile(old.profile)
            opens = profile.renewal_opens_at(not_before=old.not_before,
                                             not_after=old.not_after)
            if not opens <= now <= old.not_after:
                raise FlowRefusedError("renewal_window", f"renewal is open from "
                                       f"{opens:%Y-%m-%d} to {old.not_after:%Y-%m-%d}",
                                       step="sign")
            data = self._device_rule(institution, record, found, operation)
            data["profile"] = old.profile
            if account is not None:
                held = self.customers.account(institution, account)
                if held.customer_id != found.id:
                    raise BankNotFoundError("account")
                data["account"] = held.number
            elif self.fees.fee(old.profile, Operation.RENEW):
                # refused here, where it can be given again; at the issue step the
                # session could only be dropped (the sign step is done by then)
                raise FlowRefusedError("no_account", "a paid renewal names the customer's "
                                       "account that pays it", step="sign")
            customer.append(found)
            return data

        return self._step(institution, session_id, "sign", work,
                          customer=lambda: customer[0].id)

    def issue(self, institution: Institution, session_id: str, *, password: str,
              out: Path) -> JointIssued:
        """The last step: the certificate issued (reissued, renewed) into an NPKI folder
        under ``out``, the fee paid and the session finished in one transaction."""
        record, operation = self._session(institution, session_id)
        flow = operation.flow
        self.sessions.check(institution, flow, record.id, "issue")
        try:
            try:
                check_password(password)
            except PasswordPolicyError as exc:
                raise BankRequestError(str(exc), field="password") from None
            customer = self._customer(institution, record)
            profile = str(record.data["profile"])
            fee = self.fees.fee(profile, operation.fee_operation)
            account = record.data.get("account")
            folder = NPKIDelivery(out, password=password)
            delivery = FinishingDelivery(
                self.sessions, institution, flow, record.id, "issue",
                inner=_FeeAndFolder(institution, account, fee, folder),
                data={"fee": fee, "issued_profile": profile})
            issued = self._issue(operation, record, customer, profile, delivery)
        except RequestRefusedError as exc:
            self.sessions.refused(institution, record.id, "issue", exc.code,
                                  ends=exc.code in _LOCKS)
            raise
        assert delivery.record is not None
        return JointIssued(delivery.record, issued, tuple(folder.files), fee, account)

    # -- the parts ------------------------------------------------------------------------

    def _issue(self, operation: JointOperation, record: RaSessionRecord,
               customer: BankCustomer, profile: str, delivery: FinishingDelivery
               ) -> IssuedCertificate:
        authority = self._authority()
        try:
            if operation is JointOperation.ISSUE:
                policy = next(p for p, prof in JOINT_PROFILES.items() if prof.name == profile)
                return authority.issue_joint(name=customer.name, rrn=customer.rrn,
                                             policy=policy, deliver=delivery)
            serial = int(str(record.data["replaces"]), 16)
            follow_up = (authority.renew if operation is JointOperation.RENEW
                         else authority.reissue)
            return follow_up(serial, rrn=customer.rrn, deliver=delivery)
        except RenewalWindowError as exc:
            raise FlowRefusedError("renewal_window", str(exc), step="issue") from None
        except AlreadyRevokedError as exc:
            raise FlowRefusedError("certificate_revoked", str(exc), step="issue") from None
        except CertificateExpiredError as exc:
            raise FlowRefusedError("certificate_expired", str(exc), step="issue") from None
        except LifecycleError as exc:
            raise FlowRefusedError("certificate_not_replaceable", str(exc),
                                   step="issue") from None

    def _step(self, institution: Institution, session_id: str, step: str,
              work: Callable[[RaSessionRecord, JointOperation], dict[str, Any]], *,
              customer: Callable[[], str] | None = None,
              write: Callable[[StoreTransaction], None] | None = None) -> RaSessionRecord:
        """Check ``step`` is due, do its ``work`` (which returns what the session keeps),
        then ``write`` (what the step writes of its own) and the step done in one
        transaction; a refusal is recorded with its code and raised."""
        record, operation = self._session(institution, session_id)
        self.sessions.check(institution, operation.flow, record.id, step)
        try:
            data = work(record, operation)
            with self.store.transaction() as tx:
                if write is not None:
                    write(tx)
                return self.sessions.done_in(
                    tx, institution, operation.flow, record.id, step, data=data,
                    customer_id=None if customer is None else customer())
        except RequestRefusedError as exc:
            self.sessions.refused(institution, record.id, step, exc.code,
                                  ends=exc.code in _LOCKS)
            raise

    def _session(self, institution: Institution, session_id: object
                 ) -> tuple[RaSessionRecord, JointOperation]:
        record = self.sessions.get(institution, session_id)
        operation = JOINT_FLOWS.get(record.flow)
        if operation is None:
            raise BankNotFoundError("session")
        return record, operation

    def _customer(self, institution: Institution, record: RaSessionRecord) -> BankCustomer:
        assert record.customer_id is not None  # the step order puts identify first
        return self.customers.get(institution, record.customer_id)

    def _identified(self, institution: Institution, rrn: object, customer_id: object
                    ) -> BankCustomer:
        """The customer with that ID and RRN; one refusal for every way it is not."""
        try:
            digits = RRN.parse(rrn).digits if isinstance(rrn, str) else None
        except InvalidRRNError:
            digits = None
        try:
            found = self.customers.get(institution, customer_id)
        except BankNotFoundError:
            found = None
        if found is None or digits is None or found.rrn != digits:
            raise _not_matched("identify")
        return found

    def _device_rule(self, institution: Institution, record: RaSessionRecord,
                     customer: BankCustomer, operation: JointOperation) -> dict[str, Any]:
        """The device rules' decision for the session's device: refused, or the extra
        step's methods the phone step must prove (``step_up``)."""
        device = record.data.get("device")
        decision = decide_in(self.store, settings_of(institution), customer,
                             device if isinstance(device, str) else None,
                             CoveredOperation.CERTIFICATE_REISSUE)
        if decision.verdict is Verdict.REFUSED:
            raise decision.refusal()
        if decision.verdict is Verdict.STEP_UP:
            if operation is JointOperation.RENEW:
                state = self.store.bank_devices(customer.id)
                if state.designated_only:  # no phone step to take the extra step
                    raise decision.refusal()
                return {}
            return {"step_up": [m.value for m in decision.methods]}
        return {}

    def _named(self, record: RaSessionRecord) -> CertificateRecord:
        serial = int(str(record.data["replaces"]), 16)
        found = next(iter(self.store.find_certificates(serial, ca=self.ca)), None)
        if found is None or found.profile not in _JOINT_NAMES:
            raise FlowRefusedError("certificate_not_replaceable", "no joint certificate of "
                                   "this CA has that serial", step="identify")
        return found

    def _replaceable(self, institution: Institution, customer: BankCustomer,
                     record: RaSessionRecord) -> CertificateRecord:
        """The certificate a reissue names, if it may be replaced for ``customer`` (see
        the module doc)."""
        try:
            old = self._named(record)
        except FlowRefusedError:
            old = None
        serial = record.data["replaces"]
        ours = old is not None and old.holder == customer.name and any(
            s.institution_id == institution.id and s.state is RaSessionState.FINISHED
            and s.flow in JOINT_FLOWS and s.data.get("ca") == self.ca
            and s.data.get("serial") == serial
            for s in self.store.ra_sessions_of(customer.id))
        if old is None or not ours:
            raise FlowRefusedError("certificate_not_replaceable", "this bank issued no "
                                   "joint certificate with that serial to the customer",
                                   step="identify")
        if old.status is CertStatus.REVOKED:
            raise FlowRefusedError("certificate_revoked", f"certificate {old.serial:X} is "
                                   "revoked: issue a new one", step="identify")
        return old


_JOINT_NAMES = frozenset(p.name for p in JOINT_PROFILES.values())


def _not_matched(step: str) -> FlowRefusedError:
    return FlowRefusedError("identity_not_matched", "no customer of this bank has that "
                            "resident number and ID", step=step)


def _terms(agreed: object) -> frozenset[str]:
    if isinstance(agreed, str) or not isinstance(agreed, Iterable):
        raise BankRequestError("the terms agreed are a list of term ids", field="agreed")
    terms = list(agreed)
    if len(terms) > 32 or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in terms):
        raise BankRequestError("the terms agreed are a list of term ids", field="agreed")
    return frozenset(terms)

