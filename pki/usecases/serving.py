"""Serve a home: in the foreground as ``kpki serve`` does (:func:`serve_home`), or its web
app and publisher in a thread of this process (tests, demos, TestPKI:
:func:`serve_home_in_thread`).

The server is the one ``kpki serve`` runs (:func:`pki.web.serve_in_thread`, with its limits
on slow clients); a first publisher round puts every CRL and OCSP signer in place before the
first request, and :meth:`ServedHome.republish` publishes again at once after a change of
status, instead of waiting for ``kpki serve``'s polling.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..faults import fault_point
from ..home import Home
from ..progress import ProgressCallback
from ..publisher import Publisher, Round
from ..web.limits import ServeLimits

if TYPE_CHECKING:
    from starlette.routing import Route

    from ..simpleauth import SimpleAuth
    from ..web import WebState

__all__ = ["PUBLISHER_NICENESS", "CloudAPI", "ServeOrder", "ServedHome", "bank_api",
           "cloud_api", "serve_home", "serve_home_in_thread", "simpleauth_api"]


@dataclass(frozen=True)
class CloudAPI:
    """The cloud API's routes, over the CA that issues its financial certificates."""

    ca: str
    routes: tuple[Route, ...]


def cloud_api(home: Home, *, passphrase: bytes | None, ca: str | None = None,
              test_channel: bool = False) -> CloudAPI | None:
    """The cloud API of ``home`` over the CA ``ca``, with the browser SDK over it
    (``/sdk/v1``, :mod:`pki.web.sdk`) (``None``: the home's first CA that
    issues financial certificates; without one, no cloud: ``None``). ``test_channel``
    serves the test SMS channel. Raises :class:`pki.errors.VaultError` when the vault
    secret is unusable, :class:`pki.errors.NotFoundError` or :class:`ProfileError` for a
    CA that is not there or cannot issue financial certificates: at start-up, not at the
    first cloud call."""
    from ..cloud.sdk import FinCertSdk
    from ..web.cloud import cloud_routes
    from ..web.sdk import sdk_routes

    label = ca or home.cloud_ca_label()
    if label is None:
        return None
    factory = home.cloud_factory(passphrase=passphrase, ca=label)
    return CloudAPI(label, (*cloud_routes(factory, test_channel=test_channel),
                            *sdk_routes(lambda: FinCertSdk(factory()))))


def bank_api(home: Home, *, test_channel: bool = False) -> tuple[Route, ...]:
    """The bank's API (``/bank/v1``) and its registration authority's (``/ra/v1``,
    :mod:`pki.web.ra`: the issuance flows, which issue with ``home``'s CA keys as they were
    given to it) over ``home``: each worker thread its own
    :class:`pki.usecases.banking.Banking` with its own store connection. ``test_channel``
    serves the customer's side (``/bank/v1/test/...``). The service secret is read (or
    made) here: :class:`pki.errors.VaultError` at start-up, not at the first bank call."""
    from ..web.bank import bank_routes
    from ..web.ra import ra_routes
    from .banking import Banking, bank_secret
    from .ra import RegistrationDesk

    bank_secret(home)  # made now if it may be, else refused now
    path, clock, entropy = home.path, home.clock, home.entropy

    def make() -> Banking:
        return Banking.of_home(Home.open(path, clock=clock, entropy=entropy),
                               create_secret=False)

    def desk() -> RegistrationDesk:
        opened = Home.open(path, clock=clock, entropy=entropy)
        opened.unlock(None, keys_from=home)  # the CA keys as the server was given them
        return RegistrationDesk.of_home(opened, create_secret=False)

    return (*bank_routes(make, test_channel=test_channel), *ra_routes(desk))


