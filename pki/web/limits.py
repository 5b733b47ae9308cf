"""Serving HTTP to slow and greedy clients: timeouts and a connection cap under uvicorn.

uvicorn closes a keep-alive connection that stays silent after a response
(``timeout_keep_alive``) and answers 503 past ``limit_concurrency``, but nothing closes a
connection that has not finished its request headers: a client that connects and sends
nothing, or drips a header byte now and then, holds its socket for ever. An audit held 200
such connections for 25 s with none closed, and 300 of them locked every good client out of
a server limited to 256 file descriptors (libuv accepts and at once closes connections it
has no descriptor for). ``limit_concurrency`` cannot help: it is checked once the headers
are complete, so it never sees those connections.

So ``kpki serve`` runs uvicorn with :class:`pki.web.guarded_http.GuardedHttpTools`, uvicorn's
own httptools
protocol with a few lines added where it already gets called: the parser callbacks
(``on_message_begin``, ``on_headers_complete``, ``on_message_complete``), the end of each
response, and the transport's flow control (``pause_writing``, ``resume_writing``). From
those it knows at every moment what a connection is waiting for (:class:`Phase`):

=======  ===============================================  ==========================
phase    the connection waits for                         closed after
=======  ===============================================  ==========================
HEADERS  the client's request headers, counted from        ``header_timeout``
         connecting or from the first byte of a request
BODY     the client's request body, or the client reading  ``body_timeout``
         a response that fills the send buffer
IDLE     a keep-alive client's next request               ``idle_timeout``
BUSY     the server (the application is answering)        never
=======  ===============================================  ==========================

A deadline is set when a connection enters a phase and is not moved by later bytes, so
dripping a byte a second does not extend it (a per-read timeout would).

One :class:`ConnectionGuard` per server keeps the connections that wait on their client in
one insertion-ordered dict per phase. Every entry of a dict has the same timeout, so its
first entry is the next to expire: one timer, armed at the earliest first deadline, closes
what has expired. The first entries are also the connections that have waited longest for
their client; when a new connection would pass ``max_connections``, the longest waiting is
closed to make room, so a good client (which never waits long) always gets a place while
slow ones hold the rest. A newcomer is refused (503, ``connection: close``) only when every
connection is BUSY. :func:`fit_to_descriptors` keeps ``max_connections`` below the process's
file descriptor limit, with room for one burst of accepts (the listen backlog) and for the
store, so accept() never runs out of descriptors.

Why not an ASGI middleware or a wrapper around the transport: the application is called only
once the headers are complete, and a wrapper would have to parse HTTP a second time to know
where a request's headers end. uvicorn's parser already knows; the subclass only listens.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["LISTEN_BACKLOG", "ConnectionGuard", "Phase", "ServeLimits", "fit_to_descriptors",
           "read_capped"]

log = logging.getLogger("kpki.serve")

LISTEN_BACKLOG = 128
"""Connections the kernel queues for accept(); also the most accepted in one burst."""
FD_RESERVE = 64
"""Descriptors kept for everything but client connections (store, logs, threads, sockets)."""
_EARLY = 0.005
"""A timer may fire this much before its deadline (uvloop's clock counts milliseconds)."""


class Phase(enum.Enum):
    """What a connection is waiting for (see the module's table)."""

    HEADERS = "headers"
    BODY = "body"
    IDLE = "idle"
    BUSY = "busy"


@dataclass(frozen=True)
class ServeLimits:
    """How long ``kpki serve`` waits for a client, and how many connections it keeps."""

    header_timeout: float = 10.0
    """Seconds to send complete request headers, from connecting or from the first byte of
    a request on a kept-alive connection."""
    body_timeout: float = 30.0
    """Seconds to send a request body once the headers are in, and the most a client may
    leave a response stuck in the send buffer without reading it."""
    idle_timeout: float = 5.0
    """Seconds a kept-alive connection may stay silent after a response."""
    max_connections: int = 1000
    """Connections open at once; past it the one that has waited longest on its client is
    closed (kept below the file descriptor limit by :func:`fit_to_descriptors`)."""

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "idle_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if not isinstance(self.max_connections, int) or self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections!r}")

    def timeout(self, phase: Phase) -> float:
        """Seconds a connection may stay in ``phase`` (infinite for BUSY)."""
        return {Phase.HEADERS: self.header_timeout, Phase.BODY: self.body_timeout,
                Phase.IDLE: self.idle_timeout}.get(phase, math.inf)


