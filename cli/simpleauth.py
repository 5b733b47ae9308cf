"""``kpki simpleauth``: simple authentication (간편인증, issue 15 item 4) on the home's store.

Every command works on the home directly through :mod:`pki.usecases.simpleauth` (``kpki
serve`` answers the same store over ``/simpleauth/v1``). A relying party is named by its
institution name (``--rp``, added with ``kpki cloud institution add``); a person's phone by
its device folder (``--device-folder``: the private certificate's keystore and the apps'
tokens). The 6-digit PIN never comes from argv: a prompt, ``--pin-file`` or
``$KPKI_SIMPLE_PIN``.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.serialization import Encoding

from pki.keys.devicekeystore import DeviceKeystore
from pki.simpleauth import PROVIDERS, DeviceApp, SimpleAuthSettings, StatusView
from pki.usecases.simpleauth import institution_named, register_app, simple_auth_of_home

from .context import Context
from .output import emit_json, iso, json_option
from .params import rrn_option
from .secrets import read_secret

PIN_ENV = "KPKI_SIMPLE_PIN"


def _pin(pin_file: Path | None, *, confirm: bool = False) -> str:
    return read_secret(file=pin_file, env=PIN_ENV, what="6-digit PIN", option="--pin-file",
                       confirm=confirm).decode()


def _show(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        if not isinstance(value, list):
            click.echo(f"{key}: {'' if value is None else value}")


def _utc(value: dt.datetime | None) -> str | None:
    return None if value is None else iso(value)


def _status(view: StatusView) -> dict[str, Any]:
    return {"request_id": view.id, "provider": view.provider, "status": view.status.value,
            "expires_at": _utc(view.expires_at), "answered_at": _utc(view.answered_at),
            "reason": view.reason}


def _device(folder: Path) -> DeviceApp:
    return DeviceApp(folder, keystore=DeviceKeystore(folder))


pin_file_option = click.option(
    "--pin-file", type=click.Path(dir_okay=False, path_type=Path),
    help=f"File whose first line is the 6-digit PIN (else ${PIN_ENV}, else a prompt).")
device_option = click.option(
    "--device-folder", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="The phone: its device folder (keystore and app tokens).")
provider_option = click.option("--provider", required=True, type=int,
                               help="The provider's code ('kpki simpleauth providers').")
rp_option = click.option("--rp", required=True,
                         help="The relying party: an institution's name.")


@click.group()
def simpleauth() -> None:
    """Simple authentication (간편인증): providers, apps, requests, approvals, results."""


@simpleauth.command()
@json_option
def providers(as_json: bool) -> None:
    """The providers kpki plays: code, name and app."""
    if as_json:
        emit_json([{"code": p.code, "name": p.name, "app": p.app} for p in PROVIDERS])
        return
    for p in PROVIDERS:
        click.echo(f"{p.code}\t{p.name}\t{p.app}")


@simpleauth.command()
@provider_option
@device_option
@click.option("--name", required=True, help="The person's real name.")
@rrn_option("The person's resident registration number.", required=True)
@click.option("--phone", required=True, help="The person's phone number.")
@click.option("--ca", default="kbprivate", show_default=True,
              help="The CA of private certificates, for a device folder that has none yet.")
@pin_file_option
@json_option
@click.pass_obj
def register(obj: Context, provider: int, device_folder: Path, name: str, rrn: str,
             phone: str, ca: str, pin_file: Path | None, as_json: bool) -> None:
    """Register the phone in --device-folder at --provider (a private certificate is first
    enrolled onto a folder that has none, sealed under the PIN)."""
    with obj.open_home() as home:
        keystore = DeviceKeystore(device_folder)
        new = not keystore.path.exists()
        pin = _pin(pin_file, confirm=new)
        registered = register_app(simple_auth_of_home(home), keystore, provider, name=name,
                                  rrn=rrn, phone=phone, pin=pin,
                                  authority=home.authority(ca) if new else None)
    _show({"provider": registered.user.provider, "serial": f"{registered.user.serial:X}",
           "ca": registered.user.ca, "device_folder": str(device_folder),
           "enrolled": new}, as_json)


@simpleauth.command()
@rp_option
@provider_option
@click.option("--name", required=True, help="The person's real name.")
@click.option("--phone", required=True, help="The person's phone number.")
@rrn_option("The person's RRN (or --birth-date).")
@click.option("--birth-date", default=None, help="YYYY-MM-DD (or --rrn).")
@click.option("--nonce", default=None, help="Signed back in the approval [drawn].")
@click.option("--text", default=None, help="What the app shows.")
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600),
              help="Seconds before the request expires unanswered.")
@json_option
@click.pass_obj
def request(obj: Context, rp: str, provider: int, name: str, phone: str, rrn: str | None,
            birth_date: str | None, nonce: str | None, text: str | None,
            timeout: int, as_json: bool) -> None:
    """Relying party --rp asks --provider to authenticate a person."""
    with obj.open_home() as home:
        service = simple_auth_of_home(home, settings=SimpleAuthSettings(
            timeout=dt.timedelta(seconds=timeout)))
        view = service.request(institution_named(home.store, rp), provider, name=name,
                               phone=phone, rrn=rrn, birth_date=birth_date, nonce=nonce,
                               text=text)
        record = home.store.simpleauth_request(view.id)
        _show({**_status(view), "nonce": None if record is None else record.nonce}, as_json)


@simpleauth.command()
@click.argument("request_id")
@rp_option
@json_option
@click.pass_obj
def status(obj: Context, request_id: str, rp: str, as_json: bool) -> None:
    """The request's status as its relying party sees it."""
    with obj.open_home() as home:
        _show(_status(simple_auth_of_home(home).status(institution_named(home.store, rp),
                                                       request_id)), as_json)


