"""``kpki demo``: a throwaway home with one certificate of each kind."""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from pathlib import Path

import click

from pki.fsutil import atomic_write
from pki.home import CASettings, Home
from pki.keys.folder import write_npki_folder
from pki.rrn import synthetic_rrn

from .context import Context
from .issue import issued_json
from .output import emit_json, json_option


@click.group(invoke_without_command=True)
@click.option("--home", "demo_home", type=click.Path(file_okay=False, path_type=Path),
              help="Where to create the demo home [a new temporary folder].")
@json_option
@click.pass_context
def demo(ctx: click.Context, demo_home: Path | None, as_json: bool) -> None:
    """Create a throwaway home and issue a joint and a financial certificate.

    `kpki demo egov` shows a signed e-government petition checked end to end.
    """
    ctx.ensure_object(Context)
    obj: Context = ctx.obj
    if ctx.invoked_subcommand is not None:
        ctx.meta["demo_home"] = demo_home
        return
    target = demo_home or (obj.home if obj.home_given else None)
    if target is None:
        target = Path(tempfile.mkdtemp(prefix="kpki-demo-")) / "home"
    home = Home.create(target, passphrase=None, ca=CASettings())
    with home:
        password = "Demo-1!" + secrets.token_urlsafe(9)
        password_file = home.path / "demo-password.txt"
        atomic_write(password_file, password.encode() + b"\n", mode=0o600)
        authority = home.authority()
        rrn = synthetic_rrn(dt.date(1990, 3, 1), serial=12345)
        npki_base = home.path / "npki"
        made = []
        joint = authority.issue_joint(name="홍길동", rrn=rrn, alias="GILDONG.HONG")
        made.append((joint, write_npki_folder(joint, npki_base, password=password)))
        fin = authority.issue_financial(name="김금융", rrn=synthetic_rrn(dt.date(1985, 7, 9),
                                                                         female=True,
                                                                         serial=54321))
        made.append((fin, write_npki_folder(fin, npki_base, password=password)))
        if as_json:
            emit_json({"home": str(home.path), "password_file": str(password_file),
                       "certificates": [issued_json(i, f) for i, f in made]})
            return
        click.echo(f"kpki demo: a throwaway home at {home.path}")
        click.echo("  (its CA keys are unencrypted: it is for trying kpki out, nothing else)")
        click.echo("")
        for r in home.list_cas():
            role = "root CA" if r.is_root else "licensed CA"
            click.echo(f"  {role:<12} {r.certificate.subject.rfc4514_string()}")
        click.echo("")
        for issued, files in made:
            cert = issued.certificate
            click.echo(f"  {issued.profile.description}")
            click.echo(f"    serial  {issued.serial:X}")
            click.echo(f"    subject {cert.subject.rfc4514_string()}")
            click.echo(f"    valid   {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ} .. "
                       f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}")
            click.echo(f"    files   {files[0].folder}")
        click.echo("")
        click.echo(f"  key password: in {password_file}")
        click.echo(f"  explore:      kpki --home {home.path} cert list")


@demo.command()
@click.option("--home", "egov_home", type=click.Path(file_okay=False, path_type=Path),
              help="Where to create the demo home [a new temporary folder].")
@click.pass_context
def egov(ctx: click.Context, egov_home: Path | None) -> None:
    """A citizen signs a petition; the government checks signature, chain, revocation, VID."""
    from .egov import run

    run(egov_home or ctx.meta.get("demo_home"))
