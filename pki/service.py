"""The kpki HTTP service: CRLs at the URLs the certificates carry, and OCSP.

A Starlette application (served by uvicorn from ``kpki serve``). For every CA of a home it
serves the full CRL at the path of the CA's CRL distribution point, the delta CRL beside
it, and an OCSP responder (GET and POST, RFC 6960 appendix A) at the path of its AIA URL;
and the home's time-stamping authority (RFC 3161 over HTTP POST) at ``<base URL>/tsa``.

CRLs are never built per request: a background task looks at the store's change counters
every ``poll_seconds`` and republishes a CA's CRLs when something changed, or when half of
the last CRL's validity has passed; requests are answered from memory.

Each CA's CPS URL, named in every certificate it issues, answers with a page saying what
the CA is (a test CA) and the policies it issues (:mod:`pki.cps`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .cps import cps_page
from .errors import PKIError
from .home import Home
from .revocation.crl import delta_url
from .revocation.ocsp import OCSPResponder
from .store import CARecord
from .timestamp.authority import TimeStampAuthority
from .timestamp.protocol import RESPONSE_TYPE as TSA_RESPONSE_TYPE

__all__ = ["MAX_OCSP_REQUEST_BYTES", "ServiceState", "create_app"]

log = logging.getLogger("kpki.serve")

MAX_OCSP_REQUEST_BYTES = 16 * 1024
MAX_TSA_REQUEST_BYTES = 16 * 1024
CRL_TYPE = "application/pkix-crl"
OCSP_RESPONSE_TYPE = "application/ocsp-response"


@dataclass
class _Published:
    change_seq: int = -1
    this_update: float = 0.0
    half_life: float = 0.0
    full: bytes | None = None
    delta: bytes | None = None
    announced: bool = False
    """Whether ``full`` announces the delta CRL (``kpki crl deltas``)."""


@dataclass
class ServiceState:
    """What the running service keeps in memory."""

    home: Home
    """Answers requests (on the event loop's thread)."""
    publisher: Home
    """The same home through its own store connection, for the publishing thread."""
    passphrase: bytes | None
    poll_seconds: float = 1.0
    signing_threads: int = 1
    extra_routes: list[Route] = field(default_factory=list)
    """More routes (the cloud API), matched before the catch-all 404."""
    responders: dict[str, OCSPResponder] = field(default_factory=dict)
    crl_paths: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """URL path -> (CA label, is delta)."""
    published: dict[str, _Published] = field(default_factory=dict)
    cps_pages: dict[str, bytes] = field(default_factory=dict)
    """URL path of a CPS -> its page (HTML)."""
    tsa: TimeStampAuthority | None = None
    """The home's time-stamping authority, answering at :attr:`tsa_path`."""
    tsa_path: str = ""

    def refresh(self, *, force: bool = False) -> list[str]:
        """Republish the CRLs of every CA whose status changed; returns their labels."""
        done = []
        now = time.time()
        home = self.publisher
        announce = home.delta_crls
        for record in home.store.list_cas():
            state = self.published.setdefault(record.label, _Published())
            seq = home.store.change_seq(record.label)
            stale = (now - state.this_update > state.half_life
                     or state.announced != announce)
            if not force and seq == state.change_seq and not stale and state.full:
                continue
            [(full, _)] = home.publish_crls(passphrase=self.passphrase,
                                            labels=[record.label])
            [(delta, _)] = home.publish_crls(passphrase=self.passphrase, delta=True,
                                             labels=[record.label])
            state.full, state.delta, state.announced = full.der, delta.der, announce
            state.change_seq = full.info.change_seq
            state.this_update = now
            state.half_life = (full.info.next_update - full.info.this_update).total_seconds() / 2
            log.info("published CRL %d of %s (%d entries) and delta %d", full.info.number,
                     record.label, full.info.entries, delta.info.number)
            done.append(record.label)
        return done

    def setup(self) -> None:
        self.home.unlock(self.passphrase)
        self.publisher.unlock(self.passphrase, keys_from=self.home)
        cps: dict[str, list[CARecord]] = {}
        for record in self.home.store.list_cas():
            self.crl_paths[urlsplit(record.crl_url).path] = (record.label, False)
            self.crl_paths[urlsplit(delta_url(record.crl_url)).path] = (record.label, True)
            if record.ocsp_url:
                self.responders[urlsplit(record.ocsp_url).path.rstrip("/")] = \
                    self.home.ocsp_responder(record.label, passphrase=self.passphrase)
            if record.cps_url:
                cps.setdefault(urlsplit(record.cps_url).path, []).append(record)
        self.cps_pages = {path: cps_page(records).encode() for path, records in cps.items()}
        self.tsa = self.home.tsa(passphrase=self.passphrase)
        self.tsa_path = urlsplit(self.home.tsa_url).path
        self.refresh(force=True)


class _AccessLog:
    """One log line per request: method, path, status, bytes, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size = 500, 0

        async def logged_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            path = scope["path"] if len(scope["path"]) < 200 else scope["path"][:200] + "..."
            log.info("%s %s %d %d %.1fms", scope["method"], path, status, size,
                     (time.perf_counter() - start) * 1000)


Handler = Callable[[Request], Awaitable[Response]]


def _too_large() -> Response:
    return Response("request too large\n", status_code=413, media_type="text/plain")


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None if it is (or declares itself) longer than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            return None
    return bytes(chunks)


def create_app(state: ServiceState) -> ASGIApp:
    """The ASGI application for a prepared :class:`ServiceState`."""

    async def crl(request: Request) -> Response:
        target = state.crl_paths.get(request.url.path)
        if target is None:
            return Response("no such CRL\n", status_code=404, media_type="text/plain")
        label, is_delta = target
        published = state.published.get(label)
        body = None if published is None else (published.delta if is_delta else published.full)
        if body is None:
            return Response("not published yet\n", status_code=503, media_type="text/plain")
        return Response(body, media_type=CRL_TYPE)

    # pyca releases the GIL while it signs, so responses are signed in worker threads and
    # the event loop goes on parsing and answering HTTP meanwhile.
    signers = ThreadPoolExecutor(max_workers=max(1, state.signing_threads),
                                 thread_name_prefix="kpki-ocsp")

    async def respond(responder: OCSPResponder, der: bytes) -> bytes:
        if not state.signing_threads:
            return responder.respond(der)
        return await asyncio.get_running_loop().run_in_executor(signers, responder.respond,
                                                                der)

    def post_handler(responder: OCSPResponder) -> Handler:
        async def ocsp_post(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit()
                                         or int(declared) > MAX_OCSP_REQUEST_BYTES):
                return _too_large()
            if declared is not None:
                body = await request.body()
            else:  # chunked: count as it comes
                chunks = bytearray()
                async for chunk in request.stream():
                    chunks += chunk
                    if len(chunks) > MAX_OCSP_REQUEST_BYTES:
                        return _too_large()
                body = bytes(chunks)
            if len(body) > MAX_OCSP_REQUEST_BYTES:
                return _too_large()
            return Response(await respond(responder, body), media_type=OCSP_RESPONSE_TYPE)

        return ocsp_post

    def get_handler(responder: OCSPResponder) -> Handler:
        async def ocsp_get(request: Request) -> Response:
            encoded = unquote(request.path_params["request"])
            if len(encoded) > MAX_OCSP_REQUEST_BYTES * 2:
                return _too_large()
            try:
                der = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                return Response(OCSPResponder.malformed(), media_type=OCSP_RESPONSE_TYPE)
            return Response(await respond(responder, der), media_type=OCSP_RESPONSE_TYPE)

        return ocsp_get

    async def tsa_post(request: Request) -> Response:
        # RFC 3161 section 3.4: a DER TimeStampReq in, a DER TimeStampResp out; a bad
        # request gets a rejection response, never an error page.
        assert state.tsa is not None
        body = await _read_capped(request, MAX_TSA_REQUEST_BYTES)
        if body is None:
            return _too_large()
        if not state.signing_threads:
            answer = state.tsa.respond(body)
        else:
            answer = await asyncio.get_running_loop().run_in_executor(
                signers, state.tsa.respond, body)
        return Response(answer, media_type=TSA_RESPONSE_TYPE)

    async def cps(request: Request) -> Response:
        return Response(state.cps_pages[request.url.path], media_type="text/html")

    async def not_found(request: Request) -> Response:
        return Response("not found\n", status_code=404, media_type="text/plain")

    routes = []
    for path, responder in state.responders.items():
        routes.append(Route(path, post_handler(responder), methods=["POST"]))
        routes.append(Route(path + "/{request:path}", get_handler(responder),
                            methods=["GET", "HEAD"]))
    for path in state.crl_paths:
        routes.append(Route(path, crl, methods=["GET", "HEAD"]))
    for path in state.cps_pages:
        routes.append(Route(path, cps, methods=["GET", "HEAD"]))
    if state.tsa is not None:
        routes.append(Route(state.tsa_path, tsa_post, methods=["POST"]))
    routes.extend(state.extra_routes)
    routes.append(Route("/{anything:path}", not_found, methods=["GET", "HEAD", "POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def poll() -> None:
            loop = asyncio.get_running_loop()
            while True:
                await asyncio.sleep(state.poll_seconds)
                try:
                    await loop.run_in_executor(None, state.refresh)
                except PKIError as exc:  # a clock gone back, a full disk: one line, no trace
                    log.error("republishing CRLs failed: %s", exc)
                except Exception:  # keep serving the last CRLs; say why once per failure
                    log.exception("republishing CRLs failed")

        task = asyncio.create_task(poll())
        try:
            yield
        finally:
            task.cancel()
            signers.shutdown(wait=False)

    async def gone(request: Request, exc: Exception) -> Response:
        # The client hung up while its body was read: nothing to answer, nothing went wrong.
        # Logged as 499, nginx's "client closed request"; the response is never sent.
        return Response(status_code=499)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={ClientDisconnect: gone})
    return _AccessLog(app)

