"""``kpki bank``: the bank around the certificates (issue 14), on the home's store.

Every command works on the home directly through :class:`pki.usecases.banking.Banking`
(``kpki serve`` answers the same store over ``/bank/v1``). A bank is named by its 3-digit
institution code, ``--bank CODE`` (else ``$KPKI_BANK``); a customer by the id ``kpki bank
customer add`` gave. The OTP seeds and the phone channel's CI and DI are keyed under the
home's vault secret (``$KPKI_VAULT_SECRET`` or ``<home>/cloud/vault.secret``), never a
value on the command line.

Secrets never come from argv: an account password from a prompt, ``--password-file`` or
``$KPKI_ACCOUNT_PASSWORD``; a card answer from ``--answer-file`` or ``$KPKI_CARD_ANSWER``;
an OTP code from ``--code-file`` or ``$KPKI_OTP_CODE``; a phone verification code (or the
ARS key press) from ``--code-file`` or ``$KPKI_PHONE_CODE``; the carrier app's password from
``--app-password-file`` or ``$KPKI_APP_PASSWORD``; a card's seed from ``--seed-file``.

What the user types is checked while the command line is read (a code, a phone, an RRN, a
choice), so a typo is a usage error naming its option (exit 2). A refusal of the bank is
one line with its stable code in brackets (``[wrong_otp]``) and what fixes it (exit 1),
mapped by :func:`_refusals` from the error's code and data, never from its text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from pki.bank.institutions import KNOWN_CODES, BankSettings, check_institution_code
from pki.bank.media import MediumKind
from pki.bank.otp import OtpStatus
from pki.bank.phone import AppEntry, VerificationRequest, VerificationStatus
from pki.errors import (
    BankError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    CustomerExistsError,
    InvalidRegistrationError,
)
from pki.fsutil import atomic_write
from pki.registration import normalize_phone
from pki.rrn import RRN
from pki.store import (
    Account,
    BankCustomer,
    Carrier,
    Institution,
    LineState,
    LineType,
    OtpKind,
    SubscriberLine,
    VerificationMethod,
)
from pki.usecases.banking import Banking, CustomerOverview

from .context import Context
from .output import emit_json, emit_list, iso, json_option, list_options, shown, table
from .params import check_out_file, force_file_option, is_stdout, out_file_option, rrn_option
from .secrets import read_secret

F = TypeVar("F", bound=Callable[..., Any])

BANK_ENV = "KPKI_BANK"
ACCOUNT_PASSWORD_ENV = "KPKI_ACCOUNT_PASSWORD"
CARD_ANSWER_ENV = "KPKI_CARD_ANSWER"
OTP_CODE_ENV = "KPKI_OTP_CODE"
PHONE_CODE_ENV = "KPKI_PHONE_CODE"
APP_PASSWORD_ENV = "KPKI_APP_PASSWORD"

# What fixes a refusal, by its stable code.
_FIXES: dict[str, str] = {
    "wrong_account_password": f"give the right one in --password-file or "
                              f"${ACCOUNT_PASSWORD_ENV}",
    "account_locked": "a branch sets a new one: 'kpki bank account reset NUMBER --operator'",
    "not_enrolled": "sign up at a branch: 'kpki bank customer sign-up CUSTOMER'",
    "enrolment_expired": "sign up again: 'kpki bank customer sign-up CUSTOMER'",
    "wrong_card_answer": f"answer from the card ('kpki bank card print CUSTOMER') in "
                         f"--answer-file or ${CARD_ANSWER_ENV}",
    "card_locked": "a branch resets it: 'kpki bank card reset CUSTOMER --operator NAME'",
    "challenge_used": "ask for a new one: 'kpki bank card challenge CUSTOMER'",
    "challenge_expired": "ask for a new one: 'kpki bank card challenge CUSTOMER'",
    "no_medium": "issue a card ('kpki bank card issue') or an OTP ('kpki bank otp issue')",
    "wrong_otp": f"give the code the token shows ('kpki bank otp code') in --code-file or "
                 f"${OTP_CODE_ENV}",
    "otp_locked": "a branch resets it: 'kpki bank otp reset CUSTOMER SERIAL --operator NAME'",
    "otp_wrong_device": "give the device it was issued to in --device",
    "otp_not_activated": "activate it: 'kpki bank otp activate CUSTOMER SERIAL --device ID'",
    "wrong_code": f"give the code the phone received ('kpki bank phone messages') in "
                  f"--code-file or ${PHONE_CODE_ENV}",
    "code_tries_exhausted": "ask for a new code: 'kpki bank phone resend ID'",
    "code_expired": "ask for a new code: 'kpki bank phone resend ID'",
    "push_not_enrolled": "enrol the carrier app: 'kpki bank app enrol PHONE'",
    "wrong_app_password": f"give the app's password in --app-password-file or "
                          f"${APP_PASSWORD_ENV}",
    "app_locked": "enrol the app again: 'kpki bank app enrol PHONE'",
    "identity_mismatch": "check --name, --phone, --rrn7 and --carrier against the line",
    "too_many_devices": "remove one first: 'kpki bank device remove CUSTOMER DEVICE'",
    "device_change_branch_only": "a branch does it: add --operator NAME",
}
# What each thing not found is named by on the command line.
_NOT_FOUND = {
    "institution": f"check --bank or ${BANK_ENV} ('kpki bank add CODE' adds one)",
    "customer": "check CUSTOMER: an id 'kpki bank customer add' gave at this bank",
    "account": "check NUMBER: an account of this bank",
    "card": "the customer has no active card: 'kpki bank card issue CUSTOMER'",
    "challenge": "check CHALLENGE: one 'kpki bank card challenge' gave at this bank",
    "OTP token": "check SERIAL: a token registered for this customer at this bank",
    "line": "check the phone: a line 'kpki bank line add' added",
    "verification": "check ID: a verification this bank asked for",
}
# The option that gives each request field, for every command (a command adds its own).
_FIELDS = {"name": "--name", "rrn": "--rrn", "phone": "--phone", "carrier": "--carrier",
           "mvno": "--mvno", "line_type": "--line-type", "state": "--state",
           "operator": "--operator", "balance": "--balance", "rrn7": "--rrn7",
           "method": "--method", "device": "--device", "serial": "SERIAL",
           "account": "NUMBER", "password": "--password-file", "answer": "--answer-file",
           "code": "--code-file", "second": "--code-file", "seed": "--seed-file",
           "amount": "--amount"}


def _refusals(**fields: str) -> Callable[[F], F]:
    """Turn the bank's refusals raised by the command into one line: a bad value the
    command line gave is a usage error naming its option (exit 2); one read from a file,
    the environment or the store, and every other refusal, exit 1 with its code in
    brackets and what fixes it. ``fields`` maps a request field to this command's
    option where it differs from :data:`_FIELDS`."""
    options = {**_FIELDS, **fields}

    def wrap(f: F) -> F:
        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return f(*args, **kwargs)
            except BankError as exc:
                raise _refusal(exc, options) from None

        return run  # type: ignore[return-value]

    return wrap


def _refusal(exc: BankError, options: Mapping[str, str]) -> click.ClickException:
    code = exc.code
    if isinstance(exc, BankNotFoundError):
        return click.ClickException(f"{exc} [{code}] ({_NOT_FOUND.get(exc.what, '')})")
    if isinstance(exc, BankRequestError | BankSettingsError):
        field = exc.field if isinstance(exc, BankRequestError) else "setting"
        option = options.get(field)
        if option is not None and not option.endswith("-file"):
            return click.BadParameter(str(exc), param_hint=option)
        where = f"{option}: " if option else ""
        return click.ClickException(f"{where}{exc} [{code}]")
    if isinstance(exc, CustomerExistsError):
        option = options.get(exc.field, exc.field)
        return click.ClickException(f"{exc} [{code}] (check {option})")
    fix = _FIXES.get(code)
    return click.ClickException(f"{exc} [{code}]" + (f" ({fix})" if fix else ""))


# -- what the user types ---------------------------------------------------------------------


def _bank_code(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_institution_code(value)
    except BankRequestError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _phone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_phone(value)
    except InvalidRegistrationError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (1 <= len(value) <= 64 and value.isprintable()):
        raise click.BadParameter("1-64 printable characters", ctx=ctx, param=param)
    return value


def _setting(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
             ) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (VALUE read as JSON where it is: 30, true; else as text),
    checked as a whole by :meth:`BankSettings.from_config`."""
    settings: dict[str, Any] = {}
    for pair in value:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", ctx=ctx, param=param)
        try:
            settings[key] = json.loads(text)
        except ValueError:
            settings[key] = text
    try:
        BankSettings.from_config(settings)
    except BankSettingsError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return settings


