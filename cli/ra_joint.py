"""``kpki ra joint``: a joint certificate issued, reissued or renewed as a bank's
registration authority does it (:mod:`pki.ra.joint`), one command a step, on the home's
store (``kpki serve`` answers the same over ``/ra/v1/joint``).

``start`` (or ``reissue SERIAL``, ``renew SERIAL``) prints the session id; each later
step names it with ``--session``. The bank is ``--bank CODE`` (else ``$KPKI_BANK``), as in
``kpki bank``. Secrets never come from argv: the account password from
``--password-file``, ``$KPKI_ACCOUNT_PASSWORD`` or a prompt; a card answer from
``--answer-file`` or ``$KPKI_CARD_ANSWER``; an OTP code from ``--code-file`` or
``$KPKI_OTP_CODE``; the certificate password from ``--cert-password-file``,
``$KPKI_KEY_PASSWORD`` or a prompt (asked twice). A refusal is one line with its code in
brackets (``[identity_not_matched]``), exit 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from pki.bank.transfers import CardAnswer, OtpAnswer
from pki.keys import npki
from pki.ra.joint import REQUIRED_TERMS, JointIssued
from pki.signing import KeySigner, sign
from pki.store import Institution, RaSessionRecord
from pki.usecases.ra import RegistrationDesk

from .bank import (
    ACCOUNT_PASSWORD_ENV,
    CARD_ANSWER_ENV,
    OTP_CODE_ENV,
    _secret,
    _secret_file,
    bank_option,
)
from .context import Context
from .output import emit_json, iso, json_option
from .params import out_folder, rrn_option
from .ra_session import desk as _desk
from .ra_session import hex_serial, session_option, session_refusals, show_session
from .secrets import key_password, passphrase_file_option

_STEP_FIELDS = {"password": "--password-file", "answer": "--answer-file",
                "code": "--code-file", "agreed": "--agree", "certificate": "--certificate",
                "serial": "SERIAL", "device": "--device", "rrn": "--rrn",
                "account": "--account", "number": "--account", "medium": "--challenge"}

_session_refusals = session_refusals("kpki ra joint start", **_STEP_FIELDS)
_session_option = session_option("'kpki ra joint start' (reissue, renew)")


def _show(record: RaSessionRecord, as_json: bool, desk: RegistrationDesk,
          bank: Institution, *, history: bool = False) -> None:
    flow = desk.joint.operation_of(record).flow
    show_session(record, as_json,
                 next_step=flow.next_step(record) if record.state.value == "open" else None,
                 history=desk.joint.history(bank, record.id) if history else None)


@click.group("joint")
def joint() -> None:
    """Joint certificates as a bank issues them: terms, identity, phone, account,
    security medium, password (docs/issuing.md)."""


def _start(obj: Context, code: str, operation: str, device: str, serial: int | None,
           as_json: bool) -> None:
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        record = desk.joint.start(bank, operation, device=device, serial=serial)
        if as_json:
            _show(record, True, desk, bank)
        else:
            click.echo(record.id)
            if "challenge" in record.data:
                click.echo(f"sign this text for the renewal ('kpki ra joint sign'):\n"
                           f"{record.data['challenge']}", err=True)


_device_option = click.option("--device", required=True, metavar="ID",
                              help="The customer's device (the bank's device rules apply).")


@joint.command("start")
@bank_option
@_device_option
@json_option
@click.pass_obj
@_session_refusals
def start(obj: Context, code: str, device: str, as_json: bool) -> None:
    """Open a session that issues a joint certificate; prints its id."""
    _start(obj, code, "issue", device, None, as_json)


@joint.command("reissue")
@bank_option
@click.argument("serial", callback=hex_serial)
@_device_option
@json_option
@click.pass_obj
@_session_refusals
def reissue(obj: Context, code: str, serial: int, device: str, as_json: bool) -> None:
    """Open a session that reissues the joint certificate SERIAL (lost key, forgotten
    password): the same steps, the old certificate revoked."""
    _start(obj, code, "reissue", device, serial, as_json)


@joint.command("renew")
@bank_option
@click.argument("serial", callback=hex_serial)
@_device_option
@json_option
@click.pass_obj
@_session_refusals
def renew(obj: Context, code: str, serial: int, device: str, as_json: bool) -> None:
    """Open a session that renews the joint certificate SERIAL (inside its window):
    terms, the certificate's signature ('kpki ra joint sign'), issue."""
    _start(obj, code, "renew", device, serial, as_json)


