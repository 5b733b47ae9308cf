"""``kpki publish [--watch]``: the publisher alone, for servers started with --no-publish."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .context import Context
from .output import emit_json, iso, json_option
from .progress import progress_line
from .secrets import ca_passphrase, passphrase_file_option

if TYPE_CHECKING:
    from pki.publisher import Round


def _rows(done: Round) -> dict[str, Any]:
    return {
        "crls": [{"ca": p.crl.info.ca, "number": p.crl.info.number,
                  "delta_base": p.crl.info.delta_base, "entries": p.crl.info.entries,
                  "this_update": iso(p.crl.info.this_update),
                  "next_update": iso(p.crl.info.next_update),
                  "der": None if p.path is None else str(p.path)} for p in done.crls],
        "ocsp_signers": list(done.signers),
        "tsa": None if done.tsa is None else format(done.tsa, "X"),
    }


@click.command()
@click.option("--watch", is_flag=True,
              help="Keep publishing, a round every --poll seconds, until stopped (SIGTERM or "
              "Ctrl-C) [one round, then exit].")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between rounds with --watch.")
@passphrase_file_option
@json_option
@click.pass_obj
def publish(obj: Context, watch: bool, poll: float, passphrase_file: Path | None,
            as_json: bool) -> None:
    """Publish what relying parties fetch: every CA's full and delta CRLs, its OCSP signer
    and the time-stamping authority, into the store (which 'kpki serve' answers from) and
    the publish folder.

    Without --watch, one round publishes every CA's CRLs. With --watch, a round publishes
    a CA's CRLs when a status changed, half their validity has passed or none is kept yet
    (a start does not rebuild CRLs that are still current), and renews the OCSP signers
    and the TSA when due. Run one publisher per home beside any number of
    'kpki serve --no-publish' servers; 'kpki serve' alone runs its own."""
    from pki.usecases.publishing import publish_round  # imported by the command that uses it

    with obj.open_home() as home:
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        if not watch:
            with progress_line() as line:
                done = publish_round(home, passphrase=passphrase,
                                     progress=line if line.active else None)
            if as_json:
                emit_json(_rows(done))
                return
            for p in done.crls:
                kind = f"delta CRL on {p.crl.info.delta_base}" if p.crl.info.delta_base \
                    else "CRL"
                where = f"-> {p.path}" if p.path else "(in the store)"
                click.echo(f"{p.crl.info.ca}: {kind} number {p.crl.info.number}, "
                           f"{p.crl.info.entries} entries {where}")
            for label in done.signers:
                click.echo(f"{label}: new OCSP signer")
            if done.tsa is not None:
                click.echo(f"new TSA certificate {done.tsa:X}")
            return
        import logging
        import signal
        import threading

        logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                            format="%(asctime)s %(name)s %(message)s")
        # SIGTERM and SIGINT end the watch between rounds; then SIGTERM exits 0 and
        # SIGINT (Ctrl-C) 130, as an interrupted command does.
        stop = threading.Event()
        caught: list[int] = []

        def stopping(number: int, frame: object) -> None:
            caught.append(number)
            stop.set()

        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        click.echo(f"kpki publish: watching {home.path} every {poll:g} s", err=True)
        sys.stderr.flush()
        home.publisher(passphrase=passphrase).watch(
            stop, poll_seconds=poll, lease=home.publisher_lease(poll_seconds=poll))
        if signal.SIGINT in caught:
            raise KeyboardInterrupt
