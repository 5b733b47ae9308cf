"""Several processes answering on one listening socket (``kpki serve --workers N``).

Why: one Python process answers OCSP, CRLs and time stamps on about one core (the event
loop, HTTP parsing and the responder hold the GIL between signatures). The read-only part
of the app (:class:`pki.web.WebState`: CRLs, OCSP, time stamps, CPS pages) keeps nothing
that another process needs to see: it reads everything from the store, and an OCSP
responder's pre-produced responses are checked against the store's status on every
request (:class:`pki.revocation.ocsp.OCSPResponder`). So N worker processes, forked from
the process that bound the socket, each with its own store connection and its own event
loop, accept connections from the one socket the kernel hands out to whichever is free.
The process that forked them serves nothing: it runs the publisher (when asked), so a
republish of a million-entry CRL never holds a worker's GIL, and it stops the workers when
it is stopped.

The cloud, bank and simple-authentication APIs are not served this way (some of their
state lives in the serving process: long polls, waiting requests), so ``kpki serve
--workers`` refuses them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

__all__ = ["run_workers"]

log = logging.getLogger("kpki.serve")

_STOP_GRACE_S = 10.0
"""How long stopped workers have to finish before they are killed."""


def run_workers(serve: Callable[[int], object], *, workers: int, sock: socket.socket,
                until: threading.Event, started: Callable[[list[int]], object] = lambda _: None
                ) -> int:
    """Fork ``workers`` processes, each calling ``serve(number)`` (which serves ``sock``
    until the process is sent SIGTERM); return once ``until`` is set or a worker ended,
    after stopping the others (SIGTERM, then SIGKILL after a grace period). Returns the
    number of workers that ended on their own (0 after a clean stop). Call it before this
    process starts any thread: a forked child has only the thread that forked it.
    ``started`` is told the workers' process ids."""
    pids: list[int] = []
    try:
        for number in range(workers):
            pid = os.fork()
            if pid == 0:  # the worker
                code = 1
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    serve(number)
                    code = 0
                except BaseException:  # the worker's last words, then out
                    log.exception("worker %d failed", number)
                finally:
                    logging.shutdown()
                    os._exit(code)
            pids.append(pid)
        log.info("%d workers answering (pids %s)", workers, " ".join(map(str, pids)))
        started(list(pids))
        return _supervise(pids, until)
    finally:
        _stop(pids)


def _supervise(pids: list[int], until: threading.Event) -> int:
    """Wait for ``until`` or a worker's end; the count of workers that ended."""
    ended = 0
    while not until.is_set():
        for pid in list(pids):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pids.remove(pid)
                ended += 1
                log.error("worker (pid %d) ended with status %d: stopping", pid,
                          os.waitstatus_to_exitcode(status))
        if ended:
            break
        until.wait(0.5)  # wakes at once when stopped; looks at the workers twice a second
    return ended


def _stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    left = set(pids)
    deadline = threading.Event()
    timer = threading.Timer(_STOP_GRACE_S, deadline.set)
    timer.daemon = True
    timer.start()
    try:
        while left and not deadline.is_set():
            for pid in list(left):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    left.discard(pid)
            if left:
                deadline.wait(0.05)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    finally:
        timer.cancel()
