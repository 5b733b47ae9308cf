"""``kpki cloud``: the financial-certificate cloud, as a client of a running ``kpki serve``.

``institution add``, ``institution list`` and ``renew-due`` work on the home directly;
every other command talks to the service at ``--url`` (else ``$KPKI_CLOUD_URL``, else
where ``kpki serve`` listens by default) with the institution's API key from
``--api-key-file`` or ``$KPKI_API_KEY``. PINs come from a prompt, ``--pin-file`` or
``$KPKI_PIN`` (a new one: ``--new-pin-file`` or ``$KPKI_NEW_PIN``), and confirmation codes
from a prompt, ``--code-file`` or ``$KPKI_CLOUD_CODE``: never from argv.

What the user types is checked here before anything is sent, with the library's own
rules (a phone through :func:`pki.registration.normalize_phone`, an RRN through
:class:`pki.rrn.RRN`, a purpose through :class:`pki.purposes.Purpose`, a revocation reason
through :class:`pki.store.RevocationReason`), so a typo is a usage error naming its
option. A refusal of the cloud becomes one line in kpki's words naming what fixes it
(:func:`_refusal`), by the refusal's stable code, never by its message text.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from pki.cloud.pin import PinPolicyError, check_pin
from pki.errors import InvalidRegistrationError, InvalidRRNError
from pki.fsutil import atomic_write
from pki.purposes import Purpose
from pki.registration import normalize_phone
from pki.rrn import RRN
from pki.store import RevocationReason

from .context import Context
from .output import (
    emit_json,
    emit_list,
    iso,
    json_option,
    list_options,
    one_list_format,
    shown,
    shown_iso,
    table,
)
from .params import (
    check_out_file,
    check_stdout_free,
    force_file_option,
    is_stdout,
    out_file_option,
    write_out,
)
from .reasons import reason_option
from .secrets import ca_passphrase, passphrase_file_option, read_secret
from .serve import DEFAULT_URL

URL_ENV = "KPKI_CLOUD_URL"
API_KEY_ENV = "KPKI_API_KEY"
CODE_ENV = "KPKI_CLOUD_CODE"
PIN_ENV = "KPKI_PIN"
NEW_PIN_ENV = "KPKI_NEW_PIN"

PIN_FIX = f"give the right PIN at the prompt, in --pin-file or ${PIN_ENV}"
NEW_PIN_FIX = f"choose another PIN at the prompt, in --new-pin-file or ${NEW_PIN_ENV}"

# What fixes each refusal, by the stable code the cloud answers with; a command adds or
# replaces entries where its own options are the fix.
_FIXES: dict[str, str] = {
    "unauthorized": f"check --api-key-file or ${API_KEY_ENV} ('kpki cloud institution add' "
                    "gives an institution its key)",
    "wrong_pin": PIN_FIX,
    "pin_locked": "revoke it ('kpki cloud revoke SERIAL') and issue a new one",
    "pin_policy": PIN_FIX,
    "code_invalid": f"give the code the phone received (--code-file or ${CODE_ENV}), or "
                    "register again",
    "code_expired": "register again ('kpki cloud register') for a new code",
    "code_limit": "wait a day, or use another phone",
    "not_confirmed": "confirm the registration first ('kpki cloud confirm USER')",
    "device_not_designated": "sign from a designated device (--device; 'kpki cloud devices "
                             "USER --add ID' designates one)",
    "too_many_devices": "remove one first ('kpki cloud devices USER --remove ID')",
    "revoked": "issue a new one ('kpki cloud issue USER')",
    "expired": "issue a new one ('kpki cloud issue USER')",
    "suspended": "have it resumed ('kpki cert resume SERIAL')",
    "vault_secret": "the operator of 'kpki serve' must restore the vault secret",
    "no_route": "check --url: it names a 'kpki serve' that serves the cloud",
    "too_large": "sign a smaller FILE",
    "unavailable": "",
    "busy": "",
}
USER_NOT_FOUND = "check USER: a user this institution registered"
SERIAL_NOT_FOUND = ("check SERIAL: a certificate registered at this institution ('kpki "
                    "cloud register-cert' registers one issued elsewhere)")
# The option that fixes a request field the cloud refused.
_FIELD_OPTIONS = {"name": "--name", "phone": "--phone", "birth_date": "--birth-date",
                  "rrn": "--rrn", "purpose": "--purpose", "serial": "SERIAL",
                  "content": "FILE", "device": "--add", "user": "--user",
                  "reason": "--reason", "pin": "--pin-file", "kind": "--kind"}


def _refusal(url: str, error: Mapping[str, Any], fixes: Mapping[str, str]) -> str:
    """One line for a refusal: the cloud's message, the data a user can act on in words,
    and what fixes it."""
    code = str(error.get("code", ""))
    text = str(error.get("message") or code or "refused")
    left = error.get("attempts_left")
    if isinstance(left, int):
        text += f": {left} attempt{'' if left == 1 else 's'} left"
    fix = fixes.get(code, _FIXES.get(code))
    field = error.get("field")
    if fix is None and code == "bad_request" and field in _FIELD_OPTIONS:
        fix = f"fix {_FIELD_OPTIONS[field]}"
    if fix is None:
        fix = f"the cloud at {url} refused ({code or 'no code'})"
    return f"{text} ({fix})" if fix else text


def _pin(path: Path | None, *, new: bool = False, confirm: bool = False) -> str:
    secret = read_secret(file=path, env=NEW_PIN_ENV if new else PIN_ENV,
                         what="new PIN" if new else "PIN",
                         option="--new-pin-file" if new else "--pin-file", confirm=confirm,
                         check=_new_pin_rules(NEW_PIN_FIX if new else PIN_FIX) if confirm
                         else None)
    return secret.decode("ascii", errors="replace")


def _new_pin_rules(fix: str) -> Callable[[bytes], None]:
    """A new PIN's rules that need no holder (six digits, no repeated digit, no run),
    checked before the PIN is asked for again; a refusal says ``fix``."""

    def check(secret: bytes) -> None:
        try:
            check_pin(secret.decode("ascii", errors="replace"))
        except PinPolicyError as exc:
            raise click.ClickException(f"{exc} ({fix})") from None

    return check


class Client:
    """Calls the cloud at ``url`` as the institution whose API key ``api_key_file`` (else
    ``$KPKI_API_KEY``) holds."""

    def __init__(self, url: str, api_key_file: Path | None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--url")
        self.url = url.rstrip("/")
        self.api_key = read_secret(file=api_key_file, env=API_KEY_ENV, what="API key",
                                   option="--api-key-file", confirm=False).decode(
                                       "ascii", errors="replace").strip()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             headers: dict[str, str] | None = None,
             fixes: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The JSON answer of the cloud; a refusal or an unreachable service is a
        :class:`click.ClickException` in one line (``fixes``: what fixes which refusal
        code, for this command)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json",
                     **(headers or {})})
        unlike = (f"the service at {self.url} does not answer as the kpki cloud does: check "
                  f"--url or ${URL_ENV}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read())["error"]
                if not isinstance(error, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise click.ClickException(f"{unlike} (HTTP {exc.code})") from None
            raise click.ClickException(_refusal(self.url, error, fixes or {})) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            reason = getattr(reason, "strerror", None) or reason
            raise click.ClickException(
                f"cannot reach the cloud at {self.url} ({reason}): start 'kpki serve', or "
                f"give --url or ${URL_ENV}") from None
        except ValueError:
            raise click.ClickException(unlike) from None
        if not isinstance(answer, dict):
            raise click.ClickException(unlike)
        return answer


def _client_options(f: Any) -> Any:
    f = click.option("--api-key-file", type=click.Path(dir_okay=False, path_type=Path),
                     help=f"File holding the institution's API key (else ${API_KEY_ENV}).")(f)
    return click.option("--url", default=DEFAULT_URL, envvar=URL_ENV, show_default=True,
                        help=f"The cloud: a running 'kpki serve' (also ${URL_ENV}).")(f)


def _pin_file_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path),
                        help=help_text)


PIN_FILE_HELP = (f"File whose first line is the certificate's PIN (else ${PIN_ENV}, else a "
                 "prompt; never on the command line).")


def _report(result: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        emit_json(result)
    else:
        click.echo(text)


# -- what the user types, checked with the library's rules ------------------------------


def _phone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_phone(value)
    except InvalidRegistrationError as exc:
        raise click.BadParameter(str(exc)) from None


def _birth_date(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _rrn(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return RRN.parse(value).digits
    except InvalidRRNError as exc:
        raise click.BadParameter(str(exc)) from None


def _purpose(ctx: click.Context, param: click.Parameter, value: str) -> Purpose:
    return Purpose.parse(value)


def _device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (1 <= len(value) <= 64 and value.isprintable()):
        raise click.BadParameter("a device id is 1-64 printable characters")
    return value


def _serial(text: str) -> str:
    try:
        int(text, 16)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a serial (hex digits)",
                                 param_hint="SERIAL") from None
    return text.upper()


def _user(text: str) -> str:
    return urllib.parse.quote(text, safe="")


PURPOSE_HELP = "The purpose code of the signature: " + ", ".join(
    f"{p.code} {p.label}" for p in Purpose) + "."


# -- commands ----------------------------------------------------------------------------


@click.group()
def cloud() -> None:
    """The financial-certificate cloud (PIN-guarded keystore)."""


@cloud.group()
def institution() -> None:
    """Institutions allowed to call the cloud."""


def _org_code(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from pki.cloud.sdk import check_org_code
    from pki.errors import CloudRequestError

    if value is None:
        return None
    try:
        return check_org_code(value)
    except CloudRequestError as exc:
        raise click.BadParameter(str(exc)) from None


def _origins(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
             ) -> tuple[str, ...]:
    from pki.cloud.sdk import normalize_origin
    from pki.errors import CloudRequestError

    try:
        return tuple(normalize_origin(v) for v in value)
    except CloudRequestError as exc:
        raise click.BadParameter(f"{exc} (e.g. http://localhost:8000)") from None


@institution.command("add")
@click.argument("name")
@click.option("--org-code", default=None, callback=_org_code,
              help="Also set it up for the browser SDK (/sdk/v1/fincert.js) under this "
              "organisation code: D (test) or R (production) and digits, e.g. D0000001.")
@click.option("--origin", "origins", multiple=True, callback=_origins,
              help="A page origin allowed to use the SDK as this institution "
              "(http://localhost:8000; repeat for more; 'kpki cloud institution origin' "
              "changes the list later). Needs --org-code.")
@out_file_option("Write the API key to this file (0600) instead of printing it")
@force_file_option
@json_option
@click.pass_obj
def institution_add(obj: Context, name: str, org_code: str | None, origins: tuple[str, ...],
                    out: Path | None, force: bool, as_json: bool) -> None:
    """Register institution NAME and give out its API key (shown once). With --org-code,
    also its SDK key for the browser SDK: public (it goes in the page's source), bound to
    the --origin list; printed on a second line."""
    from pki.cloud.sdk import add_sdk_institution
    from pki.cloud.service import add_institution, authenticate
    from pki.cloud.vault import vault_secret_for

    if origins and org_code is None:
        raise click.UsageError("--origin needs --org-code (the SDK's organisation code)")
    if is_stdout(out):
        out = None  # printing it is what '-' asks for
    check_out_file(out, force=force)
    sdk_key = None
    with obj.open_home() as home:
        if org_code is not None and home.store.sdk_institution_by_org_code(org_code):
            raise click.BadParameter(f"the organisation code {org_code} is taken",
                                     param_hint="--org-code")
        # The cloud's first use makes the vault secret; never over sealed keys.
        vault_secret_for(home.vault_secret_path, home.store.secret_checks(), create=True)
        api_key = add_institution(home.store, name, at=home.clock.now())
        if org_code is not None:
            sdk_key = add_sdk_institution(home.store, authenticate(home.store, api_key),
                                          org_code, origins=origins, at=home.clock.now(),
                                          entropy=home.entropy)
    sdk: dict[str, Any] = ({} if sdk_key is None else
                           {"org_code": org_code, "sdk_key": sdk_key, "origins": list(origins)})
    sdk_line = "" if sdk_key is None else f"\nSDK key ({org_code}): {sdk_key}"
    if out:
        atomic_write(out, api_key.encode() + b"\n", mode=0o600)
        _report({"institution": name, "api_key_file": str(out), **sdk}, as_json,
                f"Institution {name} added; API key in {out}{sdk_line}")
    else:
        _report({"institution": name, "api_key": api_key, **sdk}, as_json, api_key + sdk_line)


@institution.command("origin")
@click.argument("org_code", callback=_org_code)
@click.option("--add", "add", multiple=True, callback=_origins,
              help="Allow this page origin (repeat for more).")
@click.option("--remove", "remove", multiple=True, callback=_origins,
              help="Take this page origin off the list (repeat for more).")
@json_option
@click.pass_obj
def institution_origin(obj: Context, org_code: str, add: tuple[str, ...],
                       remove: tuple[str, ...], as_json: bool) -> None:
    """Show, add to or take from the page origins allowed to use the browser SDK under
    ORG_CODE."""
    from pki.cloud.sdk import allow_origin, disallow_origin

    with obj.open_home() as home:
        if home.store.sdk_institution_by_org_code(org_code) is None:
            raise click.BadParameter(f"no institution has the organisation code {org_code} "
                                     "('kpki cloud institution add NAME --org-code CODE' "
                                     "sets one up)", param_hint="ORG_CODE")
        for origin in add:
            allow_origin(home.store, org_code, origin, at=home.clock.now())
        for origin in remove:
            disallow_origin(home.store, org_code, origin, at=home.clock.now())
        found = home.store.sdk_institution_by_org_code(org_code)
    origins = list(found.origins) if found is not None else []
    _report({"org_code": org_code, "origins": origins}, as_json,
            "\n".join(origins) if origins else f"no origins may use {org_code} yet (--add)")


@institution.command("list")
@list_options
@click.pass_obj
def institution_list(obj: Context, as_jsonl: bool, as_json: bool) -> None:
    """The institutions allowed to call the cloud, oldest first (their API keys are kept
    only hashed: lost, a key is replaced by adding the institution under a new name)."""
    one_list_format(as_json=as_json, as_jsonl=as_jsonl)
    with obj.open_home() as home:
        found = home.store.institutions()
    rows = [{"id": i.id, "name": i.name, "added_at": iso(i.added_at)} for i in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"institutions": rows}):
        pass
    elif rows:
        table(["ID", "NAME", "ADDED"], [[str(i.id), i.name, shown(i.added_at)] for i in found])
    else:
        click.echo("no institutions yet ('kpki cloud institution add NAME' adds one)")


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
@click.option("--name", required=True, help="The person's real name (as on the RRN).")
@click.option("--phone", required=True, callback=_phone,
              help="The person's phone, written any way (010-1234-5678, 01012345678, "
                   "+82 10 1234 5678): the confirmation code goes there.")
@click.option("--birth-date", required=True, callback=_birth_date,
              help="The person's birth date, YYYY-MM-DD.")
@json_option
def register(url: str, api_key_file: Path | None, name: str, phone: str,
             birth_date: str, as_json: bool) -> None:
    """Register a user; a 2-digit confirmation code goes to the phone."""
    result = Client(url, api_key_file).call("POST", "/cloud/v1/users", {
        "name": name, "phone": phone, "birth_date": birth_date},
        fixes={"bad_request": "check --name, --phone and --birth-date"})
    _report(result, as_json, f"user {result['user_id']}: a confirmation code was sent")


@cloud.command()
@_client_options
@click.argument("user")
@click.option("--code-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File whose first line is the 2-digit code the user received (else "
              f"${CODE_ENV}, else a prompt; never on the command line, where ps shows it).")
@json_option
def confirm(url: str, api_key_file: Path | None, user: str, code_file: Path | None,
            as_json: bool) -> None:
    """Confirm a registration with its code."""
    client = Client(url, api_key_file)
    code = read_secret(file=code_file, env=CODE_ENV, what="confirmation code",
                       option="--code-file", confirm=False).decode("ascii", errors="replace")
    result = client.call("POST", f"/cloud/v1/users/{_user(user)}/confirm",
                         {"code": code.strip()}, fixes={"not_found": USER_NOT_FOUND})
    _report(result, as_json, f"user {user} confirmed")


@cloud.command()
@_client_options
@click.argument("user")
@click.option("--rrn", required=True, callback=_rrn,
              help="The holder's resident registration number (13 digits, a dash after "
                   "the sixth allowed); its birth date must be the registered one.")
@click.option("--kind", type=click.Choice(["personal", "business"]), default="personal",
              show_default=True, help="The financial certificate's kind.")
@_pin_file_option(f"File whose first line is the new certificate's PIN, 6 digits (else "
                  f"${PIN_ENV}, else a prompt asked twice).")
@json_option
def issue(url: str, api_key_file: Path | None, user: str, rrn: str, kind: str,
          pin_file: Path | None, as_json: bool) -> None:
    """Issue a financial certificate into the cloud under a new PIN (entered twice)."""
    client = Client(url, api_key_file)
    pin = _pin(pin_file, confirm=True)
    result = client.call("POST", f"/cloud/v1/users/{_user(user)}/certificates",
                         {"rrn": rrn, "pin": pin, "pin_confirm": pin, "kind": kind},
                         fixes={"not_found": USER_NOT_FOUND,
                                "pin_policy": f"choose another PIN at the prompt, in "
                                              f"--pin-file or ${PIN_ENV}"})
    _report(result, as_json, f"financial certificate {result['serial']} until "
                             f"{shown_iso(result['not_after'])}")


@cloud.command("sign")
@_client_options
@click.argument("serial")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--purpose", required=True, callback=_purpose,
              type=click.Choice([p.code for p in Purpose]), help=PURPOSE_HELP)
@click.option("--device", callback=_device,
              help="This device's id, for a user who signs from designated devices only.")
@click.option("--detached", is_flag=True,
              help="Leave FILE out of the signature (verify it with the content beside).")
@click.option("--bare", is_flag=True,
              help="A bare SignedData, without the ContentInfo around it.")
@click.option("--pss", is_flag=True, help="Sign with RSASSA-PSS instead of PKCS #1 v1.5.")
@click.option("--include-r", is_flag=True,
              help="Also return R, the secret random value of the certificate's VID, for "
                   "the holder check ('kpki verify --r-file'); shown in text and JSON.")
@out_file_option("Where to write the signature (DER)", default="FILE.p7s")
@force_file_option
@_pin_file_option(PIN_FILE_HELP)
@json_option
def sign_(url: str, api_key_file: Path | None, serial: str, file: Path, purpose: Purpose,
          device: str | None, detached: bool, bare: bool, pss: bool, include_r: bool,
          out: Path | None, force: bool, pin_file: Path | None, as_json: bool) -> None:
    """Have the cloud sign FILE with certificate SERIAL (the key never leaves it)."""
    serial = _serial(serial)
    out = out or file.with_name(file.name + ".p7s")
    check_stdout_free(out, as_json=as_json)
    check_out_file(out, force=force)
    client = Client(url, api_key_file)
    pin = _pin(pin_file)
    result = client.call("POST", f"/cloud/v1/certificates/{serial}/sign", {
        "pin": pin, "content": base64.b64encode(file.read_bytes()).decode(),
        "purpose": purpose.code, "detached": detached, "bare": bare, "pss": pss,
        "include_r": include_r}, headers={"X-Device-Id": device} if device else None,
        fixes={"not_found": SERIAL_NOT_FOUND})
    write_out(out, base64.b64decode(result["signature"]))
    if is_stdout(out):
        click.echo(f"signed {file} -> standard output", err=True)
        if "r" in result:
            click.echo(f"R: {result['r']}", err=True)
        return
    text = f"signed {file} -> {out}"
    if result.get("renewed_from"):
        text += f" (with {result['serial']}, which renewed {result['renewed_from']})"
    if "r" in result:
        text += f"\nR: {result['r']}"
    _report({**result, "signature": str(out)}, as_json, text)


@cloud.command("register-cert")
@_client_options
@click.argument("serial")
@click.option("--user",
              help="This institution's own confirmed registration of the holder ('kpki "
                   "cloud register' then 'confirm', same name, phone and birth date); not "
                   "needed where the holder is registered already.")
@_pin_file_option(PIN_FILE_HELP)
@json_option
def register_cert(url: str, api_key_file: Path | None, serial: str, user: str | None,
                  pin_file: Path | None, as_json: bool) -> None:
    """Register certificate SERIAL, issued at another institution, at this one; the
    holder's PIN proves the holder agrees. Then this institution can use it."""
    serial = _serial(serial)
    client = Client(url, api_key_file)
    pin = _pin(pin_file)
    body: dict[str, Any] = {"pin": pin} if user is None else {"pin": pin, "user": user}
    result = client.call("POST", f"/cloud/v1/certificates/{serial}/registrations", body,
                         fixes={"not_found": "check SERIAL, and --user: this institution's "
                                             "confirmed registration of the same person"})
    _report(result, as_json, f"certificate {serial} registered here (holder "
                             f"{result['user_id']})")


@cloud.group()
def pin() -> None:
    """PINs."""


@pin.command("change")
@_client_options
@click.argument("serial")
@_pin_file_option(f"File whose first line is the present PIN (else ${PIN_ENV}, else a "
                  "prompt).")
@click.option("--new-pin-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File whose first line is the new PIN, 6 digits (else ${NEW_PIN_ENV}, "
                   "else a prompt asked twice).")
@json_option
def pin_change(url: str, api_key_file: Path | None, serial: str,
               pin_file: Path | None, new_pin_file: Path | None, as_json: bool) -> None:
    """Change the PIN of certificate SERIAL (the old PIN is needed)."""
    serial = _serial(serial)
    client = Client(url, api_key_file)
    old = _pin(pin_file)
    new = _pin(new_pin_file, new=True, confirm=True)
    result = client.call("POST", f"/cloud/v1/certificates/{serial}/pin",
                         {"old_pin": old, "new_pin": new, "new_pin_confirm": new},
                         fixes={"not_found": SERIAL_NOT_FOUND, "pin_policy": NEW_PIN_FIX})
    _report(result, as_json, "PIN changed")


@cloud.command()
@_client_options
@click.argument("user")
@click.option("--add", callback=_device, help="Designate this device id (at most 5).")
@click.option("--remove", help="No longer designate this device id.")
@click.option("--designated-only", type=click.Choice(["on", "off"]),
              help="on: the user signs from designated devices only; off: from any.")
@json_option
def devices(url: str, api_key_file: Path | None, user: str, add: str | None,
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
    path = f"/cloud/v1/users/{_user(user)}/devices"
    fixes = {"not_found": USER_NOT_FOUND}
    result = (client.call("POST", path, body, fixes=fixes) if body
              else client.call("GET", path, fixes=fixes))
    _report(result, as_json, f"devices: {', '.join(result['devices']) or '-'}; designated "
                             f"only: {'on' if result['designated_only'] else 'off'}")


@cloud.command()
@_client_options
@click.argument("user")
@list_options
def history(url: str, api_key_file: Path | None, user: str, as_json: bool,
            as_jsonl: bool) -> None:
    """The user's last 20 authentication events, newest first."""
    one_list_format(as_json=as_json, as_jsonl=as_jsonl)
    result = Client(url, api_key_file).call("GET", f"/cloud/v1/users/{_user(user)}/history",
                                            fixes={"not_found": USER_NOT_FOUND})
    if emit_list(result["history"], as_json=as_json, as_jsonl=as_jsonl, document=result):
        return
    for event in result["history"]:
        click.echo(f"{shown_iso(event['at'])}  {event['institution']}  "
                   f"{event['device'] or '-'}  {event['purpose'] or '-'}  "
                   f"{event['serial'] or '-'}  {event['outcome']}")


@cloud.command()
@_client_options
@click.argument("serial")
@reason_option
@json_option
def revoke(url: str, api_key_file: Path | None, serial: str, reason: RevocationReason,
           as_json: bool) -> None:
    """Revoke a cloud certificate (a locked one or a forgotten PIN: then reissue)."""
    serial = _serial(serial)
    result = Client(url, api_key_file).call(
        "POST", f"/cloud/v1/certificates/{serial}/revoke", {"reason": reason.value},
        fixes={"not_found": SERIAL_NOT_FOUND, "revoked": "nothing to do"})
    _report(result, as_json, f"{serial} revoked ({reason.value})")


@cloud.command()
@_client_options
@click.option("--phone", required=True, callback=_phone,
              help="The phone, written any way (010-1234-5678, +82 10 1234 5678).")
@list_options
def messages(url: str, api_key_file: Path | None, phone: str, as_json: bool,
             as_jsonl: bool) -> None:
    """Messages the built-in test channel (kpki serve --test-channel) sent to a phone
    because of this institution (confirmation codes)."""
    one_list_format(as_json=as_json, as_jsonl=as_jsonl)
    query = urllib.parse.urlencode({"phone": phone})
    result = Client(url, api_key_file).call(
        "GET", f"/cloud/v1/test/messages?{query}",
        fixes={"no_route": "the cloud at --url has no test channel: serve it with 'kpki "
                           "serve --test-channel'"})
    if emit_list(result["messages"], as_json=as_json, as_jsonl=as_jsonl, document=result):
        return
    for message in result["messages"]:
        click.echo(f"{shown_iso(message['at'])}  {message['text']}")
