"""The signing agent over HTTP on 127.0.0.1 (Starlette): what pages and the dialog call.

**Every request** first passes :class:`_Guard`: a ``Host`` other than ``127.0.0.1:P`` or
``localhost:P`` is refused (421, DNS rebinding); an ``Origin`` that is neither on the
allow-list nor the agent's own is refused (403 ``origin_not_allowed``, with no CORS
header, so the page reads nothing, not even the refusal); a preflight is answered only
for an allowed origin. An allowed origin's responses carry
``Access-Control-Allow-Origin`` with that origin (never ``*``).

**The page** (through ``agent.js``; the ``Origin`` must be allowed, a request without one
is refused the same way):

- ``GET /agent/v1/ping`` → ``{version}``;
- ``POST /agent/v1/requests`` ``{content: {text, encoding} | {texts, encoding} |
  {base64}, attached?, includeR?, algorithm?, envelopeTo?, purpose?}`` → 201 ``{request,
  token, dialog, expiresAt}`` (``dialog``: the dialog page's path, its token in the
  fragment);
- ``POST /agent/v1/requests/{id}/outcome`` ``{token, wait?}`` → ``{state}``, ``pending``
  after up to ``wait`` seconds (at most :data:`MAX_WAIT`), ``signed`` with ``signatures``
  (base64 DER, one per text) and ``signature`` (the first), ``certificate`` (PEM), ``r``
  (base64, when asked for), ``enveloped``;
  ``cancelled``; ``expired``;
- ``POST /agent/v1/requests/{id}/cancel`` ``{token}``: the dialog window was closed.

**The dialog** (its page, ``GET /agent/v1/dialog``, and its calls, whose ``Origin`` must
be the agent's own; its token comes in the page's URL fragment, never sent by the
browser): ``POST /agent/v1/dialog/{id}/view``, ``.../confirm`` ``{token, certificate,
password}``, ``.../cancel``. The password is read from that body only and handed to
:meth:`pki.agent.service.SigningAgent.confirm`; it is never logged or answered.

Errors are ``{"error": {"code", "message", ...}}``, refused before any work, the body read
no further than its limit (413): never a 500 for what a client sends.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..clock import KST
from ..errors import AgentError, AgentOriginError, PKIError
from ..profiles import PolicyClass
from ..web.limits import read_capped
from .service import (
    DialogView,
    Offered,
    Outcome,
    SigningAgent,
    SignOrder,
    State,
    contents_of,
    encoding_of,
    envelope_recipient,
)

__all__ = ["MAX_WAIT", "PREFIX", "create_app"]

PREFIX = "/agent/v1"
MAX_WAIT = 25.0
"""The longest a page's outcome request waits for the user's answer (a long poll)."""

_STATUS = {"bad_request": 400, "bad_json": 400, "unsupported_encoding": 400,
           "wrong_password": 401, "origin_not_allowed": 403, "unknown_request": 404,
           "busy": 409, "already_answered": 409, "in_progress": 409, "expired": 410,
           "too_large": 413, "key_unreadable": 422, "no_r": 422,
           "certificate_unusable": 422, "no_route": 404, "host_not_allowed": 421,
           "method_not_allowed": 405}
_EXTRA = ("field", "limit", "attempts", "counted_by_file", "state")
_POLICY_LABELS = {PolicyClass.GENERAL: "범용", PolicyClass.RESTRICTED: "은행·보험용",
                  PolicyClass.FINANCIAL: "금융인증서", PolicyClass.PRIVATE: "사설",
                  PolicyClass.SERVER: "서버", PolicyClass.UNKNOWN: "기타"}
_STATUS_LABELS = {"valid": "유효", "expiring": "만료 임박", "expired": "만료",
                  "not-yet-valid": "유효기간 전", "unreadable": "읽을 수 없음"}
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}
_STATIC = {"agent.js": "text/javascript; charset=utf-8",
           "dialog.html": "text/html; charset=utf-8",
           "dialog.js": "text/javascript; charset=utf-8",
           "dialog.css": "text/css; charset=utf-8"}

Short = Annotated[str, msgspec.Meta(max_length=128)]
Token = Annotated[str, msgspec.Meta(max_length=128)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    pass


class ContentBody(_Body):
    text: str | None = None
    texts: list[str] | None = None
    encoding: Short | None = None
    base64: str | None = None


class SignBody(_Body):
    content: ContentBody
    attached: bool = True
    include_r: bool = False
    algorithm: Literal["pkcs1", "pss"] = "pkcs1"
    envelope_to: Annotated[str, msgspec.Meta(max_length=64 * 1024)] | None = None
    purpose: Annotated[str, msgspec.Meta(max_length=200)] = ""


class OutcomeBody(_Body):
    token: Token
    wait: Annotated[float, msgspec.Meta(ge=0, le=MAX_WAIT)] = 0.0


class TokenBody(_Body):
    token: Token


class ConfirmBody(_Body):
    token: Token
    certificate: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


B = TypeVar("B", bound=_Body)


def _error(code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": _shown(message), **extra}},
                        status_code=_STATUS.get(code, 409))


def _shown(text: str) -> str:
    """``text`` fit for JSON: a file name that is not UTF-8 comes from the file system as
    lone surrogates (Python's ``surrogateescape``), which no JSON can carry. Its bytes are
    read as CP949, as NPKI folders copied from Windows are named, or else as UTF-8 with
    replacement characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("cp949")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace")
    return text


def _refusal(exc: PKIError) -> JSONResponse:
    if not isinstance(exc, AgentError):
        return _error("refused", str(exc))
    extra = {_camel(name): getattr(exc, name) for name in _EXTRA
             if getattr(exc, name, None) is not None}
    return _error(exc.code, str(exc), **extra)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_KINDS = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
          "object": "an object", "array": "a list", "null": "null"}
