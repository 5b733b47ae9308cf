"""``kpki crl publish`` and ``kpki crl deltas``."""

from __future__ import annotations

from pathlib import Path

import click

from .context import Context
from .output import emit_json, iso, json_option, shown_iso
from .progress import progress_line
from .secrets import ca_passphrase, passphrase_file_option


@click.group()
def crl() -> None:
    """Certificate revocation lists."""


@crl.command()
@click.option("--delta", is_flag=True, help="Publish delta CRLs (changes since the last full).")
@click.option("--ca", "labels", multiple=True, help="Only this CA (repeatable) [every CA].")
@passphrase_file_option
@json_option
@click.pass_obj
def publish(obj: Context, delta: bool, labels: tuple[str, ...], passphrase_file: Path | None,
            as_json: bool) -> None:
    """Issue the next CRL of each CA and write it (DER and PEM) to the publish folder.

    A CRL is never written over a newer one another publisher put in place meanwhile.
    """
    from pki.usecases.publishing import publish_crls  # imported by the command that uses it

    with obj.open_home() as home:
        for label in labels:
            home.store.get_ca(label)
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        with progress_line() as line:
            # Nobody to tell off a terminal: the entries of a full CRL are then not counted.
            done = publish_crls(home, passphrase=passphrase, delta=delta, labels=labels,
                                progress=line if line.active else None)
        rows = [{"ca": c.info.ca, "number": c.info.number, "delta_base": c.info.delta_base,
                 "entries": c.info.entries, "this_update": iso(c.info.this_update),
                 "next_update": iso(c.info.next_update),
                 "der": None if path is None else str(path),
                 "pem": None if path is None else str(path) + ".pem",
                 # A shard's CRL only (docs/lifecycle.md, "Partitioned CRLs").
                 **({} if c.info.shard is None else {"shard": c.info.shard})}
                for c, path in done]
        if as_json:
            emit_json(rows)
            return
        if not rows:
            click.echo("Nothing published (a delta CRL needs a full CRL first).")
        for r in rows:
            kind = f"delta CRL on {r['delta_base']}" if r["delta_base"] else "CRL"
            if "shard" in r:
                kind = f"CRL of shard {r['shard']}"
            where = (f"-> {r['der']}" if r["der"] else
                     "not written: another publisher has put a newer one in place")
            click.echo(f"{r['ca']}: {kind} number {r['number']}, {r['entries']} entries, "
                       f"next update {shown_iso(str(r['next_update']))} {where}")


@crl.command()
@click.argument("state", required=False, type=click.Choice(["on", "off"]))
@json_option
@click.pass_obj
def deltas(obj: Context, state: str | None, as_json: bool) -> None:
    """Whether full CRLs announce the delta CRLs (freshestCRL); STATE turns it on or off.

    Delta CRLs are made and served either way. Announcing them is off by default: clients
    that fetch revocation data themselves but no deltas (pyhanko-certvalidator, Java's
    PKIX) fail every check whose full CRL announces a delta. The change applies from the
    next full CRL (kpki serve makes one within its poll interval).
    """
    with obj.open_home() as home:
        if state is not None:
            home.set_delta_crls(state == "on")
        if as_json:
            emit_json({"announced": home.delta_crls})
            return
        announced = "announced by the full CRLs" if home.delta_crls else "not announced"
        click.echo(f"Delta CRLs: {announced}.")
