"""The cloud's JSON API under ``/cloud/v1``, added to ``kpki serve``.

Institutions authenticate with ``X-API-Key``; a signing device names itself with
``X-Device-Id``. Every error is ``{"error": {"code": ..., "message": ...}}`` with a stable
code and the matching HTTP status, and never a 500 for anything a client sends: the cloud
refuses with typed errors (:class:`pki.errors.RequestRefusedError`, carrying their code and
data), and :func:`error_response` here is the one place that gives them an HTTP status.
Each request goes through the same steps, cheapest first:

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

import asyncio
import base64
import binascii
import datetime as dt
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..cloud.service import Cloud, Institution
from ..errors import (
    AlreadyRevokedError,
    CertificateExpiredError,
    CloudRequestError,
    CodeExpiredError,
    CodeLimitError,
    ContentTooLargeError,
    DeviceNotDesignatedError,
    InvalidRegistrationError,
    NotFoundError,
    PinBusyError,
    PinLockedError,
    PinPolicyError,
    PKIError,
    RequestRefusedError,
    SealedUnderOtherSecretError,
    StoreError,
    UnauthorizedError,
    WrongCodeError,
    WrongPinError,
)
from ..store import HistoryEntry, RevocationReason
from .limits import read_capped

__all__ = ["MAX_BODY_BYTES", "cloud_routes", "error_response"]

MAX_BODY_BYTES = 2 * 1024 * 1024

Short = Annotated[str, msgspec.Meta(max_length=64)]
Pin = Annotated[str, msgspec.Meta(max_length=16)]
Content = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: exactly these fields, of exactly these types."""


class RegisterBody(_Body):
    name: Short
    phone: Short
    birth_date: Short


class ConfirmBody(_Body):
    code: Pin


class IssueBody(_Body):
    rrn: Short
    pin: Pin
    pin_confirm: Pin
    kind: Literal["personal", "business"] = "personal"


class DevicesBody(_Body):
    add: Short | None = None
    remove: Short | None = None
    designated_only: bool | None = None


class SignBody(_Body):
    pin: Pin
    content: Content
    purpose: Short
    detached: bool = False
    bare: bool = False
    pss: bool = False
    include_r: bool = False
    no_attrs: bool = False


class PinBody(_Body):
    old_pin: Pin
    new_pin: Pin
    new_pin_confirm: Pin


class RegistrationBody(_Body):
    pin: Pin
    user: Short | None = None


class RevokeBody(_Body):
    reason: RevocationReason = RevocationReason.UNSPECIFIED


class _Empty(_Body):
    pass


# msgspec's validation messages, said in kpki's words (the JSON type names a caller knows).
_KINDS = {"str": "text", "int": "a whole number", "bool": "true or false", "object": "an object",
          "array": "a list", "null": "null", "float": "a number"}
_SHAPES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"Expected `str` of length <= (\d+)"),
     lambda m: f"is longer than {m[1]} characters"),
    (re.compile(r"Expected `str` of length >= (\d+)"),
     lambda m: f"is shorter than {m[1]} characters"),
    (re.compile(r"Expected `(\w+)`, got `(\w+)`"),
     lambda m: f"should be {_KINDS.get(m[1], m[1])}, not {_KINDS.get(m[2], m[2])}"),
    (re.compile(r"Expected `int` <= (-?\d+)"), lambda m: f"is larger than {m[1]}"),
    (re.compile(r"Expected `int` >= (-?\d+)"), lambda m: f"is smaller than {m[1]}"),
)


def _in_words(text: str) -> tuple[str, str | None]:
    """A msgspec validation message as (kpki's sentence, the field it concerns)."""
    if found := re.fullmatch(r"Object missing required field `(\w+)`.*", text):
        return f"the field '{found[1]}' is missing", found[1]
    if found := re.fullmatch(r"Object contains unknown field `(\w+)`.*", text):
        return f"this request has no field '{found[1]}'", found[1]
    what, _, where = text.partition(" - at `$")
    field = re.fullmatch(r"\.(\w+).*`", where)
    name = field[1] if field else None
    subject = f"the field '{name}'" if name else "the body"
    for pattern, say in _SHAPES:
        if shape := pattern.fullmatch(what):
            return f"{subject} {say(shape)}", name
    return f"{subject} does not fit this request", name


def _error(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}},
                        status_code=status)


# The HTTP status of each refusal, most specific first; the code is the error's own.
_STATUS: tuple[tuple[type[PKIError], int], ...] = (
    (UnauthorizedError, 401),
    (WrongPinError, 401),
    (InvalidRegistrationError, 400),
    (CloudRequestError, 400),
    (PinPolicyError, 400),
    (WrongCodeError, 400),
    (DeviceNotDesignatedError, 403),
    (NotFoundError, 404),
    (CodeExpiredError, 410),
    (ContentTooLargeError, 413),
    (PinLockedError, 423),
    (PinBusyError, 429),
    (CodeLimitError, 429),
    (SealedUnderOtherSecretError, 503),
    (RequestRefusedError, 409),
)
# What else a client may see of an error's data, by attribute.
_EXTRA = ("attempts_left", "rule", "field", "limit", "state")


