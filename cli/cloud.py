"""``kpki cloud``: the financial-certificate cloud, as a client of a running ``kpki serve``.

``institution add`` and ``renew-due`` work on the home directly; every other command talks
to the service at ``--url`` (or ``$KPKI_CLOUD_URL``) with the institution's API key from
``--api-key-file`` or ``$KPKI_API_KEY``. PINs come from a prompt, ``--pin-file`` or
``$KPKI_PIN`` (a new one: ``--new-pin-file`` or ``$KPKI_NEW_PIN``), and confirmation codes
from a prompt, ``--code-file`` or ``$KPKI_CLOUD_CODE``: never from argv.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from pki.fsutil import atomic_write

from .context import Context
from .output import emit_json, json_option
from .secrets import ca_passphrase, passphrase_file_option, read_secret

URL_ENV = "KPKI_CLOUD_URL"
API_KEY_ENV = "KPKI_API_KEY"
CODE_ENV = "KPKI_CLOUD_CODE"


def _pin(path: Path | None, *, new: bool = False, confirm: bool = False) -> str:
    secret = read_secret(file=path, env="KPKI_NEW_PIN" if new else "KPKI_PIN",
                         what="new PIN" if new else "PIN",
                         option="--new-pin-file" if new else "--pin-file", confirm=confirm)
    return secret.decode("ascii", errors="replace")


class Client:
    def __init__(self, url: str | None, api_key_file: Path | None) -> None:
        url = url or os.environ.get(URL_ENV)
        if not url:
            raise click.UsageError(f"where is the cloud? give --url or set ${URL_ENV}")
        self.url = url.rstrip("/")
        self.api_key = read_secret(file=api_key_file, env=API_KEY_ENV, what="API key",
                                   option="--api-key-file", confirm=False).decode()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json",
                     **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
            except (ValueError, KeyError, TypeError):
                raise click.ClickException(f"the cloud answered HTTP {exc.code}") from None
            extra = {k: v for k, v in error.items() if k not in ("code", "message")}
            suffix = f" {extra}" if extra else ""
            raise click.ClickException(f"{error['code']}: {error['message']}{suffix}") from None
        except urllib.error.URLError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc.reason}") from None


def _client_options(f: Any) -> Any:
    f = click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path),
                     help=f"File holding the institution's API key (else ${API_KEY_ENV}).")(f)
    return click.option("--url", help=f"The cloud service (else ${URL_ENV}).")(f)


def _report(result: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        emit_json(result)
    else:
        click.echo(text)


@click.group()
def cloud() -> None:
    """The financial-certificate cloud (PIN-guarded keystore)."""


@cloud.group()
def institution() -> None:
    """Institutions allowed to call the cloud."""


@institution.command("add")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the API key to this file (0600) instead of printing it.")
@click.pass_obj
def institution_add(obj: Context, name: str, out: Path | None) -> None:
    """Register institution NAME and give out its API key (shown once)."""
    from pki.cloud.service import add_institution
    from pki.cloud.vault import vault_secret_for

    with obj.open_home() as home:
        # The cloud's first use makes the vault secret; never over sealed keys.
        vault_secret_for(home.vault_secret_path, home.store.secret_checks(), create=True)
        api_key = add_institution(home.store, name, at=home.clock.now())
    if out:
        atomic_write(out, api_key.encode() + b"\n", mode=0o600)
        click.echo(f"Institution {name} added; API key in {out}")
    else:
        click.echo(api_key)


@cloud.command("renew-due")
@passphrase_file_option
@json_option
@click.pass_obj
def renew_due(obj: Context, passphrase_file: Path | None, as_json: bool) -> None:
    """Record renewal notices for cloud certificates within a month of expiry."""
    with obj.open_home() as home:
        passphrase = ca_passphrase(passphrase_file, encrypted=home.keys_encrypted)
        due = home.cloud_factory(passphrase=passphrase)().renew_due()
    _report({"due": [format(s, "X") for s in due]}, as_json,
            f"{len(due)} certificate(s) due; each renews at its next signature")


@cloud.command()
@_client_options
@click.option("--name", required=True)
@click.option("--phone", required=True)
@click.option("--birth-date", required=True, help="YYYY-MM-DD")
@json_option
def register(url: str | None, api_key_file: Path | None, name: str, phone: str,
             birth_date: str, as_json: bool) -> None:
    """Register a user; a 2-digit confirmation code goes to the phone."""
    result = Client(url, api_key_file).call("POST", "/cloud/v1/users", {
        "name": name, "phone": phone, "birth_date": birth_date})
    _report(result, as_json, f"user {result['user_id']}: a confirmation code was sent")


@cloud.command()
@_client_options
@click.argument("user")
@click.option("--code-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File whose first line is the 2-digit code the user received (else "
              f"${CODE_ENV}, else a prompt; never on the command line, where ps shows it).")
@json_option
def confirm(url: str | None, api_key_file: Path | None, user: str, code_file: Path | None,
            as_json: bool) -> None:
    """Confirm a registration with its code."""
    client = Client(url, api_key_file)
    code = read_secret(file=code_file, env=CODE_ENV, what="confirmation code",
                       option="--code-file", confirm=False).decode("ascii", errors="replace")
    result = client.call("POST", f"/cloud/v1/users/{user}/confirm", {"code": code.strip()})
    _report(result, as_json, f"user {user} confirmed")


@cloud.command()
@_client_options
@click.argument("user")
@click.option("--rrn", required=True)
@click.option("--kind", type=click.Choice(["personal", "business"]), default="personal")
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def issue(url: str | None, api_key_file: Path | None, user: str, rrn: str, kind: str,
          pin_file: Path | None, as_json: bool) -> None:
    """Issue a financial certificate into the cloud under a new PIN (entered twice)."""
    client = Client(url, api_key_file)
    pin = _pin(pin_file, confirm=True)
    result = client.call("POST", f"/cloud/v1/users/{user}/certificates",
                         {"rrn": rrn, "pin": pin, "pin_confirm": pin, "kind": kind})
    _report(result, as_json, f"financial certificate {result['serial']} until "
                             f"{result['not_after']}")


@cloud.command("sign")
@_client_options
@click.argument("serial")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--purpose", required=True, help="01 login, 02 transfer, ... 99 other.")
@click.option("--device", help="This device's id (for designated-device checks).")
@click.option("--detached", is_flag=True)
@click.option("--bare", is_flag=True)
@click.option("--pss", is_flag=True)
@click.option("--include-r", is_flag=True, help="Return R for the VID check.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def sign_(url: str | None, api_key_file: Path | None, serial: str, file: Path, purpose: str,
          device: str | None, detached: bool, bare: bool, pss: bool, include_r: bool,
          out: Path | None, pin_file: Path | None, as_json: bool) -> None:
    """Have the cloud sign FILE with certificate SERIAL."""
    client = Client(url, api_key_file)
    pin = _pin(pin_file)
    result = client.call("POST", f"/cloud/v1/certificates/{serial}/sign", {
        "pin": pin, "content": base64.b64encode(file.read_bytes()).decode(),
        "purpose": purpose, "detached": detached, "bare": bare, "pss": pss,
        "include_r": include_r}, headers={"X-Device-Id": device} if device else None)
    out = out or file.with_name(file.name + ".p7s")
    atomic_write(out, base64.b64decode(result["signature"]))
    _report({**result, "signature": str(out)}, as_json, f"signed {file} -> {out}")


@cloud.group()
def pin() -> None:
    """PINs."""


@pin.command("change")
@_client_options
@click.argument("serial")
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--new-pin-file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def pin_change(url: str | None, api_key_file: Path | None, serial: str,
               pin_file: Path | None, new_pin_file: Path | None, as_json: bool) -> None:
    """Change the PIN of certificate SERIAL (the old PIN is needed)."""
    client = Client(url, api_key_file)
    old = _pin(pin_file)
    new = _pin(new_pin_file, new=True, confirm=True)
    result = client.call("POST", f"/cloud/v1/certificates/{serial}/pin",
                         {"old_pin": old, "new_pin": new, "new_pin_confirm": new})
    _report(result, as_json, "PIN changed")


@cloud.command()
@_client_options
@click.argument("user")
@click.option("--add")
@click.option("--remove")
@click.option("--designated-only", type=click.Choice(["on", "off"]))
@json_option
def devices(url: str | None, api_key_file: Path | None, user: str, add: str | None,
            remove: str | None, designated_only: str | None, as_json: bool) -> None:
    """Show or change a user's designated devices (at most 5)."""
    body: dict[str, Any] = {}
    if add:
        body["add"] = add
    if remove:
        body["remove"] = remove
    if designated_only:
        body["designated_only"] = designated_only == "on"
    client = Client(url, api_key_file)
    path = f"/cloud/v1/users/{user}/devices"
    result = client.call("POST", path, body) if body else client.call("GET", path)
    _report(result, as_json, f"devices: {', '.join(result['devices']) or '-'}; designated "
                             f"only: {'on' if result['designated_only'] else 'off'}")


