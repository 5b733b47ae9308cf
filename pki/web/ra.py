"""The registration authority's web API, ``/ra/v1``: each issuance flow step by step over
HTTP, on the JSON error contract of :mod:`pki.web.jsonapi` (the institution's ``X-API-Key``
first, bodies validated before work, a refusal as 4xx JSON with its stable code).

The routes of each flow live beside it: joint certificates here, financial certificates in
:mod:`pki.web.ra_financial`, private certificates in :mod:`pki.web.ra_private`;
:func:`ra_routes` makes one :class:`pki.web.jsonapi.JsonApi` and adds each flow's list.

**Joint certificates** (:mod:`pki.ra.joint`), under ``/ra/v1/joint/sessions``:

* ``POST /ra/v1/joint/sessions`` ``{"operation": "issue"|"reissue"|"renew", "device",
  "serial"}`` (201; ``serial``: the certificate's, hex, for a reissue or a renewal);
* ``GET .../{session}``: the session, the step due and every step asked for, with its
  reason code when refused (never a secret: the data holds ids, the account number, the
  fee);
* ``POST .../{session}/terms`` ``{"agreed": [...], "certificate": "general"|"banking"}``,
  ``.../identify`` ``{"rrn", "customer_id"}``, ``.../phone`` ``{"verification_id"}`` (a
  phone verification made through ``/bank/v1/verifications``), ``.../account``
  ``{"number", "password"}``, ``.../card-challenge`` (201: the positions to answer),
  ``.../medium`` ``{"card": {"challenge_id", "answer"}}`` or ``{"otp": {"serial",
  "code"}}``, ``.../sign`` ``{"customer_id", "signature", "r", "account"}`` (a renewal:
  the CMS signature in base64 over the session's ``challenge``, R in hex);
* ``POST .../{session}/issue`` ``{"password"}`` (201): the certificate password travels in
  this body only; the certificate is issued into ``<home>/ra/joint/<session>/NPKI/...``
  and answered with its PEM, serial, folder and the fee.

A step's refusal is answered with its code: the engine's ``step_out_of_order``,
``step_repeated``, ``session_finished`` and ``session_failed`` are 409 with ``expected``
(the step due), ``session_expired`` 410 (too late: start again); the flow's own
(``identity_not_matched``, ``phone_used`` ...) 403; a wrong account
password, card answer or OTP code 401 with ``attempts_left``; a lock 423.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

import msgspec
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.routing import Route

from ..bank.cards import Challenge
from ..bank.transfers import CardAnswer, OtpAnswer
from ..cloud.service import authenticate
from ..errors import BankNotFoundError, BankRequestError
from ..ra.joint import JOINT_FLOWS, JointIssued
from ..ra.sessions import Flow
from ..store import Institution, RaSessionRecord, RaSessionState, RaStepRecord
from ..usecases.ra import RegistrationDesk
from .jsonapi import MAX_BODY_BYTES, Body, Empty, JsonApi, utc

__all__ = ["PREFIX", "joint_routes", "ra_routes"]

PREFIX = "/ra/v1"

Short = Annotated[str, msgspec.Meta(max_length=64)]
Secret = Annotated[str, msgspec.Meta(max_length=256)]
Blob = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]


class StartBody(Body):
    operation: Literal["issue", "reissue", "renew"]
    device: Short
    serial: Short | None = None
    """The certificate to reissue or renew (hex)."""


class TermsBody(Body):
    agreed: Annotated[list[Short], msgspec.Meta(max_length=32)]
    certificate: Literal["general", "banking"] | None = None


class IdentifyBody(Body):
    rrn: Short
    customer_id: Short


class PhoneBody(Body):
    verification_id: Short


class AccountBody(Body):
    number: Short
    password: Short


class CardBody(Body):
    challenge_id: Short
    answer: Short


class OtpBody(Body):
    serial: Short
    code: Short


class MediumBody(Body):
    card: CardBody | None = None
    otp: OtpBody | None = None


class SignBody(Body):
    customer_id: Short
    signature: Blob
    r: Short
    account: Short | None = None


class IssueBody(Body):
    password: Secret


def session_answer(record: RaSessionRecord, flow: Flow,
                   history: Iterable[RaStepRecord] | None = None, **after_flow: Any
                   ) -> dict[str, Any]:
    """A session of any flow as the API shows it (its data holds no secret): the step
    ``flow`` has due, ``after_flow`` (a flow's own fields) after its name, every step of
    ``history`` when given."""
    answer: dict[str, Any] = {
        "session_id": record.id, "flow": record.flow, **after_flow,
        "state": record.state.value, "customer_id": record.customer_id,
        "steps_done": list(record.steps_done),
        "next_step": flow.next_step(record) if record.state is RaSessionState.OPEN else None,
        "data": dict(record.data), "created_at": utc(record.created_at),
        "expires_at": utc(record.expires_at),
        "finished_at": None if record.finished_at is None else utc(record.finished_at)}
    if history is not None:
        answer["history"] = [{"step": s.step, "accepted": s.accepted, "reason": s.reason,
                              "at": utc(s.at)} for s in history]
    return answer


def session_json(record: RaSessionRecord, history: tuple[RaStepRecord, ...] | None = None
                 ) -> dict[str, Any]:
    """A joint session as the API shows it."""
    operation = JOINT_FLOWS[record.flow]
    return session_answer(record, operation.flow, history, operation=operation.value)


def challenge_json(challenge: Challenge) -> dict[str, Any]:
    return {"challenge_id": challenge.id, "serial": challenge.serial,
            "first": challenge.first, "second": challenge.second,
            "expires_at": utc(challenge.expires_at)}


def _issued(done: JointIssued) -> dict[str, Any]:
    return {"session": session_json(done.session), "ca": done.issued.ca,
            "serial": format(done.issued.serial, "X"), "profile": done.issued.profile.name,
            "certificate": done.issued.certificate.public_bytes(Encoding.PEM).decode(),
            "folder": str(done.folder), "fee": done.fee, "account": done.account}


def path_id(request: Request, name: str = "session") -> str:
    """The id the path names (:class:`BankNotFoundError` ``name`` when it is too long to
    be one)."""
    value: str = request.path_params[name]
    if len(value) > 64:
        raise BankNotFoundError(name)
    return value


def serial_field(text: str | None, field: str = "serial") -> int | None:
    """A body's serial ``field`` in hex, None when absent (:class:`BankRequestError`
    naming it when it is not hex)."""
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        raise BankRequestError(f"{field} is a serial in hex", field=field) from None


def b64_field(text: str, field: str) -> bytes:
    """A body's base64 ``field`` (:class:`BankRequestError` naming it when it is not)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BankRequestError(f"{field} is base64", field=field) from None


