"""``kpki key passwd|export|import``: NPKI key files and PKCS #12."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pki.errors import FolderExistsError
from pki.fsutil import check_writable_dir
from pki.keys import npki
from pki.keys.password import is_portable_pfx_password
from pki.usecases.keyfiles import ExportFormat, export_folder, import_pfx

from .output import emit_json, json_option, serial_hex
from .params import (
    check_out_file,
    check_stdout_free,
    force_file_option,
    is_stdout,
    opened_with,
    out_file_option,
    out_folder,
    read_from,
    write_out,
)
from .secrets import KEY_PASSWORD_ENV, key_password

NEW_PASSWORD_ENV = "KPKI_NEW_KEY_PASSWORD"
PFX_PASSWORD_ENV = "KPKI_PFX_PASSWORD"


def _folder_argument(f: click.decorators.FC) -> click.decorators.FC:
    return click.argument("folder", type=click.Path(file_okay=False, exists=True,
                                                    path_type=Path))(f)


def _current_password(path: Path | None) -> str:
    return key_password(path, confirm=False)


@click.group()
def key() -> None:
    """Key files: change their password, export and import PKCS #12."""


@key.command()
@_folder_argument
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the current password (else ${KEY_PASSWORD_ENV}, else a prompt).")
@click.option("--new-password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the new password (else ${NEW_PASSWORD_ENV}, else a prompt).")
@json_option
def passwd(folder: Path, password_file: Path | None, new_password_file: Path | None,
           as_json: bool) -> None:
    """Change the password of the key files in an NPKI FOLDER."""
    old = _current_password(password_file)
    new = key_password(new_password_file, env=NEW_PASSWORD_ENV,
                       option="--new-password-file", what="new key password")
    with opened_with("--password-file", KEY_PASSWORD_ENV), read_from("FOLDER", folder):
        changed = npki.change_password(folder, old, new)
    if as_json:
        emit_json({"folder": str(folder), "changed": [str(p) for p in changed]})
    else:
        click.echo(f"Password changed: {', '.join(p.name for p in changed)} in {folder}")


@key.command()
@_folder_argument
@out_file_option("The file to write (.pfx/.p12, or .pem with --unencrypted)")
@force_file_option
@click.option("--legacy", is_flag=True,
              help="3DES and a SHA-1 MAC, as the real yessign PFX (default AES-256, SHA-256).")
@click.option("--unencrypted", is_flag=True,
              help="Write the private key as unencrypted PKCS #8 PEM (explicit opt-out).")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the key password (else ${KEY_PASSWORD_ENV}, else a prompt).")
@click.option("--pfx-password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Password for the PFX (else ${PFX_PASSWORD_ENV}, else the key password).")
@json_option
def export(folder: Path, out: Path | None, force: bool, legacy: bool, unencrypted: bool,
           password_file: Path | None, pfx_password_file: Path | None, as_json: bool) -> None:
    """Export the certificate and key of an NPKI FOLDER as PKCS #12 (R included)."""
    if unencrypted and legacy:
        raise click.UsageError("--unencrypted writes PEM; --legacy is for PFX")
    if out is None:
        raise click.UsageError("Missing option '--out' (a file, or '-' for standard output).")
    check_stdout_free(out, as_json=as_json)
    check_out_file(out, force=force)
    password = _current_password(password_file)
    pfx_password = None
    if not unencrypted and (pfx_password_file is not None or _env(PFX_PASSWORD_ENV)):
        pfx_password = key_password(pfx_password_file, env=PFX_PASSWORD_ENV,
                                    option="--pfx-password-file", what="PFX password",
                                    rules=False)
    if not unencrypted and not is_portable_pfx_password(pfx_password or password):
        click.echo("kpki: warning: the PFX password is not ASCII: Java and Windows "
                   "PKCS #12 readers refuse such files; give an ASCII one with "
                   f"--pfx-password-file (or ${PFX_PASSWORD_ENV})", err=True)
    format = (ExportFormat.PEM if unencrypted else
              ExportFormat.PFX_LEGACY if legacy else ExportFormat.PFX)
    with opened_with("--password-file", KEY_PASSWORD_ENV), read_from("FOLDER", folder):
        done = export_folder(folder, password=password, format=format,
                             pfx_password=pfx_password)
    write_out(out, done.data, mode=0o600)
    where = "standard output" if is_stdout(out) else str(out)
    if unencrypted:
        click.echo(f"kpki: warning: {where} holds an UNENCRYPTED private key", err=True)
    info = {"out": str(out), "serial": serial_hex(done.serial), "format": done.format.value,
            "r_included": done.r_included}
    if is_stdout(out):
        click.echo(f"Exported {serial_hex(done.serial)} to standard output "
                   f"({info['format']})", err=True)
    elif as_json:
        emit_json(info)
    else:
        click.echo(f"Exported {serial_hex(done.serial)} to {out} ({info['format']})")


def _env(name: str) -> bool:
    return bool(os.environ.get(name))


@key.command("import")
@click.argument("pfx", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              callback=out_folder,
              help="Base folder; files go to OUT/NPKI/<CA org>/USER/<dn>/.")
@click.option("--force", is_flag=True,
              help="Replace the key and certificate if the NPKI folder holds a key already.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the PFX password (else ${PFX_PASSWORD_ENV}, else a prompt).")
@click.option("--new-password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Password for the new signPri.key (default: the PFX password).")
@json_option
def import_(pfx: Path, out: Path, force: bool, password_file: Path | None,
            new_password_file: Path | None, as_json: bool) -> None:
    """Import a PKCS #12 file into an NPKI folder (signCert.der + signPri.key with R)."""
    check_writable_dir(out)
    password = key_password(password_file, confirm=False, env=PFX_PASSWORD_ENV,
                            what="PFX password")
    new = None
    if new_password_file is not None or _env(NEW_PASSWORD_ENV):
        new = key_password(new_password_file, env=NEW_PASSWORD_ENV,
                           option="--new-password-file", what="new key password")
    try:
        with opened_with("--password-file", PFX_PASSWORD_ENV), read_from("PFX", pfx):
            done = import_pfx(pfx, out, password=password, new_password=new, replace=force)
    except FolderExistsError as exc:
        raise click.BadParameter(f"{exc.path} holds a key already: add --force to replace "
                                 "it", param_hint="--out") from None
    info = {"folder": str(done.files.folder), "serial": serial_hex(done.serial),
            "r_included": done.r_included}
    if as_json:
        emit_json(info)
    else:
        click.echo(f"Imported {serial_hex(done.serial)} into {done.files.folder}")
