"""The bank's JSON API under ``/bank/v1``, added to ``kpki serve`` beside the cloud's.

What a bank's own systems call, for a bank's tests to run against: customers and their
internet-banking enrolment, accounts, security cards and their challenges, OTP tokens,
the transfer limits, phone verification, designated devices, logins (simple
authentication, certificate, password) and transfer authorisation (:mod:`pki.bank`,
assembled by :class:`pki.usecases.banking.Banking`). A bank authenticates with its
``X-API-Key`` (the institution :func:`pki.bank.institutions.add_bank` recorded) and sees
only its own customers, accounts, challenges, tokens, verifications, devices, sessions and
transfers: anything else is answered
exactly as one that does not exist (404 ``not_found``, the same body), so a stranger cannot
tell that a customer exists.

The error contract is the cloud's, from the same code (:mod:`pki.web.jsonapi`): the API key
before a byte of the body, the body's size while it streams in (413), the body decoded into
the route's schema with exact types and no unknown fields (400 ``bad_request`` naming the
field), every refusal of the bank a 4xx JSON answer with its stable code (wrong answers
401 with ``attempts_left``, locks 423, the rules 403, used or taken 409, too late 410, too
many 429) and never a 500. A transfer refused by its checks is recorded by the bank and
answered the same way, with its ``transfer`` record in the error (``transfer_id``,
``attempts_left``, ``step_up_methods``).

``test_channel`` (``kpki serve --test-channel``) adds ``/bank/v1/test/...``: what the
customer's side does in a test set-up (the carriers' lines, the SMS and calls a bank caused,
a key press on the ARS call, the carrier app, the code an OTP token shows now).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..bank.cards import Challenge, PrintedCard
from ..bank.customers import Enrolment
from ..bank.otp import OtpAccepted, OtpStatus
from ..bank.phone import AppEntry, VerificationRequest, VerificationResult, VerificationStatus
from ..bank.transfers import (
    CardAnswer,
    CertificateSignature,
    MediumAnswer,
    OtpAnswer,
    PrivateCertificateAnswer,
    SimpleAuthSignature,
    TransferOrder,
    TransferResult,
)
from ..cloud.service import authenticate
from ..devices import CoveredOperation, DeviceDecision, DeviceState
from ..errors import BankNotFoundError, BankRequestError
from ..store import Account, BankCustomer, BankSession, Institution, OtpKind, TransferRecord
from ..usecases.banking import Banking, CardState, MediumLimits
from .jsonapi import MAX_BODY_BYTES, Body, Empty, JsonApi, error, utc

__all__ = ["bank_routes"]

PREFIX = "/bank/v1"
MAX_KRW = 10**15
"""The largest amount or balance a request may carry (a quadrillion won)."""

Short = Annotated[str, msgspec.Meta(max_length=64)]
Digits = Annotated[str, msgspec.Meta(max_length=16)]
Krw = Annotated[int, msgspec.Meta(ge=0, le=MAX_KRW)]
Blob = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]
"""Bytes as base64 (a CMS signature, a public key)."""


class CustomerBody(Body):
    name: Short
    rrn: Short
    phone: Short
    carrier: Short
    mvno: Short | None = None
    line_type: Short = "postpaid"


class LineBody(Body):
    phone: Short | None = None
    carrier: Short | None = None
    mvno: Short | None = None
    line_type: Short | None = None


class AccountBody(Body):
    password: Digits
    balance: Krw = 0
    number: Short | None = None


class PasswordBody(Body):
    password: Digits


class ResetPasswordBody(Body):
    password: Digits
    operator: Short


class CardBody(Body):
    seed: Short | None = None


class AnswerBody(Body):
    answer: Digits


class OperatorBody(Body):
    operator: Short


class OtpIssueBody(Body):
    kind: Literal["hardware", "mobile", "digital"]
    device: Short | None = None
    serial: Short | None = None
    """A hardware token as its maker delivered it: its serial ..."""
    seed: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    """... and its seed, in hex."""


class OtpCodeBody(Body):
    code: Digits
    device: Short | None = None


class OtpResyncBody(Body):
    first: Digits
    second: Digits
    device: Short | None = None


class VerificationBody(Body):
    name: Short
    phone: Short
    rrn7: Short
    carrier: Short
    method: Literal["sms", "push", "ars"] = "sms"


class CodeBody(Body):
    code: Digits


class LineTestBody(Body):
    phone: Short
    name: Short
    rrn: Short
    carrier: Short
    mvno: Short | None = None
    line_type: Short = "postpaid"
    state: Short = "active"
    other_name: bool = False
    ars_blocked: bool = False


class LineChangeBody(Body):
    state: Short | None = None
    other_name: bool | None = None
    ars_blocked: bool | None = None


class PressBody(Body):
    digits: Digits


class AppBody(Body):
    phone: Short
    password: Digits


class DeviceBody(Body):
    device: Short
    operator: Short | None = None


class DesignatedOnlyBody(Body):
    on: bool
    operator: Short | None = None


class StepUpBody(Body):
    method: Literal["sms", "ars"] | None


class DecideBody(Body):
    operation: Literal["transfer", "certificate-reissue", "foreign-certificate-registration"]
    device: Short | None = None
    day_total: Krw = 0
    otp_exempt: bool = False


class KeyBody(Body):
    device: Short
    public_key: Blob


class SimpleAuthLoginBody(Body):
    challenge_id: Short
    key_id: Short
    signature: Blob


class CertificateLoginBody(Body):
    challenge_id: Short
    signature: Blob
    r: Short


class PasswordLoginBody(Body):
    customer_id: Short
    account: Short
    password: Digits


class OrderBody(Body):
    from_account: Short
    to_account: Short
    amount: Krw


class SimpleAuthBody(Body):
    session_id: Short
    text: Annotated[str, msgspec.Meta(max_length=1024)]
    signature: Blob


class CardAnswerBody(Body):
    challenge_id: Short
    answer: Digits


class OtpAnswerBody(Body):
    serial: Short
    code: Digits


class TransferBody(Body):
    from_account: Short
    to_account: Short
    amount: Krw
    signature: Blob | None = None
    """A joint or financial certificate's attached CMS signature (base64) ..."""
    r: Short | None = None
    """... with the R of its key file (hex), for the VID check; or:"""
    simple_auth: SimpleAuthBody | None = None
    card: CardAnswerBody | None = None
    otp: OtpAnswerBody | None = None
    private_certificate: bool = False
    """True: the medium is the private certificate registered at this bank, which signed
    the order (no answer beside the signature)."""
    device: Short | None = None
    step_up: Short | None = None
    """The id of a confirmed phone verification made as the extra step."""


