"""``kpki demo egov``: a signed e-government petition, checked end to end."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import click

from pki.signing import Outcome, VerificationResult
from pki.usecases.demos import EGOV_PETITION, EgovStory, egov_demo

from .output import emit_json, serial_hex, shown


def run(target: Path | None, *, start: dt.datetime, as_json: bool = False) -> None:
    if target is None:
        target = Path(tempfile.mkdtemp(prefix="kpki-egov-")) / "home"
    if not as_json:
        click.secho("kpki demo egov: a citizen signs a petition; the government checks it",
                    bold=True)
    story = egov_demo(target, start=start)
    if as_json:
        emit_json(_story_json(story))
    else:
        _tell(story)


def _checks_json(label: str, result: VerificationResult) -> dict[str, object]:
    return {"label": label, **result.to_json()}


def _story_json(story: EgovStory) -> dict[str, object]:
    return {
        "home": str(story.home),
        "served_at": story.base_url,
        "citizen": {"serial": serial_hex(story.citizen.serial), "rrn": story.rrn.digits,
                    "folder": str(story.folder),
                    "password_file": str(story.password_file)},
        "signed_at": story.signed_at,
        "verified": [_checks_json(label, r) for label, r in story.checked],
        "revoked_at": story.revoked_at,
        "crl_number": story.crl_number,
        "signed_again_at": story.late_at,
        "verified_after_revocation": [_checks_json(label, r) for label, r in story.rechecked],
    }


def _step(number: int, text: str) -> None:
    click.echo("")
    click.secho(f"{number}. {text}", bold=True)


def _show(label: str, result: VerificationResult) -> None:
    colour = "green" if result.ok else "red"
    click.echo(f"   {label}: " + click.style(result.summary(), fg=colour))
    for check in result.checks:
        mark = {Outcome.PASSED: "ok  ", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "-   "}
        click.echo(f"      {mark[check.outcome]}  {check.name:<18} {check.detail}")


def _tell(story: EgovStory) -> None:
    _step(1, "The PKI")
    click.echo(f"   root CA      {story.root.subject.rfc4514_string()}")
    click.echo(f"   licensed CA  {story.ca.subject.rfc4514_string()}")
    click.echo(f"   kpki serve publishes CRLs and answers OCSP at {story.base_url}")
    click.echo(f"   (a throwaway home: {story.home})")
    _step(2, f"The citizen 홍길동 (RRN {story.rrn}) gets a joint certificate")
    click.echo(f"   serial {story.citizen.serial:X}, NPKI folder {story.folder}")
    _step(3, f"The citizen signs the petition at {shown(story.signed_at)}, time-stamped by "
             "the TSA")
    click.echo(f"   “{EGOV_PETITION}”")
    click.echo(f"   once as UTF-8 ({len(EGOV_PETITION.encode('utf-8'))} bytes) and once as "
               f"CP949 ({len(EGOV_PETITION.encode('cp949'))} bytes); R goes to the "
               "government encrypted (EnvelopedData, AES-256)")
    _step(4, "The government verifies: signature, time stamp, chain to the root, revocation "
             "(CRLs fetched from kpki serve), VID (RRN + R)")
    for label, result in story.checked:
        _show(label, result)
    _step(5, f"The citizen reports the key stolen: revoked at {shown(story.revoked_at)}")
    click.echo(f"   kpki serve publishes CRL number {story.crl_number or '?'} at once")
    _step(6, f"Someone signs the petition again with that key at {shown(story.late_at)}: "
             f"once time-stamped, once without a time stamp claiming "
             f"{shown(story.signed_at)}")
    _step(7, "The government verifies the three signatures against the new CRL")
    for label, result in story.rechecked:
        _show(label, result)
    click.echo("")
    click.echo(f"Explore: kpki --home {story.home} cert list   (citizen's key password in "
               f"{story.password_file})")