def bank_option(f: F) -> F:
    return click.option("--bank", "code", required=True, envvar=BANK_ENV, metavar="CODE",
                        callback=_bank_code,
                        help=f"The bank's 3-digit institution code (081 Hana, 004 KB; "
                             f"also ${BANK_ENV}).")(f)


def _secret_file(option: str, help: str) -> Callable[[F], F]:
    return click.option(option, type=click.Path(dir_okay=False, path_type=Path), help=help)


def _secret(path: Path | None, *, env: str, what: str, option: str,
            confirm: bool = False) -> str:
    return read_secret(file=path, env=env, what=what, option=option,
                       confirm=confirm).decode("utf-8", errors="replace").strip()


_CARRIERS = [c.value for c in Carrier]
_CUSTOMER_LINES = [t.value for t in LineType]
_CARRIER_LINES = [LineType.POSTPAID.value, LineType.PREPAID.value, LineType.CORPORATE.value]
_MEDIA = [m.value for m in MediumKind]


@contextlib.contextmanager
def _banking(obj: Context) -> Iterator[Banking]:
    with obj.open_home() as home:
        yield Banking.of_home(home)


def _report(value: Any, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(value)
    else:
        click.echo(text)


# -- as JSON ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A result as JSON values: enums by value, times by :func:`iso`, dates ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and hasattr(type(value), "__members__"):
        return value.value
    return value


def _bank_json(bank: Institution) -> dict[str, Any]:
    return {"code": bank.code, "name": bank.name, "added_at": iso(bank.added_at),
            "settings": dataclasses.asdict(BankSettings.from_config(bank.settings))}


def _masked(rrn: str) -> str:
    return str(RRN(rrn))  # RRN's str masks the last six digits


def _customer_json(customer: BankCustomer) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name, "rrn": _masked(customer.rrn),
            "phone": customer.phone, "carrier": customer.carrier.value,
            "mvno": customer.mvno, "line_type": customer.line_type.value,
            "created_at": iso(customer.created_at)}


def _account_json(account: Account) -> dict[str, Any]:
    return {"number": account.number, "customer": account.customer_id,
            "balance": account.balance, "opened_at": iso(account.opened_at),
            "failures": account.failures, "locked": account.locked}


def _line_json(line: SubscriberLine) -> dict[str, Any]:
    return {"phone": line.phone, "name": line.name, "rrn": _masked(line.rrn),
            "carrier": line.carrier.value, "mvno": line.mvno,
            "line_type": line.line_type.value, "state": line.state.value,
            "other_name": line.other_name, "ars_blocked": line.ars_blocked}


def _overview_json(seen: CustomerOverview) -> dict[str, Any]:
    return {**_customer_json(seen.customer), "enrolment": _plain(seen.enrolment),
            "accounts": [_account_json(a) for a in seen.accounts],
            "card": _plain(seen.card), "otp": [_plain(t) for t in seen.otp_tokens],
            "limits": None if seen.limits is None else {
                **_plain(seen.limits), "left_today": seen.limits.left_today}}


# -- commands --------------------------------------------------------------------------------


@click.group()
def bank() -> None:
    """The bank around the certificates: customers, accounts, security cards, OTP,
    phone verification and limits (docs/bank.md)."""


@bank.command("add")
@click.argument("code", callback=_bank_code)
@click.option("--name", help="The bank's name (default: the known name of CODE, 081 "
                             "하나은행, or 'bank CODE').")
@click.option("--setting", "settings", multiple=True, callback=_setting, metavar="KEY=VALUE",
              help="A bank setting (card_positions=30, limit_table=kb ...; docs/bank.md "
                   "lists them); repeat for more.")
@out_file_option("Write the API key to this file (0600) instead of printing it")
@force_file_option
@json_option
@click.pass_obj
@_refusals(code="CODE")
def add(obj: Context, code: str, name: str | None, settings: dict[str, Any],
        out: Path | None, force: bool, as_json: bool) -> None:
    """Add the bank with institution CODE (3 digits) and give out its API key (shown
    once; kpki serve's /bank/v1 takes it)."""
    if is_stdout(out):
        out = None
    check_out_file(out, force=force)
    with _banking(obj) as banking:
        taken = [i for i in banking.store.institutions()
                 if i.code == code or (name is not None and i.name == name)]
        if taken:
            raise click.ClickException(
                f"the institution {taken[0].name} ({taken[0].code or 'no code'}) exists "
                "already [exists] (check CODE and --name)")
        added, api_key = banking.add_bank(code, name=name, settings=settings)
    report = _bank_json(added)
    if out:
        atomic_write(out, api_key.encode() + b"\n", mode=0o600)
        _report({**report, "api_key_file": str(out)}, as_json,
                f"bank {added.code} {added.name} added; API key in {out}")
    else:
        _report({**report, "api_key": api_key}, as_json, api_key)


