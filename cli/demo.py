"""``kpki demo``: the tour a newcomer runs first, and ``kpki demo egov``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from pki.usecases.demos import TourStory, tour_demo

from .context import Context
from .issue import issued_json
from .output import emit_json, json_option, shown_day
from .params import out_folder


@click.group(invoke_without_command=True)
@click.option("--home", "demo_home", type=click.Path(file_okay=False, path_type=Path),
              callback=out_folder,
              help="Where to create the demo home [a new temporary folder].")
@json_option
@click.pass_context
def demo(ctx: click.Context, demo_home: Path | None, as_json: bool) -> None:
    """A tour: init, issue, sign, verify, revoke, publish the CRL, verify again.

    It leaves a home to explore with the other commands. `kpki demo egov` shows a signed
    e-government petition checked end to end.
    """
    ctx.ensure_object(Context)
    obj: Context = ctx.obj
    if ctx.invoked_subcommand is not None:
        ctx.meta["demo_home"] = demo_home
        ctx.meta["demo_json"] = as_json
        return
    target = demo_home or (obj.home if obj.home_given else None)
    if target is None:
        target = Path(tempfile.mkdtemp(prefix="kpki-demo-")) / "home"
    story = tour_demo(target, start=obj.clock.now())
    if as_json:
        emit_json({"home": str(story.home), "password_file": str(story.password_file),
                   "certificates": [issued_json(i, f) for i, f in story.issued],
                   "verify_before_revocation": story.before.summary(),
                   "verify_after_revocation": story.after.summary()})
    else:
        _tell(story)


def _tell(story: TourStory) -> None:
    say = click.echo
    say(click.style("kpki demo: a tour of a Korean test PKI", bold=True))
    say(f"\n1. kpki init: a home at {story.home}")
    for r in story.cas:
        role = "root CA" if r.is_root else "licensed CA"
        say(f"     {role:<12} {r.certificate.subject.rfc4514_string()}")
    say("     (CA keys unencrypted: this home is for trying kpki out, nothing else)")
    say("\n2. kpki issue joint / kpki issue financial: one certificate of each kind")
    for issued, files in story.issued:
        cert = issued.certificate
        say(f"     {issued.profile.description}: serial {issued.serial:X}")
        say(f"       {cert.subject.rfc4514_string()}")
        say(f"       valid {shown_day(cert.not_valid_before_utc)} .. "
            f"{shown_day(cert.not_valid_after_utc)}, files in {files[0].folder}")
    say("\n3. kpki sign --timestamp: 홍길동 signs a document with the key in signPri.key, "
        "time-stamped by the home's TSA")
    say("\n4. kpki verify: signature, time stamp, chain, validity and the CRLs")
    say(f"     {story.first.summary()}")
    say("\n5. kpki cert revoke: the key is reported stolen")
    say(f"\n6. kpki crl publish: CRL number {story.crl_number} lists it ({story.crl_path})")
    say("\n7. kpki verify again")
    say(f"     a signature made now:        {story.after.summary()}")
    say(f"     the one made before the theft: {story.before.summary()}")
    say(f"\nKey password in {story.password_file}; explore with: kpki --home {story.home} "
        "cert list")


@demo.command()
@click.option("--home", "egov_home", type=click.Path(file_okay=False, path_type=Path),
              callback=out_folder,
              help="Where to create the demo home [a new temporary folder].")
@json_option
@click.pass_context
def egov(ctx: click.Context, egov_home: Path | None, as_json: bool) -> None:
    """A citizen signs a petition; the government checks signature, chain, revocation, VID."""
    from .egov import run

    obj: Context = ctx.obj
    run(egov_home or ctx.meta.get("demo_home"), start=obj.clock.now(),
        as_json=as_json or bool(ctx.meta.get("demo_json")))
