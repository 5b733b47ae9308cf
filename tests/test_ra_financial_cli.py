"""``kpki ra financial`` (issue 15 items 2 and 5): the whole flow from a script, every
secret from a file or the environment, never argv; a refusal is one line with its code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from pki.cli.main import cli
from pki.home import Home
from pki.usecases.banking import Banking

from .ra_helpers import verified_at

RRN = "900517-1234566"
PHONE = "01012345678"
PIN = "802417"
SECRETS = ("KPKI_HOME", "KPKI_BANK", "KPKI_VAULT_SECRET", "KPKI_ACCOUNT_PASSWORD",
           "KPKI_CARD_ANSWER", "KPKI_OTP_CODE", "KPKI_CLOUD_CODE", "KPKI_PIN")


def run(home: Path, *args: object, env: dict[str, str] | None = None,
        input: str | None = None) -> Result:
    base = {k: "" for k in SECRETS}
    return CliRunner().invoke(cli, ["--home", str(home), "ra", "financial",
                                    *[str(a) for a in args], "--bank", "081"],
                              env={**base, **(env or {})}, input=input,
                              catch_exceptions=False)


def ok(home: Path, *args: object, **kw: Any) -> str:
    done = run(home, *args, **kw)
    assert done.exit_code == 0, done.output
    return done.stdout.strip()


def _bank_world(make_home, **settings: object):
    home = make_home()
    path = home.path
    banking = Banking.of_home(home)
    hana, _ = banking.add_bank("081", settings=settings)
    customer = banking.customers.add(hana, name="홍길동", rrn=RRN, phone=PHONE, carrier="SKT")
    banking.customers.sign_up(hana, customer.id)
    banking.customers.activate(hana, customer.id)
    account = banking.customers.open_account(hana, customer.id, password="0420").number
    card = banking.cards.issue(hana, customer.id)
    banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
    home.close()
    return path, hana, account, card


def _prove(path: Path, hana, session: str, account: str, card, tmp_path: Path) -> None:
    """The five identity steps, each right, one command a step."""
    ok(path, "account", "--session", session, "--number", account,
       env={"KPKI_ACCOUNT_PASSWORD": "0420"})
    ok(path, "phone", "--session", session, "--verification", verified_at(path, "081"))
    challenge, first, second = ok(path, "card-challenge", "--session", session).split()
    answer = tmp_path / "answer"
    answer.write_text(card.answer(int(first), int(second)) + "\n")
    ok(path, "medium", "--session", session, "--challenge", challenge, "--answer-file",
       answer)
    ok(path, "cloud", "--session", session, "--name", "홍길동", "--phone", "010-1234-5678",
       "--birth-date", "1990-05-17")
    with Home.open(path) as opened:
        sent = opened.store.messages(PHONE, hana.id)[-1].text
    ok(path, "confirm", "--session", session,
       env={"KPKI_CLOUD_CODE": re.search(r"code (\d\d)", sent).group(1)})


def test_the_whole_flow_from_a_script(make_home, tmp_path):
    path, hana, account, card = _bank_world(make_home)
    session = ok(path, "start")
    refused = run(path, "account", "--session", session, "--number", account,
                  env={"KPKI_ACCOUNT_PASSWORD": "9999"})
    assert refused.exit_code == 1
    assert "[wrong_account_password]" in refused.output and "9999" not in refused.output
    _prove(path, hana, session, account, card, tmp_path)
    serial = ok(path, "issue", "--session", session, env={"KPKI_PIN": PIN})
    assert re.fullmatch(r"[0-9A-F]+", serial)
    again = run(path, "issue", "--session", session, env={"KPKI_PIN": PIN})
    assert again.exit_code == 1 and "[session_finished]" in again.output


def _signs(path: Path, hana, serial: str, pin: str) -> bool:
    from pki.errors import WrongPinError
    from pki.usecases.ra import RegistrationDesk

    with Home.open(path) as opened:
        cloud = RegistrationDesk.of_home(opened).financial.cloud
        try:
            cloud.sign(hana, int(serial, 16), pin=pin, content=b"x", purpose="01")
        except WrongPinError:
            return False
    return True


def test_a_forgotten_pin_is_reset_from_a_script_with_the_pin_never_on_argv(
        make_home, tmp_path, monkeypatch):
    monkeypatch.setattr("pki.cli.secrets._at_terminal", lambda: True)
    path, hana, account, card = _bank_world(make_home, pin_reset=True)
    session = ok(path, "start")
    _prove(path, hana, session, account, card, tmp_path)
    serial = ok(path, "issue", "--session", session, env={"KPKI_PIN": PIN})
    reset = ok(path, "start", "--flow", "pin-reset")
    _prove(path, hana, reset, account, card, tmp_path)
    new = "739150"
    differ = run(path, "reset-pin", "--session", reset, "--serial", serial,
                 input=f"{new}\n739151\n")
    assert differ.exit_code != 0 and new not in differ.output
    bad = run(path, "reset-pin", "--session", reset, "--serial", "zz", env={"KPKI_PIN": new})
    assert bad.exit_code != 0 and "--serial" in bad.output
    done = run(path, "reset-pin", "--session", reset, "--serial", serial,
               input=f"{new}\n{new}\n")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().splitlines()[-1] == serial
    assert not _signs(path, hana, serial, PIN) and _signs(path, hana, serial, new)
    pin_file = tmp_path / "pin"
    pin_file.write_text("582931\n")
    again = run(path, "reset-pin", "--session", reset, "--serial", serial, "--pin-file",
                pin_file)
    assert again.exit_code == 1 and "[session_finished]" in again.output


def test_an_unknown_session_is_said_with_the_option_that_fixes_it(make_home):
    path, _, account, _ = _bank_world(make_home)
    done = run(path, "account", "--session", "nosuch", "--number", account,
               env={"KPKI_ACCOUNT_PASSWORD": "0420"})
    assert done.exit_code == 1
    assert "check --session" in done.output and "kpki ra financial start" in done.output
