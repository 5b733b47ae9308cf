"""The financial-certificate flows over HTTP (:mod:`pki.ra.financial`), under
``/ra/v1/financial/sessions``, on the JSON error contract of :mod:`pki.web.jsonapi`:

* ``POST /ra/v1/financial/sessions`` ``{"flow": "issue"|"reissue"|"register"|
  "pin-reset", "device", "customer_id"}`` (201; ``device`` and ``customer_id`` optional);
* ``GET .../{session}``: the session, the step due and every step asked for with its
  reason code when refused (the data holds ids and the account number, never a secret);
* ``POST .../{session}/account`` ``{"number", "password"}``, ``.../phone``
  ``{"verification_id"}`` (a verification made through ``/bank/v1/verifications``),
  ``.../card-challenge`` (201: the positions to answer), ``.../medium`` ``{"card":
  {"challenge_id", "answer"}}`` or ``{"otp": {"serial", "code"}}``, ``.../cloud``
  ``{"name", "phone", "birth_date"}`` (the cloud sends its 2-digit code to the phone:
  ``/cloud/v1/test/messages`` with ``--test-channel``), ``.../confirm`` ``{"code"}``;
* ``POST .../{session}/issue`` ``{"pin", "pin_confirm", "replaces", "designate"}`` (201):
  the PINs travel in this body only; ``replaces`` (hex) names the certificate a reissue
  revokes; ``designate`` restricts the certificate to that device. Answered with the
  certificate's PEM and serial, the holder's cloud user id;
* ``POST .../{session}/register`` ``{"serial", "pin"}``: another institution's
  certificate, answered ``{"status": "10"|"30"|"40"|"50", "registered": ...}``;
* ``POST .../{session}/pin`` ``{"serial", "pin", "pin_confirm"}``: a ``pin-reset``
  session's last step, the certificate's new PIN (in this body only), answered with the
  session and the serial (the same certificate); ``no_recovery_copy`` (403: issued where
  PINs are not reset) means revoke and reissue;
* ``POST /ra/v1/financial/renewal-notices``: what the institution's scheduler calls: the
  renewal notices due now for the certificates registered at the calling institution
  are sent (from a month before expiry, once each, to the holder's phone), answered
  ``{"due": [serial, ...]}`` (hex).

Refusals: the engine's are 409 (``session_expired`` 410), the flow's own
(``phone_used``, ``cloud_identity_mismatch``, ``pin_mismatch``, ``certificate_not_found``
...) 403, a wrong password, answer, code or PIN 401 with ``attempts_left``, a lock 423.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.routing import Route

from ..bank.cards import Challenge
from ..errors import BankNotFoundError, BankRequestError
from ..ra.financial import FINANCIAL_FLOWS, FinancialIssued
from ..store import Institution, RaSessionRecord, RaSessionState, RaStepRecord
from ..usecases.ra import RegistrationDesk
from .jsonapi import Body, Empty, JsonApi, utc

__all__ = ["financial_routes"]

PREFIX = "/ra/v1/financial/sessions"
RENEWAL_NOTICES = "/ra/v1/financial/renewal-notices"

Short = Annotated[str, msgspec.Meta(max_length=64)]


class StartBody(Body):
    flow: Literal["issue", "reissue", "register", "pin-reset"]
    device: Short | None = None
    customer_id: Short | None = None


class AccountBody(Body):
    number: Short
    password: Short


class PhoneBody(Body):
    verification_id: Short


class CardBody(Body):
    challenge_id: Short
    answer: Short


class OtpBody(Body):
    serial: Short
    code: Short


class MediumBody(Body):
    card: CardBody | None = None
    otp: OtpBody | None = None


class CloudBody(Body):
    name: Short
    phone: Short
    birth_date: Short


class ConfirmBody(Body):
    code: Short


class IssueBody(Body):
    pin: Short
    pin_confirm: Short
    replaces: Short | None = None
    designate: Short | None = None


class RegisterBody(Body):
    serial: Short
    pin: Short


class PinResetBody(Body):
    serial: Short
    pin: Short
    pin_confirm: Short


def _step(step: RaStepRecord) -> dict[str, Any]:
    return {"step": step.step, "accepted": step.accepted, "reason": step.reason,
            "at": utc(step.at)}


def session_json(record: RaSessionRecord, history: tuple[RaStepRecord, ...] | None = None
                 ) -> dict[str, Any]:
    """A financial session as the API shows it."""
    flow = FINANCIAL_FLOWS[record.flow]
    answer: dict[str, Any] = {
        "session_id": record.id, "flow": record.flow, "state": record.state.value,
        "customer_id": record.customer_id, "steps_done": list(record.steps_done),
        "next_step": flow.next_step(record) if record.state is RaSessionState.OPEN else None,
        "data": dict(record.data), "created_at": utc(record.created_at),
        "expires_at": utc(record.expires_at),
        "finished_at": None if record.finished_at is None else utc(record.finished_at)}
    if history is not None:
        answer["history"] = [_step(s) for s in history]
    return answer


def _challenge(challenge: Challenge) -> dict[str, Any]:
    return {"challenge_id": challenge.id, "serial": challenge.serial,
            "first": challenge.first, "second": challenge.second,
            "expires_at": utc(challenge.expires_at)}


def _issued(done: FinancialIssued) -> dict[str, Any]:
    return {"session": session_json(done.session), "serial": format(done.serial, "X"),
            "user_id": done.user_id,
            "certificate": done.certificate.public_bytes(Encoding.PEM).decode(),
            "replaced": None if done.replaced is None else format(done.replaced, "X")}


def _id(request: Request) -> str:
    value: str = request.path_params["session"]
    if len(value) > 64:
        raise BankNotFoundError("session")
    return value


def _serial(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        raise BankRequestError(f"{field} is a serial in hex", field=field) from None


def financial_routes(api: JsonApi[RegistrationDesk]) -> list[Route]:
    """The financial-certificate flows' routes (see the module doc)."""
    endpoint = api.endpoint

    def start(d: RegistrationDesk, i: Institution, body: StartBody, r: Request) -> Any:
        return session_json(d.financial.start(i, f"financial-{body.flow}", device=body.device,
                                              customer_id=body.customer_id))

    def show(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        record = d.financial.session(i, _id(r))
        return session_json(record, d.sessions.history(i, record.id))

    def account(d: RegistrationDesk, i: Institution, body: AccountBody, r: Request) -> Any:
        return session_json(d.financial.account(i, _id(r), account=body.number,
                                                password=body.password))

    def phone(d: RegistrationDesk, i: Institution, body: PhoneBody, r: Request) -> Any:
        return session_json(d.financial.phone(i, _id(r), verification=body.verification_id))

    def card_challenge(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        return _challenge(d.financial.card_challenge(i, _id(r)))

    def medium(d: RegistrationDesk, i: Institution, body: MediumBody, r: Request) -> Any:
        if (body.card is None) == (body.otp is None):
            raise BankRequestError("a medium's answer is a card answer or an OTP code (one)",
                                   field="card")
        if body.card is not None:
            record = d.financial.medium(i, _id(r), card_challenge=body.card.challenge_id,
                                        response=body.card.answer)
        else:
            assert body.otp is not None
            record = d.financial.medium(i, _id(r), otp_serial=body.otp.serial,
                                        response=body.otp.code)
        return session_json(record)

    def cloud(d: RegistrationDesk, i: Institution, body: CloudBody, r: Request) -> Any:
        return session_json(d.financial.connect_cloud(i, _id(r), name=body.name,
                                                      phone=body.phone,
                                                      birth_date=body.birth_date))

    def confirm(d: RegistrationDesk, i: Institution, body: ConfirmBody, r: Request) -> Any:
        return session_json(d.financial.confirm(i, _id(r), code=body.code))

    def issue(d: RegistrationDesk, i: Institution, body: IssueBody, r: Request) -> Any:
        return _issued(d.financial.issue(i, _id(r), pin=body.pin, pin_confirm=body.pin_confirm,
                                         replaces=_serial(body.replaces, "replaces"),
                                         designate=body.designate))

    def register(d: RegistrationDesk, i: Institution, body: RegisterBody, r: Request) -> Any:
        serial = _serial(body.serial, "serial")
        assert serial is not None
        done = d.financial.register(i, _id(r), serial=serial, pin=body.pin)
        return {"session": session_json(done.session), "serial": format(done.serial, "X"),
                "status": done.status.value, "registered": done.registered}

    def reset_pin(d: RegistrationDesk, i: Institution, body: PinResetBody, r: Request
                  ) -> Any:
        serial = _serial(body.serial, "serial")
        assert serial is not None
        done = d.financial.reset_pin(i, _id(r), serial=serial, pin=body.pin,
                                     pin_confirm=body.pin_confirm)
        return {"session": session_json(done.session), "serial": format(done.serial, "X")}

    def renewal_notices(d: RegistrationDesk, i: Institution, body: Empty, r: Request
                        ) -> Any:
        return {"due": [format(s, "X") for s in d.financial_renewal_notices(i)]}

    one = f"{PREFIX}/{{session}}"
    return [
        Route(PREFIX, endpoint(StartBody, start, status=201), methods=["POST"]),
        Route(one, endpoint(Empty, show), methods=["GET"]),
        Route(f"{one}/account", endpoint(AccountBody, account), methods=["POST"]),
        Route(f"{one}/phone", endpoint(PhoneBody, phone), methods=["POST"]),
        Route(f"{one}/card-challenge", endpoint(Empty, card_challenge, status=201),
              methods=["POST"]),
        Route(f"{one}/medium", endpoint(MediumBody, medium), methods=["POST"]),
        Route(f"{one}/cloud", endpoint(CloudBody, cloud), methods=["POST"]),
        Route(f"{one}/confirm", endpoint(ConfirmBody, confirm), methods=["POST"]),
        Route(f"{one}/issue", endpoint(IssueBody, issue, status=201), methods=["POST"]),
        Route(f"{one}/register", endpoint(RegisterBody, register), methods=["POST"]),
        Route(f"{one}/pin", endpoint(PinResetBody, reset_pin), methods=["POST"]),
        Route(RENEWAL_NOTICES, endpoint(Empty, renewal_notices), methods=["POST"]),
    ]
