"""A home's web app and its publisher in a thread of this process (tests, demos, TestPKI).

The server is the one ``kpki serve`` runs (:func:`pki.web.serve_in_thread`, with its limits
on slow clients); a first publisher round puts every CRL and OCSP signer in place before the
first request, and :meth:`ServedHome.republish` publishes again at once after a change of
status, instead of waiting for ``kpki serve``'s polling.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..home import Home
from ..publisher import Publisher, Round

if TYPE_CHECKING:
    from ..web import WebState
    from ..web.limits import ServeLimits

__all__ = ["ServedHome", "serve_home_in_thread"]


@dataclass(frozen=True)
class ServedHome:
    """A home served over HTTP by :func:`serve_home_in_thread`."""

    url: str
    """The base URL: ``http://127.0.0.1:<port>``."""
    publisher: Publisher
    state: WebState
    """What the app answers from."""
    force: bool
    """Every round publishes every CA's CRLs, due or not."""

    def republish(self) -> Round:
        """Publish what is due (everything, when served with ``force``) and let the app
        read it at once."""
        done = self.publisher.round(force=self.force)
        self.state.reload()
        return done


@contextlib.contextmanager
def serve_home_in_thread(home: Home, *, sock: socket.socket | None = None,
                         force: bool = False, limits: ServeLimits | None = None
                         ) -> Iterator[ServedHome]:
    """Publish (a first round), then serve ``home``'s web app (CRLs, OCSP, time stamps) in
    a daemon thread until the block ends. ``sock``: a socket bound already (to know the
    port before the home is made); without it, a free port on 127.0.0.1. ``force``: every
    round publishes every CA's CRLs again. The app answers from the store and does not poll
    it (call :meth:`ServedHome.republish`)."""
    from ..web import WebState, create_app, serve_in_thread

    publisher = home.publisher()
    publisher.round(force=force)
    state = WebState.of_home(home, poll_seconds=3600)
    with serve_in_thread(create_app(state), sock=sock, limits=limits) as url:
        yield ServedHome(url, publisher, state, force)
