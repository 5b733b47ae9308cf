"""The bank's JSON API under ``/bank/v1``, added to ``kpki serve`` beside the cloud's.

What a bank's own systems call, for a bank's tests to run against: customers and their
internet-banking enrolment, accounts, security cards and their challenges, OTP tokens,
the transfer limits, and phone verification (:mod:`pki.bank`, assembled by
:class:`pki.usecases.banking.Banking`). A bank authenticates with its ``X-API-Key`` (the
institution :func:`pki.bank.institutions.add_bank` recorded) and sees only its own
customers, accounts, challenges, tokens and verifications: anything else is answered
exactly as one that does not exist (404 ``not_found``, the same body), so a stranger cannot
tell that a customer exists.

The error contract is the cloud's, from the same code (:mod:`pki.web.jsonapi`): the API key
before a byte of the body, the body's size while it streams in (413), the body decoded into
the route's schema with exact types and no unknown fields (400 ``bad_request`` naming the
field), every refusal of the bank a 4xx JSON answer with its stable code (wrong answers
401 with ``attempts_left``, locks 423, the rules 403, used or taken 409, too late 410, too
many 429) and never a 500.

``test_channel`` (``kpki serve --test-channel``) adds ``/bank/v1/test/...``: what the
customer's side does in a test set-up (the carriers' lines, the SMS and calls a bank caused,
a key press on the ARS call, the carrier app, the code an OTP token shows now).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.routing import Route

from ..bank.cards import Challenge, PrintedCard
from ..bank.customers import Enrolment
from ..bank.otp import OtpAccepted, OtpStatus
from ..bank.phone import AppEntry, VerificationRequest, VerificationResult, VerificationStatus
from ..cloud.service import authenticate
from ..errors import BankNotFoundError, BankRequestError
from ..store import Account, BankCustomer, Institution, OtpKind
from ..usecases.banking import Banking, CardState, MediumLimits
from .jsonapi import Body, Empty, JsonApi, utc

__all__ = ["bank_routes"]

PREFIX = "/bank/v1"
MAX_KRW = 10**15
"""The largest amount or balance a request may carry (a quadrillion won)."""

Short = Annotated[str, msgspec.Meta(max_length=64)]
Digits = Annotated[str, msgspec.Meta(max_length=16)]
Krw = Annotated[int, msgspec.Meta(ge=0, le=MAX_KRW)]


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
