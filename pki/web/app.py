"""The kpki web app: one Starlette application that reads the store and answers.

Routes: each CA's CRLs and OCSP responder (:mod:`pki.web.revocation`), the home's
time-stamping authority at ``<base URL>/tsa`` (:mod:`pki.web.timestamp`), a page at each
CA's CPS URL (:mod:`pki.web.cps`), and whatever routes are mounted beside them (the cloud
API, :func:`pki.web.cloud.cloud_routes`), before the CRLs and OCSP of CAs added since the
start, then the CPS pages (of the CAs added since too) and a catch-all 404.

The app only reads: CRLs, OCSP signers and the TSA are made by the publisher
(:mod:`pki.publisher`), which ``kpki serve`` runs beside the app unless ``--no-publish``
(then ``kpki publish --watch`` runs it elsewhere). So several servers can share one store.
:class:`WebState` holds what the app answers from; it looks at the store again every
``poll_seconds`` and whenever :meth:`WebState.reload` is called (by a publisher in the same
process after each round). Times come from the injected clock.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..clock import Clock
from ..entropy import Entropy
from ..errors import PKIError
from ..keys.castore import CAKeyStore
from ..store import CARecord, Store
from .cps import cps_page
from .revocation import MAX_OCSP_REQUEST_BYTES, Revocation
from .timestamp import TimeStamping

if TYPE_CHECKING:
    from ..home import Home

__all__ = ["MAX_OCSP_REQUEST_BYTES", "WebState", "create_app"]

log = logging.getLogger("kpki.serve")

_LOG_EVERY_S = 0.1
"""How often the access log's thread writes the lines of the requests answered since."""

T = TypeVar("T")


@dataclass
class WebState:
    """What the app answers from, read from ``store`` (never written to it)."""

    store: Store
    keys: CAKeyStore
    """Where the OCSP signers' and the TSA's keys are (CA keys are never loaded here)."""
    clock: Clock
    tsa_path: str
    """The URL path of the TSA (``/tsa``)."""
    entropy: Entropy | None = None
    poll_seconds: float = 1.0
    """How often the app looks at the store for new CRLs, signers and TSA certificates."""
    signing_threads: int = 1
    """Threads that sign OCSP responses and time stamps (0: on the event loop)."""
    revocation: Revocation = field(init=False)
    timestamping: TimeStamping = field(init=False)
    cps_pages: dict[str, bytes] = field(init=False, default_factory=dict)
    """URL path of a CPS -> its page (HTML), for every CA :attr:`revocation` knows: made
    again when a reload finds CAs added since (``kpki ca add`` into a running home)."""
    _cps_of: int = field(init=False, default=0)
    """How many of the revocation's CAs :attr:`cps_pages` was made from."""

    def __post_init__(self) -> None:
        self.revocation = Revocation(self.store, self.keys, clock=self.clock)
        self.timestamping = TimeStamping(self.store, self.keys, clock=self.clock,
                                         entropy=self.entropy, path=self.tsa_path)
        self.reload()

    @classmethod
    def of_home(cls, home: Home, *, poll_seconds: float = 1.0,
                signing_threads: int = 1) -> WebState:
        """The state of ``home``'s app: its store and key store, clock and TSA URL."""
        return cls(home.store, home.keys, home.clock, urlsplit(home.tsa_url).path,
                   entropy=home.entropy, poll_seconds=poll_seconds,
                   signing_threads=signing_threads)

    def reload(self) -> None:
        """Look at the store again: new CRLs, OCSP signers, a new TSA certificate, new CAs
        (their CPS pages)."""
        self.revocation.reload()
        self.timestamping.reload()
        cas = self.revocation.cas  # only grows: a CA is never removed from the store
        if len(cas) != self._cps_of:
            cps: dict[str, list[CARecord]] = {}
            for record in cas:
                if record.cps_url:
                    cps.setdefault(urlsplit(record.cps_url).path, []).append(record)
            # One assignment: a request sees the old pages or the new ones.
            self.cps_pages = {path: cps_page(found).encode() for path, found in cps.items()}
            self._cps_of = len(cas)