@bank.command("list")
@list_options
@click.pass_obj
def list_(obj: Context, as_json: bool, as_jsonl: bool) -> None:
    """The banks of the home, by code."""
    with _banking(obj) as banking:
        banks = banking.banks()
    rows = [_bank_json(b) for b in banks]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"banks": rows}):
        return
    if not banks:
        click.echo("no banks yet ('kpki bank add CODE' adds one: "
                   + ", ".join(f"{c} {n}" for c, n in KNOWN_CODES.items()) + ")")
        return
    table(["CODE", "NAME", "ADDED"], [[b.code or "", b.name, shown(b.added_at)] for b in banks])


@bank.command("settings")
@bank_option
@click.option("--set", "settings", multiple=True, callback=_setting, metavar="KEY=VALUE",
              help="Change a setting (the others keep their values); repeat for more.")
@json_option
@click.pass_obj
@_refusals()
def settings_(obj: Context, code: str, settings: dict[str, Any], as_json: bool) -> None:
    """Show the bank's settings, or change some with --set."""
    with _banking(obj) as banking:
        found = banking.bank(code)
        if settings:
            found = banking.change_settings(
                found, {**BankSettings.from_config(found.settings).to_config(), **settings})
    report = _bank_json(found)
    _report(report, as_json, "\n".join(f"{k}: {v}" for k, v in report["settings"].items()))


# -- customers -------------------------------------------------------------------------------


@bank.group()
def customer() -> None:
    """Customers and their internet-banking enrolment."""


@customer.command("add")
@bank_option
@click.option("--name", required=True, help="The customer's real name.")
@rrn_option("The customer's resident registration number (13 digits, a dash after the "
            "sixth allowed).", required=True)
@click.option("--phone", required=True, callback=_phone,
              help="The customer's phone, written any way (010-1234-5678).")
@click.option("--carrier", required=True, type=click.Choice(_CARRIERS),
              help="The network (an MVNO's line: its host network, and --mvno).")
@click.option("--mvno", callback=_label, help="The MVNO's name, for an MVNO's line.")
@click.option("--line-type", type=click.Choice(_CUSTOMER_LINES), default="postpaid",
              show_default=True, help="The kind of line.")
@json_option
@click.pass_obj
@_refusals()
def customer_add(obj: Context, code: str, name: str, rrn: str, phone: str, carrier: str,
                 mvno: str | None, line_type: str, as_json: bool) -> None:
    """Add a customer to the bank; prints the customer's id."""
    with _banking(obj) as banking:
        added = banking.customers.add(banking.bank(code), name=name, rrn=rrn, phone=phone,
                                      carrier=carrier, mvno=mvno, line_type=line_type)
    _report(_customer_json(added), as_json, added.id)


@customer.command("list")
@bank_option
@list_options
@click.pass_obj
@_refusals()
def customer_list(obj: Context, code: str, as_json: bool, as_jsonl: bool) -> None:
    """The bank's customers, oldest first."""
    with _banking(obj) as banking:
        found = banking.customers_of(banking.bank(code))
    rows = [_customer_json(c) for c in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"customers": rows}):
        return
    table(["ID", "NAME", "PHONE", "CARRIER", "LINE"],
          [[c.id, c.name, c.phone, c.carrier.value + (f" ({c.mvno})" if c.mvno else ""),
            c.line_type.value] for c in found])


@customer.command("show")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@json_option
@click.pass_obj
@_refusals()
def customer_show(obj: Context, code: str, customer_id: str, as_json: bool) -> None:
    """The customer whole: enrolment, accounts, card, OTP tokens and today's limits."""
    with _banking(obj) as banking:
        seen = banking.overview(banking.bank(code), customer_id)
    if as_json:
        emit_json(_overview_json(seen))
        return
    c, e = seen.customer, seen.enrolment
    click.echo(f"{c.id}  {c.name}  {_masked(c.rrn)}  {c.phone}  {c.carrier.value}"
               + (f" ({c.mvno})" if c.mvno else "") + f"  {c.line_type.value}")
    click.echo(f"internet banking: {e.state.value}"
               + (f" (activate by {shown(e.deadline)})" if e.deadline and e.state.value ==
                  "pending" else ""))
    for a in seen.accounts:
        click.echo(f"account {a.number}: {a.balance:,} KRW" + ("  locked" if a.locked else ""))
    if seen.card is not None:
        click.echo(f"card No. {seen.card.serial}: {seen.card.attempts_left} attempts left"
                   + ("  locked" if seen.card.locked else ""))
    for t in seen.otp_tokens:
        click.echo(f"OTP {t.serial} ({t.kind.value}): {_otp_state(t)}")
    if seen.limits is None:
        click.echo("limits: no usable medium")
    else:
        m = seen.limits
        click.echo(f"limits ({m.medium.value}): {m.per_transfer:,} a transfer, "
                   f"{m.per_day:,} a day, {m.left_today:,} KRW left today")


@customer.command("line")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.option("--phone", callback=_phone, help="The new phone number.")
@click.option("--carrier", type=click.Choice(_CARRIERS), help="The new network.")
@click.option("--mvno", callback=_label, help="The MVNO's name (a move to an MVNO).")
@click.option("--line-type", type=click.Choice(_CUSTOMER_LINES),
              help="The line's kind (suspended, lost ...).")
@json_option
@click.pass_obj
@_refusals()
def customer_line(obj: Context, code: str, customer_id: str, phone: str | None,
                  carrier: str | None, mvno: str | None, line_type: str | None,
                  as_json: bool) -> None:
    """Change the customer's phone line (what is given)."""
    if phone is None and carrier is None and mvno is None and line_type is None:
        raise click.UsageError("give what changes: --phone, --carrier, --mvno or --line-type")
    with _banking(obj) as banking:
        changed = banking.customers.change_line(banking.bank(code), customer_id, phone=phone,
                                                carrier=carrier, mvno=mvno,
                                                line_type=line_type)
    _report(_customer_json(changed), as_json, f"{changed.id}: {changed.phone} "
            f"{changed.carrier.value} {changed.line_type.value}")


@customer.command("sign-up")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@json_option
@click.pass_obj
@_refusals()
def customer_sign_up(obj: Context, code: str, customer_id: str, as_json: bool) -> None:
    """Sign the customer up for internet banking at the branch (activate it online
    within the bank's enrolment days, counting today)."""
    with _banking(obj) as banking:
        enrolment = banking.customers.sign_up(banking.bank(code), customer_id)
    assert enrolment.deadline is not None
    _report(_plain(enrolment), as_json, f"signed up: activate by {shown(enrolment.deadline)}")