def simpleauth_api(home: Home, *, timeout: float | None = None) -> tuple[Route, ...]:
    """Simple authentication's API (``/simpleauth/v1``) over ``home``: each worker thread
    its own :class:`pki.simpleauth.SimpleAuth` with its own store connection; requests
    expire after ``timeout`` seconds (None: the setting's default, 5 minutes). The vault
    secret is read (or made) here: :class:`pki.errors.VaultError` at start-up."""
    import datetime as dt

    from ..simpleauth import SimpleAuthSettings
    from ..web.simpleauth import simpleauth_routes
    from .banking import bank_secret
    from .simpleauth import simple_auth_of_home

    bank_secret(home)  # made now if it may be, else refused now
    settings = (SimpleAuthSettings() if timeout is None
                else SimpleAuthSettings(timeout=dt.timedelta(seconds=timeout)))
    path, clock, entropy = home.path, home.clock, home.entropy

    def make() -> SimpleAuth:
        return simple_auth_of_home(Home.open(path, clock=clock, entropy=entropy),
                                   settings=settings, create_secret=False)

    return tuple(simpleauth_routes(make))


@dataclass(frozen=True)
class ServeOrder:
    """How ``kpki serve`` serves a home."""

    publish: bool = True
    """Run the publisher beside the server; ``False``: only read what another process's
    publisher keeps in the store."""
    poll_seconds: float = 1.0
    """Between the publisher's rounds, and between the app's looks at the store."""
    signing_threads: int = 1
    """Threads that sign OCSP responses (0: on the event loop)."""
    cloud: CloudAPI | None = None
    bank: tuple[Route, ...] = ()
    """The bank's API routes (:func:`bank_api`), none when empty."""
    simpleauth: tuple[Route, ...] = ()
    """Simple authentication's API routes (:func:`simpleauth_api`), none when empty."""
    limits: ServeLimits = field(default_factory=ServeLimits)
    progress: ProgressCallback | None = None
    """Told how far the start-up's CRLs have got, when some are due (:mod:`pki.progress`);
    not the later rounds."""
    workers: int = 1
    """Processes answering on the socket; above 1 (:mod:`pki.web.workers`) the read-only
    app only (no cloud, bank or simple authentication), the publisher in the process that
    forked them."""


def serve_home(home: Home, order: ServeOrder, *, sock: socket.socket,
               passphrase: bytes | None, listening: Callable[[], object] = lambda: None,
               until: threading.Event | None = None) -> None:
    """Serve ``home`` on ``sock`` (bound and listening) until the server is stopped:
    SIGINT or SIGTERM in the main thread (the signal is raised again once it has
    stopped), or ``until`` set. With ``order.publish`` a first publisher round runs before
    the first request is answered, then a round every ``poll_seconds`` in a thread with its
    own store connection. ``listening`` is called once the server is about to accept
    connections."""
    from ..web import WebState, create_app
    from ..web.guarded_http import make_server

    home.use_passphrase(passphrase)
    if order.workers > 1:
        _serve_workers(home, order, sock=sock, passphrase=passphrase, listening=listening,
                       until=until)
        return
    stop = threading.Event()
    watcher: threading.Thread | None = None
    publishing: Home | None = None
    try:
        if order.publish:
            publishing = Home.open(home.path, passphrase=passphrase, clock=home.clock,
                                   pin=home.pin)
            publisher = publishing.publisher()
            lease = publishing.publisher_lease(poll_seconds=order.poll_seconds)
            fault_point("serve.publishing")
            if publisher.leads(lease):
                with publisher.reporting(order.progress):
                    publisher.round()
        state = WebState.of_home(home, poll_seconds=order.poll_seconds,
                                 signing_threads=order.signing_threads)
        if publishing is not None:
            watcher = threading.Thread(
                target=publisher.watch, args=(stop,), daemon=True, name="kpki-publisher",
                kwargs={"poll_seconds": order.poll_seconds, "lease": lease,
                        "on_round": lambda done: state.reload()})
            watcher.start()
        listening()
        fault_point("serve.listening")
        routes = [*(order.cloud.routes if order.cloud is not None else ()), *order.bank,
                  *order.simpleauth]
        server = make_server(create_app(state, extra_routes=routes), order.limits)
        if until is not None:
            threading.Thread(target=lambda: setattr(server, "should_exit", until.wait()),
                             daemon=True, name="kpki-serve-until").start()
        server.run(sockets=[sock])
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=10)
        if publishing is not None:
            publishing.close()


