"""The e-government portal: a small Starlette app with pages in Korean (``static/``) and
a JSON API under ``/api`` that the pages call.

**The citizen** fills in a petition (``petition.html``) and signs it one of three ways:
with a joint certificate through the local agent or a financial certificate through the
SDK (the page gets the CMS and posts it: ``POST /api/petitions``), or by simple
authentication (``POST /api/simpleauth``: the portal asks the provider, as a relying
party, for the person named, with the digest of the petition as the nonce; the page polls
``GET /api/simpleauth/{id}`` until the person approved on the phone, and the portal then
collects the result and files the petition). The answer names the petition, whose page
(``result.html?id=...``) shows each check as :class:`pki.portal.petitions.Petitions`
judges it, afresh at every look.

**The operator** (``operator.html``) lists the petitions and revokes a signer's
certificate (keyCompromise), then publishes at once: the same petition then shows as
invalid, or as signed before revocation when its time stamp predates the revocation.
Those are an operator's actions, so ``/api/operator/*`` needs the operator's session:
``POST /api/operator/login`` with the operator's secret (``kpki demo web`` makes it and
prints it; compared in constant time) sets a session cookie (random, HttpOnly,
SameSite=Strict, :data:`OPERATOR_SESSION` long, kept in this process only); without a
live one the listing and revoking are 401 ``operator_login_required``, a wrong secret 401
``wrong_secret``. The citizen's pages need no login.

**The phone** (``phone.html``) is the demo person's simple-authentication app: its
pending requests, approved or declined with the 6-digit PIN (the device folder's
keystore counts wrong PINs).

The API's error contract is :mod:`pki.web.jsonapi`'s: bodies validated and size-limited
before any work, a refusal as 4xx JSON ``{"error": {"code", "message", "field"?}}``,
never a 500 for anything a caller sends.

**Only its own pages** are answered (:class:`_OwnPagesOnly`, before any route): the portal
files petitions, revokes, answers the phone with its PIN, calls the bank with the bank's
key and serves the demo's passwords (``config.js``), so a page of another origin gets
nothing. A ``Host`` other than 127.0.0.1 or localhost (a foreign name rebound to the
loopback address) is refused 421 ``host_not_allowed``; an ``Origin`` that is not the
portal's own, or a request the browser marks as sent by another site
(``Sec-Fetch-Site``), is refused 403 ``foreign_origin``, except a link followed to one
of its pages (a GET navigation).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import importlib.resources
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from cryptography import x509
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import lifecycle
from ..clock import Clock, SystemClock
from ..errors import (
    DeviceLockedError,
    DeviceWrongPinError,
    NotFoundError,
    PKIError,
    SimpleAuthAppError,
    TimestampError,
)
from ..home import Home
from ..signing.verify import Verifier
from ..simpleauth import DeviceApp, PendingRequest
from ..store import CertStatus, Institution
from ..timestamp.protocol import HTTPTimestamper
from ..web.jsonapi import MAX_BODY_BYTES, Body, Empty, JsonApi, error, error_response, utc
from .petitions import (
    Assessment,
    OperatorLoginError,
    PetitionBox,
    PetitionNotFoundError,
    Petitions,
    PortalRequestError,
    SignMethod,
    SimpleAuthEvidence,
    TextEncoding,
    parse_rrn,
    petition_bytes,
    petition_nonce,
)
from .remote import KpkiClient, UpstreamError, UpstreamRefusal

__all__ = ["DemoPerson", "PortalSettings", "SdkSettings", "portal_app"]

PAGES = ("index.html", "petition.html", "result.html", "operator.html", "phone.html",
         "bank-joint.html", "bank-financial.html", "portal.js", "portal.css", "bank.js")
_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
          "css": "text/css; charset=utf-8"}

MAX_PENDING = 1000
"""Simple authentications the portal remembers at once (each waits minutes at most)."""
OPERATOR_SESSION = dt.timedelta(hours=8)
"""How long an operator's login lasts."""
MAX_OPERATOR_SESSIONS = 100
"""Operator sessions kept at once (the oldest goes first)."""
OPERATOR_COOKIE = "kpki_operator"

Short = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Blob = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]


@dataclass(frozen=True)
class DemoPerson:
    """The demo's citizen, prefilled in the pages."""

    name: str
    rrn: str = field(repr=False)
    phone: str


