"""The web app under uvicorn in a thread of this process (tests, demos, :class:`TestPKI`)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from starlette.types import ASGIApp

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, *, sock: socket.socket | None = None,
                    host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread until the block ends; yields the base
    URL. ``sock`` is a socket bound already (to know the port before the app is made);
    without it, a free port on ``host``."""
    import uvicorn

    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on"))
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
