"""The web app under uvicorn in a thread of this process (tests, demos, :class:`TestPKI`).

It is the server ``kpki serve`` runs (:func:`pki.web.guarded_http.make_server`), with the
same limits on slow and greedy clients (:class:`pki.web.limits.ServeLimits`), so what a test
sees through it is what a client of ``kpki serve`` gets."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from starlette.types import ASGIApp

from .limits import LISTEN_BACKLOG, ServeLimits

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, *, sock: socket.socket | None = None,
                    host: str = "127.0.0.1", limits: ServeLimits | None = None
                    ) -> Iterator[str]:
    """Serve ``app`` in a daemon thread until the block ends; yields the base URL. ``sock``
    is a socket bound already (to know the port before the app is made); without it, a free
    port on ``host``. ``limits``: those of ``kpki serve`` by default."""
    from .guarded_http import make_server

    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))
    sock.listen(LISTEN_BACKLOG)
    server = make_server(app, limits or ServeLimits())
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="kpki-web")
    thread.start()
    try:
        address, port = sock.getsockname()[:2]
        yield f"http://{address}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        if own:
            sock.close()
