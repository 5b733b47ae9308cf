"""``kpki demo``: the tour a newcomer runs first, and ``kpki demo egov``."""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from pathlib import Path

import click
from cryptography import x509

from pki import lifecycle
from pki.clock import FixedClock
from pki.fsutil import atomic_write
from pki.home import ROOT_LABEL, CASettings, Home
from pki.keys.folder import write_npki_folder
from pki.rrn import synthetic_rrn
from pki.signing import KeySigner, sign
from pki.signing.verify import CRLIndex, Verifier

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
        return
    target = demo_home or (obj.home if obj.home_given else None)
    if target is None:
        target = Path(tempfile.mkdtemp(prefix="kpki-demo-")) / "home"
    _tour(target, as_json, start=obj.clock.now())


def _tour(target: Path, as_json: bool, *, start: dt.datetime) -> None:
    """init, issue, sign, verify, revoke, publish the CRL, verify again."""
    say = (lambda *_: None) if as_json else click.echo
    # A frozen clock, moved by hand, keeps "before" and "after" the revocation distinct.
    clock = FixedClock(start)
    home = Home.create(target, passphrase=None, ca=CASettings(), clock=clock)
    with home:
        say(click.style("kpki demo: a tour of a Korean test PKI", bold=True))
        say(f"\n1. kpki init: a home at {home.path}")
        for r in home.list_cas():
            role = "root CA" if r.is_root else "licensed CA"
            say(f"     {role:<12} {r.certificate.subject.rfc4514_string()}")
        say("     (CA keys unencrypted: this home is for trying kpki out, nothing else)")

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
        say("\n2. kpki issue joint / kpki issue financial: one certificate of each kind")
        for issued, files in made:
            cert = issued.certificate
            say(f"     {issued.profile.description}: serial {issued.serial:X}")
            say(f"       {cert.subject.rfc4514_string()}")
            say(f"       valid {shown_day(cert.not_valid_before_utc)} .. "
                f"{shown_day(cert.not_valid_after_utc)}, files in {files[0].folder}")

        document = "계좌이체 확인서: 100,000원".encode()
        signer = KeySigner.from_npki(made[0][1][0].folder, password, chain=joint.chain)
        # A time stamp from the home's TSA: without one, the signing time is only the
        # signer's claim, and a key reported stolen would void every earlier signature.
        stamp = home.tsa(passphrase=None).timestamp
        first = sign(document, signer, include_chain=True, clock=clock, timestamper=stamp)
        root = home.store.get_ca("root").certificate

        def publish() -> tuple[bytes, Path | None, int, bytes]:
            """The licensed CA's new CRL, where it went, its number, and the root's CRL
            (which covers the TSA)."""
            published = home.publish_crls(passphrase=None)
            [(crl, path)] = [c for c in published if c[0].info.ca == authority.label]
            [(root_crl, _)] = [c for c in published if c[0].info.ca == ROOT_LABEL]
            return crl.der, path, crl.info.number, root_crl.der

        crl_der, _, _, root_crl_der = publish()

        def check(signature: bytes) -> str:
            crls = [CRLIndex.load(der) for der in (crl_der, root_crl_der)]
            verifier = Verifier(trust=[root], crls=crls, clock=clock)
            return verifier.verify(signature).summary()

        say("\n3. kpki sign --timestamp: 홍길동 signs a document with the key in signPri.key, "
            "time-stamped by the home's TSA")
        say("\n4. kpki verify: signature, time stamp, chain, validity and the CRLs")
        say(f"     {check(first.der)}")

        clock.advance(dt.timedelta(minutes=1))
        lifecycle.revoke(home.store, joint.serial, at=clock.now(),
                         reason=x509.ReasonFlags.key_compromise)
        crl_der, path, number, root_crl_der = publish()
        say("\n5. kpki cert revoke: the key is reported stolen")
        say(f"\n6. kpki crl publish: CRL number {number} lists it ({path})")
        clock.advance(dt.timedelta(minutes=1))
        second = sign(document, signer, include_chain=True, clock=clock, timestamper=stamp)
        after, before = check(second.der), check(first.der)
        say("\n7. kpki verify again")
        say(f"     a signature made now:        {after}")
        say(f"     the one made before the theft: {before}")
        say(f"\nKey password in {password_file}; explore with: kpki --home {home.path} "
            "cert list")
        if as_json:
            emit_json({"home": str(home.path), "password_file": str(password_file),
                       "certificates": [issued_json(i, f) for i, f in made],
                       "verify_before_revocation": before, "verify_after_revocation": after})


@demo.command()
@click.option("--home", "egov_home", type=click.Path(file_okay=False, path_type=Path),
              callback=out_folder,
              help="Where to create the demo home [a new temporary folder].")
@click.pass_context
def egov(ctx: click.Context, egov_home: Path | None) -> None:
    """A citizen signs a petition; the government checks signature, chain, revocation, VID."""
    from .egov import run

    obj: Context = ctx.obj
    run(egov_home or ctx.meta.get("demo_home"), start=obj.clock.now())
