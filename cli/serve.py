"""``kpki serve``: CRLs, OCSP, time stamps, CPS pages and the cloud API over HTTP (Starlette
under uvicorn), with the publisher beside it unless ``--no-publish``."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pki.home import Home
from pki.usecases.serving import (
    CloudAPI,
    ServeOrder,
    bank_api,
    cloud_api,
    serve_home,
    simpleauth_api,
)
from pki.web.limits import LISTEN_BACKLOG, ServeLimits

from .context import Context, Stopped
from .progress import ProgressLine
from .secrets import ca_passphrase, passphrase_file_option

if TYPE_CHECKING:
    from starlette.routing import Route

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8880
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
"""Where ``kpki serve`` listens by default; the cloud client commands' default ``--url``."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0 picks a free one; the line on stderr says which).")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between rounds of the publisher, and between looks at the store "
              "for what it published.")
@click.option("--no-publish", is_flag=True,
              help="Only serve: answer from what another process's publisher ('kpki publish "
              "--watch') keeps in the store, publishing nothing (several such servers can "
              "share one home; the cloud, bank and simple-authentication APIs still write "
              "their users' changes: --read-only for a server that writes nothing).")
@click.option("--read-only", is_flag=True,
              help="Write nothing to the home: --no-publish --no-cloud --no-bank "
              "--no-simpleauth together (CRLs, OCSP, time stamps and CPS pages only).")
@click.option("--signing-threads", default=1, show_default=True, type=click.IntRange(0, 64),
              help="Threads that sign OCSP responses (0: sign on the event loop).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes answering on the port (one per core: OCSP, CRLs, time stamps "
              "and CPS pages only, so with --read-only or --no-cloud --no-bank "
              "--no-simpleauth; the publisher runs in the process that starts them).")
@click.option("--no-cloud", is_flag=True, help="Do not serve the cloud API (/cloud/v1) nor "
              "the browser SDK over it (/sdk/v1).")
@click.option("--no-bank", is_flag=True, help="Do not serve the bank API (/bank/v1).")
@click.option("--no-simpleauth", is_flag=True,
              help="Do not serve simple authentication (/simpleauth/v1).")
@click.option("--simpleauth-timeout", default=300.0, show_default=True,
              type=click.FloatRange(10, 3600),
              help="Seconds a simple-authentication request waits for the person's answer "
              "before it expires.")
@click.option("--test-channel", is_flag=True,
              help="Serve the test channels: the cloud's SMS (/cloud/v1/test/messages: each "
              "institution reads the confirmation codes it caused) and the bank customer's "
              "side (/bank/v1/test/...). For test set-ups only.")
@click.option("--cloud-ca", default=None, help="CA that issues cloud (financial) certificates "
              "[the home's first CA that can; without one, no cloud].")
@click.option("--header-timeout", default=ServeLimits.header_timeout, show_default=True,
              type=click.FloatRange(0.01, 3600),
              help="Seconds a client has to send its request headers; slower ones are "
              "closed.")
@click.option("--body-timeout", default=ServeLimits.body_timeout, show_default=True,
              type=click.FloatRange(0.01, 3600),
              help="Seconds a client has to send a request body (or to read a response "
              "that fills the send buffer).")
@click.option("--idle-timeout", default=ServeLimits.idle_timeout, show_default=True,
              type=click.FloatRange(0.01, 3600),
              help="Seconds a kept-alive connection may stay silent between requests.")
@click.option("--max-connections", default=ServeLimits.max_connections, show_default=True,
              type=click.IntRange(1, 1_000_000),
              help="Connections open at once; past it the one that has waited longest for "
              "its client is closed (lowered to fit the file descriptor limit).")
