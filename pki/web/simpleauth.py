"""Simple authentication's JSON API under ``/simpleauth/v1``, in ``kpki serve`` beside the
cloud's and the bank's (:mod:`pki.simpleauth`, assembled by
:func:`pki.usecases.simpleauth.simple_auth_of_home`).

**The relying party** authenticates with its ``X-API-Key`` (an institution, as for the
cloud and the bank) and sees only its own requests (another's id: 404 ``not_found``):

- ``GET /simpleauth/v1/providers``: the providers, code and name;
- ``POST /simpleauth/v1/requests`` ``{provider, name, phone, rrn | birth_date, nonce?,
  text?}`` → 201 ``{request_id, status: "pending", expires_at, nonce}``;
- ``GET /simpleauth/v1/requests/{id}``: ``{status, ...}`` (``pending``, ``approved``,
  ``declined``, ``expired``, ``failed`` with ``reason``, ``collected``);
- ``POST /simpleauth/v1/requests/{id}/result``: once approved, the result, once:
  ``{cms (base64 DER), ci, certificate_chain (base64 DER, signer first), nonce,
  approved_at}``.

**The app** authenticates with its device token, ``Authorization: Bearer <token>``
(given at registration; never a phone number), checked before a byte of the body:

- ``GET /simpleauth/v1/app/requests``: its pending requests;
- ``POST /simpleauth/v1/app/requests/{id}/approve`` ``{signature}`` (base64 CMS);
- ``POST /simpleauth/v1/app/requests/{id}/decline``;
- ``POST /simpleauth/v1/app/requests/{id}/fail`` ``{reason: "pin_locked"}``.

**The app registers itself** with no key of anyone's: the proof is the credential.

- ``POST /simpleauth/v1/apps`` ``{provider, name, rrn, phone, birth_date?, proof
  (base64 CMS: :meth:`pki.simpleauth.DeviceApp.registration_proof`), r (hex, the 20
  bytes of R the device's keystore keeps)}`` → 201 ``{provider, device_token,
  registered_at}``: the provider checks exactly what :meth:`SimpleAuth.register` checks
  (the proof's signature, made in the last few minutes over this provider, name and phone;
  a private certificate this home issued, its chain and revocation; the name; the RRN's
  VID under R: ``identity_mismatch``) and answers the device token, once (it is kept
  nowhere). A first registration and one that replaces the person's earlier app answer
  alike, so the answer tells nobody whether the person had an app. There is no per-caller
  limit: every refusal after the body's shape needs a proof signed by the device's key in
  the last few minutes, and whoever holds one holds the certificate and R and could test
  RRN guesses offline anyway; the server's limits on slow and greedy clients apply. The
  RRN and R are read from the body only (never a path or header, so never in the access
  log), kept nowhere and never echoed, not even in a refusal.

The error contract is :mod:`pki.web.jsonapi`'s: 400 ``bad_request`` naming the field,
401 ``unauthorized`` / ``app_unauthorized``, 403 a refused signature (``content_mismatch``,
``certificate_revoked`` ...), 404, 409 ``request_answered`` / ``not_approved`` /
``result_collected``, 410 ``request_expired``; never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.requests import Request
from starlette.routing import Route

from ..cloud.service import authenticate
from ..errors import (
    InvalidRRNError,
    SimpleAuthAppError,
    SimpleAuthNotFoundError,
    SimpleAuthRequestError,
)
from ..rrn import RRN
from ..simpleauth import PROVIDERS, PendingRequest, SimpleAuth, StatusView
from ..store import Institution
from ..vid import R_LENGTH
from .jsonapi import MAX_BODY_BYTES, Body, Empty, JsonApi, utc

__all__ = ["PREFIX", "simpleauth_routes"]

PREFIX = "/simpleauth/v1"

Short = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
Blob = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]

_APP = Institution(id=0, name="app", added_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
"""What the app routes' authentication hands on: the app itself is read from its token."""


class RequestBody(Body):
    provider: int
    name: Short
    phone: Short
    rrn: Short | None = None
    birth_date: Short | None = None
    nonce: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    text: Text | None = None


class RegisterBody(Body):
    provider: int
    name: Short
    rrn: Short
    phone: Short
    proof: Blob
    r: Short
    birth_date: Short | None = None


class ApproveBody(Body):
    signature: Blob


class FailBody(Body):
    reason: Short


def _rrn(text: str) -> RRN:
    """The body's RRN; refused naming the rule it breaks, never echoing a digit of it."""
    try:
        return RRN.parse(text)
    except InvalidRRNError as exc:
        raise SimpleAuthRequestError(f"the RRN is not a resident registration number "
                                     f"({exc.rule})", field="rrn") from None


def _base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SimpleAuthRequestError(f"the {field} is base64", field=field) from None


def _r(text: str) -> bytes:
    """The body's R: the hex of :data:`pki.vid.R_LENGTH` bytes (never echoed)."""
    try:
        r = bytes.fromhex(text)
    except ValueError:
        r = b""
    if len(r) != R_LENGTH:
        raise SimpleAuthRequestError(f"r is the hex of the {R_LENGTH} bytes of R the device "
                                     "keeps", field="r")
    return r


def _bearer(value: str | None) -> str | None:
    if value is None or not value.startswith("Bearer "):
        return None
    return value[len("Bearer "):].strip()


def _id(request: Request) -> str:
    value: str = request.path_params["request"]
    if len(value) > 64:
        raise SimpleAuthNotFoundError("request")
    return value


