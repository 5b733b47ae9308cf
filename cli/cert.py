"""``kpki cert list|show`` and the lifecycle commands.

A command imports what it uses when it runs (issue 18): ``kpki cert show`` reads the store
and prints, without importing the lifecycle, the delivery or issuance machinery, nor the
profiles (``--profile``'s choices are read when shown or checked).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.errors import CertificateNotFoundError
from pki.faults import fault_point
from pki.store import CertificateRecord, CertStatus, RevocationReason

from .context import STDOUT_GONE, Context
from .output import (
    TimeType,
    common_name,
    display_status,
    emit_json,
    emit_list,
    fields,
    fingerprint,
    iso,
    json_option,
    list_options,
    one_list_format,
    serial_hex,
    shown,
    shown_iso,
    stream_table,
    table,
)
from .params import force_option, out_folder, rrn_option
from .reasons import reason_option
from .secrets import ca_passphrase, key_password, passphrase_file_option, password_file_option

if TYPE_CHECKING:
    from pki.delivery import UndeliveredCertificate
    from pki.home import Home

STATUSES = [s.value for s in CertStatus] + ["expired"]
_HEX = re.compile(r"[0-9a-f]+")


class _ProfileChoice(click.Choice[str]):
    """``--profile``'s choices, the profiles' names: read from :mod:`pki.profiles` when
    click shows or checks them, not when the command group is imported."""

    def __init__(self) -> None:
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        from pki.profiles import PROFILES

        return tuple(sorted(PROFILES))

    @choices.setter
    def choices(self, value: object) -> None:
        pass  # click's __init__ sets them; they are the profiles'


def parse_serial(text: str, *, option: str = "SERIAL") -> int:
    """A serial as kpki prints it: hex, optionally with ``0x`` or colons; a usage error
    naming ``option`` otherwise."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    if cleaned.startswith("-") and _HEX.fullmatch(cleaned[1:]):
        raise click.BadParameter("serial numbers are positive", param_hint=option)
    if not _HEX.fullmatch(cleaned):  # int() would take "1_0", "+10", full-width digits
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise click.BadParameter(f"{shown!r} is not a hex serial number",
                                 param_hint=option)
    value = int(cleaned, 16)
    if value <= 0:
        raise click.BadParameter("serial numbers are positive", param_hint=option)
    return value


def _policy(cert: x509.Certificate) -> str:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return "-"
    return ", ".join(p.policy_identifier.dotted_string for p in ext.value)


def _vid(cert: x509.Certificate) -> dict[str, Any]:
    from pki.vid import identify_data_of

    data = identify_data_of(cert)
    if data is None:
        return {}
    return {"real_name": data.real_name, "vid_hash": data.hash_name,
            "vid": data.vid.hex() if data.vid else None}


def _changes(record: CertificateRecord, replaced_by: Sequence[int]) -> dict[str, Any]:
    """What happened to the certificate since issuance, from its stored record: when it
    was revoked, why and since when it was invalid; when it was suspended and the day the
    suspension lapses into a revocation; which certificate it replaced (renewal or
    reissue) and which replaced it."""
    revoked = record.status is CertStatus.REVOKED
    suspended = record.status is CertStatus.SUSPENDED and record.revoked_at is not None
    lapses = None
    if suspended and record.revoked_at:
        from pki.lifecycle import suspension_lapses_at

        lapses = iso(suspension_lapses_at(record.revoked_at))
    return {
        "revoked_at": iso(record.revoked_at) if revoked and record.revoked_at else None,
        "reason": record.reason.value if revoked and record.reason else None,
        "invalidity_date": iso(record.invalidity_date) if record.invalidity_date else None,
        "suspended_at": iso(record.revoked_at) if suspended and record.revoked_at else None,
        "suspension_lapses_at": lapses,
        "replaces": None if record.replaces is None else serial_hex(record.replaces),
        "replaced_by": [serial_hex(s) for s in replaced_by],
    }


def _changes_text(info: Mapping[str, Any]) -> str:
    """The changes of :func:`_changes` in a few words, for a table."""
    parts = []
    if info["reason"]:
        parts.append(info["reason"])
    if info["invalidity_date"]:
        parts.append(f"invalid since {shown_iso(info['invalidity_date'])[:10]}")
    if info["suspension_lapses_at"]:
        parts.append(f"lapses {shown_iso(info['suspension_lapses_at'])[:10]}")
    if info["replaces"]:
        parts.append(f"replaces {info['replaces']}")
    if info["replaced_by"]:
        parts.append(f"replaced by {', '.join(info['replaced_by'])}")
    return "; ".join(parts) or "-"


