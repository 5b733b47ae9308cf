"""The cloud's JSON API under ``/cloud/v1``, added to ``kpki serve``.

Institutions authenticate with ``X-API-Key``; a signing device names itself with
``X-Device-Id``. Every error is ``{"error": {"code": ..., "message": ...}}`` with a stable
code and the matching HTTP status, and never a 500 for anything a client sends: the cloud
refuses with typed errors (:class:`pki.errors.RequestRefusedError`, carrying their code and
data), and :func:`pki.web.jsonapi.error_response` is the one place that gives them an HTTP
status (the bank's ``/bank/v1`` shares it: :mod:`pki.web.jsonapi`). Each request goes
through the same steps, cheapest first:

1. the API key is checked before a byte of the body is read (401);
2. the body is read as it streams in and refused (413) as soon as it passes
   :data:`MAX_BODY_BYTES`, whatever ``Content-Length`` says; nothing more is buffered;
3. the body is decoded straight into the route's schema (a ``msgspec.Struct``: exact
   types, no unknown fields, bounded strings), so nesting, wrong types and huge numbers
   are refused (400) before any work, without building a Python object for them;
4. only then does the operation run, in a worker thread (the PIN KDF and signing cost),
   each with its own store connection.

Nothing here logs a PIN, key or code. ``/test/messages`` (the built-in SMS stand-in)
exists only with ``test_channel`` (``kpki serve --test-channel``) and shows an institution
only the messages it caused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.routing import Route

from ..cloud.service import Cloud, Institution
from ..errors import CloudRequestError
from ..store import HistoryEntry, RevocationReason
from .jsonapi import MAX_BODY_BYTES, Body, Empty, JsonApi, error_response, utc

__all__ = ["MAX_BODY_BYTES", "cloud_routes", "error_response"]

Short = Annotated[str, msgspec.Meta(max_length=64)]
Pin = Annotated[str, msgspec.Meta(max_length=16)]
Content = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]


class RegisterBody(Body):
    name: Short
    phone: Short
    birth_date: Short


class ConfirmBody(Body):
    code: Pin


class IssueBody(Body):
    rrn: Short
    pin: Pin
    pin_confirm: Pin
    kind: Literal["personal", "business"] = "personal"


class DevicesBody(Body):
    add: Short | None = None
    remove: Short | None = None
    designated_only: bool | None = None


class SignBody(Body):
    pin: Pin
    content: Content
    purpose: Short
    detached: bool = False
    bare: bool = False
    pss: bool = False
    include_r: bool = False
    no_attrs: bool = False


class PinBody(Body):
    old_pin: Pin
    new_pin: Pin
    new_pin_confirm: Pin


class RegistrationBody(Body):
    pin: Pin
    user: Short | None = None


class RevokeBody(Body):
    reason: RevocationReason = RevocationReason.UNSPECIFIED


def _history(entry: HistoryEntry) -> dict[str, Any]:
    return {"at": utc(entry.at), "institution": entry.institution, "device": entry.device,
            "purpose": None if entry.purpose is None else entry.purpose.code,
            "serial": None if entry.serial is None else format(entry.serial, "X"),
            "outcome": entry.outcome}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _serial(text: str) -> int:
    if not 1 <= len(text) <= 40:
        raise CloudRequestError("the serial is 1-40 hex digits", field="serial")
    try:
        return int(text, 16)
    except ValueError:
        raise CloudRequestError("the serial is hex", field="serial") from None


def cloud_routes(factory: Callable[[], Cloud], *, workers: int = 8,
                 test_channel: bool = False) -> list[Route]:
    """Routes for a cloud whose per-thread :class:`Cloud` instances ``factory`` makes;
    ``test_channel`` adds ``GET /cloud/v1/test/messages`` (for test set-ups only)."""
    api = JsonApi(factory, lambda cloud, key: cloud.authenticate(key), name="cloud",
                  workers=workers)
    endpoint = api.endpoint

    def register(c: Cloud, i: Institution, b: RegisterBody, r: Request) -> Any:
        return {"user_id": c.register_user(i, name=b.name, phone=b.phone,
                                           birth_date=b.birth_date)}

    def confirm(c: Cloud, i: Institution, b: ConfirmBody, r: Request) -> Any:
        c.confirm(i, r.path_params["user"], b.code)
        return {"confirmed": True}

    def issue(c: Cloud, i: Institution, b: IssueBody, r: Request) -> Any:
        issued = c.issue(i, r.path_params["user"], rrn=b.rrn, pin=b.pin,
                         pin_confirm=b.pin_confirm, kind=b.kind)
        return {"serial": format(issued.serial, "X"), "profile": issued.profile.name,
                "not_after": issued.certificate.not_valid_after_utc.strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "certificate": _b64(issued.certificate.public_bytes(
                    serialization.Encoding.DER))}

    def sign(c: Cloud, i: Institution, b: SignBody, r: Request) -> Any:
        try:
            content = base64.b64decode(b.content, validate=True)
        except (binascii.Error, ValueError):
            raise CloudRequestError("content is base64", field="content") from None
        result = c.sign(i, _serial(r.path_params["serial"]), pin=b.pin, content=content,
                        purpose=b.purpose, device=r.headers.get("x-device-id"),
                        detached=b.detached, bare=b.bare, pss=b.pss, include_r=b.include_r,
                        signed_attributes=not b.no_attrs)
        out = {"signature": _b64(result.signature),
               "serial": format(result.serial, "X"),
               "certificate": _b64(result.certificate.public_bytes(
                   serialization.Encoding.DER))}
        if result.r is not None:
            out["r"] = result.r.hex()
        if result.renewed_from is not None:
            out["renewed_from"] = format(result.renewed_from, "X")
        return out

    def pin(c: Cloud, i: Institution, b: PinBody, r: Request) -> Any:
        c.change_pin(i, _serial(r.path_params["serial"]), old_pin=b.old_pin,
                     new_pin=b.new_pin, new_pin_confirm=b.new_pin_confirm)
        return {"changed": True}

    def registration(c: Cloud, i: Institution, b: RegistrationBody, r: Request) -> Any:
        owner = c.register_certificate(i, _serial(r.path_params["serial"]), pin=b.pin,
                                       user=b.user)
        return {"registered": True, "user_id": owner}

    def revoke(c: Cloud, i: Institution, b: RevokeBody, r: Request) -> Any:
        c.revoke(i, _serial(r.path_params["serial"]), b.reason)
        return {"revoked": True}

    def devices(c: Cloud, i: Institution, b: DevicesBody | Empty, r: Request) -> Any:
        user = r.path_params["user"]
        if isinstance(b, DevicesBody):
            listed = c.change_devices(i, user, add=b.add, remove=b.remove,
                                      designated_only=b.designated_only)
        else:
            listed = c.devices(i, user)
        return {"devices": list(listed.devices), "designated_only": listed.designated_only}

    def history(c: Cloud, i: Institution, b: Empty, r: Request) -> Any:
        return {"history": [_history(e) for e in c.history(i, r.path_params["user"])]}

    def messages(c: Cloud, i: Institution, b: Empty, r: Request) -> Any:
        phone = r.query_params.get("phone", "")
        if len(phone) > 64:
            raise CloudRequestError("phone is at most 64 characters", field="phone")
        return {"messages": [{"text": m.text, "at": utc(m.at)}
                             for m in c.messages(i, phone)]}

    routes = [
        Route("/cloud/v1/users", endpoint(RegisterBody, register, status=201),
              methods=["POST"]),
        Route("/cloud/v1/users/{user}/confirm", endpoint(ConfirmBody, confirm),
              methods=["POST"]),
        Route("/cloud/v1/users/{user}/certificates", endpoint(IssueBody, issue, status=201),
              methods=["POST"]),
        Route("/cloud/v1/users/{user}/devices", endpoint(DevicesBody, devices),
              methods=["GET", "POST"]),
        Route("/cloud/v1/users/{user}/history", endpoint(Empty, history), methods=["GET"]),
        Route("/cloud/v1/certificates/{serial}/sign", endpoint(SignBody, sign),
              methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/pin", endpoint(PinBody, pin), methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/registrations",
              endpoint(RegistrationBody, registration), methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/revoke", endpoint(RevokeBody, revoke),
              methods=["POST"]),
    ]
    if test_channel:
        routes.append(Route("/cloud/v1/test/messages", endpoint(Empty, messages),
                            methods=["GET"]))

    routes.append(api.no_route("/cloud/v1"))
    return routes