@cloud.command()
@_client_options
@click.argument("user")
@json_option
def history(url: str | None, api_key_file: Path | None, user: str, as_json: bool) -> None:
    """The user's last 20 authentication events."""
    result = Client(url, api_key_file).call("GET", f"/cloud/v1/users/{user}/history")
    if as_json:
        emit_json(result)
        return
    for event in result["history"]:
        click.echo(f"{event['at']}  {event['institution']}  {event['device'] or '-'}  "
                   f"{event['purpose'] or '-'}  {event['outcome']}")


@cloud.command()
@_client_options
@click.argument("serial")
@click.option("--reason", default="unspecified")
@json_option
def revoke(url: str | None, api_key_file: Path | None, serial: str, reason: str,
           as_json: bool) -> None:
    """Revoke a cloud certificate (a locked one or a forgotten PIN: then reissue)."""
    result = Client(url, api_key_file).call("POST", f"/cloud/v1/certificates/{serial}/revoke",
                                            {"reason": reason})
    _report(result, as_json, f"{serial} revoked")


@cloud.command()
@_client_options
@click.option("--phone", required=True)
@json_option
def messages(url: str | None, api_key_file: Path | None, phone: str, as_json: bool) -> None:
    """Messages the built-in test channel sent to PHONE (confirmation codes)."""
    result = Client(url, api_key_file).call("GET", f"/cloud/v1/test/messages?phone={phone}")
    if as_json:
        emit_json(result)
        return
    for message in result["messages"]:
        click.echo(f"{message['at']}  {message['text']}")