@passphrase_file_option
@click.pass_obj
def serve(obj: Context, host: str, port: int, poll: float, no_publish: bool,
          read_only: bool, signing_threads: int, workers: int, no_cloud: bool, no_bank: bool,
          no_simpleauth: bool,
          simpleauth_timeout: float, test_channel: bool,
          cloud_ca: str | None,
          header_timeout: float, body_timeout: float, idle_timeout: float,
          max_connections: int, passphrase_file: Path | None) -> None:
    """Serve CRLs at the URLs the certificates carry, OCSP at their AIA URL, time stamps at
    <base URL>/tsa, a page about each CA at its CPS URL, the cloud API (/cloud/v1) and the
    financial-certificate SDK for the browser (/sdk/v1/fincert.js), the bank API
    (/bank/v1) with the registration authority's flows (/ra/v1), and simple authentication
    (/simpleauth/v1).

    The publisher runs beside the server (as 'kpki publish --watch' would): each CA's CRLs
    are published again when a status changes or half their validity has passed, OCSP
    signers and the TSA are renewed when due. With --no-publish the server publishes
    nothing; with --read-only (no publisher, no cloud, bank or simple authentication) it
    only reads."""
    if read_only:
        no_publish = no_cloud = no_bank = no_simpleauth = True
    if workers > 1 and not (no_cloud and no_bank and no_simpleauth):
        raise click.UsageError("--workers serves CRLs, OCSP, time stamps and CPS pages only: "
                               "add --no-cloud --no-bank --no-simpleauth (or --read-only)")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    # SIGTERM stops the server cleanly with status 0: uvicorn, once it has shut down,
    # raises the signal it caught again, which lands here; before uvicorn runs, it lands
    # here at once. (SIGINT, re-raised the same way, is Ctrl-C: status 130.)
    # Once the server is about to run, SIGTERM only asks it to stop (``until``): raised in
    # the window before uvicorn takes the signals over, an exception could land anywhere
    # in its start-up.
    stopping, serving = threading.Event(), threading.Event()

    def stopped(number: int, frame: object) -> None:
        if not serving.is_set():
            raise Stopped
        stopping.set()

    signal.signal(signal.SIGTERM, stopped)
    with obj.open_home() as home:
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        home.use_passphrase(passphrase)
        # The port first: a refusal from here on leaves no CRL published and nothing made.
        sock = _bind(host, port)
        try:
            cloud = None if no_cloud else _cloud(home, passphrase, cloud_ca=cloud_ca,
                                                 test_channel=test_channel)
            bank = () if no_bank else _bank(home, test_channel=test_channel)
            simpleauth = () if no_simpleauth else _simpleauth(home, simpleauth_timeout)
            starting = ProgressLine()
            order = ServeOrder(publish=not no_publish, poll_seconds=poll, progress=starting,
                               signing_threads=signing_threads, workers=workers,
                               cloud=cloud, bank=bank,
                               simpleauth=simpleauth,
                               limits=ServeLimits(header_timeout=header_timeout,
                                                  body_timeout=body_timeout,
                                                  idle_timeout=idle_timeout,
                                                  max_connections=max_connections))

            def listening() -> None:
                starting.close()
                actual = sock.getsockname()[1]
                shown = f"[{host}]" if ":" in host else host
                mode = "" if order.publish else ", not publishing"
                if workers > 1:
                    mode += f", {workers} workers"
                click.echo(f"kpki serve: listening on http://{shown}:{actual} (home "
                           f"{home.path}{mode})", err=True)
                sys.stderr.flush()
                serving.set()

            serve_home(home, order, sock=sock, passphrase=passphrase, listening=listening,
                       until=stopping)
        finally:
            sock.close()


def _bank(home: Home, *, test_channel: bool) -> tuple[Route, ...]:
    """The bank API's routes; an unusable vault secret is refused here, at start-up."""
    from pki.errors import VaultError

    try:
        return bank_api(home, test_channel=test_channel)
    except VaultError as exc:
        raise click.ClickException(f"{exc} (or serve without the bank: --no-bank)") from None


def _simpleauth(home: Home, timeout: float) -> tuple[Route, ...]:
    """Simple authentication's routes; an unusable vault secret is refused at start-up."""
    from pki.errors import VaultError

    try:
        return simpleauth_api(home, timeout=timeout)
    except VaultError as exc:
        raise click.ClickException(f"{exc} (or serve without simple authentication: "
                                   "--no-simpleauth)") from None


def _cloud(home: Home, passphrase: bytes | None, *, cloud_ca: str | None,
           test_channel: bool) -> CloudAPI | None:
    """The cloud API, or none when ``cloud_ca`` is not given and no CA of the home issues
    financial certificates. A CA that cannot is refused here, at start-up."""
    from pki.errors import NotFoundError, ProfileError, VaultError

    try:
        api = cloud_api(home, passphrase=passphrase, ca=cloud_ca, test_channel=test_channel)
    except VaultError as exc:
        raise click.ClickException(f"{exc} (or serve without the cloud: --no-cloud)"
                                   ) from None
    except (NotFoundError, ProfileError) as exc:
        raise click.ClickException(f"{exc}: choose the cloud's CA with --cloud-ca (or serve "
                                   "without the cloud: --no-cloud)") from None
    if api is None:
        logging.getLogger("kpki.serve").info(
            "no CA of this home issues financial certificates: serving without the cloud "
            "(/cloud/v1); add a yessign-style CA (kpki ca add) to serve it")
    return api