_SHAPES: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (r"Expected `(\w+)`, got `(\w+)`",
     lambda m: f"should be {_KINDS.get(m[1], m[1])}, not {_KINDS.get(m[2], m[2])}"),
    (r"Expected `str` of length <= (\d+)", lambda m: f"is longer than {m[1]} characters"),
    (r"Expected `(?:int|float)` <= (\S+)", lambda m: f"is larger than {m[1]}"),
    (r"Expected `(?:int|float)` >= (\S+)", lambda m: f"is smaller than {m[1]}"),
    (r"Invalid enum value '(.*)'", lambda m: f"has no value '{m[1]}'"),
)


def _validation(exc: msgspec.ValidationError) -> JSONResponse:
    """msgspec's message in kpki's words, naming the field (``content.encoding``)."""
    what, _, where = str(exc).partition(" - at `$")
    if found := re.fullmatch(r"Object missing required field `(\w+)`", what):
        return _error("bad_request", f"the field '{found[1]}' is missing", field=found[1])
    if found := re.fullmatch(r"Object contains unknown field `(\w+)`", what):
        return _error("bad_request", f"this request has no field '{found[1]}'",
                      field=found[1])
    field = where.rstrip("`").lstrip(".") or None
    subject = f"the field '{field}'" if field else "the body"
    for pattern, say in _SHAPES:
        if shape := re.fullmatch(pattern, what):
            return _error("bad_request", f"{subject} {say(shape)}",
                          **({"field": field} if field else {}))
    return _error("bad_request", f"{subject} does not fit this request",
                  **({"field": field} if field else {}))


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _kst(value: dt.datetime) -> str:
    return value.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")


def _outcome(outcome: Outcome) -> dict[str, Any]:
    if outcome.result is None:
        return {"state": outcome.state.value}
    result = outcome.result
    answer: dict[str, Any] = {
        "state": State.SIGNED.value,
        "signature": base64.b64encode(result.signature).decode(),
        "signatures": [base64.b64encode(s).decode() for s in result.signatures],
        "certificate": result.certificate.public_bytes(Encoding.PEM).decode(),
        "enveloped": result.enveloped,
    }
    if result.r is not None:
        answer["r"] = base64.b64encode(result.r).decode()
    return answer


def _name_part(name: Any, oid: Any) -> str | None:
    attributes = name.get_attributes_for_oid(oid)
    return str(attributes[0].value) if attributes else None


def _offered(offered: Offered, attempts: int) -> dict[str, Any]:
    entry = offered.entry
    cert = entry.certificate
    row: dict[str, Any] = {
        "index": offered.index, "location": offered.location,
        "kind": _POLICY_LABELS[entry.policy_class], "holder": _shown(entry.common_name),
        "status": entry.status.value, "statusLabel": _STATUS_LABELS[entry.status.value],
        "usable": offered.usable, "hasKey": entry.has_key, "attempts": attempts,
    }
    if cert is None:
        return {**row, "issuer": "", "expires": "", "details": None}
    issuer = (_name_part(cert.issuer, NameOID.ORGANIZATION_NAME)
              or _name_part(cert.issuer, NameOID.COMMON_NAME) or cert.issuer.rfc4514_string())
    return {**row, "issuer": issuer,
            "expires": cert.not_valid_after_utc.astimezone(KST).strftime("%Y-%m-%d"),
            "details": {
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "serial": str(cert.serial_number),
                "serialHex": format(cert.serial_number, "x"),
                "notBefore": _kst(cert.not_valid_before_utc),
                "notAfter": _kst(cert.not_valid_after_utc),
                "policy": entry.policy,
                "policyLabel": _POLICY_LABELS[entry.policy_class],
            }}