# -- answers --------------------------------------------------------------------------------


def _time(value: Any) -> str | None:
    return None if value is None else utc(value)


def _customer(customer: BankCustomer) -> dict[str, Any]:
    """A customer as the bank's API shows it: never the resident number."""
    return {"customer_id": customer.id, "name": customer.name, "phone": customer.phone,
            "carrier": customer.carrier.value, "mvno": customer.mvno,
            "line_type": customer.line_type.value, "created_at": utc(customer.created_at)}


def _enrolment(enrolment: Enrolment) -> dict[str, Any]:
    return {"state": enrolment.state.value, "signed_up_at": _time(enrolment.signed_up_at),
            "deadline": _time(enrolment.deadline),
            "activated_at": _time(enrolment.activated_at)}


def _account(account: Account) -> dict[str, Any]:
    return {"number": account.number, "customer_id": account.customer_id,
            "balance": account.balance, "opened_at": utc(account.opened_at),
            "failures": account.failures, "locked": account.locked_at is not None}


def _card(card: CardState | None) -> dict[str, Any] | None:
    if card is None:
        return None
    return {"serial": card.serial, "positions": card.positions, "failures": card.failures,
            "attempts_left": card.attempts_left, "locked": card.locked,
            "issued_at": utc(card.issued_at)}


def _printed(card: PrintedCard) -> dict[str, Any]:
    return {"serial": card.serial, "codes": list(card.codes)}


def _challenge(challenge: Challenge) -> dict[str, Any]:
    return {"challenge_id": challenge.id, "serial": challenge.serial,
            "first": challenge.first, "second": challenge.second,
            "expires_at": utc(challenge.expires_at)}


def _otp(status: OtpStatus) -> dict[str, Any]:
    return {"serial": status.serial, "kind": status.kind.value, "failures": status.failures,
            "attempts_left": status.attempts_left, "locked": status.locked,
            "lost": status.lost, "disabled": status.disabled, "activated": status.activated,
            "activate_by": _time(status.activate_by), "device": status.device,
            "drift": status.drift}