@customer.command("activate")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@json_option
@click.pass_obj
@_refusals()
def customer_activate(obj: Context, code: str, customer_id: str, as_json: bool) -> None:
    """Activate the customer's internet banking online (after the branch sign-up)."""
    with _banking(obj) as banking:
        enrolment = banking.customers.activate(banking.bank(code), customer_id)
    _report(_plain(enrolment), as_json, "internet banking active")


# -- accounts --------------------------------------------------------------------------------


@bank.group()
def account() -> None:
    """Accounts: number, 4-digit password, balance."""


_PASSWORD_HELP = (f"File whose first line is the account's 4-digit password (else "
                  f"${ACCOUNT_PASSWORD_ENV}, else a prompt; never on the command line).")


def _account_password(path: Path | None, *, confirm: bool = False) -> str:
    return _secret(path, env=ACCOUNT_PASSWORD_ENV, what="account password",
                   option="--password-file", confirm=confirm)


@account.command("open")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.option("--balance", type=click.IntRange(min=0), default=0, show_default=True,
              help="The opening balance in KRW.")
@click.option("--number", help="The account number, 10-16 digits (default: drawn).")
@_secret_file("--password-file", _PASSWORD_HELP)
@json_option
@click.pass_obj
@_refusals(account="--number")
def account_open(obj: Context, code: str, customer_id: str, balance: int,
                 number: str | None, password_file: Path | None, as_json: bool) -> None:
    """Open an account for the customer under a 4-digit password (entered twice)."""
    password = _account_password(password_file, confirm=True)
    with _banking(obj) as banking:
        opened = banking.customers.open_account(banking.bank(code), customer_id,
                                                password=password, balance=balance,
                                                number=number)
    _report(_account_json(opened), as_json, opened.number)


@account.command("list")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@list_options
@click.pass_obj
@_refusals()
def account_list(obj: Context, code: str, customer_id: str, as_json: bool,
                 as_jsonl: bool) -> None:
    """The customer's accounts."""
    with _banking(obj) as banking:
        found = banking.customers.accounts(banking.bank(code), customer_id)
    rows = [_account_json(a) for a in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"accounts": rows}):
        return
    table(["NUMBER", "BALANCE", "STATE"],
          [[a.number, f"{a.balance:,}", "locked" if a.locked else "open"] for a in found])


@account.command("check")
@bank_option
@click.argument("number")
@_secret_file("--password-file", _PASSWORD_HELP)
@json_option
@click.pass_obj
@_refusals()
def account_check(obj: Context, code: str, number: str, password_file: Path | None,
                  as_json: bool) -> None:
    """Check the account's password (a wrong one is counted; the last allowed one locks
    it until a branch resets it)."""
    password = _account_password(password_file)
    with _banking(obj) as banking:
        checked = banking.customers.check_password(banking.bank(code), number, password)
    _report(_account_json(checked), as_json, "account password right")


@account.command("reset")
@bank_option
@click.argument("number")
@click.option("--operator", required=True, callback=_label,
              help="The branch staff who sets it (recorded in the audit log).")
@_secret_file("--password-file", "File whose first line is the new 4-digit password (else "
              f"${ACCOUNT_PASSWORD_ENV}, else a prompt asked twice).")
@json_option
@click.pass_obj
@_refusals()
def account_reset(obj: Context, code: str, number: str, operator: str,
                  password_file: Path | None, as_json: bool) -> None:
    """A branch sets a new account password and clears the lock."""
    password = _account_password(password_file, confirm=True)
    with _banking(obj) as banking:
        reset = banking.customers.reset_password(banking.bank(code), number,
                                                 password=password, operator=operator)
    _report(_account_json(reset), as_json, f"account {reset.number}: new password set")


# -- security cards --------------------------------------------------------------------------


@bank.group()
def card() -> None:
    """Security cards (보안카드): issue, print, challenge and answer, reset."""


@card.command("issue")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@_secret_file("--seed-file", "File whose first line seeds the card: the same seed, the "
              "same serial and codes (default: drawn at random).")
@json_option
@click.pass_obj
@_refusals()
def card_issue(obj: Context, code: str, customer_id: str, seed_file: Path | None,
               as_json: bool) -> None:
    """Issue a security card to the customer (the active one is retired); prints its
    serial ('kpki bank card print' prints the card)."""
    seed = None if seed_file is None else _secret(seed_file, env="", what="card seed",
                                                  option="--seed-file")
    with _banking(obj) as banking:
        issued = banking.cards.issue(banking.bank(code), customer_id, seed=seed)
    _report({"serial": issued.serial, "positions": len(issued.codes)}, as_json,
            f"card No. {issued.serial} issued")


@card.command("print")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@json_option
@click.pass_obj
@_refusals()
def card_print(obj: Context, code: str, customer_id: str, as_json: bool) -> None:
    """Print the customer's active card: its serial and codes (what the customer
    holds; a test answers challenges from it)."""
    with _banking(obj) as banking:
        printed = banking.printed_card(banking.bank(code), customer_id)
    _report({"serial": printed.serial, "codes": list(printed.codes)}, as_json, printed.text())


@card.command("challenge")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@json_option
@click.pass_obj
@_refusals()
def card_challenge(obj: Context, code: str, customer_id: str, as_json: bool) -> None:
    """A new challenge to the customer's card: two positions, answered once before it
    expires (the first two digits of the first code, the last two of the second)."""
    with _banking(obj) as banking:
        asked = banking.cards.challenge(banking.bank(code), customer_id)
    _report(_plain(asked), as_json, f"{asked.id}: card No. {asked.serial}, positions "
            f"#{asked.first} and #{asked.second}, until {shown(asked.expires_at)}")


@card.command("answer")
@bank_option
@click.argument("challenge")
@_secret_file("--answer-file", f"File whose first line is the 4-digit answer (else "
              f"${CARD_ANSWER_ENV}, else a prompt; never on the command line).")
@json_option
@click.pass_obj
@_refusals()
def card_answer(obj: Context, code: str, challenge: str, answer_file: Path | None,
                as_json: bool) -> None:
    """Answer a challenge (once; a wrong answer is counted)."""
    answer = _secret(answer_file, env=CARD_ANSWER_ENV, what="card answer",
                     option="--answer-file")
    with _banking(obj) as banking:
        banking.cards.answer(banking.bank(code), challenge, answer)
    _report({"challenge": challenge, "accepted": True}, as_json, "answer right")


@card.command("reset")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.option("--operator", required=True, callback=_label,
              help="The branch staff who resets it (recorded in the audit log).")
@json_option
@click.pass_obj
@_refusals()
def card_reset(obj: Context, code: str, customer_id: str, operator: str,
               as_json: bool) -> None:
    """A branch clears the card's lock and wrong-answer count."""
    with _banking(obj) as banking:
        bank_ = banking.bank(code)
        banking.cards.reset(bank_, customer_id, operator=operator)
        state = banking.card_state(bank_, customer_id)
    _report(_plain(state), as_json, "card reset")


