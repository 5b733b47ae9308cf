"""``kpki agent``: the local signing agent on 127.0.0.1 (docs/agent.md)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import threading
from pathlib import Path
from types import FrameType

import click
import uvicorn

from pki.agent import AgentSettings, SigningAgent, create_app
from pki.errors import AgentSettingsError
from pki.web.guarded_http import make_server
from pki.web.limits import LISTEN_BACKLOG, ServeLimits

from .context import Context, Stopped

HOST = "127.0.0.1"
DEFAULT_PORT = 8890
GRACE_SECONDS = 2
"""How long a stop waits for a page's pending long poll before closing it."""


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise click.BadParameter(f"cannot listen on {HOST}:{port}: {exc.strerror}",
                                 param_hint="--port") from None
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def _server(service: SigningAgent, port: int, stopping: threading.Event) -> uvicorn.Server:
    """The server of the agent's app on ``port``. While it serves, uvicorn takes SIGINT and
    SIGTERM over and waits :data:`GRACE_SECONDS` for the requests in flight before it
    cancels them; its handler sets ``stopping`` first, so the pages waiting for an
    outcome are answered (pending) at once instead of cancelled with a 500."""
    server = make_server(create_app(service, port=port), ServeLimits())
    server.config.timeout_graceful_shutdown = GRACE_SECONDS
    handle_exit = server.handle_exit

    def stop(number: int, frame: FrameType | None) -> None:
        stopping.set()
        service.close()
        handle_exit(number, frame)

    setattr(server, "handle_exit", stop)  # noqa: B010  (uvicorn looks it up when it serves)
    return server


@click.command()
@click.option("--port", default=DEFAULT_PORT, show_default=True,
              type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one; the line printed says which).")
@click.option("--allow-origin", "origins", multiple=True, metavar="ORIGIN",
              help="An origin whose pages may ask for signatures, as scheme://host[:port] "
              "(repeat for more; at least one; no wildcard).")
@click.option("--npki-base", "bases", multiple=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Another folder holding NPKI/<CA>/USER/cn=... certificates, offered in "
              "the dialog after the hard disk (a removable drive when under /media or "
              "/mnt; repeat for more).")
@click.option("--request-timeout", default=300.0, show_default=True,
              type=click.FloatRange(10, 3600),
              help="Seconds a signature request waits for the user's answer.")
@click.option("--json", "as_json", is_flag=True,
              help="Say where the agent listens as one JSON line instead of text.")
@click.pass_obj
def agent(obj: Context, port: int, origins: tuple[str, ...], bases: tuple[Path, ...],
          request_timeout: float, as_json: bool) -> None:
    """Run the local signing agent on 127.0.0.1 until stopped (Ctrl-C, SIGTERM).

    Pages from the allowed origins load http://127.0.0.1:PORT/agent/v1/agent.js and call
    KpkiAgent.sign(): the agent opens its certificate dialog, where the user picks an NPKI
    certificate and types its password; the page gets the signature, never the
    password."""
    if not origins:
        raise click.UsageError("give at least one --allow-origin ORIGIN (the pages that may "
                               "ask for signatures)")
    try:
        settings = AgentSettings.of(list(origins), bases=list(bases),
                                    request_ttl=dt.timedelta(seconds=request_timeout))
    except AgentSettingsError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow-origin") from None
    stopping, serving = threading.Event(), threading.Event()

    def stopped(number: int, frame: object) -> None:
        if not serving.is_set():
            raise Stopped
        stopping.set()

    signal.signal(signal.SIGTERM, stopped)
    sock = _bind(port)
    service = SigningAgent(settings, clock=obj.clock)
    try:
        actual = sock.getsockname()[1]
        url = f"http://{HOST}:{actual}"
        server = _server(service, actual, stopping)

        def until() -> None:
            stopping.wait()
            service.close()
            server.should_exit = True

        threading.Thread(target=until, daemon=True, name="kpki-agent-until").start()
        if as_json:
            click.echo(json.dumps({"url": url, "port": actual,
                                   "script": f"{url}/agent/v1/agent.js",
                                   "allowed_origins": list(settings.allowed_origins),
                                   "locations": [{"kind": loc.kind.value,
                                                  "path": str(loc.path)}
                                                 for loc in settings.locations]},
                                  ensure_ascii=False))
        else:
            click.echo(f"kpki agent: listening on {url} for "
                       f"{', '.join(settings.allowed_origins)}")
        serving.set()
        server.run(sockets=[sock])
    finally:
        service.close()
        sock.close()