@simpleauth.command()
@click.argument("request_id")
@rp_option
@json_option
@click.pass_obj
def result(obj: Context, request_id: str, rp: str, as_json: bool) -> None:
    """Collect the signed result of an approved request (once)."""
    with obj.open_home() as home:
        found = simple_auth_of_home(home).result(institution_named(home.store, rp),
                                                 request_id)
    _show({"request_id": found.id, "nonce": found.nonce, "ci": found.ci,
           "cms": base64.b64encode(found.cms).decode(),
           "certificate_chain": [base64.b64encode(c.public_bytes(Encoding.DER)).decode()
                                 for c in found.chain],
           "approved_at": _utc(found.approved_at)}, as_json)


@simpleauth.command()
@provider_option
@device_option
@json_option
@click.pass_obj
def pending(obj: Context, provider: int, device_folder: Path, as_json: bool) -> None:
    """The requests waiting in the phone's app at --provider."""
    with obj.open_home() as home:
        found = simple_auth_of_home(home).pending(_device(device_folder).token(provider))
    if as_json:
        emit_json([{"request_id": r.id, "relying_party": r.relying_party, "text": r.text,
                    "nonce": r.nonce, "expires_at": _utc(r.expires_at)} for r in found])
        return
    for r in found:
        click.echo(f"{r.id}\t{r.relying_party}\t{r.text}\t{_utc(r.expires_at)}")


@simpleauth.command()
@click.argument("request_id")
@provider_option
@device_option
@pin_file_option
@json_option
@click.pass_obj
def approve(obj: Context, request_id: str, provider: int, device_folder: Path,
            pin_file: Path | None, as_json: bool) -> None:
    """Approve REQUEST_ID on the phone with the PIN (the device signs)."""
    with obj.open_home() as home:
        service = simple_auth_of_home(home)
        device = DeviceApp(device_folder, keystore=DeviceKeystore(device_folder),
                           clock=home.clock)
        token = device.token(provider)
        shown = next((r for r in service.pending(token) if r.id == request_id), None)
        if shown is None:
            raise click.ClickException(f"no pending request {request_id} in this app: see "
                                       "'kpki simpleauth pending'")
        signature = device.approval(shown, pin=_pin(pin_file))
        _show(_status(service.approve(token, request_id, signature)), as_json)


@simpleauth.command()
@click.argument("request_id")
@provider_option
@device_option
@json_option
@click.pass_obj
def decline(obj: Context, request_id: str, provider: int, device_folder: Path,
            as_json: bool) -> None:
    """Decline REQUEST_ID in the phone's app."""
    with obj.open_home() as home:
        _show(_status(simple_auth_of_home(home).decline(
            _device(device_folder).token(provider), request_id)), as_json)
