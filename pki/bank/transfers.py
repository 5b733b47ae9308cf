"""Transfer authorisation (issue 14 item 7): the checks a Korean bank makes before it moves
money, each refusal with a stable reason code, every outcome recorded once.

:meth:`Transfers.authorise` takes the transfer asked for (from one of the customer's
accounts, to an account number, an amount in KRW), its signature, the security medium's
answer and the device it comes from, and returns a :class:`TransferResult`, accepted or
refused with its ``code``. A request kpki cannot read (an amount that is not a whole
number from 1 to :data:`pki.bank.customers.MAX_KRW`, an account number of the wrong shape,
a card answer or OTP code that is not its number of digits, an unknown customer) raises
instead (:class:`BankRequestError`, :class:`BankNotFoundError`) and records nothing.

**The checks**, cheapest first:

1. *The account*: ``from_account`` is an account of this customer at this institution
   (``account_not_owned``).
2. *The signature* over the transfer's canonical text (:class:`TransferOrder`: from, to,
   amount, institution code, signing time). Either a :class:`CertificateSignature`, an
   attached CMS signature by a joint or financial certificate, verified by kpki's
   :class:`pki.signing.verify.Verifier` with chain, validity, revocation and the VID
   against the customer's RRN with the R the signing app returns
   (:func:`pki.bank.sessions.check_certificate_signature`: ``signature_invalid``,
   ``certificate_untrusted``, ``certificate_expired``, ``certificate_revoked``,
   ``certificate_not_accepted``, ``vid_mismatch``); or a :class:`SimpleAuthSignature`,
   ECDSA with the customer's simple-authentication key, taken only within a live
   simple-authentication session of that key on its device (:mod:`pki.bank.sessions`:
   ``simple_auth_not_in_session``, ``session_expired``, ``simple_auth_wrong_device``).
   The signed text must be the transfer asked for, field for field
   (``signed_text_mismatch``), signed within :attr:`BankSettings.signature_seconds` of
   the bank's clock (``signature_stale``), and a signature authorises one transfer only
   (``signature_replayed``; the store holds a unique digest of signer and text on the
   accepted transfer). A refused transfer does not use its signature up: the customer may
   send the same signed order again with a new medium answer or the extra step.
3. In one transaction, under the store's write lock: the signature not used meanwhile
   (``signature_replayed``); the medium the answer is for (``medium_not_found`` for a
   challenge or token that is not the customer's; a :class:`PrivateCertificateAnswer`
   has no answer of its own: the transfer's signature must be by the customer's private
   certificate registered at this bank, :mod:`pki.bank.private_media`:
   ``private_certificate_not_registered``, ``private_certificate_mismatch``); then what
   would refuse anyway, before the medium is asked, so that a transfer bound to fail does
   not spend a security-card challenge or an OTP code: *the device rules*
   (:func:`pki.devices.decide` over the customer's designated devices, the KST day's
   total including this transfer, the OTP exemption: ``device_not_designated``,
   ``step_up_required``; when they ask for the extra step, whether the phone verification
   given can be it, :func:`pki.bank.devices.check_step_up`: ``step_up_invalid``,
   ``step_up_used``) and *the limits* of the medium's grade (``no_medium`` where the
   table has no row, Hana's for a private certificate; ``over_transfer_limit``,
   ``over_day_limit`` by as little as 1 KRW).
4. *The medium's answer* (:class:`CardAnswer` to a security-card challenge of this
   customer, :class:`OtpAnswer` with one of the customer's OTP tokens), in that same
   transaction (:meth:`pki.bank.media.Medium.verify_in`): the medium counts a wrong
   answer and locks as its rules say (``wrong_card_answer`` with ``attempts_left``,
   ``card_locked``, ``challenge_used``, ``challenge_expired``, ``wrong_otp``,
   ``otp_locked``, ``otp_replayed`` ...).
5. Still in it: *the balance* (``insufficient_funds``; ``payee_balance_limit`` for a
   credit past what the store's integers hold). Then the limit is charged
   (:func:`pki.bank.limits.charge_in`), the step-up used
   (:func:`pki.bank.devices.enforce_in`), the account debited (and credited, when the
   destination is an account of the same institution) and the transfer recorded with its
   audit row.

**Recording.** Every outcome is one row of the store's transfers (who, accounts, amount,
medium kind, device, signature kind, outcome, reason code, time) with its audit row, in
the transaction that decided it: a refusal before the medium commits only its record; a
refused answer commits its counted failure (audited by the medium as ever) with the
record; a refusal after an accepted answer commits the answer's use with the record (an
answer given is used, as at a bank); an accepted transfer's audit row names the answer
(``answered``: the challenge id, the token's serial, the certificate's serial) and the
limit charged (``limit``), which write no rows of their own then. A refusal in steps 1-2
is recorded in a transaction of its own. Nothing is ever half-recorded: a process killed
before the commit (fault point ``bank.transfer.decided``) leaves no charge, no debit, no
answered challenge, no used step-up, no used signature and no record; killed after it
(``bank.transfer.committed``), the transfer stands once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..clock import KST, Clock, kst_today
from ..devices import CoveredOperation, DeviceDecision, Verdict
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    BankError,
    BankNotFoundError,
    BankRequestError,
    OtpSealedUnderOtherSecretError,
)
from ..faults import fault_point
from ..signing.verify import Verifier
from ..store import (
    AuditAction,
    BankCustomer,
    Institution,
    Store,
    StoreTransaction,
    TransferOutcome,
    TransferRecord,
)
from ..store.records import TransferState
from .cards import SecurityCards
from .customers import MAX_KRW, Customers, check_account_number, check_enrolled
from .devices import check_device, check_step_up, decide_over, enforce_in
from .institutions import BankSettings, settings_of
from .limits import MediaLookups, MediaSource, charge_in, check_within
from .media import Medium, MediumKind
from .otp import OtpCentre, medium_kind
from .private_media import PrivateCertificateMedium, check_signer
from .sessions import (
    Sessions,
    SignedText,
    check_certificate_signature,
    verify_simple_auth,
)

__all__ = [
    "CardAnswer",
    "CertificateSignature",
    "MediumAnswer",
    "OtpAnswer",
    "PrivateCertificateAnswer",
    "SimpleAuthSignature",
    "TransferOrder",
    "TransferResult",
    "TransferSignature",
    "Transfers",
    "authorise_transfer",
]

_OTP_KINDS = frozenset({MediumKind.HARDWARE_OTP, MediumKind.MOBILE_OTP,
                        MediumKind.DIGITAL_OTP})
_STORE_MAX = 2**63 - 1
"""The largest balance the store holds (a 64-bit integer)."""
_HEADER = "kpki transfer v1"


@dataclass(frozen=True)
class TransferOrder:
    """A transfer as its customer signs it. :meth:`text` is the canonical text (UTF-8,
    one ``name: value`` line a field, the time in KST to the second); :meth:`parse` reads
    only that exact form back."""

    institution: str
    """The institution's 3-digit code."""
    from_account: str
    to_account: str
    amount: int
    signed_at: dt.datetime

    @classmethod
    def at_institution(cls, institution: Institution, from_account: str, to_account: str,
                       amount: int, signed_at: dt.datetime) -> TransferOrder:
        """The order at ``institution``, named as :meth:`Transfers.authorise` expects: by
        its code, or by its id when it has none."""
        return cls(_institution_name(institution), from_account, to_account, amount,
                   signed_at)

    def text(self) -> bytes:
        when = self.signed_at.astimezone(KST).isoformat(timespec="seconds")
        return (f"{_HEADER}\ninstitution: {self.institution}\nfrom: {self.from_account}\n"
                f"to: {self.to_account}\namount: {self.amount}\ntime: {when}\n").encode()

    @classmethod
    def parse(cls, text: bytes) -> TransferOrder | None:
        """The order ``text`` is the canonical text of; None for any other text."""
        try:
            lines = text.decode("utf-8").split("\n")
            if len(lines) != 7 or lines[0] != _HEADER or lines[6] != "":
                return None
            names = ("institution", "from", "to", "amount", "time")
            values = []
            for line, name in zip(lines[1:6], names, strict=True):
                prefix = name + ": "
                if not line.startswith(prefix):
                    return None
                values.append(line[len(prefix):])
            order = cls(values[0], values[1], values[2], int(values[3]),
                        dt.datetime.fromisoformat(values[4]).astimezone(dt.UTC))
        except (UnicodeDecodeError, ValueError):
            return None
        return order if order.signed_at.tzinfo is not None and order.text() == text else None

    @staticmethod
    def signing_time(text: bytes, institution: str, from_account: str, to_account: str,
                     amount: int) -> dt.datetime | None:
        """The ``signed_at`` of the order with these fields whose canonical text is
        ``text``; None when ``text`` is no such order's (:meth:`parse`, then the fields
        compared, read the same texts; this is the transfer's check, without building the
        order and its text again)."""
        head = (f"{_HEADER}\ninstitution: {institution}\nfrom: {from_account}\n"
                f"to: {to_account}\namount: {amount}\ntime: ").encode()
        if not (isinstance(text, bytes) and text.startswith(head) and text.endswith(b"\n")):
            return None
        try:
            when = text[len(head):-1].decode("ascii")
            signed_at = dt.datetime.fromisoformat(when)
        except (UnicodeDecodeError, ValueError):
            return None
        if (signed_at.tzinfo is None
                or signed_at.astimezone(KST).isoformat(timespec="seconds") != when):
            return None
        return signed_at