def _accepted(accepted: OtpAccepted) -> dict[str, Any]:
    return {"accepted": True, "serial": accepted.serial, "kind": accepted.kind.value,
            "step": accepted.step, "drift": accepted.drift}


def _limits(limits: MediumLimits | None) -> dict[str, Any]:
    if limits is None:
        return {"medium": None, "per_transfer": 0, "per_day": 0, "used_today": None,
                "left_today": 0}
    return {"medium": limits.medium.value, "per_transfer": limits.per_transfer,
            "per_day": limits.per_day, "used_today": limits.used_today,
            "left_today": limits.left_today}


def _request(sent: VerificationRequest) -> dict[str, Any]:
    return {"verification_id": sent.id, "method": sent.method.value, "via": sent.via.value,
            "expires_at": utc(sent.expires_at), "autofill": sent.autofill,
            "display_code": sent.display_code, "sends_left": sent.sends_left}


def _result(result: VerificationResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"name": result.name, "birth_date": result.birth_date.isoformat(),
            "sex": result.sex.value, "foreigner": result.foreigner, "ci": result.ci,
            "di": result.di, "phone": result.phone, "carrier": result.carrier.value,
            "mvno": result.mvno}


def _status(status: VerificationStatus) -> dict[str, Any]:
    return {"verification_id": status.id, "state": status.state.value,
            "method": status.method.value, "via": status.via.value,
            "expires_at": utc(status.expires_at), "tries_left": status.tries_left,
            "sends_left": status.sends_left, "result": _result(status.result)}


def _app_entry(entry: AppEntry) -> dict[str, Any]:
    return {"verification_id": entry.verification, "site": entry.site, "at": utc(entry.at),
            "verified": entry.verified}


def _devices(state: DeviceState) -> dict[str, Any]:
    return {"devices": list(state.devices), "designated_only": state.designated_only,
            "step_up": None if state.step_up is None else state.step_up.value}


def _decision(decision: DeviceDecision) -> dict[str, Any]:
    return {"verdict": decision.verdict.value, "operation": decision.operation.value,
            "device": decision.device, "methods": [m.value for m in decision.methods],
            "code": decision.code}


def _session(session: BankSession) -> dict[str, Any]:
    return {"session_id": session.id, "customer_id": session.customer_id,
            "method": session.method.value, "key_id": session.key_id,
            "started_at": utc(session.started_at), "expires_at": utc(session.expires_at),
            "ended_at": _time(session.ended_at)}


def _transfer(result: TransferResult) -> dict[str, Any]:
    return {"transfer_id": result.id, "accepted": result.accepted, "code": result.code,
            "from_account": result.from_account, "to_account": result.to_account,
            "amount": result.amount, "at": utc(result.at),
            "medium": None if result.medium is None else result.medium.value,
            "attempts_left": result.attempts_left,
            "step_up_methods": list(result.step_up_methods), "balance": result.balance,
            "left_today": result.left_today}


def _record(record: TransferRecord) -> dict[str, Any]:
    return {"transfer_id": record.id, "from_account": record.from_account,
            "to_account": record.to_account, "amount": record.amount,
            "medium": record.medium, "device": record.device,
            "signature": record.signature, "outcome": record.outcome.value,
            "code": record.reason, "at": utc(record.at)}


# The HTTP status of a refused transfer, by its code (the others: 403, the rules refuse).
_TRANSFER_STATUS = {
    "wrong_card_answer": 401, "wrong_otp": 401, "signature_invalid": 401,
    "medium_not_found": 404,
    "challenge_used": 409, "otp_replayed": 409, "signature_replayed": 409,
    "step_up_used": 409, "insufficient_funds": 409,
    "challenge_expired": 410, "session_expired": 410, "signature_stale": 410,
    "card_locked": 423, "otp_locked": 423,
}


def _b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BankRequestError(f"{field} is base64", field=field) from None


def _hex(text: str | None, field: str) -> bytes:
    try:
        return bytes.fromhex(text or "")
    except ValueError:
        raise BankRequestError(f"{field} is hex", field=field) from None


