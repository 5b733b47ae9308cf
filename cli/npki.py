"""``kpki npki list|check``: the NPKI folders Korean software would find."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pki.keys.discovery import default_base, scan
from pki.rrn import RRN
from pki.usecases.folders import check_folder

from .context import Context
from .output import (
    emit_json,
    emit_list,
    iso,
    json_option,
    list_options,
    serial_hex,
    shown_iso,
    table,
)
from .params import rrn_option
from .secrets import KEY_PASSWORD_ENV, key_password


@click.group("npki")
def npki_group() -> None:
    """Find and check NPKI certificate folders."""


@npki_group.command("list")
@click.option("--base", type=click.Path(file_okay=False, path_type=Path),
              help="Where to look for NPKI/ [the operating system's usual place].")
@list_options
@click.pass_obj
def list_(obj: Context, base: Path | None, as_json: bool, as_jsonl: bool) -> None:
    """List the certificates under BASE/NPKI/*/USER/cn=*."""
    base = base or default_base()
    entries = scan(base, obj.clock.now())
    rows: list[dict[str, Any]] = []
    for e in entries:
        cert = e.certificate
        rows.append({
            "folder": str(e.folder),
            "cn": e.common_name,
            "issuer": cert.issuer.rfc4514_string() if cert else None,
            "serial": serial_hex(cert.serial_number) if cert else None,
            "policy": e.policy,
            "policy_class": e.policy_class.value,
            "not_before": iso(cert.not_valid_before_utc) if cert else None,
            "not_after": iso(cert.not_valid_after_utc) if cert else None,
            "status": e.status.value,
            "has_key": e.has_key,
            "has_km": e.has_km,
            "error": e.error,
        })
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl,
                 document={"base": str(base), "certificates": rows}):
        return
    if not rows:
        click.echo(f"No NPKI certificates under {base}")
        return
    table(["CN", "ISSUER", "POLICY", "NOT AFTER", "STATUS"],
          [[r["cn"], _cn_of(r["issuer"]), r["policy_class"], shown_iso(r["not_after"] or "-"),
            r["status"]] for r in rows])


def _cn_of(rfc4514: str | None) -> str:
    if not rfc4514:
        return "-"
    first = rfc4514.split(",")[0]
    return first.split("=", 1)[1] if first.upper().startswith("CN=") else rfc4514


@npki_group.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@rrn_option("Also check that the VID matches this resident number.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the key password (else ${KEY_PASSWORD_ENV}, else a prompt).")
@json_option
@click.pass_context
def check(ctx: click.Context, folder: Path, rrn: str | None, password_file: Path | None,
          as_json: bool) -> None:
    """Check that the password opens the key, the key matches the certificate, and the VID."""
    holder = RRN.parse(rrn) if rrn else None
    password = key_password(password_file, confirm=False)
    checked = check_folder(folder, password=password, rrn=holder)
    checks = [{"check": c.name.value, "ok": c.ok, "detail": c.detail} for c in checked.checks]
    if as_json:
        emit_json({"folder": str(folder), "ok": checked.ok, "checks": checks})
    else:
        for c in checked.checks:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name.value:<24} {c.detail}")
    ctx.exit(0 if checked.ok else 1)
