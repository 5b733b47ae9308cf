"""``kpki ra financial``: the financial-certificate flows (:mod:`pki.ra.financial`) step by
step on the home's store, one command a step (``/ra/v1/financial`` over HTTP).

``start`` prints the session id; every later step names it with ``--session``. Secrets
never come from argv: the account password from ``--password-file`` or
``$KPKI_ACCOUNT_PASSWORD``, the card answer or OTP code from ``--answer-file`` or
``$KPKI_CARD_ANSWER`` / ``$KPKI_OTP_CODE``, the cloud's 2-digit code from ``--code-file``
or ``$KPKI_CLOUD_CODE``, the PIN from a prompt asked twice, ``--pin-file`` or ``$KPKI_PIN``
(both entries from the one source): for ``issue`` and ``reset-pin`` (a forgotten PIN, where
the bank's ``pin_reset`` setting is on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pki.bank.customers import check_account_password
from pki.store import RaSessionRecord

from .bank import (
    ACCOUNT_PASSWORD_ENV,
    CARD_ANSWER_ENV,
    OTP_CODE_ENV,
    _secret,
    _secret_file,
    bank_option,
)
from .cloud import PIN_ENV
from .context import Context
from .output import emit_json, iso, json_option
from .ra_session import desk as _desk
from .ra_session import hex_serial, session_option, session_refusals

CLOUD_CODE_ENV = "KPKI_CLOUD_CODE"


def _session_json(record: RaSessionRecord) -> dict[str, Any]:
    return {"session_id": record.id, "flow": record.flow, "state": record.state.value,
            "customer_id": record.customer_id, "steps_done": list(record.steps_done),
            "data": dict(record.data), "expires_at": iso(record.expires_at)}


def _done(record: RaSessionRecord, as_json: bool) -> None:
    if as_json:
        emit_json(_session_json(record))
    else:
        click.echo(f"{record.id}: {', '.join(record.steps_done)} done ({record.state.value})")


_session_option = session_option("'kpki ra financial start'")
_session_refusals = session_refusals("kpki ra financial start")


@click.group("financial")
def financial() -> None:
    """Financial certificates into the cloud, as a bank issues them: account, phone,
    medium, cloud connection and its code, then the PIN."""


@financial.command("start")
@bank_option
@click.option("--flow", type=click.Choice(["issue", "reissue", "register", "pin-reset"]),
              default="issue", show_default=True, help="What the session ends with.")
@click.option("--device", help="The device the customer acts from (the device rules).")
@click.option("--customer", help="The customer, when known: only their accounts count.")
@json_option
@click.pass_obj
@_session_refusals
def start(obj: Context, code: str, flow: str, device: str | None, customer: str | None,
          as_json: bool) -> None:
    """Open a session; prints its id."""
    with _desk(obj) as desk:
        record = desk.financial.start(desk.banking.bank(code), f"financial-{flow}",
                                      device=device, customer_id=customer)
    if as_json:
        emit_json(_session_json(record))
    else:
        click.echo(record.id)


@financial.command("account")
@bank_option
@_session_option
@click.option("--number", required=True, help="The account number.")
@_secret_file("--password-file", f"File with the account password (else "
                                 f"${ACCOUNT_PASSWORD_ENV}, else a prompt).")
@json_option
@click.pass_obj
@_session_refusals
def account(obj: Context, code: str, session_id: str, number: str, password_file: Path | None,
            as_json: bool) -> None:
    """Step 1: the account and its password."""
    password = _secret(password_file, env=ACCOUNT_PASSWORD_ENV, what="account password",
                       option="--password-file")
    check_account_password(password)
    with _desk(obj) as desk:
        _done(desk.financial.account(desk.banking.bank(code), session_id, account=number,
                                     password=password), as_json)


@financial.command("phone")
@bank_option
@_session_option
@click.option("--verification", required=True,
              help="A confirmed phone verification ('kpki bank phone request').")
@json_option
@click.pass_obj
@_session_refusals
def phone(obj: Context, code: str, session_id: str, verification: str, as_json: bool) -> None:
    """Step 2: the phone, by a confirmed SMS or ARS verification."""
    with _desk(obj) as desk:
        _done(desk.financial.phone(desk.banking.bank(code), session_id,
                                   verification=verification), as_json)


@financial.command("card-challenge")
@bank_option
@_session_option
@json_option
@click.pass_obj
@_session_refusals
def card_challenge(obj: Context, code: str, session_id: str, as_json: bool) -> None:
    """A challenge to the customer's security card, for step 3."""
    with _desk(obj) as desk:
        challenge = desk.financial.card_challenge(desk.banking.bank(code), session_id)
    if as_json:
        emit_json({"challenge_id": challenge.id, "first": challenge.first,
                   "second": challenge.second, "expires_at": iso(challenge.expires_at)})
    else:
        click.echo(f"{challenge.id} {challenge.first} {challenge.second}")


@financial.command("medium")
@bank_option
@_session_option
@click.option("--challenge", help="The card challenge answered.")
@click.option("--otp", "otp_serial", help="The OTP token's serial, instead.")
@_secret_file("--answer-file", f"File with the card answer or OTP code (else "
                               f"${CARD_ANSWER_ENV} / ${OTP_CODE_ENV}, else a prompt).")