def error_response(exc: PKIError) -> JSONResponse:
    """The JSON answer to a refusal: its stable code and message, its status, and the
    data a client can act on (wrong guesses left, the PIN rule broken). A store that cannot
    be reached is 503; any other error of the library is 409 ``refused``."""
    if isinstance(exc, StoreError):
        return _error("unavailable", "the store is busy or unavailable: try again", 503)
    if isinstance(exc, AlreadyRevokedError):
        return _error("revoked", str(exc), 409)
    if isinstance(exc, CertificateExpiredError):
        return _error("expired", str(exc), 409)
    if not isinstance(exc, RequestRefusedError):
        return _error("refused", str(exc), 409)
    status = next(status for kind, status in _STATUS if isinstance(exc, kind))
    extra = {name: getattr(exc, name) for name in _EXTRA if hasattr(exc, name)}
    return _error(exc.code, str(exc), status, **extra)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _history(entry: HistoryEntry) -> dict[str, Any]:
    return {"at": _utc(entry.at), "institution": entry.institution, "device": entry.device,
            "purpose": None if entry.purpose is None else entry.purpose.code,
            "serial": None if entry.serial is None else format(entry.serial, "X"),
            "outcome": entry.outcome}


def _too_large() -> JSONResponse:
    return _error("too_large", f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)


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
    local = threading.local()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpki-cloud")

    def cloud() -> Cloud:
        instance = getattr(local, "cloud", None)
        if instance is None:
            instance = local.cloud = factory()
        return instance

    def endpoint(schema: type[_Body], handler: Callable[[Cloud, Institution, Any, Request],
                                                        Any], *, status: int = 200
                 ) -> Callable[[Request], Awaitable[Response]]:
        decoder = msgspec.json.Decoder(schema)

        async def run(request: Request) -> Response:
            api_key = request.headers.get("x-api-key")
            loop = asyncio.get_running_loop()
            try:
                institution = await loop.run_in_executor(
                    pool, lambda: cloud().authenticate(api_key))
                body: Any = _Empty()
                if request.method == "POST":
                    raw = await read_capped(request, MAX_BODY_BYTES)
                    if raw is None:
                        return _too_large()
                    body = decoder.decode(raw.strip() or b"{}")
                result = await loop.run_in_executor(
                    pool, lambda: handler(cloud(), institution, body, request))
            except ClientDisconnect:
                return Response(status_code=400)
            except msgspec.ValidationError as exc:
                message, field = _in_words(str(exc))
                return _error("bad_request", message, 400,
                              **({"field": field} if field else {}))
            except (msgspec.DecodeError, UnicodeDecodeError):
                return _error("bad_json", "the body is not a JSON object in UTF-8", 400)
            except PKIError as exc:
                return error_response(exc)
            return JSONResponse(result, status_code=status)

        return run

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

    def devices(c: Cloud, i: Institution, b: DevicesBody | _Empty, r: Request) -> Any:
        user = r.path_params["user"]
        if isinstance(b, DevicesBody):
            listed = c.change_devices(i, user, add=b.add, remove=b.remove,
                                      designated_only=b.designated_only)
        else:
            listed = c.devices(i, user)
        return {"devices": list(listed.devices), "designated_only": listed.designated_only}

    def history(c: Cloud, i: Institution, b: _Empty, r: Request) -> Any:
        return {"history": [_history(e) for e in c.history(i, r.path_params["user"])]}

    def messages(c: Cloud, i: Institution, b: _Empty, r: Request) -> Any:
        phone = r.query_params.get("phone", "")
        if len(phone) > 64:
            raise CloudRequestError("phone is at most 64 characters", field="phone")
        return {"messages": [{"text": m.text, "at": _utc(m.at)}
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
        Route("/cloud/v1/users/{user}/history", endpoint(_Empty, history), methods=["GET"]),
        Route("/cloud/v1/certificates/{serial}/sign", endpoint(SignBody, sign),
              methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/pin", endpoint(PinBody, pin), methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/registrations",
              endpoint(RegistrationBody, registration), methods=["POST"]),
        Route("/cloud/v1/certificates/{serial}/revoke", endpoint(RevokeBody, revoke),
              methods=["POST"]),
    ]
    if test_channel:
        routes.append(Route("/cloud/v1/test/messages", endpoint(_Empty, messages),
                            methods=["GET"]))

    async def no_route(request: Request) -> Response:
        return _error("no_route", "no such request in the cloud API", 404)

    routes.append(Route("/cloud/v1/{rest:path}", no_route,
                        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]))
    return routes