@dataclass(frozen=True)
class SdkSettings:
    """What the page gives ``FinCert.Sdk.init``: the portal's organisation code and SDK
    key at kpki serve (public values: every page that loads the SDK shows them)."""

    org_code: str
    api_key: str


@dataclass(frozen=True)
class PortalSettings:
    """How the portal reaches everything it uses."""

    kpki_url: str
    """kpki serve's base URL: its TSA, CRLs, simple authentication and the SDK."""
    api_key: str = field(repr=False)
    """The portal's institution key at kpki serve (a relying party of simple
    authentication)."""
    petitions: Path
    """The folder its petitions are kept in."""
    provider: int = 1
    """The simple-authentication provider the portal asks."""
    device_folder: Path | None = None
    """The demo person's phone (its device keystore and app token); None: no phone page."""
    agent_url: str | None = None
    """The local signing agent's base URL; None: no agent in this demo."""
    sdk: SdkSettings | None = None
    person: DemoPerson | None = None
    bank: dict[str, str] = field(default_factory=dict)
    """What the bank pages need (:class:`pki.usecases.webdemo.DemoSecrets`' ``bank``: the
    bank's API key, kept in the portal, and the demo customer's account); empty: no bank
    pages."""
    credentials: tuple[tuple[str, str], ...] = ()
    """What the start page shows the demo's user: (label, value), the demo passwords and
    PINs included (they protect nothing but test keys)."""
    operator_secret: str | None = field(repr=False, default=None)
    """What the operator logs in with (never shown in a page); None: no operator can log
    in."""


class PetitionBody(Body):
    text: Text
    encoding: Short
    rrn: Short
    method: Short
    signature: Blob
    """The CMS, base64 or base64url (DER), or PEM."""
    r: Short | None = None
    """R, base64 (what the agent and the SDK hand back with ``includeR``)."""


class SimpleAuthBody(Body):
    text: Text
    encoding: Short
    rrn: Short
    name: Short
    phone: Short


class RevokeBody(Body):
    petition: Short


class LoginBody(Body):
    secret: Annotated[str, msgspec.Meta(max_length=200)]


class PinBody(Body):
    pin: Short


Scalar = Annotated[str, msgspec.Meta(max_length=1000)] | int | bool | None
Shallow = dict[Short, Scalar | Annotated[list[Scalar], msgspec.Meta(max_length=32)]
               | dict[Short, Scalar]]
"""A bank page's body: fields of text, numbers, lists of them or one level of object
(the security card's answer), so that no nesting reaches the decoder's recursion."""


class BankCallBody(Body):
    method: Literal["GET", "POST"]
    path: Annotated[str, msgspec.Meta(max_length=300)]
    body: Shallow | None = None


BANK_PATHS = re.compile(
    r"/(ra/v1/joint/sessions|ra/v1/financial/sessions|bank/v1/verifications|"
    r"bank/v1/test/(messages|customers/[A-Za-z0-9_-]+/card)|cloud/v1/test/messages)"
    r"(/[A-Za-z0-9_-]+)*(\?phone=[0-9]+)?")
"""What the bank pages may ask kpki serve through the portal: the issuance flows, phone
verification, and the customer's side of the test channels (text messages, the printed
security card)."""


