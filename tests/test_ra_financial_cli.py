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

RRN = "900517-1234566"
PHONE = "01012345678"
PIN = "802417"
SECRETS = ("KPKI_HOME", "KPKI_BANK", "KPKI_VAULT_SECRET", "KPKI_ACCOUNT_PASSWORD",
           "KPKI_CARD_ANSWER", "KPKI_OTP_CODE", "KPKI_CLOUD_CODE", "KPKI_PIN")


def run(home: Path, *args: object, env: dict[str, str] | None = None) -> Result:
    base = {k: "" for k in SECRETS}
    return CliRunner().invoke(cli, ["--home", str(home), "ra", "financial",
                                    *[str(a) for a in args], "--bank", "081"],
                              env={**base, **(env or {})}, catch_exceptions=False)


def ok(home: Path, *args: object, **kw: Any) -> str:
    done = run(home, *args, **kw)
    assert done.exit_code == 0, done.output
    return done.stdout.strip()


def test_the_whole_flow_from_a_script(make_home, tmp_path):
    home = make_home()
    path = home.path
    banking = Banking.of_home(home)
    hana, _ = banking.add_bank("081")
    customer = banking.customers.add(hana, name="홍길동", rrn=RRN, phone=PHONE, carrier="SKT")
    banking.customers.sign_up(hana, customer.id)
    banking.customers.activate(hana, customer.id)
    account = banking.customers.open_account(hana, customer.id, password="0420").number
    card = banking.cards.issue(hana, customer.id)
    banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
    home.close()

    session = ok(path, "start")
    refused = run(path, "account", "--session", session, "--number", account,
                  env={"KPKI_ACCOUNT_PASSWORD": "9999"})
    assert refused.exit_code == 1
    assert "[wrong_account_password]" in refused.output and "9999" not in refused.output
    ok(path, "account", "--session", session, "--number", account,
       env={"KPKI_ACCOUNT_PASSWORD": "0420"})
    with Home.open(path) as opened:
        phone = Banking.of_home(opened).phone
        request = phone.request(hana, name="홍길동", phone=PHONE, rrn7=RRN[:8], carrier="SKT")
        text = phone.messages(hana, PHONE)[-1].text
        phone.confirm(hana, request.id, re.search(r"code (\d{6})", text).group(1))
    ok(path, "phone", "--session", session, "--verification", request.id)
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
    serial = ok(path, "issue", "--session", session, env={"KPKI_PIN": PIN})
    assert re.fullmatch(r"[0-9A-F]+", serial)
    again = run(path, "issue", "--session", session, env={"KPKI_PIN": PIN})
    assert again.exit_code == 1 and "[session_finished]" in again.output