def _signature(body: TransferBody) -> CertificateSignature | SimpleAuthSignature:
    if (body.signature is None) == (body.simple_auth is None):
        raise BankRequestError("a transfer carries a certificate signature or a simple-"
                               "authentication one (not both)", field="signature")
    if body.simple_auth is not None:
        signed = body.simple_auth
        return SimpleAuthSignature(signed.session_id, signed.text.encode(),
                                   _b64(signed.signature, "signature"))
    assert body.signature is not None
    if body.r is None:
        raise BankRequestError("a certificate signature comes with the R of its key (hex)",
                               field="r")
    return CertificateSignature(_b64(body.signature, "signature"), _hex(body.r, "r"))


def _answer(body: TransferBody) -> MediumAnswer:
    if [body.card is not None, body.otp is not None, body.private_certificate].count(True) != 1:
        raise BankRequestError("a transfer carries a security card answer, an OTP code or "
                               "private_certificate: true (one)", field="card")
    if body.private_certificate:
        return PrivateCertificateAnswer()
    if body.card is not None:
        return CardAnswer(body.card.challenge_id, body.card.answer)
    assert body.otp is not None
    return OtpAnswer(body.otp.serial, body.otp.code)


# -- path parameters ------------------------------------------------------------------------


def _id(request: Request, name: str) -> str:
    """A path parameter naming a record: one longer than any id is no record's, and is
    answered as any other unknown one."""
    value: str = request.path_params[name]
    if len(value) > 64:
        raise BankNotFoundError(name)
    return value


def _holder(b: Banking, i: Institution, r: Request) -> BankCustomer:
    return b.customer(i, _id(r, "customer"))


