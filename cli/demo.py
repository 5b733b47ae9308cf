"""``kpki demo``: the tour a newcomer runs first, and ``kpki demo egov``."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pki.usecases.demos import TourStory, tour_demo

from .context import Context
from .issue import issued_json
from .output import emit_json, json_option, shown_day
from .params import out_folder

if TYPE_CHECKING:
    from pki.usecases.webdemo import RunningDemo


@click.group(invoke_without_command=True)
@click.option("--home", "demo_home", type=click.Path(file_okay=False, path_type=Path),
              callback=out_folder,
              help="Where to create the demo home [a new temporary folder].")
@json_option
@click.pass_context
def demo(ctx: click.Context, demo_home: Path | None, as_json: bool) -> None:
    """A tour: init, issue, sign, verify, revoke, publish the CRL, verify again.

    It leaves a home to explore with the other commands. `kpki demo egov` shows a signed
    e-government petition checked end to end; `kpki demo web` the same in a browser.
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


@demo.command()
@click.option("--home", "web_home", type=click.Path(file_okay=False, path_type=Path),
              callback=out_folder,
              help="The demo home: made when it does not exist, started again when it is "
              "one [a new temporary folder].")
@click.option("--port", default=8800, show_default=True, type=click.IntRange(0, 65535),
              help="The portal's port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-open", is_flag=True,
              help="Print the portal's address instead of opening it in a browser.")
@click.option("--json", "as_json", is_flag=True,
              help="Say where everything listens, and the demo's secrets, as one JSON line "
              "instead of text (for a script that drives the demo).")
@click.pass_obj
def web(obj: Context, web_home: Path | None, port: int, no_open: bool, as_json: bool) -> None:
    """The e-government portal in the browser: sign a petition, see each check, revoke.

    Starts kpki serve (cloud, SDK, bank, simple authentication, test channels), the
    signing agent and the portal on 127.0.0.1, opens the portal (or prints its address)
    and prints the demo's passwords and PINs, and the operator page's secret. Ctrl-C
    (status 130) or SIGTERM (status 0) stops everything.
    """
    from pki.usecases.webdemo import DemoWebError, run_demo_web

    target = web_home or Path(tempfile.mkdtemp(prefix="kpki-demo-web-")) / "home"
    if not target.exists():
        click.echo(f"kpki demo web: making a demo home at {target} ...", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda number, frame: stop.set())
    try:
        with run_demo_web(target, port=port, clock=obj.clock) as running:
            opened = not no_open and _open(running.portal_url)
            if as_json:
                _web_json(running, opened=opened)
            else:
                _tell_web(running, opened=opened)
            while not stop.wait(3600):
                pass
    except DemoWebError as exc:
        if exc.port is None:
            raise
        fix = ("kpki serve's port, which this demo home keeps: stop what uses it, or make "
               "a new demo home (another --home)" if exc.kpki else "choose another --port")
        raise click.ClickException(f"{exc} ({fix})") from None
    except KeyboardInterrupt:
        # Everything has stopped by now (the block's end); Ctrl-C is then status 130.
        click.echo("kpki demo web: stopped", err=True)
        raise
    click.echo("kpki demo web: stopped", err=True)


def _open(url: str) -> bool:
    """Open ``url`` in a graphical browser; False when there is none to open."""
    import os
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False  # a console browser would take over this terminal
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _web_json(running: RunningDemo, *, opened: bool) -> None:
    import json

    secrets = running.secrets
    click.echo(json.dumps({
        "portal": running.portal_url, "opened": opened, "kpki": running.kpki_url,
        "agent": running.agent_url, "agent_script": f"{running.agent_url}/agent/v1/agent.js",
        "sdk_script": f"{running.kpki_url}/sdk/v1/fincert.js" if running.sdk else None,
        "home": str(running.home), "npki_base": str(running.npki_base),
        "citizen": {"name": secrets.name, "rrn": secrets.rrn, "phone": secrets.phone},
        "joint_password": secrets.joint_password, "cloud_pin": secrets.cloud_pin,
        "simple_pin": secrets.simple_pin, "operator_secret": running.operator_secret},
        ensure_ascii=False))


def _tell_web(running: RunningDemo, *, opened: bool) -> None:
    say = click.echo
    secrets = running.secrets
    say(click.style("kpki demo web: the e-government portal demo", bold=True))
    say(f"  portal        {running.portal_url}/" + ("   (opened in your browser)" if opened
                                                     else "   (open it in a browser)"))
    say(f"  kpki serve    {running.kpki_url}   (CRLs, OCSP, TSA, cloud, bank, simple "
        "authentication" + (", SDK" if running.sdk else "") + ")")
    say("  signing agent " + (running.agent_url or "(not in this kpki)"))
    say(f"  demo home     {running.home}")
    say("")
    say(f"  citizen       {secrets.name}, RRN {secrets.rrn[:6]}-{secrets.rrn[6:]}, phone "
        f"{secrets.phone}")
    say(f"  joint certificate password     {secrets.joint_password}   (NPKI files in "
        f"{running.npki_base})")
    say(f"  financial certificate PIN      {secrets.cloud_pin}   (in the cloud)")
    say(f"  simple authentication PIN      {secrets.simple_pin}   (the demo phone: "
        f"{running.portal_url}/phone.html)")
    say(f"  operator secret                {running.operator_secret}   (the operator page: "
        f"{running.portal_url}/operator.html; kept in {running.home}/demo-web/"
        "operator.secret)")
    say("")
    say("Ctrl-C stops everything.")