@joint.command("terms")
@bank_option
@_session_option
@click.option("--agree", "agreed", multiple=True, metavar="TERM",
              help="A term agreed to (repeat); --agree-all agrees to all: "
                   + ", ".join(REQUIRED_TERMS) + ".")
@click.option("--agree-all", is_flag=True, help="Agree to every term the flow requires.")
@click.option("--certificate", type=click.Choice(["general", "banking"]),
              help="A new certificate: general-purpose (paid) or banking-only (free).")
@json_option
@click.pass_obj
@_session_refusals
def terms(obj: Context, code: str, session_id: str, agreed: tuple[str, ...],
          agree_all: bool, certificate: str | None, as_json: bool) -> None:
    """Step 1: agree to the terms (and choose the certificate)."""
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        record = desk.joint.terms(bank, session_id,
                                  agreed=REQUIRED_TERMS if agree_all else agreed,
                                  certificate=certificate)
        _show(record, as_json, desk, bank)


@joint.command("identify")
@bank_option
@_session_option
@rrn_option("The customer's resident registration number.", required=True)
@click.option("--customer", "customer_id", required=True, metavar="ID",
              help="The customer's internet-banking ID ('kpki bank customer add' gave it).")
@json_option
@click.pass_obj
@_session_refusals
def identify(obj: Context, code: str, session_id: str, rrn: str, customer_id: str,
             as_json: bool) -> None:
    """Step 2: the customer, by resident number and internet-banking ID."""
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        _show(desk.joint.identify(bank, session_id, rrn=rrn, customer_id=customer_id),
              as_json, desk, bank)


@joint.command("phone")
@bank_option
@_session_option
@click.option("--verification", "verification_id", required=True, metavar="ID",
              help="A phone verification confirmed at this bank ('kpki bank phone verify').")
@json_option
@click.pass_obj
@_session_refusals
def phone(obj: Context, code: str, session_id: str, verification_id: str,
          as_json: bool) -> None:
    """Step 3: a confirmed phone verification of the customer (used once)."""
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        _show(desk.joint.phone(bank, session_id, verification_id=verification_id),
              as_json, desk, bank)


@joint.command("account")
@bank_option
@_session_option
@click.option("--account", "number", required=True, metavar="NUMBER",
              help="An account of the customer's.")
@_secret_file("--password-file", f"File whose first line is the account password (else "
                                 f"${ACCOUNT_PASSWORD_ENV}, else a prompt).")
@json_option
@click.pass_obj
@_session_refusals
def account(obj: Context, code: str, session_id: str, number: str,
            password_file: Path | None, as_json: bool) -> None:
    """Step 4: an account of the customer's and its password."""
    password = _secret(password_file, env=ACCOUNT_PASSWORD_ENV, what="account password",
                       option="--password-file")
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        _show(desk.joint.account(bank, session_id, number=number, password=password),
              as_json, desk, bank)


@joint.command("challenge")
@bank_option
@_session_option
@json_option
@click.pass_obj
@_session_refusals
def challenge(obj: Context, code: str, session_id: str, as_json: bool) -> None:
    """A challenge to the customer's security card, for the medium step."""
    with _desk(obj) as desk:
        asked = desk.joint.card_challenge(desk.banking.bank(code), session_id)
    if as_json:
        emit_json({"challenge": asked.id, "card": asked.serial, "first": asked.first,
                   "second": asked.second, "expires_at": iso(asked.expires_at)})
    else:
        click.echo(f"{asked.id} positions {asked.first} and {asked.second} of card "
                   f"{asked.serial}")


@joint.command("medium")
@bank_option
@_session_option
@click.option("--challenge", "challenge_id", metavar="ID",
              help="The card challenge answered ('kpki ra joint challenge').")