@dataclass(frozen=True)
class CertificateSignature:
    """A joint or financial certificate's attached CMS signature over the transfer's
    canonical text, with ``r``, the random number of the signer's key file that the
    signing app returns (``includeR``) for the VID check."""

    signature: bytes
    r: bytes


@dataclass(frozen=True)
class SimpleAuthSignature:
    """An ECDSA-SHA256 signature (DER) over ``text``, the transfer's canonical text, with
    the simple-authentication key of the session ``session_id``."""

    session_id: str
    text: bytes
    signature: bytes


TransferSignature = CertificateSignature | SimpleAuthSignature


@dataclass(frozen=True)
class CardAnswer:
    """The answer to one of the customer's security-card challenges."""

    challenge_id: str
    answer: str


@dataclass(frozen=True)
class OtpAnswer:
    """A code of one of the customer's OTP tokens (by serial)."""

    serial: str
    code: str


@dataclass(frozen=True)
class PrivateCertificateAnswer:
    """The customer's private certificate registered at this bank as the medium: the
    transfer's signature by it is the answer (:mod:`pki.bank.private_media`)."""


MediumAnswer = CardAnswer | OtpAnswer | PrivateCertificateAnswer


@dataclass(frozen=True)
class TransferResult:
    """What became of a transfer (the record's id names it in the store)."""

    id: str
    accepted: bool
    code: str | None
    """The refusal's stable code; None when accepted."""
    from_account: str
    to_account: str
    amount: int
    at: dt.datetime
    medium: MediumKind | None = None
    """The kind of medium answered (once known)."""
    attempts_left: int | None = None
    """After a wrong medium answer: how many more before the medium locks."""
    step_up_methods: tuple[str, ...] = ()
    """With ``step_up_required``: the phone verifications (``sms``, ``ars``) that count
    as the extra step."""
    balance: int | None = None
    """The account's balance after an accepted transfer."""
    left_today: int | None = None
    """What the medium's day limit leaves after an accepted transfer."""