def hex_field(text: str, field: str) -> bytes:
    """A body's hex ``field`` (:class:`BankRequestError` naming it when it is not)."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BankRequestError(f"{field} is hex", field=field) from None


def medium_answer(body: MediumBody) -> CardAnswer | OtpAnswer:
    """The medium's answer a body carries: a card answer or an OTP code, exactly one."""
    if (body.card is None) == (body.otp is None):
        raise BankRequestError("a medium's answer is a card answer or an OTP code (one)",
                               field="card")
    if body.card is not None:
        return CardAnswer(body.card.challenge_id, body.card.answer)
    assert body.otp is not None
    return OtpAnswer(body.otp.serial, body.otp.code)


def joint_routes(api: JsonApi[RegistrationDesk]) -> list[Route]:
    """The joint-certificate flows' routes (see the module doc)."""
    endpoint = api.endpoint

    def start(d: RegistrationDesk, i: Institution, body: StartBody, r: Request) -> Any:
        return session_json(d.joint.start(i, body.operation, device=body.device,
                                          serial=serial_field(body.serial)))

    def show(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        record = d.joint.get(i, path_id(r))
        return session_json(record, d.joint.history(i, record.id))

    def terms(d: RegistrationDesk, i: Institution, body: TermsBody, r: Request) -> Any:
        return session_json(d.joint.terms(i, path_id(r), agreed=body.agreed,
                                          certificate=body.certificate))

    def identify(d: RegistrationDesk, i: Institution, body: IdentifyBody, r: Request) -> Any:
        return session_json(d.joint.identify(i, path_id(r), rrn=body.rrn,
                                             customer_id=body.customer_id))

    def phone(d: RegistrationDesk, i: Institution, body: PhoneBody, r: Request) -> Any:
        return session_json(d.joint.phone(i, path_id(r),
                                          verification_id=body.verification_id))

    def account(d: RegistrationDesk, i: Institution, body: AccountBody, r: Request) -> Any:
        return session_json(d.joint.account(i, path_id(r), number=body.number,
                                            password=body.password))

    def card_challenge(d: RegistrationDesk, i: Institution, body: Empty, r: Request) -> Any:
        return challenge_json(d.joint.card_challenge(i, path_id(r)))

    def medium(d: RegistrationDesk, i: Institution, body: MediumBody, r: Request) -> Any:
        return session_json(d.joint.medium(i, path_id(r), answer=medium_answer(body)))

    def sign(d: RegistrationDesk, i: Institution, body: SignBody, r: Request) -> Any:
        return session_json(d.joint.sign(
            i, path_id(r), customer_id=body.customer_id,
            signature=b64_field(body.signature, "signature"), r=hex_field(body.r, "r"),
            account=body.account))

    def issue(d: RegistrationDesk, i: Institution, body: IssueBody, r: Request) -> Any:
        record = d.joint.get(i, path_id(r))
        return _issued(d.joint.issue(i, record.id, password=body.password,
                                     out=d.joint_folder(record.id)))

    sessions = f"{PREFIX}/joint/sessions"
    one = f"{sessions}/{{session}}"
    return [
        Route(sessions, endpoint(StartBody, start, status=201), methods=["POST"]),
        Route(one, endpoint(Empty, show), methods=["GET"]),
        Route(f"{one}/terms", endpoint(TermsBody, terms), methods=["POST"]),
        Route(f"{one}/identify", endpoint(IdentifyBody, identify), methods=["POST"]),
        Route(f"{one}/phone", endpoint(PhoneBody, phone), methods=["POST"]),
        Route(f"{one}/account", endpoint(AccountBody, account), methods=["POST"]),
        Route(f"{one}/card-challenge", endpoint(Empty, card_challenge, status=201),
              methods=["POST"]),
        Route(f"{one}/medium", endpoint(MediumBody, medium), methods=["POST"]),
        Route(f"{one}/sign", endpoint(SignBody, sign), methods=["POST"]),
        Route(f"{one}/issue", endpoint(IssueBody, issue, status=201), methods=["POST"]),
    ]


def ra_routes(factory: Callable[[], RegistrationDesk], *, workers: int = 8) -> list[Route]:
    """Routes for the flows of the per-thread desks ``factory`` makes: one JSON API, each
    flow's routes added to it, and the catch-all 404 under ``/ra/v1`` last."""
    api: JsonApi[RegistrationDesk] = JsonApi(
        factory, lambda d, key: authenticate(d.store, key), name="ra", workers=workers)
    from .ra_financial import financial_routes
    from .ra_private import private_routes

    routes = [*joint_routes(api), *financial_routes(api), *private_routes(api)]
    routes.append(api.no_route(PREFIX))
    return routes
