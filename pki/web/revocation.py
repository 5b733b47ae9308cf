"""CRLs and OCSP over HTTP, read from the store.

For every CA the server answers the full CRL at the path of the CA's CRL distribution point
and the delta CRL beside it, and each of its CRL shards' at the shard's path
(:mod:`pki.revocation.shards`; also shards the CA gained after the server started, since
certificates already name them), and likewise for CAs added after it started (``kpki ca
add`` on a running fleet: each :meth:`Revocation.reload` looks for them, and their paths are
answered from then on, through :meth:`Revocation.late_routes`), with the bytes the
publisher kept in the store (:meth:`pki.store.Store.published_crl`), never a CRL of its
own; and OCSP (GET and POST, RFC 6960 appendix A) at the path of its AIA URL, signed by the
delegated signer the publisher made (:func:`pki.revocation.ocsp.load_signer`) with each
certificate's status read from the store when asked. A request without a nonce is answered
on the event loop with a response produced ahead of time while it is fresh and the status
it was signed for is still the store's; only a signature goes to a signing thread
(:meth:`pki.revocation.ocsp.OCSPResponder.answer`). Nothing here writes to the store:
several servers can share one store and answer the same.

A CRL request costs one look at the number of the CA's last CRL; the bytes are read again
only when that number moved. Signers are looked at by :meth:`Revocation.reload` (at start,
every poll and after each round of a publisher in the same process). Before the publisher
has run, a CRL is answered 503 and OCSP ``tryLater``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

from cryptography.x509 import ocsp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from ..clock import Clock
from ..errors import NotFoundError
from ..formats.ocspder import unsuccessful
from ..keys.castore import CAKeyStore
from ..revocation.crl import delta_url
from ..revocation.ocsp import OCSPResponder, load_signer
from ..revocation.shards import shard_url
from ..store import CARecord, PublishedCRL, Store
from .limits import read_capped

__all__ = ["CRL_TYPE", "MAX_OCSP_REQUEST_BYTES", "OCSP_RESPONSE_TYPE", "Revocation"]

MAX_OCSP_REQUEST_BYTES = 16 * 1024
CRL_TYPE = "application/pkix-crl"
OCSP_RESPONSE_TYPE = "application/ocsp-response"

Run = Callable[[Callable[[bytes], bytes], bytes], Awaitable[bytes]]
"""Runs a signing call (in a worker thread, or on the event loop)."""
InThread = Callable[[Callable[[], bytes | None]], Awaitable[bytes | None]]
"""Runs a store read off the event loop."""


def _too_large() -> Response:
    return Response("request too large\n", status_code=413, media_type="text/plain")


_TRY_LATER = unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
_GONE = b"gone"
"""What :func:`_read_body` gives when the client hung up (compared by identity)."""


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, None as soon as it is (or declares itself) longer than ``limit``
    (:func:`pki.web.limits.read_capped`'s rule), :data:`_GONE` when the client left."""
    for name, value in scope["headers"]:
        if name == b"content-length" and (not value.isdigit() or int(value) > limit):
            return None
    chunks = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        part: bytes = message.get("body", b"")
        chunks += part
        if len(chunks) > limit:
            return None
        if not message.get("more_body", False):
            return chunks


