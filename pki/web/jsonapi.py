"""The error contract of kpki's JSON APIs (the cloud's ``/cloud/v1``, the bank's
``/bank/v1``), in one place both mount their routes through.

Institutions authenticate with ``X-API-Key``. Every error is ``{"error": {"code": ...,
"message": ...}}`` with a stable code and the matching HTTP status, and never a 500 for
anything a client sends: the services refuse with typed errors
(:class:`pki.errors.RequestRefusedError`, carrying their code and data), and
:func:`error_response` here is the one place that gives them an HTTP status. Each request
goes through the same steps, cheapest first (:meth:`JsonApi.endpoint`):

1. the API key is checked before a byte of the body is read (401);
2. the body is read as it streams in and refused (413) as soon as it passes
   :data:`MAX_BODY_BYTES`, whatever ``Content-Length`` says; nothing more is buffered;
3. the body is decoded straight into the route's schema (a :class:`Body`: exact types, no
   unknown fields, bounded strings), so nesting, wrong types and huge numbers are refused
   (400) before any work, without building a Python object for them; msgspec's messages
   are said in kpki's words, naming the field; text holding a NUL character (which
   PostgreSQL's text cannot hold) is refused there too, in the body or the query (400,
   naming the field) or in the path (404, as an id that is no record's), the same on every
   store backend;
4. only then does the operation run, in a worker thread (a PIN KDF, signing, the store's
   write lock), each thread with its own service instance and store connection.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import (
    AccountLockedError,
    AlreadyRevokedError,
    AppLockedError,
    ArsBlockedError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    BranchOnlyDeviceChangeError,
    CardLockedError,
    CertificateExpiredError,
    ChallengeExpiredError,
    ChallengeUsedError,
    CloudRequestError,
    CodeExpiredError,
    CodeLimitError,
    CodeTriesExhaustedError,
    ContentTooLargeError,
    CustomerExistsError,
    DeviceNotDesignatedError,
    EnrolmentExpiredError,
    FlowRefusedError,
    IdentityMismatchError,
    InvalidRegistrationError,
    LimitExceededError,
    LineIneligibleError,
    LoginRefusedError,
    NoMediumError,
    NotEnrolledError,
    NotFoundError,
    OtpActivationExpiredError,
    OtpDeviceError,
    OtpDisabledError,
    OtpLockedError,
    OtpLostError,
    OtpNotActivatedError,
    OtpNotUsableHereError,
    OtpReplayError,
    PhoneCodeExpiredError,
    PinBusyError,
    PinLockedError,
    PinPolicyError,
    PKIError,
    PushIneligibleError,
    PushNotEnrolledError,
    RequestRefusedError,
    SealedUnderOtherSecretError,
    SendLimitError,
    SignatureRefusedError,
    SimpleAuthAppError,
    SimpleAuthExpiredError,
    SimpleAuthNotFoundError,
    SimpleAuthRegistrationError,
    SimpleAuthRequestError,
    SimpleAuthSignatureError,
    SimpleAuthStateError,
    StepRefusedError,
    StepUpInvalidError,
    StepUpRequiredError,
    StepUpUsedError,
    StoreError,
    TooManyDevicesError,
    UnauthorizedError,
    UnstorableValueError,
    VerificationUsedError,
    WrongAccountPasswordError,
    WrongAppPasswordError,
    WrongCardAnswerError,
    WrongCodeError,
    WrongOtpError,
    WrongPhoneCodeError,
    WrongPinError,
)
from ..store import Institution
from .limits import read_capped

__all__ = ["MAX_BODY_BYTES", "Body", "Empty", "JsonApi", "error", "error_response",
           "in_words", "utc"]

MAX_BODY_BYTES = 2 * 1024 * 1024

S = TypeVar("S")


class Body(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: exactly these fields, of exactly these types."""


class Empty(Body):
    """The body of a request that takes none (a GET, or a POST with ``{}``)."""


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
    (re.compile(r"Invalid enum value '(.*)'"), lambda m: f"has no value '{m[1]}'"),
)


def in_words(text: str) -> tuple[str, str | None]:
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