class _AccessLog:
    """One log line per request: method, path, status, bytes, milliseconds.

    Off the hot path: a request only appends a tuple; a thread (``kpki-access-log``) turns
    them into log records every :data:`_LOG_EVERY_S` seconds (with the request's own time),
    so the event loop never formats a record nor waits on the log's stream. Lines left
    are written when the app shuts down; a worker process forked from this one starts its
    own thread at its first request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._pending: collections.deque[tuple[float, str, str, int, int, float]] = (
            collections.deque())
        self._writer: tuple[int, threading.Thread] | None = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                try:
                    await self.app(scope, receive, send)
                finally:
                    self._write()
                return
            await self.app(scope, receive, send)
            return
        if not log.isEnabledFor(logging.INFO):
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
            self._pending.append((time.time(), scope["method"], path, status, size,
                                  (time.perf_counter() - start) * 1000))
            writer = self._writer
            if writer is None or writer[0] != os.getpid():
                self._start_writer()

    def _start_writer(self) -> None:
        with self._lock:
            if self._writer is not None and self._writer[0] == os.getpid():
                return
            thread = threading.Thread(target=self._run, daemon=True, name="kpki-access-log")
            self._writer = (os.getpid(), thread)
            thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(_LOG_EVERY_S)
            self._write()

    def _write(self) -> None:
        pending = self._pending
        while pending:
            try:
                at, method, path, status, size, ms = pending.popleft()
            except IndexError:  # another writer took the last one
                return
            record = log.makeRecord(log.name, logging.INFO, __file__, 0,
                                    "%s %s %d %d %.1fms", (method, path, status, size, ms),
                                    None)
            record.created, record.msecs = at, (at - int(at)) * 1000
            log.handle(record)


def create_app(state: WebState, *, extra_routes: Sequence[BaseRoute] = ()) -> ASGIApp:
    """The ASGI application answering from ``state``; ``extra_routes`` (the cloud API) are
    matched before the catch-all 404."""
    # pyca releases the GIL while it signs, so responses are signed in worker threads and
    # the event loop goes on parsing and answering HTTP meanwhile.
    signers = ThreadPoolExecutor(max_workers=max(1, state.signing_threads),
                                 thread_name_prefix="kpki-sign")

    async def run(sign: Callable[[bytes], bytes], der: bytes) -> bytes:
        if not state.signing_threads:
            return sign(der)
        return await asyncio.get_running_loop().run_in_executor(signers, sign, der)

    async def in_thread(call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        # The CPS pages are looked up here, after every route, so that the page of a CA
        # added since the start is found as soon as a reload has made it.
        page = state.cps_pages.get(scope["path"])
        if page is not None and scope["method"] in ("GET", "HEAD"):
            await Response(page, media_type="text/html")(scope, receive, send)
            return
        await Response("not found\n", status_code=404, media_type="text/plain")(
            scope, receive, send)

    routes: list[BaseRoute] = [*state.revocation.routes(run, in_thread=in_thread)]
    routes.extend(state.timestamping.routes(run))
    routes.extend(extra_routes)
    # Last: the CRLs and OCSP of CAs added since the start (kpki ca add on a running fleet),
    # then the CPS pages and 404 for anything else.
    routes.append(Mount("", app=state.revocation.late_routes(not_found)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def poll() -> None:
            loop = asyncio.get_running_loop()
            while True:
                await asyncio.sleep(state.poll_seconds)
                try:
                    await loop.run_in_executor(None, state.reload)
                except PKIError as exc:  # a store gone away: one line, no trace
                    log.error("reading the store failed: %s", exc)
                except Exception:  # keep answering from what is held; say why
                    log.exception("reading the store failed")

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
    return _AccessLog(state.revocation.ocsp_posts(run, app))