@card.command("lost")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@json_option
@click.pass_obj
@_refusals()
def card_lost(obj: Context, code: str, customer_id: str, as_json: bool) -> None:
    """Report the customer's card lost: it is retired at once."""
    with _banking(obj) as banking:
        bank_ = banking.bank(code)
        serial = banking.cards.card(bank_, customer_id).serial
        banking.cards.report_lost(bank_, customer_id)
    _report({"serial": serial, "lost": True}, as_json, f"card No. {serial} reported lost")


# -- OTP -------------------------------------------------------------------------------------


@bank.group()
def otp() -> None:
    """OTP tokens: hardware (the OTP centre's), the bank's mobile OTP, the digital OTP."""


_CODE_HELP = (f"File whose first line is the token's code (else ${OTP_CODE_ENV}, else a "
              "prompt; never on the command line).")


def _otp_code(path: Path | None) -> str:
    return _secret(path, env=OTP_CODE_ENV, what="OTP code", option="--code-file")


def _otp_state(status: OtpStatus) -> str:
    for flag, word in ((status.lost, "lost"), (status.disabled, "disabled"),
                       (status.locked, "locked")):
        if flag:
            return word
    if not status.activated:
        by = f" (activate by {shown(status.activate_by)})" if status.activate_by else ""
        return "not activated" + by
    return f"usable, {status.attempts_left} attempts left"


@otp.command("issue")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.option("--kind", type=click.Choice([k.value for k in OtpKind]), default="hardware",
              show_default=True, help="hardware: the OTP centre's token; mobile: this "
                                      "bank's app OTP; digital: the shared digital OTP.")
@click.option("--device", callback=_label,
              help="The phone the mobile or digital OTP is issued to (required for them).")
@json_option
@click.pass_obj
@_refusals()
def otp_issue(obj: Context, code: str, customer_id: str, kind: str, device: str | None,
              as_json: bool) -> None:
    """Issue an OTP token to the customer; prints its serial ('kpki bank otp code'
    shows its current code)."""
    if kind != "hardware" and device is None:
        raise click.BadParameter(f"a {kind} OTP is issued to a device", param_hint="--device")
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        if kind == "hardware":
            issued = banking.otp.issue_hardware(holder)
        elif kind == "mobile":
            issued = banking.otp.issue_mobile(holder, device=device or "")
        else:
            issued = banking.otp.issue_digital(holder, device=device or "")
        status = banking.otp.status(holder, issued.serial)
    _report(_plain(status), as_json, issued.serial)


@otp.command("code")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("serial")
@json_option
@click.pass_obj
@_refusals()
def otp_code(obj: Context, code: str, customer_id: str, serial: str, as_json: bool) -> None:
    """The code the token shows now (the token in the customer's hand; --at moves the
    clock)."""
    with _banking(obj) as banking:
        now = banking.clock.now()
        shown_code = banking.otp_code(banking.bank(code), customer_id, serial, at=now)
    _report({"serial": serial, "code": shown_code, "at": iso(now)}, as_json, shown_code)


def _otp_step(name: str, help: str, *, device: bool) -> Callable[[F], F]:
    """An OTP command that takes a code: ``--bank CUSTOMER SERIAL [--device] --code-file``."""

    def decorate(f: F) -> F:
        made: Any = click.pass_obj(_refusals()(f))
        made = _secret_file("--code-file", _CODE_HELP)(json_option(made))
        if device:
            made = click.option("--device", callback=_label,
                                help="The device the code comes from (a mobile OTP's own "
                                     "phone).")(made)
        made = click.argument("customer_id", metavar="CUSTOMER")(click.argument("serial")(made))
        command: Any = otp.command(name, help=help)(bank_option(made))
        return command  # type: ignore[no-any-return]

    return decorate


@_otp_step("verify", "Verify a code of the token (once; a wrong code is counted on the "
           "token at every bank).", device=True)
def otp_verify(obj: Context, code: str, customer_id: str, serial: str, device: str | None,
               code_file: Path | None, as_json: bool) -> None:
    given = _otp_code(code_file)
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        accepted = banking.otp.verify(holder, serial, given, device=device)
    _report(_plain(accepted), as_json, "OTP code accepted")


@_otp_step("register", "Register a hardware or digital OTP issued elsewhere at this "
           "bank, with a right code from it.", device=False)
def otp_register(obj: Context, code: str, customer_id: str, serial: str,
                 code_file: Path | None, as_json: bool) -> None:
    given = _otp_code(code_file)
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        accepted = banking.otp.register(holder, serial, given)
    _report(_plain(accepted), as_json, f"OTP {serial} registered")


@_otp_step("activate", "Activate a mobile OTP with a right code from its device, "
           "within its activation days.", device=True)
def otp_activate(obj: Context, code: str, customer_id: str, serial: str,
                 device: str | None, code_file: Path | None, as_json: bool) -> None:
    if device is None:
        raise click.UsageError("give the device the mobile OTP was issued to: --device")
    given = _otp_code(code_file)
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        accepted = banking.otp.activate(holder, serial, given, device=device)
    _report(_plain(accepted), as_json, f"OTP {serial} activated")


@_otp_step("resync", "Resynchronise the token from two consecutive codes, given on one "
           "line with a space between.", device=True)
def otp_resync(obj: Context, code: str, customer_id: str, serial: str, device: str | None,
               code_file: Path | None, as_json: bool) -> None:
    codes = _otp_code(code_file).split()
    if len(codes) != 2:
        raise click.ClickException(f"--code-file or ${OTP_CODE_ENV}: two codes are needed, "
                                   "the first then the next, with a space between")
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        accepted = banking.otp.resynchronise(holder, serial, codes[0], codes[1],
                                             device=device)
    _report(_plain(accepted), as_json, f"OTP {serial} resynchronised (drift "
            f"{accepted.drift} steps)")


@otp.command("list")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@list_options
@click.pass_obj
@_refusals()
def otp_list(obj: Context, code: str, customer_id: str, as_json: bool,
             as_jsonl: bool) -> None:
    """The customer's tokens registered at this bank."""
    with _banking(obj) as banking:
        found = banking.otp.tokens_of(banking.customer(banking.bank(code), customer_id))
    rows = [_plain(t) for t in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"tokens": rows}):
        return
    table(["SERIAL", "KIND", "DEVICE", "STATE"],
          [[t.serial, t.kind.value, t.device or "-", _otp_state(t)] for t in found])


@otp.command("lost")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("serial")
@json_option
@click.pass_obj
@_refusals()
def otp_lost(obj: Context, code: str, customer_id: str, serial: str, as_json: bool) -> None:
    """Report the token lost: it stops at every bank."""
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        banking.otp.report_lost(holder, serial)
        status = banking.otp.status(holder, serial)
    _report(_plain(status), as_json, f"OTP {serial} reported lost")


