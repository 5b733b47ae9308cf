"""The financial-certificate SDK for the browser under ``/sdk/v1``, added to ``kpki serve``.

* ``GET /sdk/v1/fincert.js``: the script a page loads (``FinCert.Sdk``); it puts the
  iframe below over the page and talks to it with ``postMessage`` only.
* ``GET /sdk/v1/origin?org=<code>``: whether the asking page's origin (the browser's
  ``Origin`` header) may use the organisation code, asked by ``fincert.js`` before it loads
  the iframe (CORS, ``{"known", "allowed"}``).
* ``GET /sdk/v1/frame?org=<code>``: the iframe's page (with ``frame.js`` and
  ``frame.css``), sent with a ``Content-Security-Policy`` whose ``frame-ancestors`` are
  the organisation's allowed origins, so no other site can even show it.
* ``POST /sdk/v1/...``: the iframe's JSON calls (:mod:`pki.cloud.sdk` has the rules),
  through :class:`pki.web.jsonapi.JsonApi`: the same error contract as ``/cloud/v1``
  (``{"error": {"code", "message"}}``, bodies decoded into exact schemas before any work,
  size-limited while they stream in, 4xx and never 500). ``/session`` takes the SDK key
  (``X-Sdk-Key``); every other call its session token (``X-Sdk-Session``), checked
  before the body is read, with the page origin and device it is bound to
  (``X-Sdk-Origin``, ``X-Device-Id``). A call whose ``Origin`` (or ``Sec-Fetch-Site``)
  shows it came from a page other than kpki's own is refused
  (``origin_not_allowed``): only the iframe calls these routes, and the parent page only
  ever sees the results the iframe posts to it.

Static files are read once from the package (``pki/web/static/sdk``) with
:mod:`importlib.resources`; nothing is fetched from anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import importlib.resources
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..cloud.sdk import CertificateInfo, FinCertSdk, PadAnswer, SdkSignature, SignRequest
from ..errors import CloudRequestError, OriginNotAllowedError
from ..store import Institution
from ..store.sdkrecords import SdkInstitution, SdkSession
from .jsonapi import MAX_BODY_BYTES, Body, Empty, JsonApi, utc

__all__ = ["sdk_routes"]

Short = Annotated[str, msgspec.Meta(max_length=64)]
Content = Annotated[str, msgspec.Meta(max_length=MAX_BODY_BYTES)]
Position = Annotated[int, msgspec.Meta(ge=0, le=11)]

_ANYONE = Institution(0, "anyone", dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
"""Who calls ``/session`` and the frame page before a session exists (the SDK key is
checked by the operation, with the organisation code it belongs to)."""

_STATIC = {"fincert.js": "text/javascript; charset=utf-8",
           "frame.js": "text/javascript; charset=utf-8",
           "frame.css": "text/css; charset=utf-8",
           "frame.html": "text/html; charset=utf-8"}


def _static(name: str) -> bytes:
    return importlib.resources.files("pki.web").joinpath("static", "sdk", name).read_bytes()


class SessionBody(Body):
    org_code: Short
    origin: Annotated[str, msgspec.Meta(max_length=200)]
    device: Short
    resume: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class ConnectBody(Body):
    name: Short
    phone: Short
    birth_date: Short


class CodeBody(Body):
    code: Short


class PadBody(Body):
    pad: Short
    positions: Annotated[list[Position], msgspec.Meta(max_length=12)]


class SignSpec(Body, rename="camel"):
    """The page's ``sign`` options, as the SDK names them."""

    type: Short = "CMS"
    plain_texts: Annotated[list[Content], msgspec.Meta(max_length=64)] | None = None
    encoding: Short | None = None
    binaries: Annotated[list[Content], msgspec.Meta(max_length=64)] | None = None
    algorithms: Short = "RSASSA-PKCS1-v1_5_SHA256"
    sign_type: Short = "99"
    without_content: bool = False
    general_syntax: bool = True
    time: bool = True
    include_r: bool = False
    ssn: Short | None = None


class SignBody(Body):
    serial: Short
    pin: PadBody
    request: SignSpec


class IssueBody(Body):
    ssn: Short
    pin: PadBody
    pin_confirm: PadBody
    kind: Short = "personal"


class SerialPinBody(Body):
    serial: Short
    pin: PadBody


class ChangePinBody(Body):
    serial: Short
    old_pin: PadBody
    new_pin: PadBody
    new_pin_confirm: PadBody


def _serial(text: str) -> int:
    if not 1 <= len(text) <= 40:
        raise CloudRequestError("the serial is 1-40 hex digits", field="serial")
    try:
        return int(text, 16)
    except ValueError:
        raise CloudRequestError("the serial is hex", field="serial") from None


