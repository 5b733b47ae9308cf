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

from typing import Any, Literal

from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.routing import Route

from ..bank.transfers import CardAnswer
from ..ra.financial import FINANCIAL_FLOWS, FinancialIssued
from ..store import Institution, RaSessionRecord, RaStepRecord
from ..usecases.ra import RegistrationDesk
from .jsonapi import Body, Empty, JsonApi
from .ra import (
    AccountBody,
    MediumBody,
    PhoneBody,
    Short,
    challenge_json,
    medium_answer,
    path_id,
    serial_field,
    session_answer,
)

__all__ = ["financial_routes"]

PREFIX = "/ra/v1/financial/sessions"
RENEWAL_NOTICES = "/ra/v1/financial/renewal-notices"

class StartBody(Body):
    flow: Literal["issue", "reissue", "register", "pin-reset"]
    device: Short | None = None
    customer_id: Short | None = None


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


def session_json(record: RaSessionRecord, history: tuple[RaStepRecord, ...] | None = None
                 ) -> dict[str, Any]:
    """A financial session as the API shows it."""
    return session_answer(record, FINANCIAL_FLOWS[record.flow], history)


def _issued(done: FinancialIssued) -> dict[str, Any]:
    return {"session": session_json(done.session), "serial": format(done.serial, "X"),
            "user_id": done.user_id,
            "certificate": done.certificate.public_bytes(Encoding.PEM).decode(),
            "replaced": None if done.replaced is None else format(done.replaced, "X")}


def financial_routes(api: JsonApi[RegistrationDesk]) -> list[Route]:
    """The financial-certificate flows' routes (see the module doc)."""
    endpoint = api.endpoint

    def start(d: RegistrationDesk, i: Institution, body: StartBody, r: Request) -> Any:
        return session_json(d.financial.start(i, f"financial-{body.flow}", device=body.device,
                                              customer_id=body.customer_id))

    def show(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        record = d.financial.session(i, path_id(r))
        return session_json(record, d.sessions.history(i, record.id))

    def account(d: RegistrationDesk, i: Institution, body: AccountBody, r: Request) -> Any:
        return session_json(d.financial.account(i, path_id(r), account=body.number,
                                                password=body.password))

    def phone(d: RegistrationDesk, i: Institution, body: PhoneBody, r: Request) -> Any:
        return session_json(d.financial.phone(i, path_id(r), verification=body.verification_id))

    def card_challenge(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        return challenge_json(d.financial.card_challenge(i, path_id(r)))

    def medium(d: RegistrationDesk, i: Institution, body: MediumBody, r: Request) -> Any:
        answer = medium_answer(body)
        if isinstance(answer, CardAnswer):
            record = d.financial.medium(i, path_id(r), card_challenge=answer.challenge_id,
                                        response=answer.answer)
        else:
            record = d.financial.medium(i, path_id(r), otp_serial=answer.serial,
                                        response=answer.code)
        return session_json(record)

    def cloud(d: RegistrationDesk, i: Institution, body: CloudBody, r: Request) -> Any:
        return session_json(d.financial.connect_cloud(i, path_id(r), name=body.name,
                                                      phone=body.phone,
                                                      birth_date=body.birth_date))

    def confirm(d: RegistrationDesk, i: Institution, body: ConfirmBody, r: Request) -> Any:
        return session_json(d.financial.confirm(i, path_id(r), code=body.code))

    def issue(d: RegistrationDesk, i: Institution, body: IssueBody, r: Request) -> Any:
        return _issued(d.financial.issue(i, path_id(r), pin=body.pin, pin_confirm=body.pin_confirm,
                                         replaces=serial_field(body.replaces, "replaces"),
                                         designate=body.designate))

    def register(d: RegistrationDesk, i: Institution, body: RegisterBody, r: Request) -> Any:
        serial = serial_field(body.serial)
        assert serial is not None
        done = d.financial.register(i, path_id(r), serial=serial, pin=body.pin)
        return {"session": session_json(done.session), "serial": format(done.serial, "X"),
                "status": done.status.value, "registered": done.registered}

    def reset_pin(d: RegistrationDesk, i: Institution, body: PinResetBody, r: Request
                  ) -> Any:
        serial = serial_field(body.serial)
        assert serial is not None
        done = d.financial.reset_pin(i, path_id(r), serial=serial, pin=body.pin,
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
