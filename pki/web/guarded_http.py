"""uvicorn's httptools protocol reporting to a :class:`~pki.web.limits.ConnectionGuard`.

The design (phases, deadlines, the cap) is explained in :mod:`pki.web.limits`; this module is
the part that imports uvicorn, kept apart so that the CLI's start-up does not pay for it.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import LISTEN_BACKLOG, ConnectionGuard, Phase, ServeLimits, fit_to_descriptors

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["GuardedHttpTools", "make_server"]

_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
            b"content-length: 5\r\nretry-after: 1\r\nconnection: close\r\n\r\nbusy\n")


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, reporting its phase to a :class:`ConnectionGuard`.

    Subclasses made by :func:`make_server` set ``guard``; everything else is uvicorn's.
    """

    guard: ClassVar[ConnectionGuard]
    _reading: Phase | None = Phase.HEADERS
    """HEADERS or BODY while a request is being received; None between requests."""
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            self._refused = True
            transport.write(_REFUSAL)
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def drop(self) -> None:
        if self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size():
            self.transport.abort()  # close() would wait for a reader that does not read
        else:
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = Phase.HEADERS
        self._settle()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._reading = Phase.BODY
        self._settle()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading = None
        self._settle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._settle()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._settle()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._settle()

    def _settle(self) -> None:
        if self.transport.is_closing():
            return  # connection_lost follows
        if self._reading is not None:
            phase = self._reading
        elif self.flow.write_paused:
            phase = Phase.BODY
        elif self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            phase = Phase.BUSY
        else:
            phase = Phase.IDLE
        self.guard.enter(self, phase)

    def __repr__(self) -> str:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        return f"<connection from {client}>"


def make_server(app: ASGIApp, limits: ServeLimits) -> uvicorn.Server:
    """A uvicorn server for ``app`` whose connections ``limits`` guards; run it with
    ``server.run(sockets=[...])`` (the sockets bound and listening)."""
    fitted = fit_to_descriptors(limits)
    protocol = type("GuardedHttpTools", (GuardedHttpTools,),
                    {"guard": ConnectionGuard(fitted)})
    config = uvicorn.Config(app, http=protocol, ws="none", lifespan="on",
                            log_level="warning", access_log=False, backlog=LISTEN_BACKLOG,
                            # the guard closes idle connections; uvicorn's timer stays as a
                            # backstop, never earlier
                            timeout_keep_alive=math.ceil(fitted.idle_timeout))
    return uvicorn.Server(config)