async def _send(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Revocation:
    """The CRLs and OCSP responders of every CA in ``store``, as the publisher left them."""

    def __init__(self, store: Store, keys: CAKeyStore, *, clock: Clock) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock
        self.cas: list[CARecord] = list(store.list_cas())
        self._crls: dict[tuple[str, bool, int | None], PublishedCRL] = {}
        self._looked_for: dict[tuple[str, bool, int | None], int] = {}
        """The CRL number the store named when its bytes were last read."""
        self._responders: dict[str, OCSPResponder] = {}
        self._lock = threading.Lock()
        self._handlers: tuple[Run, InThread] | None = None
        """How routes sign and read (set by :meth:`routes`), for the CAs added later."""
        self._late: Router | None = None

    # -- reading the store ----------------------------------------------------------------

    def reload(self) -> None:
        """Look at the store for CAs added since, and CRLs and OCSP signers newer than those
        held."""
        self._catch_up_cas()
        for record in self.cas:
            for delta in (False, True):
                self._refresh_crl(record.label, delta, again=True)
            for shard in range(record.crl_shards if record.crl_shards > 1 else 0):
                self._refresh_crl(record.label, False, again=True, shard=shard)
            if record.ocsp_url:
                self._reload_responder(record)

    def _catch_up_cas(self) -> None:
        """Take in the CAs the store gained since this server started; their routes join
        :meth:`late_routes`."""
        known = {record.label for record in self.cas}
        added = [record for record in self.store.list_cas() if record.label not in known]
        if not added:
            return
        self.cas = [*self.cas, *added]
        if self._late is not None and self._handlers is not None:
            # One assignment: a request being routed sees the old list or the new one.
            self._late.routes = [*self._late.routes, *self._routes_of(added, *self._handlers)]

    def crl(self, label: str, *, delta: bool = False, shard: int | None = None
            ) -> bytes | None:
        """The DER of the CA's published full (or delta) CRL, or of its CRL ``shard``; None
        before there is one."""
        held = self._refresh_crl(label, delta, again=False, shard=shard)
        return None if held is None else held.der

    def shard_crl(self, label: str, shard: int) -> bytes | None:
        """The DER of CA ``label``'s CRL ``shard``, None before there is one; raises
        :class:`NotFoundError` for a shard the CA does not have. The CA's number of shards
        is read from the store: it may have grown since this server started, and its
        certificates already name the new shards' CRLs."""
        shards = self.store.get_ca(label).crl_shards
        if shards <= 1 or shard >= shards:
            raise NotFoundError(f"CA {label!r} has no CRL shard {shard}")
        return self.crl(label, shard=shard)

    def _refresh_crl(self, label: str, delta: bool, *, again: bool, shard: int | None = None
                     ) -> PublishedCRL | None:
        """The held CRL, read again when the store names a newer one: once per number it
        names, or ``again`` (a CRL recorded but not yet kept when last read)."""
        key = (label, delta, shard)
        held = self._crls.get(key)
        last = self.store.last_crl(label, delta=delta, shard=shard)
        if last is None or (held is not None and last.number <= held.number):
            return held
        if not again and self._looked_for.get(key) == last.number:
            return held
        with self._lock:
            fresh = self.store.published_crl(label, delta, shard=shard)
            self._looked_for[key] = last.number
            held = self._crls.get(key)
            if fresh is not None and (held is None or fresh.number > held.number):
                self._crls[key] = held = fresh
        return held

    def responder(self, label: str) -> OCSPResponder | None:
        """The CA's OCSP responder; None before the publisher has made its signer."""
        held = self._responders.get(label)
        if held is None:
            record = next((r for r in self.cas if r.label == label), None)
            if record is not None:
                held = self._reload_responder(record)
        return held

    def _reload_responder(self, record: CARecord) -> OCSPResponder | None:
        held = self._responders.get(record.label)
        current = self.store.ocsp_signer(record.label)
        if current is None or (held is not None and held.signer.serial_number == current.serial):
            return held
        found = load_signer(self.store, self.keys, record.label)
        if found is None:
            return held
        signer, key = found
        responder = OCSPResponder(record, signer.certificate, key, self.store, self.clock)
        self._responders[record.label] = responder
        return responder

    # -- HTTP -------------------------------------------------------------------------------

    def routes(self, run: Run, *, in_thread: InThread) -> list[BaseRoute]:
        """Starlette routes: each CA's CRLs and its OCSP responder. ``run`` signs OCSP
        responses; ``in_thread`` reads the store off the event loop."""
        self._handlers = (run, in_thread)
        return self._routes_of(self.cas, run, in_thread)

    def ocsp_posts(self, run: Run, default: ASGIApp) -> ASGIApp:
        """An ASGI app answering OCSP POSTs at the OCSP paths of the CAs known now straight
        from the ASGI messages, and anything else with ``default`` (the routes, which also
        answer these paths: GETs, and the CAs added later). Why: Starlette's routing,
        request and response objects cost more than a pre-produced answer itself (about
        two thirds of a request's time in the app, profiled); the answers are the same
        (``tests/test_ocsp_preproduced.py`` asks both ways)."""
        paths = {urlsplit(record.ocsp_url).path.rstrip("/"): record.label
                 for record in self.cas if record.ocsp_url}

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            label = paths.get(scope["path"]) if scope["type"] == "http" else None
            if label is None or scope["method"] != "POST":
                await default(scope, receive, send)
                return
            body = await _read_body(scope, receive, MAX_OCSP_REQUEST_BYTES)
            if body is _GONE:  # nothing to answer; logged as 499, as the routes do
                await _send(send, 499, b"text/plain", b"")
                return
            if body is None:
                await _send(send, 413, b"text/plain", b"request too large\n")
                return
            responder = self.responder(label)
            if responder is None:
                answer = _TRY_LATER
            else:
                answered = responder.answer(body)
                if isinstance(answered, bytes):
                    answer = answered
                else:
                    sign = answered
                    answer = await run(lambda _: sign(), body)
            await _send(send, 200, OCSP_RESPONSE_TYPE.encode(), answer)

        return app

    def late_routes(self, default: ASGIApp) -> ASGIApp:
        """An ASGI app answering the CRLs and OCSP of the CAs added after :meth:`routes`
        (found by :meth:`reload`), and anything else with ``default``; mount it last."""
        self._late = Router(routes=[], default=default)
        return self._late

    def _routes_of(self, cas: list[CARecord], run: Run, in_thread: InThread
                   ) -> list[BaseRoute]:
        crl_paths: dict[str, tuple[str, bool, int | None]] = {}
        for record in cas:
            crl_paths[urlsplit(record.crl_url).path] = (record.label, False, None)
            crl_paths[urlsplit(delta_url(record.crl_url)).path] = (record.label, True, None)
            for shard in range(record.crl_shards if record.crl_shards > 1 else 0):
                crl_paths[urlsplit(shard_url(record.crl_url, shard)).path] = (
                    record.label, False, shard)

        async def crl(request: Request) -> Response:
            label, is_delta, shard = crl_paths[request.url.path]
            body = await in_thread(lambda: self.crl(label, delta=is_delta, shard=shard))
            if body is None:
                return Response("not published yet\n", status_code=503,
                                media_type="text/plain")
            return Response(body, media_type=CRL_TYPE)

        async def answer(label: str, der: bytes) -> Response:
            responder = self.responder(label)
            if responder is None:
                body = _TRY_LATER
            else:
                # A pre-produced response (or an error) is answered here, on the event
                # loop; only a signature goes to a signing thread.
                answered = responder.answer(der)
                if isinstance(answered, bytes):
                    body = answered
                else:
                    sign = answered
                    body = await run(lambda _: sign(), der)
            return Response(body, media_type=OCSP_RESPONSE_TYPE)

        def post_handler(label: str) -> Callable[[Request], Awaitable[Response]]:
            async def ocsp_post(request: Request) -> Response:
                body = await read_capped(request, MAX_OCSP_REQUEST_BYTES)
                if body is None:
                    return _too_large()
                return await answer(label, body)

            return ocsp_post

        def get_handler(label: str) -> Callable[[Request], Awaitable[Response]]:
            async def ocsp_get(request: Request) -> Response:
                encoded = unquote(request.path_params["request"])
                if len(encoded) > MAX_OCSP_REQUEST_BYTES * 2:
                    return _too_large()
                try:
                    der = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    return Response(OCSPResponder.malformed(), media_type=OCSP_RESPONSE_TYPE)
                return await answer(label, der)

            return ocsp_get

        def shard_handler(label: str) -> Callable[[Request], Awaitable[Response]]:
            async def shard_crl(request: Request) -> Response:  # a shard added since start
                text = request.path_params["shard"]
                if not (text.isascii() and text.isdigit() and str(int(text)) == text):
                    return Response("not found\n", status_code=404, media_type="text/plain")
                try:
                    body = await in_thread(lambda: self.shard_crl(label, int(text)))
                except NotFoundError:
                    return Response("not found\n", status_code=404, media_type="text/plain")
                if body is None:
                    return Response("not published yet\n", status_code=503,
                                    media_type="text/plain")
                return Response(body, media_type=CRL_TYPE)

            return shard_crl

        routes: list[BaseRoute] = []
        for record in cas:
            if record.ocsp_url:
                path = urlsplit(record.ocsp_url).path.rstrip("/")
                routes.append(Route(path, post_handler(record.label), methods=["POST"]))
                routes.append(Route(path + "/{request:path}", get_handler(record.label),
                                    methods=["GET", "HEAD"]))
        for path in crl_paths:
            routes.append(Route(path, crl, methods=["GET", "HEAD"]))
        for record in cas:  # after the known paths: shards the CA has gained since
            if not record.is_root:
                folder, _, first = urlsplit(shard_url(record.crl_url, 0)).path.rpartition("/")
                routes.append(Route(f"{folder}/{{shard}}{first[1:]}", shard_handler(record.label),
                                    methods=["GET", "HEAD"]))
        return routes