def cert_json(record: CertificateRecord, now: dt.datetime, *,
              replaced_by: Sequence[int] = ()) -> dict[str, Any]:
    cert = record.certificate
    return {
        "serial": serial_hex(record.serial),
        "ca": record.ca,
        "profile": record.profile,
        "status": display_status(record, now),
        "status_code": record.status.code,
        "holder": record.holder,
        "subject": record.subject,
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": iso(record.not_before),
        "not_after": iso(record.not_after),
        "issued_at": iso(record.issued_at),
        **_changes(record, replaced_by),
        "policy": _policy(cert),
        **_vid(cert),
        "sha256": fingerprint(cert),
    }


@click.group()
def cert() -> None:
    """Look at issued certificates."""


def _undelivered_json(item: UndeliveredCertificate, now: dt.datetime) -> dict[str, Any]:
    return {**cert_json(item.certificate, now), "folder": item.delivery.folder,
            "staged": item.staged,
            "staging": item.delivery.staging if item.staged else None}


def _list_undelivered(items: list[UndeliveredCertificate], now: dt.datetime, *,
                      as_json: bool, as_jsonl: bool = False) -> None:
    if emit_list([_undelivered_json(i, now) for i in items], as_json=as_json,
                 as_jsonl=as_jsonl):
        return
    table(["SERIAL", "CA", "STATUS", "FILES", "FOLDER"],
          [[serial_hex(i.certificate.serial), i.certificate.ca,
            display_status(i.certificate, now),
            "staged" if i.staged else "lost", i.delivery.folder] for i in items])


def _after_position(home: Home, text: str, ca_label: str | None) -> tuple[str, int]:
    """Where ``--after SERIAL`` resumes a listing: (CA, serial). Without ``--ca`` the serial
    names its CA, which must be one."""
    serial = parse_serial(text, option="--after")
    if ca_label is not None:
        return ca_label, serial
    holders = [r.ca for r in home.store.find_certificates(serial)]
    if not holders:
        raise click.BadParameter(f"no certificate has serial {serial_hex(serial)} (add --ca "
                                 "to resume at a CA's serial)", param_hint="--after")
    if len(holders) > 1:
        raise click.BadParameter(f"serial {serial_hex(serial)} exists at several CAs "
                                 f"({', '.join(holders)}): add --ca", param_hint="--after")
    return holders[0], serial


def _listed(home: Home, *, ca_label: str | None, after: tuple[str, int] | None,
            status: str | None, profile: str | None, name: str | None,
            now: dt.datetime) -> Iterator[tuple[CertificateRecord, dict[str, Any]]]:
    """The certificates to list with their JSON, read a page at a time."""
    stored = None if status in (None, "expired") else CertStatus(status)
    pages = home.store.certificate_pages(ca=ca_label, after=after, status=stored,
                                         profile=profile, holder=name)
    for page in pages:
        if STDOUT_GONE.is_set():  # | head has what it wanted: reading on is for nobody
            return
        fault_point("cert.list.page")
        if status in ("expired", "valid"):
            page = [r for r in page if display_status(r, now) == status]
        links: dict[str, Mapping[int, Sequence[int]]] = {}
        for label in dict.fromkeys(r.ca for r in page):
            links[label] = home.store.replaced_by(label, [r.serial for r in page
                                                          if r.ca == label])
        for record in page:
            yield record, cert_json(record, now,
                                    replaced_by=links[record.ca].get(record.serial, ()))