PUBLISHER_NICENESS = 10
"""How much lower the CPU priority of ``kpki serve --workers``'s publisher (the process that
forked the workers) is than theirs: a republish of a large CRL takes only the CPU the
answers leave."""


def _serve_workers(home: Home, order: ServeOrder, *, sock: socket.socket,
                   passphrase: bytes | None, listening: Callable[[], object],
                   until: threading.Event | None) -> None:
    """:func:`serve_home` with ``order.workers`` processes (:func:`pki.web.workers.run_workers`):
    each its own home and read-only app; this process publishes (when asked) and stops
    them. Raises :class:`pki.errors.PKIError` when a worker ended on its own."""
    from ..errors import PKIError
    from ..web import WebState, create_app
    from ..web.guarded_http import make_server
    from ..web.workers import run_workers

    if order.cloud is not None or order.bank or order.simpleauth:
        raise ValueError("several workers serve the read-only app only")
    stop = threading.Event()
    watcher: threading.Thread | None = None
    publishing: Home | None = None

    def serve(number: int) -> None:
        with Home.open(home.path, passphrase=passphrase, clock=home.clock,
                       entropy=home.entropy, pin=home.pin) as mine:
            state = WebState.of_home(mine, poll_seconds=order.poll_seconds,
                                     signing_threads=order.signing_threads)
            make_server(create_app(state), order.limits).run(sockets=[sock])

    def started(pids: list[int]) -> None:
        nonlocal watcher
        if publishing is not None:
            # The workers keep their priority; a republish here yields the cores to them.
            os.nice(PUBLISHER_NICENESS)
            watcher = threading.Thread(
                target=publisher.watch, args=(stop,), daemon=True, name="kpki-publisher",
                kwargs={"poll_seconds": order.poll_seconds, "lease": lease})
            watcher.start()
        listening()

    try:
        if order.publish:
            publishing = Home.open(home.path, passphrase=passphrase, clock=home.clock,
                                   pin=home.pin)
            publisher = publishing.publisher()
            lease = publishing.publisher_lease(poll_seconds=order.poll_seconds)
            if publisher.leads(lease):
                with publisher.reporting(order.progress):
                    publisher.round()
        ended = run_workers(serve, workers=order.workers, sock=sock,
                            until=until or threading.Event(), started=started)
        if ended:
            raise PKIError(f"{ended} of {order.workers} workers ended on their own "
                           "(their errors are logged above)")
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=10)
        if publishing is not None:
            publishing.close()


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
                         force: bool = False, limits: ServeLimits | None = None,
                         routes: Sequence[Route] = ()) -> Iterator[ServedHome]:
    """Publish (a first round), then serve ``home``'s web app (CRLs, OCSP, time stamps) in
    a daemon thread until the block ends. ``sock``: a socket bound already (to know the
    port before the home is made); without it, a free port on 127.0.0.1. ``force``: every
    round publishes every CA's CRLs again. ``routes``: route groups served beside (the
    cloud's, the bank's, simple authentication's: :func:`cloud_api`, :func:`bank_api`,
    :func:`simpleauth_api`). The app answers from the store and does not poll it (call
    :meth:`ServedHome.republish`)."""
    from ..web import WebState, create_app, serve_in_thread

    publisher = home.publisher()
    publisher.round(force=force)
    state = WebState.of_home(home, poll_seconds=3600)
    with serve_in_thread(create_app(state, extra_routes=routes), sock=sock,
                         limits=limits) as url:
        yield ServedHome(url, publisher, state, force)
