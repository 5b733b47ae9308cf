"""``kpki npki list|check``: the NPKI folders Korean software would find."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pki.clock import SystemClock
from pki.errors import KeyFileError, KeyMismatchError, WrongPasswordError
from pki.keys import npki
from pki.keys.discovery import default_base, scan
from pki.rrn import RRN
from pki.vid import VIDError, decode_identify_data, vid_matches

from .output import emit_json, iso, json_option, serial_hex, table
from .secrets import KEY_PASSWORD_ENV, key_password


@click.group("npki")
def npki_group() -> None:
    """Find and check NPKI certificate folders."""


@npki_group.command("list")
@click.option("--base", type=click.Path(file_okay=False, path_type=Path),
              help="Where to look for NPKI/ [the operating system's usual place].")
@json_option
def list_(base: Path | None, as_json: bool) -> None:
    """List the certificates under BASE/NPKI/*/USER/cn=*."""
    base = base or default_base()
    entries = scan(base, SystemClock().now())
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
    if as_json:
        emit_json({"base": str(base), "certificates": rows})
        return
    if not rows:
        click.echo(f"No NPKI certificates under {base}")
        return
    table(["CN", "ISSUER", "POLICY", "NOT AFTER", "STATUS"],
          [[r["cn"], _cn_of(r["issuer"]), r["policy_class"], r["not_after"] or "-",
            r["status"]] for r in rows])


def _cn_of(rfc4514: str | None) -> str:
    if not rfc4514:
        return "-"
    first = rfc4514.split(",")[0]
    return first.split("=", 1)[1] if first.upper().startswith("CN=") else rfc4514


@npki_group.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--rrn", help="Also check that the VID matches this resident number.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the key password (else ${KEY_PASSWORD_ENV}, else a prompt).")
@json_option
@click.pass_context
def check(ctx: click.Context, folder: Path, rrn: str | None, password_file: Path | None,
          as_json: bool) -> None:
    """Check that the password opens the key, the key matches the certificate, and the VID."""
    holder = RRN.parse(rrn) if rrn else None
    password = key_password(password_file, confirm=False)
    checks: list[dict[str, Any]] = []

    def record(name: str, ok: bool, detail: str) -> None:
        checks.append({"check": name, "ok": ok, "detail": detail})

    credential = None
    try:
        credential = npki.load(folder, password)
        record("password", True, "the password opens signPri.key")
        record("key-matches-certificate", True, "signPri.key belongs to signCert.der")
    except WrongPasswordError:
        record("password", False, "the password does not open signPri.key")
    except KeyMismatchError:
        record("password", True, "the password opens signPri.key")
        record("key-matches-certificate", False, "signPri.key does not belong to signCert.der")
    except KeyFileError as exc:
        record("files", False, str(exc))
    if credential is not None:
        record("random-num", credential.r is not None,
               "signPri.key holds R" if credential.r else "signPri.key holds no randomNum")
        if holder is not None:
            checks.append(_vid_check(credential, holder))
    ok = all(c["ok"] for c in checks)
    if as_json:
        emit_json({"folder": str(folder), "ok": ok, "checks": checks})
    else:
        for c in checks:
            click.echo(f"{'ok  ' if c['ok'] else 'FAIL'}  {c['check']:<24} {c['detail']}")
    ctx.exit(0 if ok else 1)


def _vid_check(credential: npki.NPKICredential, holder: RRN) -> dict[str, Any]:
    from cryptography import x509

    try:
        san = credential.certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        others = san.get_values_for_type(x509.OtherName)
        data = decode_identify_data(others[0].value) if others else None
    except (x509.ExtensionNotFound, VIDError):
        data = None
    if data is None or data.vid is None:
        return {"check": "vid", "ok": False, "detail": "the certificate carries no VID"}
    if credential.r is None:
        return {"check": "vid", "ok": False, "detail": "no R to check the VID with"}
    ok = vid_matches(data, holder, credential.r)
    return {"check": "vid", "ok": ok,
            "detail": "the VID matches the resident number" if ok
            else "the VID does not match the resident number"}
