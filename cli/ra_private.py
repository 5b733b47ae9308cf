"""``kpki ra private``: a private certificate issued onto a device as a bank's registration
authority does it (:mod:`pki.ra.private`), one command a step, on the home's store
(``kpki serve`` answers the same over ``/ra/v1/private``).

``start --device ID`` prints the session id; each later step names it with ``--session``.
The bank is ``--bank CODE`` (else ``$KPKI_BANK``), as in ``kpki bank``. ``enrol`` plays the
device: the key and R are made there and sealed into ``--device-folder`` (the folder
``kpki simpleauth`` takes as the phone) under the simple PIN *before* the CSR and R go to
the RA, and the certificate that comes back is attached; run again after an interruption,
it finishes from the RA's record instead of making a new key. R stays in the keystore:
``renew`` reads it there (it is never an option: with the certificate it lets anyone test
RRN guesses). Secrets never come from argv: the account password
from ``--password-file``, ``$KPKI_ACCOUNT_PASSWORD`` or a prompt; the 6-digit PIN from
``--pin-file``, ``$KPKI_SIMPLE_PIN`` or a prompt (asked twice for a new one, its rules
checked before the second entry). A refusal is one line with its code in brackets
(``[phone_used]``), exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from pki.keys.devicekeystore import DeviceKeystore
from pki.private import DeviceEnrolment, renewal_request
from pki.profiles import PRIVATE_PROFILE
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
                "device": "--device", "customer": "--customer"}


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


def _issued(certificate: x509.Certificate, folder: Path, as_json: bool, *,
            session: str | None, done: PrivateIssued | None) -> None:
    """The certificate now in the device's keystore (with its key and R, which is never
    printed: R with the certificate lets anyone test RRN guesses). ``done`` is None when
    an interrupted enrolment was resumed (what it replaced was said, if at all, then)."""
    replaced = None if done is None or done.replaced is None else format(done.replaced, "X")
    value = {"session": session, "serial": format(certificate.serial_number, "X"),
             "ca": None if done is None else done.issued.ca,
             "profile": PRIVATE_PROFILE.name,
             "not_after": iso(certificate.not_valid_after_utc),
             "device_folder": str(folder), "replaced": replaced, "resumed": done is None}
    if as_json:
        emit_json(value)
        return
    click.echo(f"{value['serial']} sealed into {folder}"
               + (" (an interrupted enrolment, finished)" if done is None else "")
               + (f"; {replaced} revoked (superseded)" if replaced else ""))


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
    """The last step, on the device: the new simple PIN, the key and R made there and
    sealed into --device-folder *before* the CSR is sent, then the certificate attached
    (the device is the one the session started from). Run again after an interruption,
    it finishes with the key already sealed for this session (the PIN asked once)."""
    keystore = DeviceKeystore(device_folder)
    pending = keystore.pending()
    resuming = pending is not None and pending.request == session_id
    pin = _pin(pin_file, new=not resuming)
    with _desk(obj, passphrase_file=passphrase_file, issuing=True) as desk:
        bank = desk.banking.bank(code)
        device = str(desk.private.get(bank, session_id).data["device"])
        side = (DeviceEnrolment.resume(keystore, pin=pin, request=session_id) if resuming
                else None)
        certificate = (None if side is None
                       else desk.private.issued_certificate(bank, session_id))
        done = None
        if side is None:
            side = DeviceEnrolment.begin(keystore, device=device, pin=pin, pin_again=pin,
                                         request=session_id)
        if certificate is None:
            done = desk.private.issue(bank, session_id, csr=side.csr(), r=side.r)
            certificate = done.certificate
        side.finish(certificate)
    _issued(certificate, device_folder, as_json, session=session_id, done=done)


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


@private.command("renew")
@bank_option
@click.option("--customer", "customer_id", required=True, metavar="ID",
              help="The customer's internet-banking ID.")
@_device_folder_option
@pin_file_option
@passphrase_file_option
@json_option
@click.pass_obj
@_session_refusals
def renew(obj: Context, code: str, customer_id: str, device_folder: Path,
          pin_file: Path | None, passphrase_file: Path | None, as_json: bool) -> None:
    """Renew the private certificate in --device-folder after a year of use: the PIN
    opens the key and R kept there, a new key and R are made and sealed on the device
    before their CSR, signed with the registered certificate, is sent; the renewed
    certificate is attached under the same PIN. Run again after an interruption, it
    attaches the renewed certificate the bank registered instead of asking again."""
    pin = _pin(pin_file, new=False)
    keystore = DeviceKeystore(device_folder)
    unlocked = keystore.unlock(pin)
    if not isinstance(unlocked.private_key, rsa.RSAPrivateKey):
        raise click.ClickException(f"{device_folder} holds no RSA key: enrol the device "
                                   "again ('kpki ra private start')")
    request = renewal_request(unlocked.certificate.serial_number)
    with _desk(obj, passphrase_file=passphrase_file, issuing=True) as desk:
        bank = desk.banking.bank(code)
        side = DeviceEnrolment.resume(keystore, pin=pin, request=request)
        if side is not None:
            registered = desk.private.registered_certificate(bank, customer_id)
            if (registered is not None
                    and registered.public_key() == side.private_key.public_key()):
                side.finish(registered)
                _issued(registered, device_folder, as_json, session=None, done=None)
                return
        else:
            side = DeviceEnrolment.begin(keystore, device=keystore.status().device, pin=pin,
                                         pin_again=pin, request=request)
        signed = sign(side.csr(), KeySigner(unlocked.certificate, unlocked.private_key),
                      clock=desk.home.clock)
        done = desk.private.renew(bank, customer_id, signature=signed.der, r=unlocked.r,
                                  new_r=side.r)
        side.finish(done.certificate)
    _issued(done.certificate, device_folder, as_json, session=None, done=done)