class _Refused(Exception):
    def __init__(self, code: str, *, attempts_left: int | None = None,
                 methods: tuple[str, ...] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.attempts_left = attempts_left
        self.methods = methods

    @classmethod
    def of(cls, error: BankError) -> _Refused:
        return cls(error.code, attempts_left=getattr(error, "attempts_left", None),
                   methods=tuple(getattr(error, "methods", ()) or ()))


@dataclass
class _Attempt:
    """What one authorisation has learned so far (what its record says)."""

    institution: Institution
    customer: BankCustomer
    settings: BankSettings
    from_account: str
    to_account: str
    amount: int
    device: str | None
    at: dt.datetime
    step_up: object
    signed: SignedText | None = None
    medium: MediumKind | None = None
    decision: DeviceDecision | None = None
    answered: str | None = None
    """The challenge or OTP token answered (its audit fact)."""


class Transfers:
    """Transfer authorisation for one store (see the module doc). ``verifier`` checks
    certificate signatures (for a home: :meth:`Verifier.for_home`); ``otp`` is the OTP
    centre whose tokens count as media (None: OTP answers find no medium);
    ``sessions`` the simple-authentication sessions (by default over the same store);
    ``customers`` the bank's customers (give the bank's own: it holds the account key)."""

    def __init__(self, store: Store, *, clock: Clock, verifier: Verifier,
                 otp: OtpCentre | None = None, sessions: Sessions | None = None,
                 entropy: Entropy | None = None, customers: Customers | None = None
                 ) -> None:
        self.store = store
        self.clock = clock
        self.verifier = verifier
        self.otp = otp
        self.entropy: Entropy = entropy or SystemEntropy()
        self.customers = customers or Customers(store, clock=clock, entropy=self.entropy)
        self.sessions = sessions or Sessions(store, clock=clock, verifier=verifier,
                                             entropy=self.entropy, customers=self.customers)
        self.cards = SecurityCards(store, clock=clock, entropy=self.entropy)

    def authorise(self, institution: Institution, customer_id: str, *, from_account: str,
                  to_account: str, amount: int, signature: TransferSignature,
                  medium_response: MediumAnswer, device: str | None,
                  step_up: str | None = None) -> TransferResult:
        """Authorise a transfer (see the module doc); ``step_up`` is the id of a phone
        verification made as the extra step, when the device rules ask for one. Returns
        the recorded outcome. Raises :class:`BankNotFoundError` (no such customer here)
        or :class:`BankRequestError` (``field``: ``amount``, ``account``,
        ``to_account``, ``device``, ``signature``, ``medium_response``), recording
        nothing."""
        # the customer and whether they hold from_account, in one read (a malformed
        # account number is refused below, after an unknown customer, as ever)
        customer, holds = self.customers.get_holding(institution, customer_id,
                                                     _account_or_none(from_account))
        attempt = _Attempt(institution, customer, settings_of(institution),
                           check_account_number(from_account),
                           _to_account(to_account), _amount(amount),
                           _device(device), self.clock.now(), step_up)
        if attempt.from_account == attempt.to_account:
            raise BankRequestError("a transfer goes to another account", field="to_account")
        if not isinstance(signature, CertificateSignature | SimpleAuthSignature):
            raise BankRequestError("a transfer is signed with a certificate or with simple "
                                   "authentication", field="signature")
        if not isinstance(medium_response, CardAnswer | OtpAnswer | PrivateCertificateAnswer):
            raise BankRequestError("a transfer carries a security card answer, an OTP code "
                                   "or its private certificate", field="medium_response")
        self._check_response(medium_response)
        try:
            self._account(attempt, holds)
            attempt.signed = self._signature(attempt, signature)
        except _Refused as refused:
            return self._refuse(attempt, refused)
        result = self._commit(attempt, medium_response)
        if result.accepted:
            fault_point("bank.transfer.committed")
        return result

    def transfers(self, institution: Institution, customer_id: str
                  ) -> tuple[TransferRecord, ...]:
        """The customer's transfers, accepted and refused, oldest first."""
        return tuple(self.store.transfers_of(self.customers.get(institution, customer_id).id))

    # -- the checks ------------------------------------------------------------------------

    def _account(self, attempt: _Attempt, holds: bool) -> None:
        """Internet banking active (``not_enrolled``, ``enrolment_expired``), and the
        account the customer's (``holds``, as read with the customer)."""
        try:
            check_enrolled(attempt.customer, attempt.institution, now=attempt.at)
        except BankError as exc:
            raise _Refused.of(exc) from None
        if not holds:
            raise _Refused("account_not_owned")

    def _signature(self, attempt: _Attempt, signature: TransferSignature) -> SignedText:
        try:
            if isinstance(signature, CertificateSignature):
                signed = check_certificate_signature(self.verifier, signature.signature,
                                                     signature.r, rrn=attempt.customer.rrn,
                                                     at=attempt.at)
            else:
                key = self.sessions.simple_auth_key_for(
                    attempt.institution, attempt.customer, signature.session_id,
                    device=attempt.device, at=attempt.at)
                signed = verify_simple_auth(key, signature.text, signature.signature)
        except BankError as exc:
            raise _Refused.of(exc) from None
        signed_at = TransferOrder.signing_time(
            signed.text, _institution_name(attempt.institution), attempt.from_account,
            attempt.to_account, attempt.amount)
        if signed_at is None:
            raise _Refused("signed_text_mismatch")
        window = dt.timedelta(seconds=attempt.settings.signature_seconds)
        if abs(signed_at - attempt.at) > window:
            raise _Refused("signature_stale")
        return signed

    def _medium(self, tx: StoreTransaction, attempt: _Attempt, answer: MediumAnswer,
                state: TransferState) -> Medium:
        """The customer's medium the answer is for (a card's challenge as read in
        ``state``); ``medium_not_found`` for any other."""
        if isinstance(answer, CardAnswer):
            read = state.challenge
            if (read is None or read[1].customer_id != attempt.customer.id
                    or read[1].institution_id != attempt.institution.id):
                raise _Refused("medium_not_found")
            attempt.medium, attempt.answered = MediumKind.SECURITY_CARD, answer.challenge_id
            # the card answers from what this transaction has just read, under its lock
            return self.cards.medium(attempt.institution, answer.challenge_id, read=read)
        if isinstance(answer, PrivateCertificateAnswer):
            assert attempt.signed is not None
            code = check_signer(tx, attempt.customer, attempt.signed.signer, at=attempt.at)
            if code is not None:
                raise _Refused(code)
            attempt.medium = MediumKind.PRIVATE_CERTIFICATE
            signer = attempt.signed.signer
            assert signer is not None  # check_signer took it
            attempt.answered = format(signer.serial_number, "X")
            return PrivateCertificateMedium()
        if self.otp is None:
            raise _Refused("medium_not_found")
        try:
            token = self.otp.registered_in(tx, attempt.customer, answer.serial)
        except BankNotFoundError:
            raise _Refused("medium_not_found") from None
        attempt.medium, attempt.answered = medium_kind(token.kind), answer.serial
        # the token answers as this transaction has just read it, under its lock
        return self.otp.medium(attempt.customer, answer.serial, device=attempt.device,
                               token=token)

    def _check_response(self, answer: MediumAnswer) -> None:
        """Refuse an answer no medium could take (:class:`BankRequestError`, ``field``
        ``answer`` or ``code``) before anything is asked or recorded."""
        if isinstance(answer, PrivateCertificateAnswer):
            return  # the signature is the answer
        if isinstance(answer, CardAnswer):
            text, digits, field, what = answer.answer, 4, "answer", "a security card answer"
        else:
            digits = 6 if self.otp is None else self.otp.settings.digits
            text, field, what = answer.code, "code", "an OTP code"
        if not (isinstance(text, str) and len(text) == digits and text.isascii()
                and text.isdigit()):
            raise BankRequestError(f"{what} is {digits} digits", field=field)

    def _sources_of(self, medium: MediumKind) -> tuple[MediaSource, ...]:
        """The media source that knows whether ``medium`` is usable: the answer it has
        just accepted in this transaction (a card or an OTP token took it only while
        usable: not locked, lost, retired, unactivated; a private certificate was found
        live and registered, :func:`check_signer`, under this same lock)."""

        def accepted(lookups: MediaLookups, customer: BankCustomer) -> tuple[MediumKind]:
            return (medium,)
        return (accepted,)

    def _commit(self, attempt: _Attempt, answer: MediumAnswer) -> TransferResult:
        """Steps 3 to 5 in one transaction, under the store's write lock: the signature
        not used meanwhile, the medium the answer is for, what would refuse the transfer
        whatever the medium answers (nothing of the medium spent), the medium's answer,
        then the transfer's writes. Every outcome commits with its record: a refusal
        before the medium writes only the record; a refused answer its counted failure
        and the record; a refusal after an accepted answer the medium's use and the
        record (the answer given is used, as at a bank)."""
        signed = attempt.signed
        assert signed is not None
        with self.store.transaction() as tx:
            try:
                # the replay, the day's sum, the devices, both balances and the card's
                # challenge in one read
                state = tx.transfer_state(
                    attempt.customer.id, digest=signed.digest, day=kst_today(attempt.at),
                    institution_id=attempt.institution.id,
                    from_account=attempt.from_account, to_account=attempt.to_account,
                    challenge_id=(answer.challenge_id if isinstance(answer, CardAnswer)
                                  and isinstance(answer.challenge_id, str) else None))
                if state is None:
                    raise BankNotFoundError("customer")
                if state.signature_used:
                    raise _Refused("signature_replayed")
                medium = self._medium(tx, attempt, answer, state)
                self._before_medium(tx, attempt, state)
                outcome = medium.verify_in(tx, _response(answer), at=attempt.at,
                                           audited=False)
                if not outcome.accepted:
                    raise _Refused(outcome.code or "medium_refused",
                                   attempts_left=outcome.attempts_left)
                result = self._accept_in(tx, attempt, signed, state)
            except (BankNotFoundError, OtpSealedUnderOtherSecretError):
                raise  # the medium could not evaluate: nothing recorded, as before
            except (BankError, _Refused) as exc:
                refused = exc if isinstance(exc, _Refused) else _Refused.of(exc)
                return self._refuse_in(tx, attempt, refused)
            fault_point("bank.transfer.decided")
        return result

    def _before_medium(self, tx: StoreTransaction, attempt: _Attempt, state: TransferState
                       ) -> None:
        """What refuses the transfer whatever the medium answers, as read under the lock
        (``state``): the device rules (and whether the extra step given can be it), the
        limits of the medium's grade."""
        assert attempt.medium is not None
        used = state.limit_used
        decision = decide_over(state.devices, attempt.settings, attempt.device,
                               CoveredOperation.TRANSFER, day_total=used + attempt.amount,
                               otp_exempt=attempt.medium in _OTP_KINDS)
        if decision.verdict is Verdict.REFUSED or (decision.verdict is Verdict.STEP_UP
                                                   and attempt.step_up is None):
            raise _Refused(decision.code or "device_not_designated",
                           methods=tuple(m.value for m in decision.methods))
        limits = attempt.settings.limits.limits_of(attempt.medium)
        if limits is None:
            raise _Refused("no_medium")
        check_within(limits, attempt.amount, used)  # over_transfer_limit, over_day_limit
        if decision.verdict is Verdict.STEP_UP:
            check_step_up(tx, attempt.institution, attempt.customer, attempt.step_up,
                          now=attempt.at, methods=decision.methods)
        attempt.decision = decision

    def _accept_in(self, tx: StoreTransaction, attempt: _Attempt, signed: SignedText,
                   state: TransferState) -> TransferResult:
        """After an accepted answer, in ``tx``: the balances as read under the lock
        (``state``; a refusal writes nothing of the transfer), then the limit charged,
        the extra step used, the accounts moved and the transfer recorded."""
        medium, decision = attempt.medium, attempt.decision
        assert medium is not None and decision is not None
        institution = attempt.institution
        if state.balance is None:  # read as the customer's before the lock; never closed
            raise _Refused("account_not_owned")
        if state.balance < attempt.amount:
            raise _Refused("insufficient_funds")
        payee = state.payee_balance
        if payee is not None and payee > _STORE_MAX - attempt.amount:
            raise _Refused("payee_balance_limit")
        charge = charge_in(tx, attempt.customer, attempt.amount,
                           table=attempt.settings.limits, sources=self._sources_of(medium),
                           at=attempt.at, medium=medium, audited=False,
                           used=state.limit_used)
        enforce_in(tx, institution, attempt.customer, decision, attempt.step_up,
                   now=attempt.at)
        balance = state.balance - attempt.amount
        balances = {attempt.from_account: balance}
        if payee is not None:
            balances[attempt.to_account] = payee + attempt.amount
        tx.set_balances(institution.id, balances)
        record = self._record(tx, attempt, None, signed.digest,
                              charged={"day": charge.day.isoformat(), "used": charge.used})
        return TransferResult(record.id, True, None, record.from_account, record.to_account,
                              record.amount, record.at, medium, balance=balance,
                              left_today=charge.left_today)

    def _refuse(self, attempt: _Attempt, refused: _Refused) -> TransferResult:
        with self.store.transaction() as tx:
            return self._refuse_in(tx, attempt, refused)

    def _refuse_in(self, tx: StoreTransaction, attempt: _Attempt, refused: _Refused
                   ) -> TransferResult:
        record = self._record(tx, attempt, refused.code, None)
        return TransferResult(record.id, False, refused.code, record.from_account,
                              record.to_account, record.amount, record.at, attempt.medium,
                              attempts_left=refused.attempts_left,
                              step_up_methods=refused.methods)

    def _record(self, tx: StoreTransaction, attempt: _Attempt, code: str | None,
                digest: str | None, *, charged: dict[str, object] | None = None
                ) -> TransferRecord:
        """The transfer's record and its audit row; an accepted one's row also names the
        medium's answer and the limit ``charged`` in the same transaction (they write no
        rows of their own then)."""
        record = TransferRecord(
            id="t_" + self.entropy.token_bytes(12).hex(), institution_id=attempt.institution.id,
            customer_id=attempt.customer.id, from_account=attempt.from_account,
            to_account=attempt.to_account, amount=attempt.amount,
            medium=None if attempt.medium is None else attempt.medium.value,
            device=attempt.device,
            signature=None if attempt.signed is None else attempt.signed.kind,
            signature_digest=digest,
            outcome=TransferOutcome.REFUSED if code else TransferOutcome.ACCEPTED,
            reason=code, at=attempt.at)
        tx.add_transfer(record)
        tx.audit(AuditAction.BANK_TRANSFER_REFUSED if code else AuditAction.BANK_TRANSFER_ACCEPTED,
                 at=attempt.at,
                 detail={"institution": attempt.institution.name, "customer": record.customer_id,
                         "transfer": record.id, "from": record.from_account,
                         "to": record.to_account, "amount": record.amount,
                         "medium": record.medium, "device": record.device, "reason": code,
                         **({} if charged is None else {"answered": attempt.answered,
                                                        "limit": charged})})
        return record


def authorise_transfer(transfers: Transfers, institution: Institution, customer_id: str, *,
                       from_account: str, to_account: str, amount: int,
                       signature: TransferSignature, medium_response: MediumAnswer,
                       device: str | None, step_up: str | None = None) -> TransferResult:
    """:meth:`Transfers.authorise` (the issue's ``authorise_transfer``)."""
    return transfers.authorise(institution, customer_id, from_account=from_account,
                               to_account=to_account, amount=amount, signature=signature,
                               medium_response=medium_response, device=device,
                               step_up=step_up)


def _institution_name(institution: Institution) -> str:
    return institution.code or str(institution.id)


def _amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_KRW:
        raise BankRequestError(f"an amount is a whole number of KRW, 1 to {MAX_KRW:,}",
                               field="amount")
    return amount


def _account_or_none(number: object) -> str | None:
    try:
        return check_account_number(number)
    except BankRequestError:
        return None


def _to_account(number: object) -> str:
    try:
        return check_account_number(number)
    except BankRequestError as exc:
        raise BankRequestError(str(exc), field="to_account") from None


def _device(device: object) -> str | None:
    return None if device is None else check_device(device)


def _response(answer: MediumAnswer) -> str:
    if isinstance(answer, PrivateCertificateAnswer):
        return ""
    return answer.answer if isinstance(answer, CardAnswer) else answer.code