def _answer(body: PadBody) -> PadAnswer:
    return PadAnswer(body.pad, tuple(body.positions))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


def _info(info: CertificateInfo, now: dt.datetime) -> dict[str, Any]:
    record = info.record
    status = record.status.value
    if status == "valid" and record.is_expired(now):
        status = "expired"
    return {"certSeqNum": format(record.serial, "X"),
            "subject": _name(record.certificate.subject),
            "issuer": _name(record.certificate.issuer),
            "notBefore": utc(record.not_before), "notAfter": utc(record.not_after),
            "profile": record.profile, "status": status, "locked": info.locked,
            "renewable": info.renewable}


def _signed(result: SdkSignature) -> dict[str, Any]:
    out: dict[str, Any] = {"signedVals": [_b64url(v) for v in result.values],
                           "certSeqNum": format(result.serial, "X")}
    if result.r is not None:
        out["rValue"] = _b64url(result.r)
    return out


def _set_up_named(sdk: FinCertSdk, request: Request) -> SdkInstitution | None:
    """The SDK set-up of the organisation code in the query (``?org=``), if any."""
    code = request.query_params.get("org", "")
    return (sdk.store.sdk_institution_by_org_code(code)
            if 1 <= len(code) <= 20 and code.isalnum() else None)


def _own_origin(request: Request) -> None:
    """Refuse a call that a browser says came from a page of another origin (only kpki's
    own iframe calls these routes)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    site = request.headers.get("sec-fetch-site")
    if (origin is not None and origin != own) or site not in (None, "same-origin"):
        raise OriginNotAllowedError("only kpki's own SDK frame calls /sdk/v1",
                                    origin=origin or "")


def sdk_routes(factory: Callable[[], FinCertSdk], *, workers: int = 8) -> list[Route]:
    """Routes of the SDK whose per-thread :class:`FinCertSdk` instances ``factory``
    makes."""
    api: JsonApi[FinCertSdk] = JsonApi(
        factory, lambda sdk, token: sdk.institution_of_token(token), name="sdk",
        workers=workers, header="x-sdk-session")
    public = api.sharing(lambda sdk, key: _ANYONE, name="sdk", header="x-sdk-key")
    static = {name: _static(name) for name in _STATIC}

    def session_of(sdk: FinCertSdk, request: Request) -> tuple[SdkSession, Institution]:
        _own_origin(request)
        return sdk.session(request.headers.get("x-sdk-session"),
                           origin=request.headers.get("x-sdk-origin"),
                           device=request.headers.get("x-device-id"))

    def open_session(sdk: FinCertSdk, i: Institution, b: SessionBody, r: Request) -> Any:
        _own_origin(r)
        token, session = sdk.open_session(org_code=b.org_code,
                                          sdk_key=r.headers.get("x-sdk-key", ""),
                                          origin=b.origin, device=b.device, resume=b.resume)
        return {"session": token, "origin": session.origin,
                "connected": session.user_id is not None,
                "expires_at": utc(session.expires_at)}

    def status(sdk: FinCertSdk, i: Institution, b: Empty, r: Request) -> Any:
        session, _ = session_of(sdk, r)
        return {"connected": session.user_id is not None}

    def connect(sdk: FinCertSdk, i: Institution, b: ConnectBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        sdk.connect(session, institution, name=b.name, phone=b.phone,
                    birth_date=b.birth_date)
        return {"code_sent": True}

    def confirm(sdk: FinCertSdk, i: Institution, b: CodeBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        sdk.confirm(session, institution, b.code)
        return {"connected": True}

    def disconnect(sdk: FinCertSdk, i: Institution, b: Empty, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        sdk.disconnect(session, institution)
        return {"connected": False}

    def certificates(sdk: FinCertSdk, i: Institution, b: Empty, r: Request) -> Any:
        session, _ = session_of(sdk, r)
        now = sdk.clock.now()
        return {"certificates": [_info(c, now) for c in sdk.certificates(session)]}

    def pad(sdk: FinCertSdk, i: Institution, b: Empty, r: Request) -> Any:
        session, _ = session_of(sdk, r)
        made = sdk.new_pad(session)
        return {"pad": made.id, "keys": [None if k == "-" else k for k in made.layout],
                "expires_at": utc(made.expires_at)}

    def sign(sdk: FinCertSdk, i: Institution, b: SignBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        spec = b.request
        binaries = None
        if spec.binaries is not None:
            try:
                binaries = [base64.b64decode(v, validate=True) for v in spec.binaries]
            except (binascii.Error, ValueError):
                raise CloudRequestError("binaries are base64", field="binaries") from None
        request = SignRequest.of(texts=spec.plain_texts, encoding=spec.encoding,
                                 binaries=binaries, format=spec.type,
                                 algorithm=spec.algorithms, purpose=spec.sign_type,
                                 detached=spec.without_content,
                                 content_info=spec.general_syntax, signing_time=spec.time,
                                 include_r=spec.include_r, ssn=spec.ssn)
        return _signed(sdk.sign(session, institution, _serial(b.serial), _answer(b.pin),
                                request))

    def issue(sdk: FinCertSdk, i: Institution, b: IssueBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        issued = sdk.issue(session, institution, ssn=b.ssn, kind=b.kind,
                           pin=_answer(b.pin), pin_confirm=_answer(b.pin_confirm))
        return {"certSeqNum": format(issued.serial, "X"),
                "notAfter": utc(issued.certificate.not_valid_after_utc)}

    def renew(sdk: FinCertSdk, i: Institution, b: SerialPinBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        result = sdk.renew(session, institution, _serial(b.serial), _answer(b.pin))
        return {"certSeqNum": format(result.serial, "X"), "renewedFrom": b.serial.upper()}

    def change_pin(sdk: FinCertSdk, i: Institution, b: ChangePinBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        sdk.change_pin(session, institution, _serial(b.serial), old=_answer(b.old_pin),
                       new=_answer(b.new_pin), confirm=_answer(b.new_pin_confirm))
        return {"changed": True}

    def revoke(sdk: FinCertSdk, i: Institution, b: SerialPinBody, r: Request) -> Any:
        session, institution = session_of(sdk, r)
        sdk.revoke(session, institution, _serial(b.serial), _answer(b.pin))
        return {"revoked": True}

    def frame(sdk: FinCertSdk, i: Institution, b: Empty, r: Request) -> Any:
        found = _set_up_named(sdk, r)
        ancestors = " ".join(found.origins) if found is not None and found.origins else "'none'"
        return Response(static["frame.html"], media_type=_STATIC["frame.html"], headers={
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; style-src 'self'; "
                f"connect-src 'self'; img-src 'self'; frame-ancestors {ancestors}"),
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff"})

    def origin_check(sdk: FinCertSdk, i: Institution, b: Empty, r: Request) -> Any:
        found = _set_up_named(sdk, r)
        page = r.headers.get("origin", "")
        allowed = found is not None and page in found.origins
        # asked by fincert.js from the page (CORS), before it loads the frame: a page whose
        # origin may not show the frame hears so at once instead of waiting for a frame the
        # browser will not show; it learns nothing but its own origin's answer
        return JSONResponse({"known": found is not None, "allowed": allowed},
                            headers={"Access-Control-Allow-Origin": "*",
                                     "Cache-Control": "no-store", "Vary": "Origin"})

    def asset(name: str) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
            if name == "fincert.js":  # loaded by pages of other origins
                headers["Cross-Origin-Resource-Policy"] = "cross-origin"
            return Response(static[name], media_type=_STATIC[name], headers=headers)

        return answer

    endpoint = api.endpoint
    return [
        Route("/sdk/v1/fincert.js", asset("fincert.js"), methods=["GET", "HEAD"]),
        Route("/sdk/v1/frame.js", asset("frame.js"), methods=["GET", "HEAD"]),
        Route("/sdk/v1/frame.css", asset("frame.css"), methods=["GET", "HEAD"]),
        Route("/sdk/v1/frame", public.endpoint(Empty, frame), methods=["GET"]),
        Route("/sdk/v1/origin", public.endpoint(Empty, origin_check), methods=["GET"]),
        Route("/sdk/v1/session", public.endpoint(SessionBody, open_session), methods=["POST"]),
        Route("/sdk/v1/status", endpoint(Empty, status), methods=["POST"]),
        Route("/sdk/v1/connect", endpoint(ConnectBody, connect), methods=["POST"]),
        Route("/sdk/v1/connect/confirm", endpoint(CodeBody, confirm), methods=["POST"]),
        Route("/sdk/v1/disconnect", endpoint(Empty, disconnect), methods=["POST"]),
        Route("/sdk/v1/certificates", endpoint(Empty, certificates), methods=["POST"]),
        Route("/sdk/v1/pad", endpoint(Empty, pad), methods=["POST"]),
        Route("/sdk/v1/sign", endpoint(SignBody, sign), methods=["POST"]),
        Route("/sdk/v1/issue", endpoint(IssueBody, issue, status=201), methods=["POST"]),
        Route("/sdk/v1/renew", endpoint(SerialPinBody, renew), methods=["POST"]),
        Route("/sdk/v1/pin", endpoint(ChangePinBody, change_pin), methods=["POST"]),
        Route("/sdk/v1/revoke", endpoint(SerialPinBody, revoke), methods=["POST"]),
        api.no_route("/sdk/v1"),
    ]
