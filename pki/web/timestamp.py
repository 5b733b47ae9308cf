"""Time stamps over HTTP (RFC 3161 section 3.4): a DER TimeStampReq in, a DER TimeStampResp
out, from the home's time-stamping authority as the publisher keeps it
(:func:`pki.timestamp.management.current_tsa`; read only). Before there is one, or while
it is being renewed, the route answers 503."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..clock import Clock
from ..entropy import Entropy
from ..keys.castore import CAKeyStore
from ..store import Store
from ..timestamp.authority import TimeStampAuthority
from ..timestamp.management import current_tsa, tsa_certificate
from ..timestamp.protocol import RESPONSE_TYPE
from .limits import read_capped

__all__ = ["MAX_TSA_REQUEST_BYTES", "TimeStamping"]

MAX_TSA_REQUEST_BYTES = 16 * 1024

Run = Callable[[Callable[[bytes], bytes], bytes], Awaitable[bytes]]


class TimeStamping:
    """The home's TSA, answering at ``path``."""

    def __init__(self, store: Store, keys: CAKeyStore, *, clock: Clock,
                 entropy: Entropy | None = None, path: str) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock
        self.entropy = entropy
        self.path = path
        self.tsa: TimeStampAuthority | None = None

    def reload(self) -> None:
        """Take the TSA the publisher made, when it is a new one (or stopped being usable)."""
        held = self.tsa
        if held is not None and tsa_certificate(self.store) == held.certificate:
            return
        self.tsa = current_tsa(self.store, self.keys, clock=self.clock, entropy=self.entropy)

    def routes(self, run: Run) -> list[BaseRoute]:
        async def tsa_post(request: Request) -> Response:
            # A bad request gets a rejection response, never an error page.
            if self.tsa is None:  # the publisher may have made one since
                self.reload()
            tsa = self.tsa
            if tsa is None:
                return Response("no time-stamping authority yet\n", status_code=503,
                                media_type="text/plain")
            body = await read_capped(request, MAX_TSA_REQUEST_BYTES)
            if body is None:
                return Response("request too large\n", status_code=413,
                                media_type="text/plain")
            return Response(await run(tsa.respond, body), media_type=RESPONSE_TYPE)

        return [Route(self.path, tsa_post, methods=["POST"])]