class Droppable(Protocol):
    """A connection as the guard sees it."""

    def drop(self) -> None:
        """Close the connection now (the guard has already forgotten it)."""


class ConnectionGuard:
    """Deadlines and the connection cap for one server (see the module docstring).

    Runs on the event loop's thread only, so it needs no lock. ``loop`` is taken from the
    first connection when not given (tests give one with a controlled clock).
    """

    def __init__(self, limits: ServeLimits, *,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.limits = limits
        self._loop = loop
        self._phase: dict[Droppable, Phase] = {}
        self._waiting: dict[Phase, dict[Droppable, float]] = {
            Phase.HEADERS: {}, Phase.BODY: {}, Phase.IDLE: {}}
        self._timer: asyncio.TimerHandle | None = None
        self._refused = 0
        self._last_refusal_log = -math.inf

    @property
    def open_connections(self) -> int:
        """Connections admitted and neither closed by the guard nor lost."""
        return len(self._phase)

    def phase(self, conn: Droppable) -> Phase | None:
        """What ``conn`` waits for (None once closed or forgotten)."""
        return self._phase.get(conn)

    def admit(self, conn: Droppable) -> bool:
        """A new connection, in phase HEADERS; False when it must be refused (the cap is
        reached and every connection is BUSY). Past the cap, the connection that has
        waited longest for its client is closed to make room."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if len(self._phase) >= self.limits.max_connections:
            victim = self._longest_waiting()
            if victim is None:
                self._note_refusal()
                return False
            log.debug("closing %s, the longest waiting, to make room", victim)
            self._drop(victim)
        self._phase[conn] = Phase.BUSY
        self.enter(conn, Phase.HEADERS)
        return True

    def enter(self, conn: Droppable, phase: Phase) -> None:
        """``conn`` now waits for ``phase``; staying in the same phase keeps its deadline."""
        current = self._phase.get(conn)
        if current is None or current is phase:
            return
        if current is not Phase.BUSY:
            del self._waiting[current][conn]
        self._phase[conn] = phase
        if phase is not Phase.BUSY:
            deadline = self._now() + self.limits.timeout(phase)
            self._waiting[phase][conn] = deadline
            if self._timer is None or deadline < self._timer.when():
                self._arm(deadline)

    def forget(self, conn: Droppable) -> None:
        """``conn`` is closed (by either side)."""
        phase = self._phase.pop(conn, None)
        if phase is not None and phase is not Phase.BUSY:
            del self._waiting[phase][conn]

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _longest_waiting(self) -> Droppable | None:
        oldest: tuple[float, Droppable] | None = None
        for phase, waiting in self._waiting.items():
            for conn, deadline in waiting.items():  # the first entry only
                since = deadline - self.limits.timeout(phase)
                if oldest is None or since < oldest[0]:
                    oldest = (since, conn)
                break
        return None if oldest is None else oldest[1]

    def _drop(self, conn: Droppable) -> None:
        self.forget(conn)
        conn.drop()

    def _arm(self, deadline: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._now() + _EARLY
        earliest = math.inf
        for phase, waiting in self._waiting.items():
            while waiting:
                conn, deadline = next(iter(waiting.items()))
                if deadline > now:
                    earliest = min(earliest, deadline)
                    break
                log.debug("closing %s: %s timeout", conn, phase.value)
                self._drop(conn)
        if earliest < math.inf:
            self._arm(earliest)

    def _note_refusal(self) -> None:
        self._refused += 1
        now = self._now()
        if now - self._last_refusal_log >= 10:
            log.warning("refused %d connection(s): %d open, all busy (--max-connections)",
                        self._refused, len(self._phase))
            self._refused, self._last_refusal_log = 0, now


def fit_to_descriptors(limits: ServeLimits) -> ServeLimits:
    """``limits`` with ``max_connections`` lowered to what the file descriptor limit allows
    (after raising the soft limit towards the hard one where the system lets it)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE
        return limits
    wanted = limits.max_connections + LISTEN_BACKLOG + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return limits
    fitted = max(1, soft - LISTEN_BACKLOG - FD_RESERVE)
    log.warning("serving at most %d connections, not %d: the process may open %d files",
                fitted, limits.max_connections, soft)
    return replace(limits, max_connections=fitted)


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is (or declares itself) longer than
    ``limit`` bytes: a chunked body is counted as it comes and the rest is never read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            return None
    return bytes(chunks)
