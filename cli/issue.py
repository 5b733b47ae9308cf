"""``kpki issue joint|financial``."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from pki.authority import IssuedCertificate
from pki.clock import kst_day_start, kst_today, requested_validity
from pki.entropy import DEFAULT_SERIAL_BITS, MAX_SERIAL_BITS, MIN_SERIAL_BITS
from pki.errors import DeliveryError, FolderExistsError, ProfileError, ValidityError
from pki.keys.npki import NPKIFiles
from pki.keys.password import check_password
from pki.profiles import FinancialKind, JointPolicy, RegistrationAuthority
from pki.usecases.issuing import IssuedIntoFolder, IssueOrder, issue_into_folder

from .batch import run_batch
from .context import Context
from .output import TimeType, emit_json, iso, json_option, serial_hex, shown_iso
from .params import force_option, given, out_folder, read_from, rrn_option
from .secrets import ca_passphrase, key_password, passphrase_file_option, password_file_option


@click.group()
def issue() -> None:
    """Issue subscriber certificates."""


def _ra(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        RegistrationAuthority.parse(value)
    except ProfileError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def _common(f: Any) -> Any:
    for decorator in reversed([
        click.option("--name", help="The holder's real name (required unless --from)."),
        rrn_option("Resident registration number (13 digits, a dash after the sixth "
                   "allowed; a test value; required unless --from)."),
        click.option("--from", "batch_file", metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Issue one certificate per row of a CSV or JSON Lines file "
                          "(columns name, rrn or birth+sex, policy/kind, ra, alias, password "
                          "or password_file), all or nothing; prints a JSON-lines manifest. "
                          "See docs/issuing.md."),
        click.option("--manifest", metavar="FILE",
                     type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                     help="With --from: write the manifest to FILE instead of stdout "
                          "('-': standard output; --force overwrites FILE)."),
        click.option("--ra", default="INITECH", show_default=True, callback=_ra,
                     help="Registration authority: UNIT[:INSTITUTION[:BRANCH]], "
                          "e.g. NACF or NACF:011."),
        click.option("--alias", default="", help="Romanised name shown in the CN's ( )."),
        click.option("--ca", "ca_label", default=None,
                     help="Issuing CA label [the home's first licensed CA]."),
        click.option("--csr", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="Certify the key of this CSR (PEM or DER) instead of making one."),
        click.option("--out", required=True, callback=out_folder,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Base folder; signCert.der and signPri.key go to "
                          "OUT/NPKI/<CA org>/USER/<dn>/."),
        force_option,
        serial_bits_option("the serial number"),
        *validity_options,
        password_file_option,
        passphrase_file_option,
        json_option,
    ]):
        f = decorator(f)
    return f


validity_options = [
    click.option("--not-before", type=TimeType(), metavar="TIME",
                 help="Valid from TIME's day, 00:00:00 KST [today] (ISO 8601, KST unless it "
                      "has an offset; in the past for a certificate already expired)."),
    click.option("--not-after", type=TimeType(), metavar="TIME",
                 help="Valid to TIME's day, 23:59:59 KST [the profile's term]."),
    click.option("--days", type=click.IntRange(0, 36500),
                 help="Valid to 23:59:59 KST, N days after notBefore's day (instead of "
                      "--not-after)."),
    click.option("--exact", is_flag=True,
                 help="Take --not-before, --not-after and --days to the second instead of "
                      "aligning them to KST days."),
]


def _validity(obj: Context, *, not_before: dt.datetime | None, not_after: dt.datetime | None,
              days: int | None, exact: bool) -> tuple[dt.datetime | None, dt.datetime | None]:
    if days is not None and not_after is not None:
        raise click.UsageError("--days and --not-after both say when validity ends: give one")
    if exact and not_before is None and not_after is None and days is None:
        raise click.UsageError("--exact goes with --not-before, --not-after or --days")
    return requested_validity(obj.clock.now(), not_before=not_before, not_after=not_after,
                              days=days, exact=exact)


def serial_bits_option(of: str) -> Callable[[Any], Any]:
    """``--serial-bits``, for the serial numbers ``of`` (what the help names)."""
    return click.option(
        "--serial-bits", type=click.IntRange(MIN_SERIAL_BITS, MAX_SERIAL_BITS),
        help=f"Random bits in {of} [{DEFAULT_SERIAL_BITS}: a serial fits in a signed "
             "64-bit integer, as real Korean CAs' serials do].")


@contextlib.contextmanager
def delivery_errors() -> Iterator[None]:
    """Say what to do about a folder in the way or a delivery left unfinished."""
    try:
        yield
    except FolderExistsError as exc:
        raise click.ClickException(
            f"{exc.path} exists already: nothing was issued; run the command again for a "
            "certificate with a new CN (and folder), or add --force to replace that "
            "folder") from None
    except DeliveryError as exc:
        raise click.ClickException(
            f"{exc}; 'kpki cert deliver' finishes the delivery, or revoke the "
            f"certificate with 'kpki cert revoke {exc.serial:X}'") from None


def _run(obj: Context, *, profile: JointPolicy | FinancialKind, name: str | None,
         rrn: str | None, ra: str, batch_file: Path | None, manifest: Path | None,
         alias: str, ca_label: str | None, csr: Path | None, out: Path, force: bool,
         serial_bits: int | None, password_file: Path | None, passphrase_file: Path | None,
         as_json: bool, not_before: dt.datetime | None, not_after: dt.datetime | None,
         days: int | None, exact: bool, with_km: bool = False) -> None:
    if with_km and csr:
        raise click.UsageError("--with-km makes its own key pair; it does not go with --csr")
    if batch_file is None and manifest is not None:
        raise click.UsageError("--manifest goes with --from")
    for option, value in (("--name", name), ("--rrn", rrn), ("--alias", alias or None),
                          ("--csr", csr)):
        if batch_file is not None and value is not None:
            raise click.UsageError(f"{option} does not go with --from: the batch file "
                                   "gives each row's")
        if batch_file is None and option in ("--name", "--rrn") and value is None:
            raise click.UsageError(f"Missing option '{option}' (or --from FILE).")
    starts, ends = _validity(obj, not_before=not_before, not_after=not_after, days=days,
                             exact=exact)
    # Without --not-before the term starts today (00:00 KST), or now with --exact.
    now = obj.clock.now()
    begins = starts if starts is not None else now if exact else kst_day_start(kst_today(now))
    if ends is not None and ends <= begins:
        raise click.UsageError("the certificate would end before it begins: check "
                               "--not-before, --not-after and --days")
    if batch_file is not None:
        with delivery_errors():
            run_batch(obj, path=batch_file, profile=profile, ra=ra, out=out, ca_label=ca_label,
                      force=force, serial_bits=serial_bits, with_km=with_km,
                      password_file=password_file, passphrase_file=passphrase_file,
                      manifest=manifest, as_json=as_json, not_before=starts, not_after=ends)
        return
    assert name is not None and rrn is not None
    order = IssueOrder(name=name, rrn=rrn, out=out, profile=profile, ra=ra, alias=alias,
                       ca=ca_label, csr=csr.read_bytes() if csr else None, with_km=with_km,
                       replace=force, serial_bits=serial_bits, not_before=starts,
                       not_after=ends)
    # Refuse bad input before asking for any secret.
    typed = {"--name": name, "--alias": alias, "--ra": ra}
    with given(typed):
        order.check()
    with obj.open_home() as home:
        with given(typed):
            order.ca_label(home)
        password = (check_password(key_password(password_file)) if order.needs_password
                    else None)
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        with delivery_errors():
            try:
                with read_from("--csr", csr):
                    done = issue_into_folder(home, order, password=password,
                                             passphrase=passphrase)
            except ValidityError as exc:
                raise click.ClickException(
                    f"{exc}: choose the validity inside the CA's with --not-before, "
                    "--not-after or --days") from None
    report(done, as_json=as_json)


def _files_json(issued: IssuedCertificate, files: NPKIFiles) -> dict[str, Any]:
    cert = issued.certificate
    return {
        "serial": serial_hex(issued.serial),
        "profile": issued.profile.name,
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "certificate": str(files.certificate),
        "private_key": None if files.private_key is None else str(files.private_key),
        "r": issued.r.hex(),
    }


def issued_json(issued: IssuedCertificate, written: Sequence[NPKIFiles]) -> dict[str, Any]:
    info = {
        **_files_json(issued, written[0]),
        "ca": issued.ca,
        "subject": issued.certificate.subject.rfc4514_string(),
        "folder": str(written[0].folder),
    }
    if issued.key_management is not None and len(written) > 1:
        info["km"] = _files_json(issued.key_management, written[1])
    return info


def report(done: IssuedIntoFolder, *, as_json: bool) -> None:
    issued = done.issued
    info = issued_json(issued, done.files)
    if as_json:
        emit_json(info)
        return
    click.echo(f"Issued {issued.profile.description}")
    click.echo(f"  serial   {info['serial']}")
    click.echo(f"  subject  {info['subject']}")
    click.echo(f"  valid    {shown_iso(info['not_before'])} .. {shown_iso(info['not_after'])}")
    click.echo(f"  folder   {info['folder']}")
    files = ", ".join(Path(f).name for f in (info["certificate"], info["private_key"]) if f)
    if "km" in info:
        files += f", {Path(info['km']['certificate']).name}, {Path(info['km']['private_key']).name}"
        click.echo(f"  km       serial {info['km']['serial']}")
    click.echo(f"  files    {files}")


@issue.command()
@_common
@click.option("--policy", type=click.Choice([p.value for p in JointPolicy]), default="general",
              show_default=True, help="General-purpose (범용) or banking/insurance only.")
@click.option("--with-km", is_flag=True,
              help="Also issue the key-management pair (kmCert.der + kmPri.key).")
@click.pass_obj
def joint(obj: Context, /, policy: str, **kw: Any) -> None:
    """Issue a joint certificate (공동인증서, 1 year) into an NPKI folder."""
    _run(obj, profile=JointPolicy(policy), **kw)


@issue.command()
@_common
@click.option("--kind", type=click.Choice([k.value for k in FinancialKind]), default="personal",
              show_default=True, help="Personal or business financial certificate.")
@click.pass_obj
def financial(obj: Context, /, kind: str, **kw: Any) -> None:
    """Issue a financial certificate (금융인증서, 3 years)."""
    _run(obj, profile=FinancialKind(kind), **kw)
