"""``kpki tsa init|show``: the time-stamping authority that ``kpki serve`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.home import Home
from pki.oids import TSA_POLICY

from .context import Context
from .output import common_name, emit_json, fields, fingerprint, iso, json_option, serial_hex
from .secrets import ca_passphrase, passphrase_file_option


def _tsa_json(home: Home, cert: x509.Certificate) -> dict[str, Any]:
    return {
        "url": home.tsa_url,
        "subject": cert.subject.rfc4514_string(),
        "issuer": common_name(cert.issuer),
        "serial": serial_hex(cert.serial_number),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "policy": TSA_POLICY.dotted_string,
        "certificate": str(home.ca_dir("root") / "tsa-cert.pem"),
        "sha256": fingerprint(cert),
    }


def _show(home: Home, cert: x509.Certificate, pem: bool, as_json: bool) -> None:
    if pem:
        click.echo(cert.public_bytes(serialization.Encoding.PEM).decode(), nl=False)
        return
    info = _tsa_json(home, cert)
    if as_json:
        emit_json(info)
        return
    fields({k.replace("_", " "): str(v) for k, v in info.items()})


@click.group()
def tsa() -> None:
    """The time-stamping authority (RFC 3161) that 'kpki serve' answers at <base URL>/tsa."""


@tsa.command("init")
@passphrase_file_option
@click.option("--pem", is_flag=True, help="Print the TSA certificate as PEM only.")
@json_option
@click.pass_obj
def tsa_init(obj: Context, passphrase_file: Path | None, pem: bool, as_json: bool) -> None:
    """Make the TSA's key and certificate (issued by the root) if the home has none, or
    renew them when due; 'kpki init' and 'kpki serve' do this too."""
    with obj.open_home() as home:
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        _show(home, home.tsa(passphrase=passphrase).certificate, pem, as_json)


@tsa.command("show")
@click.option("--pem", is_flag=True, help="Print the TSA certificate as PEM only.")
@json_option
@click.pass_obj
def tsa_show(obj: Context, pem: bool, as_json: bool) -> None:
    """Show the TSA certificate (what 'openssl ts -verify -untrusted' needs)."""
    with obj.open_home() as home:
        cert = home.tsa_certificate()
        if cert is None:
            raise click.ClickException("this home has no TSA yet: run 'kpki tsa init' (or "
                                       "'kpki serve', which makes one)")
        _show(home, cert, pem, as_json)