_PUBLIC = Institution(id=0, name="portal", added_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


@dataclass
class _Pending:
    """A simple authentication the portal asked for and the petition it is for."""

    text: str
    encoding: TextEncoding
    rrn: str
    petition: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Service:
    """One worker thread's portal: its own home handle (store connection)."""

    def __init__(self, home: Home, settings: PortalSettings, clock: Clock) -> None:
        self.home = home
        self.settings = settings
        cas = home.list_cas()
        roots = [r.certificate for r in cas if r.is_root]
        intermediates = [r.certificate for r in cas if not r.is_root]
        self._issuers = {r.certificate.subject.public_bytes(): r.label for r in cas}
        self.petitions = Petitions(
            PetitionBox(settings.petitions),
            timestamper=HTTPTimestamper(settings.kpki_url + "/tsa"),
            verifier=lambda: Verifier(trust=roots, intermediates=intermediates,
                                      fetch_crls=True, clock=clock),
            revoked=self.revoked, clock=clock)
        self.kpki = KpkiClient(settings.kpki_url)

    def record_of(self, serial: int, issuer: bytes) -> tuple[str, CertStatus] | None:
        """The CA label and status of the certificate ``serial`` its issuer's name names."""
        label = self._issuers.get(issuer)
        if label is None:
            return None
        found = self.home.store.find_certificates(serial, ca=label)
        return (label, found[0].status) if found else None

    def revoked(self, serial: int, issuer: bytes) -> bool:
        found = self.record_of(serial, issuer)
        return found is not None and found[1] is CertStatus.REVOKED


def _decode_signature(text: str) -> bytes:
    """The CMS as the page sent it: PEM, base64 or base64url."""
    value = text.strip()
    if value.startswith("-----BEGIN"):
        return value.encode()
    return _base64(value, field="signature")


def _decode_r(text: str | None) -> bytes | None:
    """R as the page sent it, base64 or base64url; None when it sent none."""
    return _base64(text, field="r") if text else None


_URLSAFE = str.maketrans("-_", "+/")


def _base64(text: str, *, field: str) -> bytes:
    """``text`` as base64 or base64url, padded or not, whitespace ignored; a character of
    neither alphabet is :class:`PortalRequestError` naming ``field``."""
    compact = "".join(text.split()).translate(_URLSAFE)
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PortalRequestError(f"the {field} is not base64", field=field) from None


def assessment_json(found: Assessment) -> dict[str, Any]:
    """A petition judged, as the result page reads it."""
    petition = found.petition
    result = found.result
    return {
        "id": petition.id, "text": petition.text, "encoding": petition.encoding.value,
        "method": petition.method.value, "received_at": utc(petition.received_at),
        "verdict": found.verdict.value,
        "summary": found.unreadable if result is None else result.summary(),
        "signer_revoked": found.signer_revoked,
        "signed_before_revocation": None if result is None or
        result.signed_before_revocation is None else result.signed_before_revocation.to_json(),
        "verification": None if result is None else result.to_json(),
        "portal_checks": [{"check": c.name, "outcome": c.outcome.value, "detail": c.detail}
                          for c in found.portal_checks],
    }


def _listed(found: Assessment) -> dict[str, Any]:
    result = found.result
    signer = None if result is None else result.signer
    return {"id": found.petition.id, "received_at": utc(found.petition.received_at),
            "method": found.petition.method.value, "encoding": found.petition.encoding.value,
            "excerpt": found.petition.text[:40], "verdict": found.verdict.value,
            "signer": None if result is None else result.signer_name,
            "signer_serial": None if signer is None else format(signer.serial_number, "X"),
            "signer_revoked": found.signer_revoked}


class _OwnPagesOnly:
    """The check of the module doc ("only its own pages") around the whole app."""

    HOSTS = frozenset({"127.0.0.1", "localhost"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(Headers(scope=scope), scope["method"])
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Headers, method: str) -> Response | None:
        host = headers.get("host", "").lower()
        if host.rsplit(":", 1)[0] not in self.HOSTS:
            return error("host_not_allowed", "the portal answers at 127.0.0.1 or "
                         "localhost only", 421)
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site", "same-origin")
        followed = method == "GET" and headers.get("sec-fetch-mode") == "navigate"
        if ((origin is not None and origin != f"http://{host}")
                or (site not in ("same-origin", "none") and not followed)):
            return error("foreign_origin", "the portal answers its own pages only", 403)
        return None


class _OperatorSessions:
    """The operators logged in: session token -> when it ends (see the module doc)."""

    def __init__(self, secret: str | None, clock: Clock) -> None:
        self._secret = None if not secret else secret.encode()
        self._clock = clock
        self._ends: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def log_in(self, secret: str) -> str:
        """A new session's token; :class:`OperatorLoginError` for a wrong secret."""
        if self._secret is None or not hmac.compare_digest(secret.encode(), self._secret):
            raise OperatorLoginError(wrong_secret=True)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._ends[token] = self._clock.now() + OPERATOR_SESSION
            while len(self._ends) > MAX_OPERATOR_SESSIONS:
                del self._ends[next(iter(self._ends))]
        return token

    def check(self, token: str | None) -> None:
        """:class:`OperatorLoginError` unless ``token`` is a live session's."""
        with self._lock:
            ends = None if not token else self._ends.get(token)
            if ends is not None and self._clock.now() >= ends:
                del self._ends[str(token)]
                ends = None
        if ends is None:
            raise OperatorLoginError(wrong_secret=False)

    def log_out(self, token: str | None) -> None:
        with self._lock:
            self._ends.pop(token or "", None)


def _config_js(settings: PortalSettings) -> bytes:
    person = settings.person
    config = {
        "kpki": settings.kpki_url, "agent": settings.agent_url,
        "sdk": None if settings.sdk is None else {"orgCode": settings.sdk.org_code,
                                                  "apiKey": settings.sdk.api_key},
        "person": None if person is None else {"name": person.name, "rrn": person.rrn,
                                               "phone": person.phone},
        "phone": settings.device_folder is not None,
        "bank": {k: v for k, v in settings.bank.items() if k != "api_key"} or None,
        "terms": list(_joint_terms()),
        "credentials": [list(pair) for pair in settings.credentials],
    }
    text = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    return f"window.PORTAL = {text};\n".encode()


def _joint_terms() -> tuple[str, ...]:
    from ..ra.joint import REQUIRED_TERMS

    return REQUIRED_TERMS


def portal_app(settings: PortalSettings, *, home: Callable[[], Home],
               republish: Callable[[], object] = lambda: None,
               clock: Clock | None = None) -> ASGIApp:
    """The portal over ``settings``; ``home`` opens a handle on the CA's home for a worker
    thread (the operator revokes there; the portal reads the CA certificates it trusts);
    ``republish`` publishes at once after a revocation (kpki serve's publisher)."""
    time: Clock = clock or SystemClock()
    files = importlib.resources.files("pki.portal") / "static"
    pages = {name: (files / name).read_bytes() for name in PAGES}
    config = _config_js(settings)
    pending: dict[str, _Pending] = {}
    pending_lock = threading.Lock()
    operators = _OperatorSessions(settings.operator_secret, time)

    api: JsonApi[_Service] = JsonApi(lambda: _Service(home(), settings, time),
                                     lambda s, key: _PUBLIC, name="portal")

    def guarded(handler: Callable[[_Service, Any, Request], Any]
                ) -> Callable[[_Service, Institution, Any, Request], Any]:
        def run(s: _Service, i: Institution, body: Any, r: Request) -> Any:
            try:
                return handler(s, body, r)
            except PortalRequestError as exc:
                return error(exc.code, str(exc), 400, field=exc.field)
            except OperatorLoginError as exc:
                return error(exc.code, str(exc), 401)
            except (PetitionNotFoundError, NotFoundError) as exc:
                return error("not_found", str(exc), 404)
            except UpstreamRefusal as exc:
                status = exc.status if 400 <= exc.status < 500 else 502
                return error(exc.code, str(exc), status)
            except UpstreamError as exc:
                return error("upstream", str(exc), 502)
            except TimestampError as exc:
                return error("tsa_unavailable", f"the petition was not filed: {exc}", 503)
            except DeviceWrongPinError as exc:
                return error("wrong_pin", str(exc), 401, attempts_left=exc.attempts_left)
            except DeviceLockedError as exc:
                return error("pin_locked", str(exc), 423)
            except SimpleAuthAppError:
                return error("no_app", "the demo phone has no app at this provider", 404)
            except PKIError as exc:
                return error_response(exc)
        return run

    def endpoint(schema: type[Body], handler: Callable[[_Service, Any, Request], Any], *,
                 status: int = 200) -> Any:
        return api.endpoint(schema, guarded(handler), status=status)

    # petitions --------------------------------------------------------------------------

    def submit(s: _Service, body: PetitionBody, r: Request) -> Any:
        if body.method not in (SignMethod.AGENT, SignMethod.SDK):
            raise PortalRequestError("a signed petition comes from the agent or the SDK "
                                     "(simple authentication: /api/simpleauth)",
                                     field="method")
        petition = s.petitions.receive(
            text=body.text, encoding=body.encoding, rrn=body.rrn, method=body.method,
            signature=_decode_signature(body.signature), r=_decode_r(body.r))
        return {"id": petition.id, "received_at": utc(petition.received_at)}

    def listing(s: _Service, body: Empty, r: Request) -> Any:
        operators.check(r.cookies.get(OPERATOR_COOKIE))
        petitions = s.petitions.box.all()[:200]
        verifier = s.petitions.verifier()
        return {"petitions": [_listed(s.petitions.assess(p, verifier=verifier))
                              for p in petitions]}

    def one(s: _Service, body: Empty, r: Request) -> Any:
        petition = s.petitions.box.get(r.path_params["petition"])
        return assessment_json(s.petitions.assess(petition))

    # simple authentication: the portal as the relying party -----------------------------

    def ask(s: _Service, body: SimpleAuthBody, r: Request) -> Any:
        chosen, content = petition_bytes(body.text, body.encoding)
        holder = parse_rrn(body.rrn)
        answer = s.kpki.call("POST", "/simpleauth/v1/requests", {
            "provider": settings.provider, "name": body.name, "phone": body.phone,
            "rrn": holder.digits, "nonce": petition_nonce(content),
            "text": f"정부24 데모 포털: 민원 신청서 서명 ({len(body.text)}자, {chosen})"},
            api_key=settings.api_key)
        request_id = str(answer["request_id"])
        with pending_lock:
            pending[request_id] = _Pending(body.text, chosen, holder.digits)
            while len(pending) > MAX_PENDING:  # the oldest first: they expire first
                del pending[next(iter(pending))]
        return {"request_id": request_id, "status": answer.get("status"),
                "expires_at": answer.get("expires_at")}

    def follow(s: _Service, body: Empty, r: Request) -> Any:
        request_id = r.path_params["request"]
        with pending_lock:
            asked = pending.get(request_id)
        if asked is None:
            return error("not_found", "no such simple authentication of this portal", 404)
        with asked.lock:
            if asked.petition is not None:
                return {"status": "filed", "petition": asked.petition}
            status = s.kpki.call("GET", f"/simpleauth/v1/requests/{request_id}",
                                 api_key=settings.api_key)
            if status.get("status") != "approved":
                return {"status": status.get("status"), "reason": status.get("reason")}
            found = s.kpki.call("POST", f"/simpleauth/v1/requests/{request_id}/result", {},
                                api_key=settings.api_key)
            petition = s.petitions.receive(
                text=asked.text, encoding=asked.encoding.value, rrn=asked.rrn,
                method=SignMethod.SIMPLEAUTH.value,
                signature=base64.b64decode(str(found["cms"])),
                simpleauth=SimpleAuthEvidence(request_id, int(found["provider"]),
                                              str(found["ci"])))
            asked.petition = petition.id
            return {"status": "filed", "petition": petition.id}

    # the operator -----------------------------------------------------------------------

    def log_in(s: _Service, body: LoginBody, r: Request) -> Any:
        answer = JSONResponse({"operator": True, "ends_in": int(
            OPERATOR_SESSION.total_seconds())})
        answer.set_cookie(OPERATOR_COOKIE, operators.log_in(body.secret), path="/",
                          max_age=int(OPERATOR_SESSION.total_seconds()), httponly=True,
                          samesite="strict")
        return answer

    def log_out(s: _Service, body: Empty, r: Request) -> Any:
        operators.log_out(r.cookies.get(OPERATOR_COOKIE))
        answer = JSONResponse({"operator": False})
        answer.delete_cookie(OPERATOR_COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    def revoke(s: _Service, body: RevokeBody, r: Request) -> Any:
        operators.check(r.cookies.get(OPERATOR_COOKIE))
        found = s.petitions.assess(s.petitions.box.get(body.petition))
        signer = None if found.result is None else found.result.signer
        record = None if signer is None else s.record_of(signer.serial_number,
                                                         signer.issuer.public_bytes())
        if signer is None or record is None:
            return error("not_ours", "this petition's signer has no certificate of this "
                         "demo's CAs", 409)
        revoked = lifecycle.revoke(s.home.store, signer.serial_number, ca=record[0],
                                   at=time.now(), reason=x509.ReasonFlags.key_compromise)
        republish()
        return {"serial": format(signer.serial_number, "X"), "ca": record[0],
                "revoked_at": None if revoked.revoked_at is None else utc(revoked.revoked_at)}

    # the demo person's phone ------------------------------------------------------------

    def device(s: _Service) -> DeviceApp:
        if settings.device_folder is None:
            raise PetitionNotFoundError("phone")
        return DeviceApp(settings.device_folder, clock=time)

    def phone_requests(s: _Service, app: DeviceApp) -> list[dict[str, Any]]:
        answer = s.kpki.call("GET", "/simpleauth/v1/app/requests",
                             bearer=app.token(settings.provider))
        requests = answer.get("requests")
        return requests if isinstance(requests, list) else []

    def phone_list(s: _Service, body: Empty, r: Request) -> Any:
        return {"requests": phone_requests(s, device(s))}

    def phone_messages(s: _Service, body: Empty, r: Request) -> Any:
        """The demo person's text messages from the cloud (the SDK's connection code),
        through kpki serve's test channel."""
        if settings.person is None:
            raise PetitionNotFoundError("phone")
        phone = settings.person.phone
        answer = s.kpki.call("GET", f"/cloud/v1/test/messages?phone={phone}",
                             api_key=settings.api_key)
        messages = answer.get("messages")
        return {"phone": phone, "messages": messages if isinstance(messages, list) else []}

    def phone_answer(s: _Service, body: PinBody | Empty, r: Request) -> Any:
        app = device(s)
        request_id = r.path_params["request"]
        token = app.token(settings.provider)
        if isinstance(body, Empty):
            return s.kpki.call("POST", f"/simpleauth/v1/app/requests/{request_id}/decline",
                               {}, bearer=token)
        listed = next((q for q in phone_requests(s, app) if q.get("request_id") == request_id),
                      None)
        if listed is None:
            return error("not_found", "no such pending request on this phone", 404)
        request = PendingRequest(
            id=request_id, provider=int(listed["provider"]),
            relying_party=str(listed["relying_party"]), text=str(listed["text"]),
            nonce=str(listed["nonce"]),
            created_at=dt.datetime.fromisoformat(str(listed["created_at"])),
            expires_at=dt.datetime.fromisoformat(str(listed["expires_at"])))
        signature = app.approval(request, pin=body.pin)
        return s.kpki.call("POST", f"/simpleauth/v1/app/requests/{request_id}/approve",
                           {"signature": base64.b64encode(signature).decode()}, bearer=token)

    # the bank pages: the bank's calls, with its API key kept here ------------------------

    def bank_call(s: _Service, body: BankCallBody, r: Request) -> Any:
        key = settings.bank.get("api_key")
        if not key:
            return error("no_bank", "this portal has no demo bank", 404)
        if not BANK_PATHS.fullmatch(body.path):
            raise PortalRequestError("the bank pages call the issuance flows, phone "
                                     "verification and the test channels only", field="path")
        status, answer = s.kpki.answer(body.method, body.path,
                                       body.body if body.method == "POST" else None,
                                       api_key=key)
        return {"status": status, "answer": answer}

    # pages ------------------------------------------------------------------------------

    async def page(request: Request) -> Response:
        name = request.path_params.get("page", "index.html")
        body = pages.get(name)
        if body is None:
            return Response("없는 페이지입니다\n", status_code=404,
                            media_type="text/plain; charset=utf-8")
        return Response(body, media_type=_TYPES[name.rsplit(".", 1)[1]],
                        headers={"cache-control": "no-store"})

    async def config_js(request: Request) -> Response:
        return Response(config, media_type=_TYPES["js"], headers={"cache-control": "no-store"})

    async def start(request: Request) -> Response:
        return RedirectResponse("/index.html", status_code=303)

    async def no_route(request: Request) -> Response:
        return JSONResponse({"error": {"code": "no_route", "message": "no such request in "
                                       "the portal's API"}}, status_code=404)

    routes = [
        Route("/", start, methods=["GET"]),
        Route("/config.js", config_js, methods=["GET"]),
        Route("/api/petitions", endpoint(PetitionBody, submit, status=201), methods=["POST"]),
        Route("/api/petitions/{petition}", endpoint(Empty, one), methods=["GET"]),
        Route("/api/simpleauth", endpoint(SimpleAuthBody, ask, status=201), methods=["POST"]),
        Route("/api/simpleauth/{request}", endpoint(Empty, follow), methods=["GET"]),
        Route("/api/operator/login", endpoint(LoginBody, log_in), methods=["POST"]),
        Route("/api/operator/logout", endpoint(Empty, log_out), methods=["POST"]),
        Route("/api/operator/petitions", endpoint(Empty, listing), methods=["GET"]),
        Route("/api/operator/revoke", endpoint(RevokeBody, revoke), methods=["POST"]),
        Route("/api/phone/requests", endpoint(Empty, phone_list), methods=["GET"]),
        Route("/api/phone/messages", endpoint(Empty, phone_messages), methods=["GET"]),
        Route("/api/phone/requests/{request}/approve", endpoint(PinBody, phone_answer),
              methods=["POST"]),
        Route("/api/phone/requests/{request}/decline", endpoint(Empty, phone_answer),
              methods=["POST"]),
        Route("/api/bank/call", endpoint(BankCallBody, bank_call), methods=["POST"]),
        Route("/api/{rest:path}", no_route, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/{page}", page, methods=["GET"]),
    ]
    return _OwnPagesOnly(Starlette(routes=routes))