def _holds_nul(value: Any) -> bool:
    """Whether ``value`` (a decoded body's field) holds text with a NUL character, at any
    depth (bytes fields may hold anything)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, msgspec.Struct):
        return any(_holds_nul(getattr(value, name)) for name in value.__struct_fields__)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


def _nul_refusal(request: Request, body: Any) -> JSONResponse | None:
    """The answer to a request holding text with a NUL character, None for any other:
    a path naming a record by such an id is 404 (no record has one), a body or query
    field 400 naming it."""
    for name, value in request.path_params.items():
        if _holds_nul(value):
            return error("not_found", f"no such {name}", 404)
    fields = [(name, getattr(body, name)) for name in body.__struct_fields__]
    for name, value in [*request.query_params.multi_items(), *fields]:
        if _holds_nul(value):
            return error("bad_request", f"the field '{name}' holds a NUL character", 400,
                         field=name)
    return None


def error(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    """The error answer: ``{"error": {"code", "message", ...extra}}`` with ``status``."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}},
                        status_code=status)


# The HTTP status of each refusal, most specific first; the code is the error's own.
# 401: no or a wrong API key, or a wrong secret that counts towards a lock (PIN, account
# password, card answer, OTP code, app password); 403: the rules refuse what was asked;
# 409: a state that forbids it (used already, exists; a flow's step out of order, repeated,
# or on a session that has ended); 410: too late (a flow's session expired too); 423:
# locked until a branch acts; 429: too many, try later.
_STATUS: tuple[tuple[type[PKIError], int], ...] = (
    (UnauthorizedError, 401),
    (SimpleAuthAppError, 401),
    (SimpleAuthRequestError, 400),
    (SimpleAuthSignatureError, 403),
    (SimpleAuthRegistrationError, 403),
    (SimpleAuthNotFoundError, 404),
    (SimpleAuthStateError, 409),
    (SimpleAuthExpiredError, 410),
    (WrongPinError, 401),
    (WrongAccountPasswordError, 401),
    (WrongCardAnswerError, 401),
    (WrongOtpError, 401),
    (WrongAppPasswordError, 401),
    (InvalidRegistrationError, 400),
    (CloudRequestError, 400),
    (BankRequestError, 400),
    (BankSettingsError, 400),
    (PinPolicyError, 400),
    (WrongCodeError, 400),
    (WrongPhoneCodeError, 400),
    (DeviceNotDesignatedError, 403),
    (BranchOnlyDeviceChangeError, 403),
    (StepUpRequiredError, 403),
    (StepUpInvalidError, 403),
    (SignatureRefusedError, 403),
    (FlowRefusedError, 403),
    (LoginRefusedError, 403),
    (NotEnrolledError, 403),
    (NoMediumError, 403),
    (LimitExceededError, 403),
    (OtpNotActivatedError, 403),
    (OtpNotUsableHereError, 403),
    (OtpDeviceError, 403),
    (OtpDisabledError, 403),
    (OtpLostError, 403),
    (IdentityMismatchError, 403),
    (LineIneligibleError, 403),
    (PushIneligibleError, 403),
    (PushNotEnrolledError, 403),
    (ArsBlockedError, 403),
    (BankNotFoundError, 404),
    (NotFoundError, 404),
    (ChallengeUsedError, 409),
    (OtpReplayError, 409),
    (VerificationUsedError, 409),
    (CustomerExistsError, 409),
    (StepUpUsedError, 409),
    (TooManyDevicesError, 409),
    (CodeExpiredError, 410),
    (ChallengeExpiredError, 410),
    (PhoneCodeExpiredError, 410),
    (EnrolmentExpiredError, 410),
    (OtpActivationExpiredError, 410),
    (ContentTooLargeError, 413),
    (PinLockedError, 423),
    (AccountLockedError, 423),
    (CardLockedError, 423),
    (OtpLockedError, 423),
    (AppLockedError, 423),
    (PinBusyError, 429),
    (CodeLimitError, 429),
    (SendLimitError, 429),
    (CodeTriesExhaustedError, 429),
    (SealedUnderOtherSecretError, 503),
    (StepRefusedError, 409),
    (RequestRefusedError, 409),
)
# What else a client may see of an error's data, by attribute.
_EXTRA = ("attempts_left", "tries_left", "rule", "field", "limit", "state", "used", "scope",
          "key", "methods", "reason", "change", "expected")