@otp.command("reset")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("serial")
@click.option("--operator", required=True, callback=_label,
              help="The branch staff who resets it (recorded in the audit log).")
@json_option
@click.pass_obj
@_refusals()
def otp_reset(obj: Context, code: str, customer_id: str, serial: str, operator: str,
              as_json: bool) -> None:
    """A branch clears the token's wrong-code count and lock (at every bank)."""
    with _banking(obj) as banking:
        holder = banking.customer(banking.bank(code), customer_id)
        banking.otp.reset_failures(holder, serial, operator=operator)
        status = banking.otp.status(holder, serial)
    _report(_plain(status), as_json, f"OTP {serial}: {_otp_state(status)}")


# -- designated devices ----------------------------------------------------------------------


@bank.group()
def device() -> None:
    """Designated devices (단말기 지정): at most the bank's max_devices, designated-only
    mode, the extra SMS/ARS step."""


def _devices_json(state: Any) -> dict[str, Any]:
    return {"devices": list(state.devices), "designated_only": state.designated_only,
            "step_up": None if state.step_up is None else state.step_up.value}


def _devices_text(state: Any) -> str:
    return (f"devices: {', '.join(state.devices) or '-'}; designated only: "
            f"{'on' if state.designated_only else 'off'}; extra step: "
            f"{'-' if state.step_up is None else state.step_up.value}")


_OPERATOR_HELP = ("The branch operator who makes the change (recorded in the audit log): "
                  "needed to remove the last device or turn designated-only off while it "
                  "is on.")


@device.command("list")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@list_options
@click.pass_obj
@_refusals()
def device_list(obj: Context, code: str, customer_id: str, as_json: bool,
                as_jsonl: bool) -> None:
    """The customer's designated devices, oldest first, and the choices."""
    with _banking(obj) as banking:
        state = banking.devices.state(banking.bank(code), customer_id)
    report = _devices_json(state)
    rows = [{"device": d} for d in state.devices]
    if not emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document=report):
        click.echo(_devices_text(state))


@device.command("add")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("device_id", metavar="DEVICE", callback=_label)
@json_option
@click.pass_obj
@_refusals(device="DEVICE")
def device_add(obj: Context, code: str, customer_id: str, device_id: str,
               as_json: bool) -> None:
    """Designate DEVICE for the customer."""
    with _banking(obj) as banking:
        state = banking.devices.designate(banking.bank(code), customer_id, device_id)
    _report(_devices_json(state), as_json, _devices_text(state))


@device.command("remove")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("device_id", metavar="DEVICE", callback=_label)
@click.option("--operator", callback=_label, help=_OPERATOR_HELP)
@json_option
@click.pass_obj
@_refusals(device="DEVICE")
def device_remove(obj: Context, code: str, customer_id: str, device_id: str,
                  operator: str | None, as_json: bool) -> None:
    """No longer designate DEVICE."""
    with _banking(obj) as banking:
        state = banking.devices.remove(banking.bank(code), customer_id, device_id,
                                       operator=operator)
    _report(_devices_json(state), as_json, _devices_text(state))


@device.command("only")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("mode", type=click.Choice(["on", "off"]))
@click.option("--operator", callback=_label, help=_OPERATOR_HELP)
@json_option
@click.pass_obj
@_refusals()
def device_only(obj: Context, code: str, customer_id: str, mode: str, operator: str | None,
                as_json: bool) -> None:
    """Turn designated-only mode on or off (off while on: at a branch, --operator)."""
    with _banking(obj) as banking:
        state = banking.devices.set_designated_only(banking.bank(code), customer_id,
                                                    mode == "on", operator=operator)
    _report(_devices_json(state), as_json, _devices_text(state))


@device.command("step-up")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.argument("method", type=click.Choice(["sms", "ars", "none"]))
@json_option
@click.pass_obj
@_refusals()
def device_step_up(obj: Context, code: str, customer_id: str, method: str,
                   as_json: bool) -> None:
    """Subscribe the customer to the extra-step service (sms or ars), or end it (none)."""
    with _banking(obj) as banking:
        state = banking.devices.subscribe_step_up(banking.bank(code), customer_id,
                                                  None if method == "none" else method)
    _report(_devices_json(state), as_json, _devices_text(state))


# -- transfers -------------------------------------------------------------------------------


@bank.group()
def transfer() -> None:
    """Transfers: signed with a joint or financial certificate, answered with the card or
    an OTP, under the device rules and the limits."""


@transfer.command("send")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.option("--from", "from_account", required=True, help="The customer's account.")
@click.option("--to", "to_account", required=True, help="The payee's account.")
@click.option("--amount", type=click.IntRange(min=1), required=True, help="KRW.")
@click.option("--npki", "folder", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The customer's NPKI folder (joint or financial certificate): signs the "
                   "transfer's text, with R for the VID check.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File whose first line is the key password (else $KPKI_KEY_PASSWORD, "
                   "else a prompt).")
@click.option("--challenge", help="The card challenge answered ('kpki bank card "
                                  "challenge'); the answer from --answer-file.")
@_secret_file("--answer-file", f"File whose first line is the card answer (else "
              f"${CARD_ANSWER_ENV}, else a prompt).")
@click.option("--otp", "serial", help="The OTP token answered; its code from --code-file.")
@_secret_file("--code-file", _CODE_HELP)
@click.option("--device", callback=_label, help="The device the transfer comes from.")
@click.option("--step-up", help="The phone verification made as the extra step, when the "
                                "device rules ask for one ('kpki bank phone request').")
