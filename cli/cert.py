"""``kpki cert list|show``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.errors import CertificateNotFoundError
from pki.profiles import PROFILES
from pki.store import CertificateRecord, CertStatus
from pki.vid import decode_identify_data

from .context import Context
from .output import (
    common_name,
    display_status,
    emit_json,
    fields,
    fingerprint,
    iso,
    json_option,
    serial_hex,
    table,
)

STATUSES = [s.value for s in CertStatus] + ["expired"]


def parse_serial(text: str) -> int:
    """A serial as kpki prints it: hex, optionally with ``0x`` or colons."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a hex serial number") from None
    if value <= 0:
        raise click.BadParameter("serial numbers are positive")
    return value


def _policy(cert: x509.Certificate) -> str:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return "-"
    return ", ".join(p.policy_identifier.dotted_string for p in ext.value)


def _vid(cert: x509.Certificate) -> dict[str, Any]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    for other in san.get_values_for_type(x509.OtherName):
        data = decode_identify_data(other.value)
        return {"real_name": data.real_name, "vid_hash": data.hash_name,
                "vid": data.vid.hex() if data.vid else None}
    return {}


def cert_json(record: CertificateRecord, now: dt.datetime) -> dict[str, Any]:
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
        "policy": _policy(cert),
        **_vid(cert),
        "sha256": fingerprint(cert),
    }


@click.group()
def cert() -> None:
    """Look at issued certificates."""


@cert.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only certificates in this state.")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), help="Only this profile.")
@click.option("--name", help="Only this holder's certificates.")
@click.option("--ca", "ca_label", help="Only certificates of this CA.")
@json_option
@click.pass_obj
def cert_list(obj: Context, status: str | None, profile: str | None, name: str | None,
              ca_label: str | None, as_json: bool) -> None:
    """List certificates."""
    with obj.open_home() as home:
        now = home.clock.now()
        stored = None if status in (None, "expired") else CertStatus(status)
        records = home.store.list_certificates(ca=ca_label, status=stored, profile=profile,
                                               holder=name)
        if status == "expired":
            records = [r for r in records if display_status(r, now) == "expired"]
        elif status == "valid":
            records = [r for r in records if display_status(r, now) == "valid"]
        if as_json:
            emit_json([cert_json(r, now) for r in records])
            return
        table(["SERIAL", "CA", "PROFILE", "STATUS", "NOT AFTER", "COMMON NAME"],
              [[serial_hex(r.serial), r.ca, r.profile, display_status(r, now),
                iso(r.not_after), common_name(r.certificate.subject)] for r in records])


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
        info = cert_json(record, home.clock.now())
        if as_json:
            emit_json(info)
            return
        fields({k.replace("_", " "): "-" if v is None else str(v) for k, v in info.items()})
