"""``kpki sign`` and ``kpki verify``.

Each command imports its machinery when it runs (issue 18): ``kpki verify`` does not pay
for the signing side (NPKI key files, time-stamp requests), nor ``kpki sign`` for the
verifier.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pki.errors import HomeNotFoundError, KeyFileError, TimestampError, WrongPasswordError
from pki.rrn import RRN

from .context import Context
from .output import TimeType, emit_json, json_option, shown
from .params import (
    check_out_file,
    check_stdout_free,
    force_file_option,
    is_stdout,
    opened_with,
    out_file_option,
    read_from,
    rrn_option,
    write_out,
)
from .secrets import KEY_PASSWORD_ENV, key_password, read_secret_file

if TYPE_CHECKING:
    from pki.signing.verify import CRLIndex

R_ENV = "KPKI_VID_R"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {what} {path}: {exc.strerror}") from None


def _certificates(path: Path, option: str) -> list[x509.Certificate]:
    data = _read(path, "certificate file")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise click.ClickException(f"{option} {path}: holds no certificate (the DER or PEM "
                                   "does not parse)") from None


def _crl(path: Path) -> CRLIndex:
    from pki.signing.verify import CRLIndex

    with read_from("--crl", path):
        return CRLIndex.load(_read(path, "CRL"))


@click.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--npki", "folder", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The signer's NPKI folder (signCert.der + signPri.key).")
@click.option("--detached", is_flag=True, help="Leave the document out of the signature.")
@click.option("--no-attrs", is_flag=True,
              help="No signed attributes (contentType, messageDigest, signingTime).")
@click.option("--pss", is_flag=True, help="RSASSA-PSS (SHA-256, MGF1-SHA-256) instead of "
              "PKCS #1 v1.5.")
@click.option("--bare", is_flag=True, help="Bare SignedData, not wrapped in ContentInfo.")
@click.option("--chain", "chain_file", type=click.Path(dir_okay=False, exists=True,
                                                      path_type=Path),
              help="PEM file of CA certificates to include.")
@click.option("--r-for", "r_for", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Also write R, encrypted to this relying-party certificate, to OUT.r.p7m.")
@click.option("--seed", is_flag=True, help="Encrypt R with SEED-CBC (RFC 4010), not AES-256.")
@out_file_option("Where to write the signature", default="FILE.p7s")
@force_file_option
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the key password (else ${KEY_PASSWORD_ENV}, else a prompt).")
@click.option("--pem", is_flag=True, help="Write PEM instead of DER.")
@click.option("--timestamp", "timestamp_url", is_flag=False, flag_value="", default=None,
              metavar="[URL]",
              help="Add a signature time stamp (RFC 3161) from the TSA at URL [the home's, "
              "served by 'kpki serve' at <base URL>/tsa].")
@json_option
@click.pass_obj
def sign_command(obj: Context, file: Path, folder: Path, detached: bool, no_attrs: bool,
                 pss: bool, bare: bool, chain_file: Path | None, r_for: Path | None,
                 seed: bool, out: Path | None, force: bool, password_file: Path | None,
                 pem: bool, timestamp_url: str | None, as_json: bool) -> None:
    """Sign FILE (its exact bytes, any encoding) with the certificate of an NPKI folder."""
    from pki.usecases.signing import SignOrder, sign_with_folder

    out = out or file.with_name(file.name + ".p7s")
    if r_for is not None and is_stdout(out):
        raise click.UsageError("--r-for writes R beside the signature (OUT.r.p7m): give "
                               "--out FILE instead of '-'")
    check_stdout_free(out, as_json=as_json)
    check_out_file(out, force=force)
    r_path = out.with_name(out.name + ".r.p7m") if r_for is not None else None
    check_out_file(r_path, force=force)
    chain = tuple(_certificates(chain_file, "--chain")) if chain_file else ()
    recipient = _certificates(r_for, "--r-for")[0] if r_for else None
    tsa_url = None if timestamp_url is None else _tsa_url(obj, timestamp_url)
    password = key_password(password_file, confirm=False)
    order = SignOrder(_read(file, "document"), folder, chain, detached=detached,
                      signed_attributes=not no_attrs, content_info=not bare, pss=pss,
                      tsa_url=tsa_url, r_recipient=recipient,
                      r_cipher="seed" if seed else "aes256")
    try:
        with opened_with("--password-file", KEY_PASSWORD_ENV), read_from("--npki", folder):
            done = sign_with_folder(order, password=password, clock=obj.clock)
    except TimestampError as exc:
        hint = "is 'kpki serve' running?" if not timestamp_url else "give another"
        raise click.ClickException(f"{exc} (--timestamp: {hint})") from None
    document, stamped = done.signed, done.timestamp
    write_out(out, document.pem if pem else document.der)
    if r_path is not None and done.r_envelope is not None:
        write_out(r_path, done.r_envelope)
    info = {"signature": str(out), "r_envelope": None if r_path is None else str(r_path),
            "detached": detached, "signed_attributes": not no_attrs, "pss": pss,
            "content_info": not bare,
            "signing_time": None if document.signing_time is None else
            document.signing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timestamp": None if stamped is None else {
                "tsa": tsa_url, "gen_time": stamped.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "serial": format(stamped.serial_number, "X")}}
    if is_stdout(out):  # the signature went to stdout: what was done goes to stderr
        click.echo(f"Signed {file} -> standard output", err=True)
    elif as_json:
        emit_json(info)
    else:
        click.echo(f"Signed {file} -> {out}" + (f" (R for the relying party: {r_path})"
                                                  if r_path else ""))
        if stamped is not None:
            click.echo(f"Time-stamped {shown(stamped.gen_time)} by {tsa_url}")


def _tsa_url(obj: Context, given: str) -> str:
    """The TSA URL of ``--timestamp``: the one given, else the home's."""
    if given:
        if not given.startswith(("http://", "https://")):
            raise click.BadParameter(f"{given!r} is not an http(s) URL (put FILE before "
                                     "--timestamp when it takes no URL)",
                                     param_hint="--timestamp")
        return given
    try:
        with obj.open_home() as home:
            return home.tsa_url
    except HomeNotFoundError:
        raise click.UsageError(f"--timestamp without a URL uses the home's TSA, and there is "
                               f"no kpki home at {obj.home}: give --timestamp URL or "
                               "--home") from None