@json_option
@click.pass_obj
@_refusals(account="--from", to_account="--to", device="--device")
def transfer_send(obj: Context, code: str, customer_id: str, from_account: str,
                  to_account: str, amount: int, folder: Path, password_file: Path | None,
                  challenge: str | None, answer_file: Path | None, serial: str | None,
                  code_file: Path | None, device: str | None, step_up: str | None,
                  as_json: bool) -> None:
    """Authorise a transfer: signed here with the NPKI folder's key over the transfer's
    text, answered with the card challenge or the OTP. Accepted or refused, it is
    recorded; a refusal is one line with its code (exit 1)."""
    from pki.keys import npki
    from pki.signing import KeySigner, sign
    from pki.usecases.banking import TransferAsked

    from .params import opened_with, read_from
    from .secrets import KEY_PASSWORD_ENV, key_password

    if (challenge is None) == (serial is None):
        raise click.UsageError("answer with one medium: --challenge (the card) or --otp")
    if serial is not None:
        response = _otp_code(code_file)
    else:
        response = _secret(answer_file, env=CARD_ANSWER_ENV, what="card answer",
                           option="--answer-file")
    with opened_with("--password-file", KEY_PASSWORD_ENV), read_from("--npki", folder):
        credential = npki.load(folder, key_password(password_file, confirm=False))
    if credential.r is None:
        raise click.ClickException(f"--npki {folder}: the key file holds no R, which the "
                                   "bank needs for the VID check")
    asked = TransferAsked(from_account, to_account, amount, device=device,
                          card_challenge=challenge, otp_serial=serial, response=response,
                          step_up=step_up)
    with _banking(obj) as banking:
        found = banking.bank(code)
        text = asked.order(found, banking.clock.now()).text()
        signed = sign(text, KeySigner(credential.certificate, credential.private_key),
                      clock=banking.clock)
        result = banking.authorise_transfer(found, customer_id, asked, signature=signed.der,
                                            r=credential.r)
    if not result.accepted:
        more = ""
        if result.attempts_left is not None:
            more = f": {result.attempts_left} attempts left"
        if result.step_up_methods:
            more = (f": make a phone verification ({' or '.join(result.step_up_methods)}) "
                    "and give it in --step-up")
        raise click.ClickException(f"transfer {result.id} refused [{result.code}]{more}")
    _report(_plain(result), as_json, f"transfer {result.id}: {result.amount:,} KRW from "
            f"{result.from_account} to {result.to_account}; balance {result.balance:,}")


@transfer.command("list")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@list_options
@click.pass_obj
@_refusals()
def transfer_list(obj: Context, code: str, customer_id: str, as_json: bool,
                  as_jsonl: bool) -> None:
    """The customer's transfers, accepted and refused, oldest first."""
    with _banking(obj) as banking:
        found = banking.transfers.transfers(banking.bank(code), customer_id)
    rows = [_plain(t) for t in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"transfers": rows}):
        return
    table(["ID", "AT", "FROM", "TO", "AMOUNT", "OUTCOME"],
          [[t.id, shown(t.at), t.from_account, t.to_account, f"{t.amount:,}",
            t.outcome.value + (f" ({t.reason})" if t.reason else "")] for t in found])


# -- limits ----------------------------------------------------------------------------------


@bank.command("limits")
@bank_option
@click.argument("customer_id", metavar="CUSTOMER")
@click.option("--medium", type=click.Choice(_MEDIA),
              help="The limits of a transfer made with this medium (default: the best "
                   "usable one).")
@json_option
@click.pass_obj
@_refusals()
def limits(obj: Context, code: str, customer_id: str, medium: str | None,
           as_json: bool) -> None:
    """The limits a transfer made now would get, and what is left today (KST)."""
    with _banking(obj) as banking:
        found = banking.limits_now(banking.bank(code), customer_id,
                                   None if medium is None else MediumKind(medium))
    if found is None:
        raise click.ClickException("the customer has no usable security medium [no_medium] "
                                   f"({_FIXES['no_medium']})")
    _report({**_plain(found), "left_today": found.left_today}, as_json,
            f"{found.medium.value}: {found.per_transfer:,} KRW a transfer, "
            f"{found.per_day:,} a day, {found.left_today:,} left today")


# -- the carriers' lines and phone verification ----------------------------------------------


@bank.group()
def line() -> None:
    """The carriers' side of phone verification: mobile lines (test data)."""


@line.command("add")
@click.argument("phone", callback=_phone)
@click.option("--name", required=True, help="The holder's name.")
@rrn_option("The holder's resident registration number.", required=True)
@click.option("--carrier", required=True, type=click.Choice(_CARRIERS),
              help="The network (an MVNO's line: its host network, and --mvno).")
@click.option("--mvno", callback=_label, help="The MVNO's name, for an MVNO's line.")
@click.option("--line-type", type=click.Choice(_CARRIER_LINES), default="postpaid",
              show_default=True, help="The kind of line.")
@click.option("--state", type=click.Choice([s.value for s in LineState]), default="active",
              show_default=True, help="Whether the line works.")
@click.option("--other-name", is_flag=True,
              help="The line is in another person's name than its user's.")
@click.option("--ars-blocked", is_flag=True, help="The phone blocks the ARS number.")
@json_option
@click.pass_obj
@_refusals(phone="PHONE")
def line_add(obj: Context, phone: str, name: str, rrn: str, carrier: str, mvno: str | None,
             line_type: str, state: str, other_name: bool, ars_blocked: bool,
             as_json: bool) -> None:
    """Add the mobile line PHONE as its carrier knows it."""
    with _banking(obj) as banking:
        added = banking.lines.add(phone, name=name, rrn=rrn, carrier=carrier, mvno=mvno,
                                  line_type=line_type, state=state, other_name=other_name,
                                  ars_blocked=ars_blocked)
    _report(_line_json(added), as_json, f"line {added.phone} added")


@line.command("change")
@click.argument("phone", callback=_phone)
@click.option("--state", type=click.Choice([s.value for s in LineState]),
              help="active, suspended or lost.")
@click.option("--line-type", type=click.Choice(_CARRIER_LINES), help="The kind of line.")
@click.option("--other-name/--own-name", default=None,
              help="The line is (or is not) in another person's name.")
@click.option("--ars-blocked/--ars-unblocked", default=None,
              help="The phone blocks (or no longer blocks) the ARS number.")
@json_option
@click.pass_obj
@_refusals(phone="PHONE")
def line_change(obj: Context, phone: str, state: str | None, line_type: str | None,
                other_name: bool | None, ars_blocked: bool | None, as_json: bool) -> None:
    """Change what is given of the line PHONE."""
    with _banking(obj) as banking:
        changed = banking.lines.change(phone, state=state, line_type=line_type,
                                       other_name=other_name, ars_blocked=ars_blocked)
    _report(_line_json(changed), as_json, f"line {changed.phone}: {changed.state.value}")


@bank.group()
def phone() -> None:
    """Phone verification (본인확인): SMS, push (the carrier app) or ARS."""


_PHONE_CODE_HELP = (f"File whose first line is the code (else ${PHONE_CODE_ENV}, else a "
                    "prompt; never on the command line).")


def _request_json(request: VerificationRequest) -> dict[str, Any]:
    return _plain(request)  # type: ignore[no-any-return]


@phone.command("request")
@bank_option
@click.option("--name", required=True, help="The person's name.")
@click.option("--phone", "number", required=True, callback=_phone,
              help="The phone, written any way.")
@click.option("--rrn7", required=True,
              help="The first 7 digits of the resident number: YYMMDD-S (900517-1).")
@click.option("--carrier", required=True,
              help="SKT, KT, LGU+, or for an MVNO's line SKM, KTM, LGM.")
@click.option("--method", type=click.Choice([m.value for m in VerificationMethod]),
              default="sms", show_default=True,
              help="sms, push (the carrier app) or ars (a call-back).")
