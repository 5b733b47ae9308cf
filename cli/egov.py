"""``kpki demo egov``: a signed e-government petition, checked end to end."""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import click
from cryptography import x509

from pki import lifecycle
from pki.clock import FixedClock
from pki.fsutil import atomic_write
from pki.home import Home
from pki.keys.folder import write_npki_folder
from pki.rrn import synthetic_rrn
from pki.signing import KeySigner, Outcome, VerificationResult, seal_r, sign
from pki.signing.verify import Verifier

from .output import shown

PETITION = "청원서: 우리 동네 놀이터에 그늘막을 설치해 주십시오. 신청인 홍길동"


def _step(number: int, text: str) -> None:
    click.echo("")
    click.secho(f"{number}. {text}", bold=True)


def _show(label: str, result: VerificationResult) -> None:
    colour = "green" if result.ok else "red"
    click.echo(f"   {label}: " + click.style(result.summary(), fg=colour))
    for check in result.checks:
        mark = {Outcome.PASSED: "ok  ", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "-   "}
        click.echo(f"      {mark[check.outcome]}  {check.name:<18} {check.detail}")


def _kst(value: dt.datetime) -> str:
    return shown(value)


def run(target: Path | None, *, start: dt.datetime) -> None:
    from pki.usecases.serving import serve_home_in_thread

    if target is None:
        target = Path(tempfile.mkdtemp(prefix="kpki-egov-")) / "home"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    clock = FixedClock(start)

    click.secho("kpki demo egov: a citizen signs a petition; the government checks it",
                bold=True)
    home = Home.create(target, passphrase=None, base_url=base_url, clock=clock)
    try:
        with serve_home_in_thread(home, sock=sock) as served:
            _story(home, served.republish, clock, base_url)
    finally:
        sock.close()
        home.close()


def _story(home: Home, republish: Callable[[], object], clock: FixedClock,
           base_url: str) -> None:
    root = home.store.get_ca("root").certificate
    _step(1, "The PKI")
    click.echo(f"   root CA      {root.subject.rfc4514_string()}")
    ca_name = home.store.get_ca("yessign").certificate.subject.rfc4514_string()
    click.echo(f"   licensed CA  {ca_name}")
    click.echo(f"   kpki serve publishes CRLs and answers OCSP at {base_url}")
    click.echo(f"   (a throwaway home: {home.path})")

    authority = home.authority()
    rrn = synthetic_rrn(dt.date(1990, 3, 1), serial=secrets.randbelow(99999))
    citizen = authority.issue_joint(name="홍길동", rrn=rrn)
    government = authority.issue_joint(name="행정안전부", rrn=synthetic_rrn(dt.date(1970, 1, 1)))
    password = "Egov-demo-" + secrets.token_urlsafe(6) + "1!"
    folder = write_npki_folder(citizen, home.path / "citizen", password=password)[0].folder
    atomic_write(home.path / "citizen-password.txt", password.encode() + b"\n", mode=0o600)
    _step(2, f"The citizen 홍길동 (RRN {rrn}) gets a joint certificate")
    click.echo(f"   serial {citizen.serial:X}, NPKI folder {folder}")

    assert citizen.private_key is not None  # issued with a key kpki made
    signer = KeySigner(citizen.certificate, citizen.private_key, citizen.chain)
    signed_at = clock.now()
    # The home's TSA stamps each signature: the signer's own signingTime is only a claim.
    stamp = home.tsa(passphrase=None).timestamp
    utf8 = sign(PETITION.encode("utf-8"), signer, include_chain=True, clock=clock,
                timestamper=stamp)
    cp949 = sign(PETITION.encode("cp949"), signer, include_chain=True, clock=clock,
                 timestamper=stamp)
    envelope = seal_r(citizen.r, government.certificate)
    _step(3, f"The citizen signs the petition at {_kst(signed_at)}, time-stamped by the TSA")
    click.echo(f"   “{PETITION}”")
    click.echo(f"   once as UTF-8 ({len(PETITION.encode('utf-8'))} bytes) and once as CP949 "
               f"({len(PETITION.encode('cp949'))} bytes); R goes to the government encrypted "
               "(EnvelopedData, AES-256)")

    def government_checks() -> Verifier:
        return Verifier(trust=[root], fetch_crls=True, clock=clock)

    _step(4, "The government verifies: signature, time stamp, chain to the root, revocation "
             "(CRLs fetched from kpki serve), VID (RRN + R)")
    verifier = government_checks()
    for label, document in (("UTF-8 petition", utf8), ("CP949 petition", cp949)):
        _show(label, verifier.verify(document.der, rrn=rrn, r_envelope=envelope,
                                     recipient_key=government.private_key))

    clock.advance(dt.timedelta(minutes=10))
    lifecycle.revoke(home.store, citizen.serial, at=clock.now(),
                     reason=x509.ReasonFlags.key_compromise)
    republish()
    crl = home.store.last_crl("yessign")
    _step(5, f"The citizen reports the key stolen: revoked at {_kst(clock.now())}")
    click.echo(f"   kpki serve publishes CRL number {crl.number if crl else '?'} at once")

    clock.advance(dt.timedelta(minutes=10))
    late = sign(PETITION.encode("utf-8"), signer, include_chain=True, clock=clock,
                timestamper=stamp)
    backdated = sign(PETITION.encode("utf-8"), signer, include_chain=True,
                     signing_time=signed_at)
    _step(6, f"Someone signs the petition again with that key at {_kst(clock.now())}: once "
             f"time-stamped, once without a time stamp claiming {_kst(signed_at)}")

    _step(7, "The government verifies the three signatures against the new CRL")
    verifier = government_checks()
    _show("signed before revocation", verifier.verify(utf8.der, rrn=rrn, r_envelope=envelope,
                                                      recipient_key=government.private_key))
    _show("signed after revocation", verifier.verify(late.der))
    _show("back-dated after revocation", verifier.verify(backdated.der))
    click.echo("")
    click.echo(f"Explore: kpki --home {home.path} cert list   (citizen's key password in "
               f"{home.path / 'citizen-password.txt'})")
