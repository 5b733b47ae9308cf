"""``kpki ra joint`` (issue 15 items 1 and 5): a whole joint-certificate flow command by
command through CliRunner, secrets from files and the environment only, refusals as one
line with their stable code, and one real process."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pki.cli.main import cli
from pki.clock import KST, FixedClock
from pki.home import Home
from pki.keys import npki
from pki.usecases.banking import Banking

from .ra_helpers import verified_at

T0 = "2026-03-16T10:00"  # KST, a Monday
RRN = "900517-1234566"
PHONE = "01012345678"
PASSWORD = "Cli-joint-pw-1!"
_ENV = ("KPKI_HOME", "KPKI_BANK", "KPKI_VAULT_SECRET", "KPKI_ACCOUNT_PASSWORD",
        "KPKI_CARD_ANSWER", "KPKI_OTP_CODE", "KPKI_KEY_PASSWORD")


class JointCli:
    def __init__(self, home: Path, customer: str, account: str, codes: tuple[str, ...]
                 ) -> None:
        self.home, self.customer, self.account, self.codes = home, customer, account, codes

    def run(self, *args: object, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            cli, ["--home", str(self.home), "--at", T0, "ra", "joint",
                  *[str(a) for a in args]],
            env={**{k: "" for k in _ENV}, "KPKI_BANK": "081", **(env or {})},
            catch_exceptions=False)

    def ok(self, *args: object, **kw: Any) -> Result:
        done = self.run(*args, **kw)
        assert done.exit_code == 0, done.output
        return done

    def verified(self) -> str:
        """A phone verification of the customer, confirmed (the bank's side, in-process)."""
        return verified_at(self.home, "081", clock=_clock())


def _clock() -> FixedClock:
    return FixedClock(dt.datetime.fromisoformat(T0).replace(tzinfo=KST).astimezone(dt.UTC))


@pytest.fixture
def joint(tmp_path, key_pool) -> JointCli:
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool,
                clock=FixedClock(_clock().now() - dt.timedelta(days=30))).close()
    with Home.open(path, clock=_clock()) as home:
        banking = Banking.of_home(home)
        bank, _ = banking.add_bank("081")
        customers = banking.customers
        customer = customers.add(bank, name="홍길동", rrn=RRN, phone=PHONE, carrier="SKT")
        customers.sign_up(bank, customer.id)
        customers.activate(bank, customer.id)
        account = customers.open_account(bank, customer.id, password="0420", balance=10_000)
        banking.devices.designate(bank, customer.id, "phone-1")
        card = banking.cards.issue(bank, customer.id)
        banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
    return JointCli(path, customer.id, account.number, card.codes)


def _answer(codes: tuple[str, ...], first: int, second: int) -> str:
    return codes[first - 1][:2] + codes[second - 1][-2:]


def test_a_whole_flow_command_by_command_issues_into_an_npki_folder(joint, tmp_path):
    session = joint.ok("start", "--device", "phone-1").stdout.strip()
    joint.ok("terms", "--session", session, "--agree-all", "--certificate", "general")
    joint.ok("identify", "--session", session, "--rrn", RRN, "--customer", joint.customer)
    joint.ok("phone", "--session", session, "--verification", joint.verified())
    joint.ok("account", "--session", session, "--account", joint.account,
             env={"KPKI_ACCOUNT_PASSWORD": "0420"})
    asked = json.loads(joint.ok("challenge", "--session", session, "--json").stdout)
    answer_file = tmp_path / "answer"
    answer_file.write_text(_answer(joint.codes, asked["first"], asked["second"]) + "\n")
    joint.ok("medium", "--session", session, "--challenge", asked["challenge"],
             "--answer-file", answer_file)
    done = json.loads(joint.ok("issue", "--session", session, "--out", tmp_path / "out",
                               "--json", env={"KPKI_KEY_PASSWORD": PASSWORD}).stdout)
    assert done["fee"] == 4_400 and done["account"] == joint.account
    assert format(npki.load(Path(done["folder"]), PASSWORD).serial, "X") == done["serial"]
    shown = json.loads(joint.ok("show", "--session", session, "--json").stdout)
    assert shown["state"] == "finished"
    assert [s["step"] for s in shown["history"]] == [
        "terms", "identify", "phone", "account", "medium", "issue"]


def test_a_refusal_is_one_line_with_its_code(joint):
    session = joint.ok("start", "--device", "phone-1").stdout.strip()
    done = joint.run("identify", "--session", session, "--rrn", RRN, "--customer",
                     joint.customer)
    assert done.exit_code == 1 and "[step_out_of_order]" in done.output
    joint.ok("terms", "--session", session, "--agree-all", "--certificate", "banking")
    done = joint.run("identify", "--session", session, "--rrn", "850101-2345678",
                     "--customer", joint.customer)
    assert done.exit_code == 1 and "[identity_not_matched]" in done.output
    done = joint.run("show", "--session", "ra_nope")
    assert done.exit_code == 1 and "check --session" in done.output
    shown = joint.ok("show", "--session", session).stdout
    assert "refused [identity_not_matched]" in shown


def test_a_wrong_account_password_from_the_environment_is_counted(joint):
    session = joint.ok("start", "--device", "phone-1").stdout.strip()
    joint.ok("terms", "--session", session, "--agree-all", "--certificate", "banking")
    joint.ok("identify", "--session", session, "--rrn", RRN, "--customer", joint.customer)
    joint.ok("phone", "--session", session, "--verification", joint.verified())
    done = joint.run("account", "--session", session, "--account", joint.account,
                     env={"KPKI_ACCOUNT_PASSWORD": "9999"})
    assert done.exit_code == 1 and "[wrong_account_password]" in done.output


def test_no_secret_option_takes_its_value_on_the_command_line(joint):
    for command in ("account", "medium", "issue", "sign"):
        help_text = joint.ok(command, "--help").stdout
        assert "--password " not in help_text and "--answer " not in help_text
        assert "--code " not in help_text


def test_kpki_ra_joint_runs_as_a_real_process(joint):
    done = subprocess.run([str(Path(sys.executable).parent / "kpki"), "--home",
                           str(joint.home), "ra", "joint", "start", "--bank", "081",
                           "--device", "phone-1"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"ra_[0-9a-f]{24}", done.stdout.strip())