@json_option
@click.pass_obj
@_refusals(phone="--phone")
def phone_request(obj: Context, code: str, name: str, number: str, rrn7: str, carrier: str,
                  method: str, as_json: bool) -> None:
    """Send a code to verify that the person holds the phone (ARS: place the call and
    show the number to key in); prints the verification id."""
    with _banking(obj) as banking:
        sent = banking.phone.request(banking.bank(code), name=name, phone=number, rrn7=rrn7,
                                     carrier=carrier, method=method)
    text = sent.id
    if sent.display_code is not None:
        text += f"\nkey in on the call: {sent.display_code}"
    _report(_request_json(sent), as_json, text)


@phone.command("confirm")
@bank_option
@click.argument("verification_id", metavar="ID")
@_secret_file("--code-file", _PHONE_CODE_HELP)
@json_option
@click.pass_obj
@_refusals()
def phone_confirm(obj: Context, code: str, verification_id: str, code_file: Path | None,
                  as_json: bool) -> None:
    """Confirm the verification with the code the person received; prints who was
    verified (name, birth date, sex, foreigner, CI, DI)."""
    given = _secret(code_file, env=PHONE_CODE_ENV, what="verification code",
                    option="--code-file")
    with _banking(obj) as banking:
        result = banking.phone.confirm(banking.bank(code), verification_id, given)
    report = _plain(result)
    _report(report, as_json, "\n".join(f"{k}: {v}" for k, v in report.items()))


@phone.command("press")
@bank_option
@click.argument("verification_id", metavar="ID")
@_secret_file("--code-file", f"File whose first line is the number keyed in on the call "
              f"(else ${PHONE_CODE_ENV}, else a prompt).")
@json_option
@click.pass_obj
@_refusals()
def phone_press(obj: Context, code: str, verification_id: str, code_file: Path | None,
                as_json: bool) -> None:
    """The person keys the number in on the ARS call the bank placed (the test plays the
    phone)."""
    given = _secret(code_file, env=PHONE_CODE_ENV, what="number keyed in",
                    option="--code-file")
    with _banking(obj) as banking:
        banking.phone.press(banking.bank(code), verification_id, given)
    _report({"verification": verification_id, "pressed": True}, as_json, "keyed in")


@phone.command("resend")
@bank_option
@click.argument("verification_id", metavar="ID")
@json_option
@click.pass_obj
@_refusals()
def phone_resend(obj: Context, code: str, verification_id: str, as_json: bool) -> None:
    """Send a new code (the old one is no longer accepted)."""
    with _banking(obj) as banking:
        sent = banking.phone.resend(banking.bank(code), verification_id)
    _report(_request_json(sent), as_json, f"{sent.id}: a new code was sent "
            f"({sent.sends_left} resends left)")


@phone.command("status")
@bank_option
@click.argument("verification_id", metavar="ID")
@json_option
@click.pass_obj
@_refusals()
def phone_status(obj: Context, code: str, verification_id: str, as_json: bool) -> None:
    """Where the verification stands, with who was verified once it is."""
    with _banking(obj) as banking:
        status: VerificationStatus = banking.phone.status(banking.bank(code),
                                                          verification_id)
    text = (f"{status.state.value}: {status.tries_left} tries, {status.sends_left} resends "
            f"left, until {shown(status.expires_at)}")
    if status.result is not None:
        text = f"{status.state.value}: {status.result.name}, CI {status.result.ci}"
    _report(_plain(status), as_json, text)


@phone.command("messages")
@bank_option
@click.option("--phone", "number", required=True, callback=_phone,
              help="The phone, written any way.")
@list_options
@click.pass_obj
@_refusals(phone="--phone")
def phone_messages(obj: Context, code: str, number: str, as_json: bool,
                   as_jsonl: bool) -> None:
    """The test channel: what this bank's verifications sent to the phone (SMS, app,
    call), oldest first."""
    with _banking(obj) as banking:
        found = banking.phone.messages(banking.bank(code), number)
    rows = [{"at": iso(m.at), "via": m.via.value, "text": m.text} for m in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"messages": rows}):
        return
    for m in found:
        click.echo(f"{shown(m.at)}  {m.via.value}  {m.text}")


@bank.group()
def app() -> None:
    """Push protection: the carrier app that receives verification codes instead of SMS."""


_APP_HELP = (f"File whose first line is the app's 6-digit password (else "
             f"${APP_PASSWORD_ENV}, else a prompt; never on the command line).")


def _app_password(path: Path | None, *, confirm: bool = False) -> str:
    return _secret(path, env=APP_PASSWORD_ENV, what="app password",
                   option="--app-password-file", confirm=confirm)


@app.command("enrol")
@click.argument("number", metavar="PHONE", callback=_phone)
@_secret_file("--app-password-file", _APP_HELP)
@json_option
@click.pass_obj
@_refusals(phone="PHONE", password="--app-password-file")
def app_enrol(obj: Context, number: str, app_password_file: Path | None,
              as_json: bool) -> None:
    """Turn push protection on for PHONE under a new app password (entered twice)."""
    password = _app_password(app_password_file, confirm=True)
    with _banking(obj) as banking:
        enrolled = banking.phone.enrol_app(number, password=password)
    _report({"phone": enrolled.phone, "enrolled_at": iso(enrolled.enrolled_at)}, as_json,
            f"push protection on for {enrolled.phone}")


@app.command("history")
@click.argument("number", metavar="PHONE", callback=_phone)
@_secret_file("--app-password-file", _APP_HELP)
@list_options
@click.pass_obj
@_refusals(phone="PHONE", password="--app-password-file")
def app_history(obj: Context, number: str, app_password_file: Path | None, as_json: bool,
                as_jsonl: bool) -> None:
    """The verifications the app keeps (the last 20), newest first."""
    password = _app_password(app_password_file)
    with _banking(obj) as banking:
        found: tuple[AppEntry, ...] = banking.phone.app_history(number, password=password)
    rows = [_plain(e) for e in found]
    if emit_list(rows, as_json=as_json, as_jsonl=as_jsonl, document={"history": rows}):
        return
    for e in found:
        click.echo(f"{shown(e.at)}  {e.site}  {e.verification}  "
                   f"{'verified' if e.verified else 'not verified'}")


@app.command("remove")
@click.argument("number", metavar="PHONE", callback=_phone)
@_secret_file("--app-password-file", _APP_HELP)
@json_option
@click.pass_obj
@_refusals(phone="PHONE", password="--app-password-file")
def app_remove(obj: Context, number: str, app_password_file: Path | None,
               as_json: bool) -> None:
    """Turn push protection off for PHONE (codes go by SMS again)."""
    password = _app_password(app_password_file)
    with _banking(obj) as banking:
        banking.phone.remove_app(number, password=password)
    _report({"phone": number, "enrolled": False}, as_json, f"push protection off for {number}")