def _status(view: StatusView) -> dict[str, Any]:
    return {"request_id": view.id, "provider": view.provider, "status": view.status.value,
            "created_at": utc(view.created_at), "expires_at": utc(view.expires_at),
            "answered_at": None if view.answered_at is None else utc(view.answered_at),
            "reason": view.reason}


def _pending(request: PendingRequest) -> dict[str, Any]:
    return {"request_id": request.id, "provider": request.provider,
            "relying_party": request.relying_party, "text": request.text,
            "nonce": request.nonce, "created_at": utc(request.created_at),
            "expires_at": utc(request.expires_at)}


def simpleauth_routes(factory: Callable[[], SimpleAuth], *, workers: int = 8) -> list[Route]:
    """The routes over the per-thread :class:`SimpleAuth` instances ``factory`` makes."""
    rp_api: JsonApi[SimpleAuth] = JsonApi(factory, lambda s, key: authenticate(s.store, key),
                                          name="simpleauth", workers=workers)

    def app_key(s: SimpleAuth, token: str | None) -> Institution:
        s.app(_bearer(token))  # before a byte of the body
        return _APP

    app_api = rp_api.sharing(app_key, name="simpleauth-app", header="authorization")

    def token(r: Request) -> str:
        found = _bearer(r.headers.get("authorization"))
        if found is None:
            raise SimpleAuthAppError
        return found

    open_api = rp_api.sharing(lambda s, key: _APP, name="simpleauth-register")

    # the app registers: the proof is its credential --------------------------------------

    def register(s: SimpleAuth, i: Institution, body: RegisterBody, r: Request) -> Any:
        holder = _rrn(body.rrn)
        if body.birth_date is not None and body.birth_date not in (
                holder.birth_date.isoformat(), holder.birth_date.strftime("%Y%m%d")):
            raise SimpleAuthRequestError("the birth date is not the RRN's (YYYY-MM-DD)",
                                         field="birth_date")
        proof, secret = _base64(body.proof, "proof"), _r(body.r)
        registered = s.register(body.provider, name=body.name, rrn=holder, phone=body.phone,
                                proof=proof, r=secret)
        return {"provider": registered.user.provider, "device_token": registered.token,
                "registered_at": utc(registered.user.registered_at)}

    # the relying party -------------------------------------------------------------------

    def providers(s: SimpleAuth, i: Institution, body: Empty, r: Request) -> Any:
        return {"providers": [{"code": p.code, "name": p.name, "app": p.app}
                              for p in PROVIDERS]}

    def request(s: SimpleAuth, i: Institution, body: RequestBody, r: Request) -> Any:
        view = s.request(i, body.provider, name=body.name, phone=body.phone,
                         rrn=None if body.rrn is None else _rrn(body.rrn),
                         birth_date=body.birth_date, nonce=body.nonce, text=body.text)
        record = s.store.simpleauth_request(view.id)
        assert record is not None
        return {**_status(view), "nonce": record.nonce}

    def status(s: SimpleAuth, i: Institution, body: Empty, r: Request) -> Any:
        return _status(s.status(i, _id(r)))

    def result(s: SimpleAuth, i: Institution, body: Empty, r: Request) -> Any:
        found = s.result(i, _id(r))
        return {"request_id": found.id, "provider": found.provider, "status": "collected",
                "nonce": found.nonce, "ci": found.ci,
                "cms": base64.b64encode(found.cms).decode(),
                "certificate_chain": [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
                                      for c in found.chain],
                "approved_at": utc(found.approved_at)}

    # the app -----------------------------------------------------------------------------

    def pending(s: SimpleAuth, i: Institution, body: Empty, r: Request) -> Any:
        return {"requests": [_pending(p) for p in s.pending(token(r))]}

    def approve(s: SimpleAuth, i: Institution, body: ApproveBody, r: Request) -> Any:
        return _status(s.approve(token(r), _id(r), _base64(body.signature, "signature")))

    def decline(s: SimpleAuth, i: Institution, body: Empty, r: Request) -> Any:
        return _status(s.decline(token(r), _id(r)))

    def fail(s: SimpleAuth, i: Institution, body: FailBody, r: Request) -> Any:
        return _status(s.fail(token(r), _id(r), body.reason))

    requests = f"{PREFIX}/requests/{{request}}"
    app = f"{PREFIX}/app/requests"
    return [
        Route(f"{PREFIX}/apps", open_api.endpoint(RegisterBody, register, status=201),
              methods=["POST"]),
        Route(f"{PREFIX}/providers", rp_api.endpoint(Empty, providers), methods=["GET"]),
        Route(f"{PREFIX}/requests", rp_api.endpoint(RequestBody, request, status=201),
              methods=["POST"]),
        Route(requests, rp_api.endpoint(Empty, status), methods=["GET"]),
        Route(f"{requests}/result", rp_api.endpoint(Empty, result), methods=["POST"]),
        Route(app, app_api.endpoint(Empty, pending), methods=["GET"]),
        Route(f"{app}/{{request}}/approve", app_api.endpoint(ApproveBody, approve),
              methods=["POST"]),
        Route(f"{app}/{{request}}/decline", app_api.endpoint(Empty, decline),
              methods=["POST"]),
        Route(f"{app}/{{request}}/fail", app_api.endpoint(FailBody, fail), methods=["POST"]),
        rp_api.no_route(PREFIX),
    ]