def _seed(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except (ValueError, binascii.Error):
        raise BankRequestError("an OTP seed is hex", field="seed") from None


# -- routes ---------------------------------------------------------------------------------


def bank_routes(factory: Callable[[], Banking], *, workers: int = 8,
                test_channel: bool = False) -> list[Route]:
    """Routes for the bank whose per-thread :class:`Banking` instances ``factory`` makes;
    ``test_channel`` adds ``/bank/v1/test/...`` (for test set-ups only)."""
    api: JsonApi[Banking] = JsonApi(factory, lambda b, key: authenticate(b.store, key),
                                    name="bank", workers=workers)
    endpoint = api.endpoint

    # customers, enrolment ------------------------------------------------------------------

    def add_customer(b: Banking, i: Institution, body: CustomerBody, r: Request) -> Any:
        return _customer(b.customers.add(i, name=body.name, rrn=body.rrn, phone=body.phone,
                                         carrier=body.carrier, mvno=body.mvno,
                                         line_type=body.line_type))

    def customer(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        seen = b.overview(i, _id(r, "customer"))
        return {**_customer(seen.customer), "enrolment": _enrolment(seen.enrolment),
                "accounts": [_account(a) for a in seen.accounts], "card": _card(seen.card),
                "otp": [_otp(t) for t in seen.otp_tokens], "limits": _limits(seen.limits)}

    def change_line(b: Banking, i: Institution, body: LineBody, r: Request) -> Any:
        return _customer(b.customers.change_line(
            i, _holder(b, i, r).id, phone=body.phone, carrier=body.carrier,
            mvno=body.mvno, line_type=body.line_type))

    def sign_up(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _enrolment(b.customers.sign_up(i, _id(r, "customer")))

    def activate(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _enrolment(b.customers.activate(i, _id(r, "customer")))

    # accounts ------------------------------------------------------------------------------

    def open_account(b: Banking, i: Institution, body: AccountBody, r: Request) -> Any:
        return _account(b.customers.open_account(i, _id(r, "customer"),
                                                 password=body.password,
                                                 balance=body.balance, number=body.number))

    def account(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _account(b.customers.account(i, _id(r, "account")))

    def check_password(b: Banking, i: Institution, body: PasswordBody, r: Request) -> Any:
        b.customers.check_password(i, _id(r, "account"), body.password)
        return {"checked": True}

    def reset_password(b: Banking, i: Institution, body: ResetPasswordBody, r: Request
                       ) -> Any:
        return _account(b.customers.reset_password(i, _id(r, "account"),
                                                   password=body.password,
                                                   operator=body.operator))

    # security cards ------------------------------------------------------------------------

    def issue_card(b: Banking, i: Institution, body: CardBody, r: Request) -> Any:
        return _printed(b.cards.issue(i, _id(r, "customer"), seed=body.seed))

    def card(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        state = b.card_state(i, _id(r, "customer"))
        if state is None:
            raise BankNotFoundError("card")
        return _card(state)

    def challenge(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _challenge(b.cards.challenge(i, _id(r, "customer")))

    def answer(b: Banking, i: Institution, body: AnswerBody, r: Request) -> Any:
        b.cards.answer(i, _id(r, "challenge"), body.answer)
        return {"answered": True}

    def reset_card(b: Banking, i: Institution, body: OperatorBody, r: Request) -> Any:
        b.cards.reset(i, _id(r, "customer"), operator=body.operator)
        return _card(b.card_state(i, _id(r, "customer")))

    def card_lost(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        b.cards.report_lost(i, _id(r, "customer"))
        return {"lost": True}

    # OTP -------------------------------------------------------------------------------------

    def issue_otp(b: Banking, i: Institution, body: OtpIssueBody, r: Request) -> Any:
        holder = _holder(b, i, r)
        kind = OtpKind(body.kind)
        if kind is OtpKind.HARDWARE:
            if body.device is not None:
                raise BankRequestError("a hardware OTP is bound to no device", field="device")
            issued = b.otp.issue_hardware(holder, serial=body.serial, seed=_seed(body.seed))
        else:
            if body.serial is not None or body.seed is not None:
                raise BankRequestError("only a hardware OTP comes with its serial and seed",
                                       field="serial" if body.serial is not None else "seed")
            if body.device is None:
                raise BankRequestError(f"a {kind.value} OTP is issued to a device",
                                       field="device")
            issue = b.otp.issue_mobile if kind is OtpKind.MOBILE else b.otp.issue_digital
            issued = issue(holder, device=body.device)
        return _otp(b.otp.status(holder, issued.serial))

    def otp_tokens(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return {"tokens": [_otp(t) for t in b.otp.tokens_of(_holder(b, i, r))]}

    def otp_token(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _otp(b.otp.status(_holder(b, i, r), _id(r, "serial")))

    def register_otp(b: Banking, i: Institution, body: OtpCodeBody, r: Request) -> Any:
        if body.device is not None:
            raise BankRequestError("registering names no device", field="device")
        return _accepted(b.otp.register(_holder(b, i, r), _id(r, "serial"), body.code))

    def verify_otp(b: Banking, i: Institution, body: OtpCodeBody, r: Request) -> Any:
        return _accepted(b.otp.verify(_holder(b, i, r), _id(r, "serial"), body.code,
                                      device=body.device))

    def activate_otp(b: Banking, i: Institution, body: OtpCodeBody, r: Request) -> Any:
        if body.device is None:
            raise BankRequestError("a mobile OTP is activated from its device",
                                   field="device")
        return _accepted(b.otp.activate(_holder(b, i, r), _id(r, "serial"), body.code,
                                        device=body.device))

    def resync_otp(b: Banking, i: Institution, body: OtpResyncBody, r: Request) -> Any:
        return _accepted(b.otp.resynchronise(_holder(b, i, r), _id(r, "serial"), body.first,
                                             body.second, device=body.device))

    def otp_lost(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        holder = _holder(b, i, r)
        b.otp.report_lost(holder, _id(r, "serial"))
        return _otp(b.otp.status(holder, _id(r, "serial")))

    def reset_otp(b: Banking, i: Institution, body: OperatorBody, r: Request) -> Any:
        holder = _holder(b, i, r)
        b.otp.reset_failures(holder, _id(r, "serial"), operator=body.operator)
        return _otp(b.otp.status(holder, _id(r, "serial")))

    # limits ----------------------------------------------------------------------------------

    def limits(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _limits(b.limits_now(i, _holder(b, i, r).id))

    # phone verification ----------------------------------------------------------------------

    def request_verification(b: Banking, i: Institution, body: VerificationBody,
                             r: Request) -> Any:
        return _request(b.phone.request(i, name=body.name, phone=body.phone, rrn7=body.rrn7,
                                        carrier=body.carrier, method=body.method))

    def verification(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _status(b.phone.status(i, _id(r, "verification")))

    def confirm(b: Banking, i: Institution, body: CodeBody, r: Request) -> Any:
        return _result(b.phone.confirm(i, _id(r, "verification"), body.code))

    def resend(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _request(b.phone.resend(i, _id(r, "verification")))

    # the test channel: the customer's side ---------------------------------------------------

    def messages(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        phone = r.query_params.get("phone", "")
        if len(phone) > 64:
            raise BankRequestError("phone is at most 64 characters", field="phone")
        return {"messages": [{"text": m.text, "via": m.via.value, "at": utc(m.at)}
                             for m in b.phone.messages(i, phone)]}

    def add_line(b: Banking, i: Institution, body: LineTestBody, r: Request) -> Any:
        line = b.lines.add(body.phone, name=body.name, rrn=body.rrn, carrier=body.carrier,
                           mvno=body.mvno, line_type=body.line_type, state=body.state,
                           other_name=body.other_name, ars_blocked=body.ars_blocked)
        return {"phone": line.phone, "carrier": line.carrier.value, "mvno": line.mvno,
                "line_type": line.line_type.value, "state": line.state.value}

    def change_test_line(b: Banking, i: Institution, body: LineChangeBody, r: Request
                         ) -> Any:
        line = b.lines.change(_id(r, "phone"), state=body.state, other_name=body.other_name,
                              ars_blocked=body.ars_blocked)
        return {"phone": line.phone, "state": line.state.value,
                "other_name": line.other_name, "ars_blocked": line.ars_blocked}

    def press(b: Banking, i: Institution, body: PressBody, r: Request) -> Any:
        b.phone.press(i, _id(r, "verification"), body.digits)
        return {"pressed": True}

    def enrol_app(b: Banking, i: Institution, body: AppBody, r: Request) -> Any:
        b.phone.enrol_app(body.phone, password=body.password)
        return {"enrolled": True}

    def app_history(b: Banking, i: Institution, body: AppBody, r: Request) -> Any:
        return {"history": [_app_entry(e) for e in
                            b.phone.app_history(body.phone, password=body.password)]}

    def otp_code(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return {"code": b.otp_code(i, _id(r, "customer"), _id(r, "serial"))}

    def printed_card(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _printed(b.printed_card(i, _id(r, "customer")))

    # designated devices -----------------------------------------------------------------------

    def devices(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _devices(b.devices.state(i, _id(r, "customer")))

    def designate(b: Banking, i: Institution, body: DeviceBody, r: Request) -> Any:
        if body.operator is not None:
            raise BankRequestError("designating names no operator", field="operator")
        return _devices(b.devices.designate(i, _id(r, "customer"), body.device))

    def remove_device(b: Banking, i: Institution, body: DeviceBody, r: Request) -> Any:
        return _devices(b.devices.remove(i, _id(r, "customer"), body.device,
                                         operator=body.operator))

    def designated_only(b: Banking, i: Institution, body: DesignatedOnlyBody, r: Request
                        ) -> Any:
        return _devices(b.devices.set_designated_only(i, _id(r, "customer"), body.on,
                                                      operator=body.operator))

    def step_up(b: Banking, i: Institution, body: StepUpBody, r: Request) -> Any:
        return _devices(b.devices.subscribe_step_up(i, _id(r, "customer"), body.method))

    def decide(b: Banking, i: Institution, body: DecideBody, r: Request) -> Any:
        return _decision(b.devices.decide(i, _id(r, "customer"), body.device,
                                          CoveredOperation(body.operation),
                                          day_total=body.day_total,
                                          otp_exempt=body.otp_exempt))

    # logins ----------------------------------------------------------------------------------

    def register_key(b: Banking, i: Institution, body: KeyBody, r: Request) -> Any:
        key = b.sessions.register_key(i, _id(r, "customer"), device=body.device,
                                      public_key=_b64(body.public_key, "public_key"))
        return {"key_id": key.id, "device": key.device,
                "registered_at": utc(key.registered_at)}

    def remove_key(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        b.sessions.remove_key(i, _id(r, "customer"), _id(r, "key"))
        return {"removed": True}

    def login_challenge(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        challenge = b.sessions.challenge(i, _id(r, "customer"))
        return {"challenge_id": challenge.id, "text": challenge.text.decode(),
                "expires_at": utc(challenge.expires_at)}

    def login_simple_auth(b: Banking, i: Institution, body: SimpleAuthLoginBody, r: Request
                          ) -> Any:
        return _session(b.sessions.login_simple_auth(
            i, body.challenge_id, key_id=body.key_id,
            signature=_b64(body.signature, "signature")))

    def login_certificate(b: Banking, i: Institution, body: CertificateLoginBody, r: Request
                          ) -> Any:
        return _session(b.sessions.login_certificate(
            i, body.challenge_id, signature=_b64(body.signature, "signature"),
            r=_hex(body.r, "r")))

    def login_password(b: Banking, i: Institution, body: PasswordLoginBody, r: Request
                       ) -> Any:
        return _session(b.sessions.login_password(i, body.customer_id, account=body.account,
                                                  password=body.password))

    def session(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return _session(b.sessions.get(i, _id(r, "session")))

    def logout(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        b.sessions.logout(i, _id(r, "session"))
        return _session(b.sessions.get(i, _id(r, "session")))

    # transfers -------------------------------------------------------------------------------

    def order(b: Banking, i: Institution, body: OrderBody, r: Request) -> Any:
        asked = TransferOrder.at_institution(i, body.from_account, body.to_account,
                                             body.amount, b.clock.now())
        return {"text": asked.text().decode(), "signed_at": utc(asked.signed_at)}

    def transfer(b: Banking, i: Institution, body: TransferBody, r: Request) -> Any:
        result = b.transfers.authorise(
            i, _id(r, "customer"), from_account=body.from_account, to_account=body.to_account,
            amount=body.amount, signature=_signature(body), medium_response=_answer(body),
            device=body.device, step_up=body.step_up)
        if result.accepted:
            return JSONResponse(_transfer(result), status_code=201)
        code = result.code or "refused"
        return error(code, f"the transfer was refused: {code.replace('_', ' ')}",
                     _TRANSFER_STATUS.get(code, 403), transfer=_transfer(result),
                     **({"attempts_left": result.attempts_left}
                        if result.attempts_left is not None else {}))

    def transfers(b: Banking, i: Institution, body: Empty, r: Request) -> Any:
        return {"transfers": [_record(t) for t in b.transfers.transfers(i, _id(r, "customer"))]}

    customers = f"{PREFIX}/customers/{{customer}}"
    otp = f"{customers}/otp/{{serial}}"
    routes = [
        Route(f"{PREFIX}/customers", endpoint(CustomerBody, add_customer, status=201),
              methods=["POST"]),
        Route(customers, endpoint(Empty, customer), methods=["GET"]),
        Route(f"{customers}/line", endpoint(LineBody, change_line), methods=["POST"]),
        Route(f"{customers}/sign-up", endpoint(Empty, sign_up), methods=["POST"]),
        Route(f"{customers}/activate", endpoint(Empty, activate), methods=["POST"]),
        Route(f"{customers}/accounts", endpoint(AccountBody, open_account, status=201),
              methods=["POST"]),
        Route(f"{PREFIX}/accounts/{{account}}", endpoint(Empty, account), methods=["GET"]),
        Route(f"{PREFIX}/accounts/{{account}}/password", endpoint(PasswordBody,
                                                                  check_password),
              methods=["POST"]),
        Route(f"{PREFIX}/accounts/{{account}}/reset", endpoint(ResetPasswordBody,
                                                               reset_password),
              methods=["POST"]),
        Route(f"{customers}/card", endpoint(CardBody, issue_card, status=201),
              methods=["POST"]),
        Route(f"{customers}/card", endpoint(Empty, card), methods=["GET"]),
        Route(f"{customers}/card/challenge", endpoint(Empty, challenge, status=201),
              methods=["POST"]),
        Route(f"{customers}/card/reset", endpoint(OperatorBody, reset_card),
              methods=["POST"]),
        Route(f"{customers}/card/lost", endpoint(Empty, card_lost), methods=["POST"]),
        Route(f"{PREFIX}/challenges/{{challenge}}/answer", endpoint(AnswerBody, answer),
              methods=["POST"]),
        Route(f"{customers}/otp", endpoint(OtpIssueBody, issue_otp, status=201),
              methods=["POST"]),
        Route(f"{customers}/otp", endpoint(Empty, otp_tokens), methods=["GET"]),
        Route(otp, endpoint(Empty, otp_token), methods=["GET"]),
        Route(f"{otp}/register", endpoint(OtpCodeBody, register_otp), methods=["POST"]),
        Route(f"{otp}/verify", endpoint(OtpCodeBody, verify_otp), methods=["POST"]),
        Route(f"{otp}/activate", endpoint(OtpCodeBody, activate_otp), methods=["POST"]),
        Route(f"{otp}/resync", endpoint(OtpResyncBody, resync_otp), methods=["POST"]),
        Route(f"{otp}/lost", endpoint(Empty, otp_lost), methods=["POST"]),
        Route(f"{otp}/reset", endpoint(OperatorBody, reset_otp), methods=["POST"]),
        Route(f"{customers}/limits", endpoint(Empty, limits), methods=["GET"]),
        Route(f"{PREFIX}/verifications", endpoint(VerificationBody, request_verification,
                                                  status=201), methods=["POST"]),
        Route(f"{PREFIX}/verifications/{{verification}}", endpoint(Empty, verification),
              methods=["GET"]),
        Route(f"{PREFIX}/verifications/{{verification}}/confirm", endpoint(CodeBody, confirm),
              methods=["POST"]),
        Route(f"{PREFIX}/verifications/{{verification}}/resend", endpoint(Empty, resend),
              methods=["POST"]),
        Route(f"{customers}/devices", endpoint(Empty, devices), methods=["GET"]),
        Route(f"{customers}/devices", endpoint(DeviceBody, designate), methods=["POST"]),
        Route(f"{customers}/devices/remove", endpoint(DeviceBody, remove_device),
              methods=["POST"]),
        Route(f"{customers}/devices/designated-only",
              endpoint(DesignatedOnlyBody, designated_only), methods=["POST"]),
        Route(f"{customers}/devices/step-up", endpoint(StepUpBody, step_up), methods=["POST"]),
        Route(f"{customers}/devices/decide", endpoint(DecideBody, decide), methods=["POST"]),
        Route(f"{customers}/keys", endpoint(KeyBody, register_key, status=201),
              methods=["POST"]),
        Route(f"{customers}/keys/{{key}}/remove", endpoint(Empty, remove_key),
              methods=["POST"]),
        Route(f"{customers}/login-challenge", endpoint(Empty, login_challenge, status=201),
              methods=["POST"]),
        Route(f"{PREFIX}/sessions/simple-auth",
              endpoint(SimpleAuthLoginBody, login_simple_auth, status=201), methods=["POST"]),
        Route(f"{PREFIX}/sessions/certificate",
              endpoint(CertificateLoginBody, login_certificate, status=201),
              methods=["POST"]),
        Route(f"{PREFIX}/sessions/password",
              endpoint(PasswordLoginBody, login_password, status=201), methods=["POST"]),
        Route(f"{PREFIX}/sessions/{{session}}", endpoint(Empty, session), methods=["GET"]),
        Route(f"{PREFIX}/sessions/{{session}}/logout", endpoint(Empty, logout),
              methods=["POST"]),
        Route(f"{PREFIX}/orders", endpoint(OrderBody, order), methods=["POST"]),
        Route(f"{customers}/transfers", endpoint(TransferBody, transfer, status=201),
              methods=["POST"]),
        Route(f"{customers}/transfers", endpoint(Empty, transfers), methods=["GET"]),
    ]
    if test_channel:
        test = f"{PREFIX}/test"
        routes += [
            Route(f"{test}/messages", endpoint(Empty, messages), methods=["GET"]),
            Route(f"{test}/lines", endpoint(LineTestBody, add_line, status=201),
                  methods=["POST"]),
            Route(f"{test}/lines/{{phone}}", endpoint(LineChangeBody, change_test_line),
                  methods=["POST"]),
            Route(f"{test}/verifications/{{verification}}/press", endpoint(PressBody, press),
                  methods=["POST"]),
            Route(f"{test}/apps", endpoint(AppBody, enrol_app, status=201),
                  methods=["POST"]),
            Route(f"{test}/apps/history", endpoint(AppBody, app_history), methods=["POST"]),
            Route(f"{test}/customers/{{customer}}/otp/{{serial}}/code",
                  endpoint(Empty, otp_code), methods=["GET"]),
            Route(f"{test}/customers/{{customer}}/card", endpoint(Empty, printed_card),
                  methods=["GET"]),
        ]
    routes.append(api.no_route(PREFIX))
    return routes