def _recipient_key(path: Path, password_file: Path | None) -> rsa.RSAPrivateKey:
    from pki.keys import npki

    with opened_with("--password-file", KEY_PASSWORD_ENV), read_from("--key", path):
        if path.is_dir():
            return npki.load(path, key_password(password_file, confirm=False)).private_key
        data = _read(path, "key")
        try:
            key = serialization.load_pem_private_key(data, None)
        except TypeError:
            try:
                key = serialization.load_pem_private_key(
                    data, key_password(password_file, confirm=False).encode())
            except ValueError:
                raise WrongPasswordError("the password does not open this key") from None
        except ValueError:
            raise KeyFileError("not a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFileError("not an RSA key")
        return key


@click.command("verify")
@click.argument("signature", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--content", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The signed document, for a detached signature.")
@click.option("--trust", "trust_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Trusted root certificate(s), PEM or DER (repeatable) [inside a home: "
              "the home's root].")
@click.option("--untrusted", "untrusted_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Intermediate CA certificates not inside the signature [inside a home: "
              "also the home's CAs].")
@click.option("--crl", "crl_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Check revocation against this CRL: full, or delta beside its full CRL "
              "(repeatable).")
@click.option("--online", is_flag=True,
              help="Check revocation with the OCSP responder at the certificate's AIA URL.")
@click.option("--fetch-crl", is_flag=True,
              help="Check revocation with the CRL at the certificate's distribution point.")
@click.option("--no-revocation", is_flag=True,
              help="Do not check revocation (said in the output). Inside a home it is "
              "checked against the home's records by default.")
@click.option("--allow-stale", is_flag=True,
              help="Accept revocation data past its nextUpdate or before its thisUpdate, "
              "for demos of old material (said in the output).")
@rrn_option("Check the VID against this resident number.")
@click.option("--r", "r_hex", help="R (hex) for the VID check. R is secret and the command "
              "line is visible to other users (ps): prefer --r-file or $KPKI_VID_R.")
@click.option("--r-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="File whose first line is R (hex) for the VID check (else $KPKI_VID_R).")
@click.option("--r-envelope", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="R encrypted to the relying party (from kpki sign --r-for).")
@click.option("--key", "key_path", type=click.Path(exists=True, path_type=Path),
              help="The relying party's private key (PEM file or NPKI folder) for --r-envelope.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Password of --key, if it is encrypted.")
@click.option("--policy", help="Require this certificate policy OID.")
@click.option("--at", "at_time", type=TimeType(), metavar="TIME",
              help="Validation time (ISO 8601, KST unless it has an offset): revocation "
              "data must be current then, and it stands in for the signing time of a "
              "signature without one [now, or the global kpki --at].")
@json_option
@click.pass_context
def verify_command(ctx: click.Context, signature: Path, content: Path | None,
                   trust_files: tuple[Path, ...], untrusted_files: tuple[Path, ...],
                   crl_files: tuple[Path, ...], online: bool, fetch_crl: bool,
                   no_revocation: bool, allow_stale: bool, rrn: str | None,
                   r_hex: str | None, r_file: Path | None, r_envelope: Path | None,
                   key_path: Path | None,
                   password_file: Path | None, policy: str | None,
                   at_time: dt.datetime | None, as_json: bool) -> None:
    """Verify SIGNATURE: signature, time stamp, chain, validity, revocation, policy, VID.

    Inside a kpki home no option is needed: the home's root is trusted, its CAs are
    known, and revocation is checked against its records. Elsewhere give --trust and a
    revocation source (--crl, --online, --fetch-crl) or --no-revocation.

    Exit status 0 when every check passes, 1 when one fails, 2 for usage errors.
    """
    from pki.signing.verify import CannotEvaluateError, Outcome
    from pki.usecases.verifying import VerifyOrder, verify_signature

    if no_revocation and (crl_files or online or fetch_crl):
        raise click.UsageError("--no-revocation turns the revocation check off: drop it, or "
                               "drop --crl, --online and --fetch-crl")
    if r_file is not None:
        r_hex = read_secret_file(r_file).decode("ascii", errors="replace").strip()
    elif not r_hex:
        r_hex = os.environ.get(R_ENV) or None
    if (r_hex or r_envelope) and not rrn:
        raise click.UsageError("the VID check needs --rrn")
    if r_hex and r_envelope:
        raise click.UsageError("give --r or --r-envelope, not both")
    if r_envelope and not key_path:
        raise click.UsageError("--r-envelope needs --key (the relying party's private key)")
    r = None
    if r_hex:
        try:
            r = bytes.fromhex(r_hex)
        except ValueError:
            raise click.BadParameter("R is hex", param_hint="--r") from None
    obj: Context = ctx.find_object(Context) or Context(Path(".kpki"), False)
    try:
        home = obj.open_home()
    except HomeNotFoundError:
        home = None
    try:
        if home is None and not trust_files:
            raise click.UsageError(
                f"nothing to trust: give --trust ROOT.pem, or --home HOME to trust a kpki "
                f"home's root (there is no kpki home at {obj.home})")
        order = VerifyOrder(
            _read(signature, "signature"),
            content=_read(content, "content") if content else None,
            trust=tuple(c for f in trust_files for c in _certificates(f, "--trust")),
            intermediates=tuple(c for f in untrusted_files
                                for c in _certificates(f, "--untrusted")),
            crls=tuple(_crl(f) for f in crl_files), fetch_crls=fetch_crl, use_ocsp=online,
            revocation=not no_revocation, allow_stale=allow_stale, policy=policy, at=at_time,
            rrn=RRN.parse(rrn) if rrn else None, r=r,
            r_envelope=_read(r_envelope, "R envelope") if r_envelope else None,
            recipient_key=_recipient_key(key_path, password_file) if key_path else None)
        try:
            verified = verify_signature(order, home=home, clock=obj.clock)
        except CannotEvaluateError as exc:
            if exc.needs == "content":
                raise click.UsageError(f"{signature} is a detached signature: give the "
                                       "signed document with --content FILE") from None
            raise click.ClickException(f"SIGNATURE {signature}: {exc}") from None
    finally:
        if home is not None:
            home.close()
    result = verified.result
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(result.summary())
        for check in result.checks:
            mark = {Outcome.PASSED: "ok  ", Outcome.FAILED: "FAIL",
                    Outcome.SKIPPED: "-   "}[check.outcome]
            click.echo(f"  {mark}  {check.name:<18} {check.detail}")
        if not no_revocation and not verified.revocation_data:
            click.echo("  (no revocation data: give --crl FILE, --online or --fetch-crl, or "
                       "--no-revocation to verify without it)")
    ctx.exit(0 if result.ok else 1)