def _view(view: DialogView) -> dict[str, Any]:
    counts = [sum(1 for o in view.offered if o.location == n)
              for n in range(len(view.locations))]
    return {
        "request": view.request_id, "origin": view.origin, "purpose": view.purpose,
        "contents": [{"text": c.text, "encoding": c.encoding, "bytes": c.size,
                      "sha256": c.sha256} for c in view.contents],
        "includeR": view.include_r,
        "enveloped": view.enveloped, "expiresAt": _utc(view.expires_at),
        "countedByFile": view.counted_by_file,
        "locations": [{"index": n, "kind": loc.kind.value, "label": loc.kind.label,
                       "path": _shown(str(loc.path)), "count": counts[n]}
                      for n, loc in enumerate(view.locations)],
        "certificates": [_offered(o, view.attempts.get(o.index, 0)) for o in view.offered],
    }


class _Guard:
    """The checks every request passes before any route (see the module doc)."""

    def __init__(self, app: ASGIApp, agent: SigningAgent, port: int) -> None:
        self.app = app
        self.allowed = frozenset(agent.settings.allowed_origins)
        self.hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})
        self.own = frozenset(f"http://{host}" for host in self.hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if any(len(headers.getlist(name)) > 1 for name in ("host", "origin")):
            await _error("bad_request", "a request has one Host and at most one Origin"
                         )(scope, receive, send)
            return
        if headers.get("host", "").lower() not in self.hosts:
            await _error("host_not_allowed", "the agent answers at 127.0.0.1 only"
                         )(scope, receive, send)
            return
        origin = headers.get("origin")
        allowed = origin in self.allowed
        if origin is not None and not allowed and origin not in self.own:
            await _refusal(AgentOriginError(origin))(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self._preflight(headers, allowed)(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        assert origin is not None

        async def cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"access-control-allow-origin", origin.encode("latin-1")),
                         (b"vary", b"Origin")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, cors)

    def _preflight(self, headers: Headers, allowed: bool) -> Response:
        if not allowed:
            return Response(status_code=403)
        origin = headers["origin"]
        answer = {"access-control-allow-origin": origin, "vary": "Origin",
                  "access-control-allow-methods": "GET, POST",
                  "access-control-allow-headers": "content-type",
                  "access-control-max-age": "600"}
        if headers.get("access-control-request-private-network") == "true":
            answer["access-control-allow-private-network"] = "true"
        return Response(status_code=204, headers=answer)


def create_app(agent: SigningAgent, *, port: int, workers: int = 16) -> ASGIApp:
    """The agent's web app, for a server listening on 127.0.0.1:``port``."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpki-agent")
    files = resources.files("pki.agent").joinpath("static")
    static = {name: files.joinpath(name).read_bytes() for name in _STATIC}
    limit = agent.settings.max_content_bytes * 6 + 128 * 1024
    own = frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})

    def endpoint(schema: type[B] | None, handler: Callable[[Request, Any], Any], *,
                 dialog: bool = False, status: int = 200, body_limit: int = 16 * 1024
                 ) -> Callable[[Request], Awaitable[Response]]:
        decoder = None if schema is None else msgspec.json.Decoder(schema)

        async def run(request: Request) -> Response:
            origin = request.headers.get("origin")
            try:
                if dialog:
                    if origin not in own:
                        raise AgentOriginError(origin)
                else:
                    agent.check_origin(origin)
                body = None
                if decoder is not None:
                    raw = await read_capped(request, body_limit)
                    if raw is None:
                        return _error("too_large", "the request body is larger than "
                                      f"{body_limit} bytes", limit=body_limit)
                    body = decoder.decode(raw)
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(pool, lambda: handler(request, body))
            except ClientDisconnect:
                return Response(status_code=400)
            except msgspec.ValidationError as exc:
                return _validation(exc)
            except (msgspec.DecodeError, UnicodeDecodeError):
                return _error("bad_json", "the body is not a JSON object in UTF-8")
            except PKIError as exc:
                return _refusal(exc)
            return JSONResponse(result, status_code=status)

        return run

    def ping(request: Request, body: None) -> dict[str, Any]:
        return {"version": __version__}

    def open_request(request: Request, body: SignBody) -> dict[str, Any]:
        given = body.content
        first, *more = contents_of(text=given.text, texts=given.texts,
                                   encoding=given.encoding, b64=given.base64,
                                   limit=agent.settings.max_content_bytes)
        order = SignOrder(first, more=tuple(more),
                          encoding=encoding_of(b64=given.base64, encoding=given.encoding),
                          attached=body.attached, include_r=body.include_r,
                          pss=body.algorithm == "pss",
                          envelope_to=None if body.envelope_to is None
                          else envelope_recipient(body.envelope_to),
                          purpose=body.purpose)
        opened = agent.open(request.headers.get("origin"), order)
        return {"request": opened.request_id, "token": opened.caller_token,
                "dialog": f"{PREFIX}/dialog#{opened.request_id}.{opened.dialog_token}",
                "expiresAt": _utc(opened.expires_at)}

    # A long poll holds a worker thread while it waits for the user; at most half the
    # threads may, so the dialog's calls always find one (pages past that are answered at
    # once, pending, and agent.js asks again).
    waiters = threading.BoundedSemaphore(max(1, workers // 2))

    def outcome(request: Request, body: OutcomeBody) -> dict[str, Any]:
        waits = body.wait > 0 and waiters.acquire(blocking=False)
        try:
            return _outcome(agent.outcome(request.path_params["id"],
                                          origin=request.headers.get("origin"),
                                          token=body.token, wait=body.wait if waits else 0.0))
        finally:
            if waits:
                waiters.release()

    def cancel(request: Request, body: TokenBody) -> dict[str, Any]:
        return _outcome(agent.cancel(request.path_params["id"],
                                     origin=request.headers.get("origin"), token=body.token))

    def view(request: Request, body: TokenBody) -> dict[str, Any]:
        return _view(agent.view(request.path_params["id"], token=body.token))

    def confirm(request: Request, body: ConfirmBody) -> dict[str, Any]:
        agent.confirm(request.path_params["id"], token=body.token,
                      certificate=body.certificate, password=body.password)
        return {"state": State.SIGNED.value}

    def dismiss(request: Request, body: TokenBody) -> dict[str, Any]:
        return _outcome(agent.dismiss(request.path_params["id"], token=body.token))

    def page(name: str, headers: dict[str, str] | None = None
             ) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return Response(static[name], media_type=_STATIC[name],
                            headers={"cache-control": "no-cache",
                                     "x-content-type-options": "nosniff", **(headers or {})})

        return serve

    async def no_route(request: Request) -> Response:
        return _error("no_route", "no such request in the agent's API")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        allow = getattr(exc, "headers", None) or {}
        answer = _error("method_not_allowed", f"the agent's API has no {request.method} "
                        "on this path")
        answer.headers.update(allow)
        return answer

    routes = [
        Route(f"{PREFIX}/agent.js", page("agent.js"), methods=["GET"]),
        Route(f"{PREFIX}/dialog", page("dialog.html", _PAGE_HEADERS), methods=["GET"]),
        Route(f"{PREFIX}/static/dialog.js", page("dialog.js"), methods=["GET"]),
        Route(f"{PREFIX}/static/dialog.css", page("dialog.css"), methods=["GET"]),
        Route(f"{PREFIX}/ping", endpoint(None, ping), methods=["GET"]),
        Route(f"{PREFIX}/requests", endpoint(SignBody, open_request, status=201,
                                             body_limit=limit), methods=["POST"]),
        Route(f"{PREFIX}/requests/{{id}}/outcome", endpoint(OutcomeBody, outcome),
              methods=["POST"]),
        Route(f"{PREFIX}/requests/{{id}}/cancel", endpoint(TokenBody, cancel),
              methods=["POST"]),
        Route(f"{PREFIX}/dialog/{{id}}/view", endpoint(TokenBody, view, dialog=True),
              methods=["POST"]),
        Route(f"{PREFIX}/dialog/{{id}}/confirm", endpoint(ConfirmBody, confirm, dialog=True),
              methods=["POST"]),
        Route(f"{PREFIX}/dialog/{{id}}/cancel", endpoint(TokenBody, dismiss, dialog=True),
              methods=["POST"]),
        Route("/{rest:path}", no_route, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
    ]
    return _Guard(Starlette(routes=routes, exception_handlers={405: not_allowed}), agent,
                  port)
