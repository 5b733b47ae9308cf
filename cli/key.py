"""``kpki key passwd|export|import``: NPKI key files and PKCS #12."""

from __future__ import annotations

import os
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from pki.errors import OutputError
from pki.fsutil import atomic_write, check_writable_dir
from pki.keys import npki, pkcs12
from pki.keys.password import check_password, is_portable_pfx_password

from .output import emit_json, json_option, serial_hex
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
    changed = npki.change_password(folder, old, new)
    if as_json:
        emit_json({"folder": str(folder), "changed": [str(p) for p in changed]})
    else:
        click.echo(f"Password changed: {', '.join(p.name for p in changed)} in {folder}")


@key.command()
@_folder_argument
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (.pfx/.p12, or .pem with --unencrypted).")
@click.option("--legacy", is_flag=True,
              help="3DES and a SHA-1 MAC, as the real yessign PFX (default AES-256, SHA-256).")
@click.option("--unencrypted", is_flag=True,
              help="Write the private key as unencrypted PKCS #8 PEM (explicit opt-out).")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the key password (else ${KEY_PASSWORD_ENV}, else a prompt).")
@click.option("--pfx-password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Password for the PFX (else ${PFX_PASSWORD_ENV}, else the key password).")
@json_option
def export(folder: Path, out: Path, legacy: bool, unencrypted: bool,
           password_file: Path | None, pfx_password_file: Path | None, as_json: bool) -> None:
    """Export the certificate and key of an NPKI FOLDER as PKCS #12 (R included)."""
    if unencrypted and legacy:
        raise click.UsageError("--unencrypted writes PEM; --legacy is for PFX")
    check_writable_dir(out.parent)
    if out.exists():
        raise OutputError(f"{out} exists already", path=str(out))
    password = _current_password(password_file)
    credential = npki.load(folder, password)
    if unencrypted:
        pem = credential.private_key.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption())
        atomic_write(out, pem, mode=0o600)
        click.echo(f"kpki: warning: {out} holds an UNENCRYPTED private key", err=True)
    else:
        pfx_password = password
        if pfx_password_file is not None or _env(PFX_PASSWORD_ENV):
            pfx_password = key_password(pfx_password_file, env=PFX_PASSWORD_ENV,
                                        option="--pfx-password-file", what="PFX password")
        if not is_portable_pfx_password(pfx_password):
            click.echo("kpki: warning: the PFX password is not ASCII: Java and Windows "
                       "PKCS #12 readers refuse such files; give an ASCII one with "
                       f"--pfx-password-file (or ${PFX_PASSWORD_ENV})", err=True)
        pkcs12.dump(out, credential.certificate, credential.private_key, pfx_password,
                    r=credential.r, legacy=legacy)
    info = {"out": str(out), "serial": serial_hex(credential.serial),
            "format": "pem" if unencrypted else ("pfx-legacy" if legacy else "pfx"),
            "r_included": credential.r is not None and not unencrypted}
    if as_json:
        emit_json(info)
    else:
        click.echo(f"Exported {serial_hex(credential.serial)} to {out} ({info['format']})")


def _env(name: str) -> bool:
    return bool(os.environ.get(name))


@key.command("import")
@click.argument("pfx", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Base folder; files go to OUT/NPKI/<CA org>/USER/<dn>/.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the PFX password (else ${PFX_PASSWORD_ENV}, else a prompt).")
@click.option("--new-password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Password for the new signPri.key (default: the PFX password).")
@json_option
def import_(pfx: Path, out: Path, password_file: Path | None, new_password_file: Path | None,
            as_json: bool) -> None:
    """Import a PKCS #12 file into an NPKI folder (signCert.der + signPri.key with R)."""
    check_writable_dir(out)
    password = key_password(password_file, confirm=False, env=PFX_PASSWORD_ENV,
                            what="PFX password")
    new = password
    if new_password_file is not None or _env(NEW_PASSWORD_ENV):
        new = key_password(new_password_file, env=NEW_PASSWORD_ENV,
                           option="--new-password-file", what="new key password")
    check_password(new)
    credential = pkcs12.load(pfx, password)
    folder = npki.folder_for(out, credential.certificate)
    if (folder / npki.KEY_FILE).exists():
        raise OutputError(f"{folder} already holds a key", path=str(folder))
    files = npki.dump(folder, credential.certificate, credential.private_key, new,
                      r=credential.r)
    info = {"folder": str(files.folder), "serial": serial_hex(credential.serial),
            "r_included": credential.r is not None}
    if as_json:
        emit_json(info)
    else:
        click.echo(f"Imported {serial_hex(credential.serial)} into {files.folder}")