@_secret_file("--answer-file", f"File with the card answer (else ${CARD_ANSWER_ENV}).")
@click.option("--otp", "serial", metavar="SERIAL", help="The OTP token whose code is given.")
@_secret_file("--code-file", f"File with the OTP code (else ${OTP_CODE_ENV}).")
@json_option
@click.pass_obj
@_session_refusals
def medium(obj: Context, code: str, session_id: str, challenge_id: str | None,
           answer_file: Path | None, serial: str | None, code_file: Path | None,
           as_json: bool) -> None:
    """Step 5: the security medium: a card challenge's answer, or an OTP code."""
    if (challenge_id is None) == (serial is None):
        raise click.UsageError("answer a card challenge (--challenge) or give an OTP code "
                               "(--otp)")
    answer: CardAnswer | OtpAnswer
    if challenge_id is not None:
        answer = CardAnswer(challenge_id, _secret(answer_file, env=CARD_ANSWER_ENV,
                                                  what="card answer", option="--answer-file"))
    else:
        assert serial is not None
        answer = OtpAnswer(serial, _secret(code_file, env=OTP_CODE_ENV, what="OTP code",
                                           option="--code-file"))
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        _show(desk.joint.medium(bank, session_id, answer=answer), as_json, desk, bank)


@joint.command("sign")
@bank_option
@_session_option
@click.option("--customer", "customer_id", required=True, metavar="ID",
              help="The customer's internet-banking ID.")
@click.option("--folder", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The NPKI folder of the certificate to renew (signCert.der, signPri.key).")
@click.option("--account", metavar="NUMBER", help="The customer's account that pays a paid "
                                                  "renewal.")
@_secret_file("--cert-password-file", "File with the certificate's password (else "
                                      "$KPKI_KEY_PASSWORD, else a prompt).")
@json_option
@click.pass_obj
@_session_refusals
def sign_(obj: Context, code: str, session_id: str, customer_id: str, folder: Path,
          account: str | None, cert_password_file: Path | None, as_json: bool) -> None:
    """A renewal's step 2: the session's text signed with the certificate to renew."""
    password = key_password(cert_password_file, confirm=False,
                            option="--cert-password-file", what="certificate password")
    credential = npki.load(folder, password)
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        text = str(desk.joint.get(bank, session_id).data.get("challenge", "")).encode()
        signed = sign(text, KeySigner(credential.certificate, credential.private_key),
                      clock=desk.home.clock)
        _show(desk.joint.sign(bank, session_id, customer_id=customer_id, signature=signed.der,
                              r=credential.r or b"", account=account), as_json, desk, bank)


@joint.command("issue")
@bank_option
@_session_option
@click.option("--out", required=True, callback=out_folder,
              type=click.Path(file_okay=False, path_type=Path),
              help="The base folder: the certificate goes into OUT/NPKI/<CA>/USER/<name>/.")
@_secret_file("--cert-password-file", "File with the new certificate password (else "
                                      "$KPKI_KEY_PASSWORD, else a prompt, asked twice).")
@passphrase_file_option
@json_option
@click.pass_obj
@_session_refusals
def issue(obj: Context, code: str, session_id: str, out: Path,
          cert_password_file: Path | None, passphrase_file: Path | None,
          as_json: bool) -> None:
    """The last step: the certificate password, and the certificate issued (reissued,
    renewed) into an NPKI folder, the fee charged to the verified account."""
    password = key_password(cert_password_file, option="--cert-password-file",
                            what="certificate password")
    with _desk(obj, passphrase_file=passphrase_file, issuing=True) as desk:
        bank = desk.banking.bank(code)
        done: JointIssued = desk.joint.issue(bank, session_id, password=password, out=out)
    if as_json:
        emit_json({"session": done.session.id, "serial": format(done.issued.serial, "X"),
                   "ca": done.issued.ca, "profile": done.issued.profile.name,
                   "folder": str(done.folder), "fee": done.fee, "account": done.account})
    else:
        click.echo(f"{done.issued.serial:X} issued into {done.folder}"
                   + (f"; {done.fee:,} KRW charged to {done.account}" if done.fee else ""))


@joint.command("show")
@bank_option
@_session_option
@json_option
@click.pass_obj
@_session_refusals
def show(obj: Context, code: str, session_id: str, as_json: bool) -> None:
    """The session: its state, the step due, and every step asked for with its reason."""
    with _desk(obj) as desk:
        bank = desk.banking.bank(code)
        _show(desk.joint.get(bank, session_id), as_json, desk, bank, history=True)