@json_option
@click.pass_obj
@_session_refusals
def medium(obj: Context, code: str, session_id: str, challenge: str | None,
           otp_serial: str | None, answer_file: Path | None, as_json: bool) -> None:
    """Step 3: the security card's answer or the OTP code."""
    if (challenge is None) == (otp_serial is None):
        raise click.UsageError("give --challenge or --otp (one)")
    env = CARD_ANSWER_ENV if challenge is not None else OTP_CODE_ENV
    response = _secret(answer_file, env=env, what="answer", option="--answer-file")
    with _desk(obj) as desk:
        _done(desk.financial.medium(desk.banking.bank(code), session_id, response=response,
                                    card_challenge=challenge, otp_serial=otp_serial),
              as_json)


@financial.command("cloud")
@bank_option
@_session_option
@click.option("--name", required=True, help="The customer's name.")
@click.option("--phone", "phone_number", required=True, help="The customer's phone.")
@click.option("--birth-date", required=True, metavar="YYYY-MM-DD", help="Born on.")
@json_option
@click.pass_obj
@_session_refusals
def cloud(obj: Context, code: str, session_id: str, name: str, phone_number: str,
          birth_date: str, as_json: bool) -> None:
    """Step 4: the cloud connection; the cloud sends a 2-digit code to the phone
    ('kpki cloud messages')."""
    with _desk(obj) as desk:
        _done(desk.financial.connect_cloud(desk.banking.bank(code), session_id, name=name,
                                           phone=phone_number, birth_date=birth_date),
              as_json)


@financial.command("confirm")
@bank_option
@_session_option
@_secret_file("--code-file", f"File with the 2-digit code (else ${CLOUD_CODE_ENV}, else a "
                             "prompt).")
@json_option
@click.pass_obj
@_session_refusals
def confirm(obj: Context, code: str, session_id: str, code_file: Path | None,
            as_json: bool) -> None:
    """Step 5: the code the cloud sent."""
    sent = _secret(code_file, env=CLOUD_CODE_ENV, what="confirmation code",
                   option="--code-file")
    with _desk(obj) as desk:
        _done(desk.financial.confirm(desk.banking.bank(code), session_id, code=sent), as_json)


def _pin(path: Path | None) -> str:
    return _secret(path, env=PIN_ENV, what="PIN", option="--pin-file", confirm=True)


@financial.command("issue")
@bank_option
@_session_option
@_secret_file("--pin-file", f"File with the new 6-digit PIN (else ${PIN_ENV}, else a "
                            "prompt asked twice).")
@click.option("--replaces", metavar="SERIAL", callback=hex_serial,
              help="A reissue: the certificate it revokes (hex).")
@click.option("--designate", metavar="DEVICE", help="Restrict the certificate to this "
                                                    "device.")
@json_option
@click.pass_obj
@_session_refusals
def issue(obj: Context, code: str, session_id: str, pin_file: Path | None,
          replaces: int | None, designate: str | None, as_json: bool) -> None:
    """The last step: the PIN, and the certificate issued into the cloud."""
    pin = _pin(pin_file)
    with _desk(obj) as desk:
        done = desk.financial.issue(desk.banking.bank(code), session_id, pin=pin,
                                    pin_confirm=pin, replaces=replaces, designate=designate)
    if as_json:
        emit_json({"session": _session_json(done.session), "serial": f"{done.serial:X}",
                   "user_id": done.user_id})
    else:
        click.echo(f"{done.serial:X}")


@financial.command("register")
@bank_option
@_session_option
@click.option("--serial", required=True, callback=hex_serial,
              help="The certificate (hex), issued elsewhere.")
@_secret_file("--pin-file", f"File with the certificate's PIN (else ${PIN_ENV}, else a "
                            "prompt).")
@json_option
@click.pass_obj
@_session_refusals
def register(obj: Context, code: str, session_id: str, serial: int, pin_file: Path | None,
             as_json: bool) -> None:
    """The last step of 'register': another institution's certificate; prints its KFTC
    status (10 valid, 30 revoked, 40 suspended, 50 expired)."""
    pin = _secret(pin_file, env=PIN_ENV, what="PIN", option="--pin-file")
    with _desk(obj) as desk:
        done = desk.financial.register(desk.banking.bank(code), session_id, serial=serial,
                                       pin=pin)
    if as_json:
        emit_json({"status": done.status.value, "registered": done.registered})
    else:
        click.echo(done.status.value)


@financial.command("reset-pin")
@bank_option
@_session_option
@click.option("--serial", required=True, callback=hex_serial,
              help="The certificate (hex) whose PIN is reset.")
@_secret_file("--pin-file", f"File with the new 6-digit PIN (else ${PIN_ENV}, else a "
                            "prompt asked twice).")
@json_option
@click.pass_obj
@_session_refusals
def reset_pin(obj: Context, code: str, session_id: str, serial: int, pin_file: Path | None,
              as_json: bool) -> None:
    """The last step of 'pin-reset' (where the bank resets PINs): the same certificate
    under a new PIN, its lock cleared; prints the serial."""
    pin = _pin(pin_file)
    with _desk(obj) as desk:
        done = desk.financial.reset_pin(desk.banking.bank(code), session_id, serial=serial,
                                        pin=pin, pin_confirm=pin)
    if as_json:
        emit_json({"session": _session_json(done.session), "serial": f"{done.serial:X}"})
    else:
        click.echo(f"{done.serial:X}")


@financial.command("renewal-notices")
@json_option
@click.pass_obj
@_session_refusals
def renewal_notices(obj: Context, as_json: bool) -> None:
    """Send the renewal notices due now (from a month before expiry, once each)."""
    with _desk(obj) as desk:
        due = desk.financial_renewal_notices()
    if as_json:
        emit_json([f"{s:X}" for s in due])
    else:
        for serial in due:
            click.echo(f"{serial:X}")