def _stream_json(infos: Iterator[dict[str, Any]]) -> None:
    """A JSON array written as it comes, as :func:`emit_json` would write it whole."""
    first = True
    for info in infos:
        item = json.dumps(info, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        click.echo(("[\n  " if first else ",\n  ") + item, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


@cert.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only certificates in this state.")
@click.option("--profile", type=_ProfileChoice(), help="Only this profile.")
@click.option("--name", help="Only this holder's certificates.")
@click.option("--ca", "ca_label", help="Only certificates of this CA.")
@click.option("--limit", type=click.IntRange(min=1, max=sys.maxsize), metavar="N",
              help="At most N certificates (a page; --after the last serial gives the next).")
@click.option("--after", metavar="SERIAL",
              help="Start after this serial (hex, as listed): the next page of a listing. "
              "Certificates are listed CA by CA, by serial within a CA.")
@click.option("--undelivered", "undelivered_only", is_flag=True,
              help="Only certificates recorded whose NPKI folder never received them "
                   "('kpki cert deliver' finishes staged ones; revoke the others).")
@list_options
@click.pass_obj
def cert_list(obj: Context, status: str | None, profile: str | None, name: str | None,
              ca_label: str | None, limit: int | None, after: str | None,
              undelivered_only: bool, as_json: bool, as_jsonl: bool) -> None:
    """List certificates, CA by CA and by serial, as they are read (constant memory)."""
    one_list_format(as_json=as_json, as_jsonl=as_jsonl)
    with obj.open_home() as home:
        now = home.clock.now()
        if undelivered_only:
            if status or profile or name or limit or after:
                raise click.UsageError("--undelivered goes only with --ca")
            from pki.usecases.issuing import undelivered_certificates

            _list_undelivered(undelivered_certificates(home, ca=ca_label), now,
                              as_json=as_json, as_jsonl=as_jsonl)
            return
        if ca_label is not None:
            home.store.get_ca(ca_label)
        position = None if after is None else _after_position(home, after, ca_label)
        listed = itertools.islice(_listed(home, ca_label=ca_label, after=position,
                                          status=status, profile=profile, name=name,
                                          now=now), limit)
        if as_json:
            _stream_json(info for _, info in listed)
        elif as_jsonl:
            for _, info in listed:
                click.echo(json.dumps(info, ensure_ascii=False))
        else:
            stream_table(
                ["SERIAL", "CA", "PROFILE", "STATUS", "SINCE", "NOT AFTER", "COMMON NAME",
                 "CHANGES"],
                ([serial_hex(r.serial), r.ca, r.profile, display_status(r, now),
                  shown_iso(i["revoked_at"] or i["suspended_at"] or "-"), shown(r.not_after),
                  common_name(r.certificate.subject), _changes_text(i)] for r, i in listed))


@cert.command("show")
@click.argument("serial")
@click.option("--ca", "ca_label", help="The issuing CA, where the serial is ambiguous.")
@click.option("--pem", is_flag=True, help="Print the certificate as PEM only.")
@json_option
@click.pass_obj
def cert_show(obj: Context, serial: str, ca_label: str | None, pem: bool,
              as_json: bool) -> None:
    """Show the certificate SERIAL (hex)."""
    number = parse_serial(serial)
    with obj.open_home() as home:
        matches = home.store.find_certificates(number, ca=ca_label)
        if not matches:
            raise CertificateNotFoundError(number, ca=ca_label)
        if len(matches) > 1:
            cas = ", ".join(m.ca for m in matches)
            raise click.UsageError(f"serial {serial} exists at several CAs ({cas}): add --ca")
        record = matches[0]
        if pem:
            click.echo(record.certificate.public_bytes(serialization.Encoding.PEM).decode(),
                       nl=False)
            return
        info = cert_json(record, home.clock.now(),
                         replaced_by=home.store.renewals_of(record.ca, record.serial))
        if as_json:
            emit_json(info)
            return
        changes = _changes(record, ())
        fields({k.replace("_", " "): ", ".join(v) if isinstance(v, list) else
                "-" if v is None else str(v) for k, v in info.items()
                if not (k in changes and v in (None, []))})


# -- lifecycle ---------------------------------------------------------------------------

def _report_status(record: CertificateRecord, now: dt.datetime, as_json: bool,
                   verb: str) -> None:
    info = cert_json(record, now)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"{verb} {info['serial']} ({info['holder']}): now {info['status']}")


def _ca_option(f: Any) -> Any:
    return click.option("--ca", "ca_label", help="The issuing CA, where the serial is "
                        "ambiguous.")(f)


@cert.command()
@click.argument("serial")
@reason_option
@click.option("--invalidity-date", type=TimeType(), metavar="TIME",
              help="When the key was compromised or the certificate became invalid (ISO "
                   "8601, KST unless it has an offset: 2026-03-01 is 00:00 KST that day).")
@_ca_option
@json_option
@click.pass_obj
def revoke(obj: Context, serial: str, reason: RevocationReason, invalidity_date: dt.datetime | None,
           ca_label: str | None, as_json: bool) -> None:
    """Revoke the certificate SERIAL."""
    from pki import lifecycle

    number = parse_serial(serial)
    with obj.open_home() as home:
        at = home.clock.now()
        invalid = invalidity_date
        if invalid is not None and invalid > at:
            raise click.BadParameter("the invalidity date lies in the future",
                                     param_hint="--invalidity-date")
        record = lifecycle.revoke(home.store, number, at=at, ca=ca_label, reason=reason.flag,
                                  invalidity_date=invalid)
        _report_status(record, at, as_json, "Revoked")


@cert.command()
@click.argument("serial")
@_ca_option
@json_option
@click.pass_obj
def suspend(obj: Context, serial: str, ca_label: str | None, as_json: bool) -> None:
    """Suspend (hold) the certificate SERIAL; resume within 6 months or it is revoked."""
    from pki import lifecycle

    with obj.open_home() as home:
        at = home.clock.now()
        record = lifecycle.suspend(home.store, parse_serial(serial), at=at, ca=ca_label)
        _report_status(record, at, as_json, "Suspended")


@cert.command()
@click.argument("serial")
@_ca_option
@json_option
@click.pass_obj
def resume(obj: Context, serial: str, ca_label: str | None, as_json: bool) -> None:
    """Resume the suspended certificate SERIAL."""
    from pki import lifecycle

    with obj.open_home() as home:
        at = home.clock.now()
        record = lifecycle.resume(home.store, parse_serial(serial), at=at, ca=ca_label)
        _report_status(record, at, as_json, "Resumed")


def _follow_up(obj: Context, serial: str, *, rrn: str, out: Path, ca_label: str | None,
               force: bool, password_file: Path | None, passphrase_file: Path | None,
               as_json: bool, renew: bool) -> None:
    from pki.keys.password import check_password
    from pki.usecases.issuing import FollowUpOrder, reissue_into_folder, renew_into_folder

    from .issue import delivery_errors, report

    order = FollowUpOrder(serial=parse_serial(serial), rrn=rrn, out=out, ca=ca_label,
                          replace=force)
    order.check()
    password = check_password(key_password(password_file))
    with obj.open_home() as home:
        order.ca_label(home)
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        operation = renew_into_folder if renew else reissue_into_folder
        with delivery_errors():
            done = operation(home, order, password=password, passphrase=passphrase)
    report(done, as_json=as_json)


@cert.command()
@click.option("--out", "bases", multiple=True, callback=out_folder,
              type=click.Path(file_okay=False, path_type=Path),
              help="Also remove what interrupted issuances left under this base folder "
                   "(repeatable).")
@json_option
@click.pass_obj
def deliver(obj: Context, bases: tuple[Path, ...], as_json: bool) -> None:
    """Finish deliveries into NPKI folders that a crash interrupted.

    Files staged by an issuance that was recorded go into their folder; files of
    issuances that were never recorded are removed. Certificates whose files are lost
    are listed: revoke them.
    """
    from pki.usecases.issuing import finish_deliveries

    with obj.open_home() as home:
        now = home.clock.now()
        done = finish_deliveries(home, bases=bases)
        if as_json:
            emit_json({"delivered": [{"serial": serial_hex(r.serial), "ca": r.ca,
                                      "folder": r.folder} for r in done.delivered],
                       "removed": [str(p) for p in done.removed],
                       "undelivered": [_undelivered_json(i, now) for i in done.undelivered]})
            return
        for r in done.delivered:
            click.echo(f"Delivered {serial_hex(r.serial)} into {r.folder}")
        for path in done.removed:
            click.echo(f"Removed {path} (an issuance that was never recorded)")
        if done.undelivered:
            click.echo("Recorded but not delivered (revoke them with 'kpki cert revoke'):")
            _list_undelivered(list(done.undelivered), now, as_json=False)
        elif not (done.delivered or done.removed):
            click.echo("Nothing to deliver.")


def _follow_up_options(f: Any) -> Any:
    decorators: list[Callable[[Any], Any]] = [
        click.argument("serial"),
        rrn_option("The holder's resident number (the store keeps none; the new VID "
                   "needs it).", required=True),
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                     callback=out_folder, help="Base folder for the new NPKI folder."),
        force_option,
        _ca_option,
        password_file_option,
        passphrase_file_option,
        json_option,
        click.pass_obj,
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


@cert.command()
@_follow_up_options
def renew(obj: Context, **kw: Any) -> None:
    """Renew SERIAL: new key, one term on from its notAfter (30 days before expiry on)."""
    _follow_up(obj, renew=True, **kw)


@cert.command()
@_follow_up_options
def reissue(obj: Context, **kw: Any) -> None:
    """Reissue SERIAL: revoke it (superseded) and issue a new key to the same notAfter."""
    _follow_up(obj, renew=False, **kw)
