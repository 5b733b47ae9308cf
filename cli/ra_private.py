"""``kpki ra private``: a private certificate issued onto a device as a bank's registration
authority does it (:mod:`pki.ra.private`), one command a step, on the home's store
(``kpki serve`` answers the same over ``/ra/v1/private``).

``start --device ID`` prints the session id; each later step names it with ``--session``.
The bank is ``--bank CODE`` (else ``$KPKI_BANK``), as in ``kpki bank``. ``enrol`` plays the
device: the key is made there, only its CSR goes to the RA, and the certificate that comes
back is sealed with the key into ``--device-folder`` (the folder ``kpki simpleauth`` takes
as the phone) under the simple PIN. Secrets never come from argv: the account password
from ``--password-file``, ``$KPKI_ACCOUNT_PASSWORD`` or a prompt; the 6-digit PIN from
``--pin-file``, ``$KPKI_SIMPLE_PIN`` or a prompt (asked twice for a new one, its rules
checked before the second entry). A refusal is one line with its code in brackets
(``[phone_verification_used]``), exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography.hazmat.primitives.asymmetric import rsa

from pki.keys.devicekeystore import DeviceKeystore
from pki.private import DeviceEnrolment
from pki.ra.private import PRIVATE_ISSUE, PrivateIssued
from pki.signing import KeySigner, sign
from pki.store import RaSessionRecord, RaSessionState, RaStepRecord

from .bank import ACCOUNT_PASSWORD_ENV, _secret, _secret_file, bank_option
from .cloud import _new_pin_rules
from .context import Context
from .output import emit_json, iso, json_option
from .ra_session import desk as _desk
from .ra_session import session_option, session_refusals, show_session
from .secrets import passphrase_file_option, read_secret
from .simpleauth import PIN_ENV, pin_file_option

F = TypeVar("F", bound=Callable[..., Any])

_STEP_FIELDS = {"password": "--password-file", "account": "--account", "number": "--account",
                "device": "--device", "r": "--r", "customer": "--customer"}


_session_refusals = session_refusals("kpki ra private start", **_STEP_FIELDS)
_session_option = session_option("'kpki ra private start'")


def _device_folder_option(f: F) -> F:
    return click.option(
        "--device-folder", required=True, type=click.Path(file_okay=False, path_type=Path),
        help="The phone: the folder of its keystore (as 'kpki simpleauth' takes it).")(f)


def _pin(pin_file: Path | None, *, new: bool) -> str:
    """The simple PIN; a new one asked twice at a prompt, its rules checked first."""
    fix = f"choose another in --pin-file or ${PIN_ENV}"
    return read_secret(file=pin_file, env=PIN_ENV, what="6-digit PIN", option="--pin-file",
                       confirm=new, check=_new_pin_rules(fix) if new else None
                       ).decode("ascii", errors="replace")


def _show(record: RaSessionRecord, as_json: bool,
          history: tuple[RaStepRecord, ...] | None = None) -> None:
    show_session(record, as_json, next_step=PRIVATE_ISSUE.next_step(record)
                 if record.state is RaSessionState.OPEN else None, history=history)


def _issued(done: PrivateIssued, folder: Path, as_json: bool) -> None:
    """What the device keeps besides its keystore: the serial and R (the VID's random
    number, which a signature's verifier asks for; the store never keeps it)."""
    value = {"session": None if done.session is None else done.session.id,
             "serial": format(done.serial, "X"), "ca": done.issued.ca,
             "profile": done.issued.profile.name, "r": done.issued.r.hex(),
             "not_after": iso(done.certificate.not_valid_after_utc),
             "device_folder": str(folder),
             "replaced": None if done.replaced is None else format(done.replaced, "X")}
    if as_json:
        emit_json(value)
        return
    click.echo(f"{value['serial']} sealed into {folder} (R {value['r']})"
               + (f"; {value['replaced']} revoked (superseded)" if done.replaced else ""))


@click.group("private")
def private() -> None:
    """Private certificates onto a device, as a bank issues them: account, phone, then
    the key made on the device and sealed there under the simple PIN (docs/issuing.md)."""


@private.command("start")
@bank_option
@click.option("--device", required=True, metavar="ID", help="The device the certificate "
                                                            "goes onto.")
@json_option
@click.pass_obj
@_session_refusals
def start(obj: Context, code: str, device: str, as_json: bool) -> None:
    """Open a session from the device; prints its id."""
    with _desk(obj) as desk:
        record = desk.private.start(desk.banking.bank(code), device=device)
    if as_json:
        _show(record, True)
    else:
        click.echo(record.id)


@private.command("account")
@bank_option
@_session_option
@click.option("--account", "number", required=True, metavar="NUMBER",
              help="An account of the customer's (it names the customer).")
@_secret_file("--password-file", f"File whose first line is the account password (else "
                                 f"${ACCOUNT_PASSWORD_ENV}, else a prompt).")
@json_option
@click.pass_obj
@_session_refusals
def account(obj: Context, code: str, session_id: str, number: str,
            password_file: Path | None, as_json: bool) -> None:
    """Step 1: an account of the customer's and its password."""
    password = _secret(password_file, env=ACCOUNT_PASSWORD_ENV, what="account password",
                       option="--password-file")
    with _desk(obj) as desk:
        _show(desk.private.account(desk.banking.bank(code), session_id, number=number,
                                   password=password), as_json)


@private.command("phone")
@bank_option
@_session_option
@click.option("--verification", "verification_id", required=True, metavar="ID",
              help="A confirmed phone verification of the customer ('kpki bank phone').")
@json_option
@click.pass_obj
@_session_refusals
def phone(obj: Context, code: str, session_id: str, verification_id: str,
          as_json: bool) -> None:
    """Step 2: a confirmed phone verification of the customer (used once)."""
    with _desk(obj) as desk:
        _show(desk.private.phone(desk.banking.bank(code), session_id,
                                 verification_id=verification_id), as_json)


@private.command("enrol")
@bank_option
@_session_option
@_device_folder_option
@pin_file_option
@passphrase_file_option
@json_option
@click.pass_obj
@_session_refusals
def enrol(obj: Context, code: str, session_id: str, device_folder: Path,
          pin_file: Path | None, passphrase_file: Path | None, as_json: bool) -> None:
    """The last step, on the device: the new simple PIN, the key made there, its CSR sent,
    and the certificate sealed with the key into --device-folder (the device is the one
    the session started from)."""
    pin = _pin(pin_file, new=True)
    with _desk(obj, passphrase_file=passphrase_file, issuing=True) as desk:
        bank = desk.banking.bank(code)
        device = str(desk.private.get(bank, session_id).data["device"])
        side = DeviceEnrolment.begin(DeviceKeystore(device_folder), device=device, pin=pin,
                                     pin_again=pin)
        done = desk.private.issue(bank, session_id, csr=side.csr())
        side.finish(done.certificate)
    _issued(done, device_folder, as_json)


@private.command("show")
@bank_option
@_session_option
@json_option
@click.pass_obj
@_session_refusals
def show(obj: Context, code: str, session_id: str, as_json: bool) -> None:
    """The session: its state, the step due, and every step asked for with its reason."""
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        record = desk.private.get(bank, session_id)
        _show(record, as_json, desk.private.history(bank, record.id))


def _r(ctx: click.Context, param: click.Parameter, value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("R is hex ('kpki ra private enrol' printed it)",
                                 ctx=ctx, param=param) from None


@private.command("renew")
@bank_option
@click.option("--customer", "customer_id", required=True, metavar="ID",
              help="The customer's internet-banking ID.")
@_device_folder_option
@click.option("--r", "r", required=True, metavar="HEX", callback=_r,
              help="The registered certificate's R, as 'kpki ra private enrol' printed it.")
@pin_file_option
@passphrase_file_option
@json_option
@click.pass_obj
@_session_refusals
def renew(obj: Context, code: str, customer_id: str, device_folder: Path, r: bytes,
          pin_file: Path | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Renew the private certificate in --device-folder after a year of use: a new key made
    on the device, its CSR signed with the registered certificate, the renewed
    certificate sealed in its place under the same PIN."""
    pin = _pin(pin_file, new=False)
    keystore = DeviceKeystore(device_folder)
    unlocked = keystore.unlock(pin)
    if not isinstance(unlocked.private_key, rsa.RSAPrivateKey):
        raise click.ClickException(f"{device_folder} holds no RSA key: enrol the device "
                                   "again ('kpki ra private start')")
    with _desk(obj, passphrase_file=passphrase_file, issuing=True) as desk:
        side = DeviceEnrolment.begin(DeviceKeystore(device_folder),
                                     device=keystore.status().device, pin=pin, pin_again=pin)
        signed = sign(side.csr(), KeySigner(unlocked.certificate, unlocked.private_key),
                      clock=desk.home.clock)
        done = desk.private.renew(desk.banking.bank(code), customer_id, signature=signed.der,
                                  r=r)
        side.finish(done.certificate)
    _issued(done, device_folder, as_json)