def error_response(exc: PKIError) -> JSONResponse:
    """The JSON answer to a refusal: its stable code and message, its status, and the
    data a client can act on (wrong guesses left, the PIN rule broken, the limit). A store
    that cannot be reached is 503, a value it cannot hold 400; any other error of the
    library is 409 ``refused``."""
    if isinstance(exc, UnstorableValueError):
        return error("bad_request", str(exc), 400)
    if isinstance(exc, StoreError):
        return error("unavailable", "the store is busy or unavailable: try again", 503)
    if isinstance(exc, AlreadyRevokedError):
        return error("revoked", str(exc), 409)
    if isinstance(exc, CertificateExpiredError):
        return error("expired", str(exc), 409)
    if not isinstance(exc, RequestRefusedError):
        return error("refused", str(exc), 409)
    status = next(status for kind, status in _STATUS if isinstance(exc, kind))
    if isinstance(exc, StepRefusedError) and exc.code == "session_expired":
        status = 410  # a flow's step came too late: start a new session
    extra = {name: getattr(exc, name) for name in _EXTRA if hasattr(exc, name)}
    return error(exc.code, str(exc), status, **extra)


def utc(value: dt.datetime) -> str:
    """A time as JSON gives it: UTC, to the second, ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Handler = Callable[[S, Institution, Any, Request], Any]


class JsonApi(Generic[S]):
    """Routes of one JSON API over a service ``S`` (a :class:`pki.cloud.service.Cloud`,
    a bank facade) that ``factory`` makes once per worker thread; ``authenticate`` turns
    an API key (or None) into the calling institution or raises
    :class:`pki.errors.UnauthorizedError`."""

    def __init__(self, factory: Callable[[], S],
                 authenticate: Callable[[S, str | None], Institution], *, name: str,
                 workers: int = 8, header: str = "x-api-key") -> None:
        self.name = name
        self._header = header
        self._factory = factory
        self._authenticate = authenticate
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"kpki-{name}")

    def sharing(self, authenticate: Callable[[S, str | None], Institution], *, name: str,
                header: str = "x-api-key") -> JsonApi[S]:
        """Another API over this one's worker threads and their service instances (one
        store connection per thread, not one per API), authenticating its callers with
        ``authenticate`` from ``header``."""
        other = copy.copy(self)
        other.name, other._header, other._authenticate = name, header, authenticate
        return other

    def service(self) -> S:
        """The calling thread's service instance (made on its first use)."""
        instance: S | None = getattr(self._local, "service", None)
        if instance is None:
            instance = self._local.service = self._factory()
        return instance

    def endpoint(self, schema: type[Body], handler: Handler[S], *, status: int = 200
                 ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint that runs the module doc's steps, then ``handler(service,
        institution, body, request)`` in a worker thread; its result is the JSON answer,
        with ``status`` (or the :class:`Response` it returns)."""
        decoder = msgspec.json.Decoder(schema)
        pool = self._pool

        async def run(request: Request) -> Response:
            api_key = request.headers.get(self._header)
            loop = asyncio.get_running_loop()
            try:
                institution = await loop.run_in_executor(
                    pool, lambda: self._authenticate(self.service(), api_key))
                body: Any = Empty()
                if request.method == "POST":
                    raw = await read_capped(request, MAX_BODY_BYTES)
                    if raw is None:
                        return error("too_large", "the request body is larger than "
                                     f"{MAX_BODY_BYTES} bytes", 413)
                    body = decoder.decode(raw.strip() or b"{}")
                if refusal := _nul_refusal(request, body):
                    return refusal
            except RecursionError:  # an untyped field nested past Python's recursion limit
                return error("bad_json", "the body nests arrays or objects too deeply", 400)
            except ClientDisconnect:
                return Response(status_code=400)
            except msgspec.ValidationError as exc:
                message, field = in_words(str(exc))
                return error("bad_request", message, 400,
                             **({"field": field} if field else {}))
            except (msgspec.DecodeError, UnicodeDecodeError):
                return error("bad_json", "the body is not a JSON object in UTF-8", 400)
            except PKIError as exc:
                return error_response(exc)
            try:
                result = await loop.run_in_executor(
                    pool, lambda: handler(self.service(), institution, body, request))
            except PKIError as exc:
                return error_response(exc)
            if isinstance(result, Response):  # a handler that chose its own status
                return result
            return JSONResponse(result, status_code=status)

        return run

    def no_route(self, prefix: str) -> Route:
        """The catch-all under ``prefix`` (``/cloud/v1``): a JSON 404 ``no_route``."""

        async def answer(request: Request) -> Response:
            return error("no_route", f"no such request in the {self.name} API", 404)

        return Route(prefix + "/{rest:path}", answer,
                     methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
