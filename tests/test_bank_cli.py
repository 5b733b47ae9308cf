"""``kpki bank`` (issue 14 item 8): every command through CliRunner on a home, one real
process, bad input as usage errors naming the option (exit 2), the bank's refusals as one
line with their stable code (exit 1), and nothing written by a refused command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from pki.cli.main import cli
from pki.home import Home

RRN = "900517-1234566"
BAD_RRN = "900517-1234567"
T0 = "2026-03-16T09:00"  # KST, a Monday
LINE_RRN = "9208012345678"  # 1992-08-01, a woman


def _check_digit(twelve: str) -> str:
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    total = sum(int(d) * w for d, w in zip(twelve, weights, strict=True))
    return str((11 - total % 11) % 10)


LINE_RRN = LINE_RRN[:12] + _check_digit(LINE_RRN[:12])


class BankCli:
    """A home and the ``kpki bank`` commands run on it."""

    def __init__(self, home: Path, tmp: Path) -> None:
        self.home = home
        self.tmp = tmp

    def run(self, *args: object, env: dict[str, str] | None = None,
            at: str = T0) -> Result:
        base = {k: "" for k in ("KPKI_HOME", "KPKI_BANK", "KPKI_VAULT_SECRET",
                                "KPKI_ACCOUNT_PASSWORD", "KPKI_CARD_ANSWER", "KPKI_OTP_CODE",
                                "KPKI_PHONE_CODE", "KPKI_APP_PASSWORD")}
        return CliRunner().invoke(cli, ["--home", str(self.home), "--at", at, "bank",
                                        *[str(a) for a in args]],
                                  env={**base, **(env or {})}, catch_exceptions=False)

    def ok(self, *args: object, **kw: Any) -> Result:
        done = self.run(*args, **kw)
        assert done.exit_code == 0, done.output
        return done

    def json(self, *args: object, **kw: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kw).stdout)

    def file(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text + "\n")
        return path

    def customer(self, bank: str = "081", rrn: str = RRN) -> str:
        return str(self.json("customer", "add", "--bank", bank, "--name", "홍길동", "--rrn",
                             rrn, "--phone", "010-1234-5678", "--carrier", "KT")["id"])


@pytest.fixture
def bank(make_home, tmp_path: Path) -> BankCli:  # type: ignore[no-untyped-def]
    home: Home = make_home()
    path = home.path
    home.close()
    made = BankCli(path, tmp_path)
    made.ok("add", "081")
    return made


def refused(result: Result, status: int, *names: str) -> str:
    """The one line of a refusal with ``status``, naming each of ``names``."""
    assert result.exit_code == status, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


# -- banks -----------------------------------------------------------------------------------


def test_add_gives_the_api_key_once_and_the_bank_is_listed(bank: BankCli) -> None:
    added = bank.json("add", "004")
    assert added["code"] == "004" and added["name"] == "KB국민은행" and added["api_key"]
    assert [b["code"] for b in bank.json("list")["banks"]] == ["004", "081"]
    lines = bank.ok("list", "--jsonl").stdout.splitlines()
    assert [json.loads(line)["code"] for line in lines] == ["004", "081"]
    assert "하나은행" in bank.ok("list").stdout
    assert "api_key" not in bank.ok("list", "--json").stdout


def test_add_out_writes_the_key_0600_and_overwrites_only_with_force(bank: BankCli) -> None:
    out = bank.tmp / "key"
    done = bank.json("add", "020", "--out", out)
    assert done["api_key_file"] == str(out) and "api_key" not in done
    assert out.stat().st_mode & 0o777 == 0o600
    refused(bank.run("add", "011", "--out", out), 2, "--force")
    assert [b["code"] for b in bank.json("list")["banks"]] == ["020", "081"]


def test_the_vault_secret_is_made_in_the_home_0600(bank: BankCli) -> None:
    secret = bank.home / "cloud" / "vault.secret"
    assert secret.stat().st_mode & 0o777 == 0o600


def test_a_taken_code_is_refused_with_its_code(bank: BankCli) -> None:
    refused(bank.run("add", "081"), 1, "[exists]")


@pytest.mark.parametrize(("args", "option"), [
    (["add", "81"], "CODE"),
    (["add", "071", "--setting", "card_positions=40"], "--setting"),
    (["add", "071", "--setting", "nosuch=1"], "--setting"),
    (["add", "071", "--setting", "card_positions"], "--setting"),
    (["settings", "--bank", "081", "--set", "limit_table=xx"], "--set"),
])
def test_bad_bank_input_is_a_usage_error_and_changes_nothing(bank: BankCli, args: list[str],
                                                             option: str) -> None:
    refused(bank.run(*args), 2, option)
    assert [b["code"] for b in bank.json("list")["banks"]] == ["081"]
    assert bank.json("settings", "--bank", "081")["settings"]["limit_table"] == "hana"


def test_settings_show_and_change(bank: BankCli) -> None:
    assert bank.json("settings", "--bank", "081")["settings"]["card_positions"] == 35
    changed = bank.json("settings", "--bank", "081", "--set", "card_positions=30", "--set",
                        "limit_table=kb")["settings"]
    assert (changed["card_positions"], changed["limit_table"]) == (30, "kb")
    kept = bank.json("settings", "--bank", "081", "--set", "challenge_seconds=60")["settings"]
    assert (kept["card_positions"], kept["challenge_seconds"]) == (30, 60)
    assert "card_positions: 30" in bank.ok("settings", "--bank", "081").stdout


def test_an_unknown_bank_is_not_found_naming_bank(bank: BankCli) -> None:
    refused(bank.run("customer", "list", "--bank", "020"), 1, "[not_found]", "--bank")


def test_the_bank_may_come_from_the_environment(bank: BankCli) -> None:
    assert bank.json("customer", "list", env={"KPKI_BANK": "081"}) == {"customers": []}


# -- customers -------------------------------------------------------------------------------


def test_a_customer_is_added_listed_shown_and_enrolled(bank: BankCli) -> None:
    hong = bank.customer()
    rows = bank.json("customer", "list", "--bank", "081")["customers"]
    assert [(r["id"], r["name"], r["rrn"]) for r in rows] == [(hong, "홍길동", "900517-1******")]
    assert RRN.replace("-", "") not in bank.ok("customer", "list", "--bank", "081").stdout
    seen = bank.json("customer", "show", hong, "--bank", "081")
    assert seen["enrolment"]["state"] == "none" and seen["limits"] is None
    signed = bank.json("customer", "sign-up", hong, "--bank", "081")
    assert signed["state"] == "pending"
    assert signed["deadline"] == "2026-03-18T14:59:59Z"  # Wednesday 23:59:59 KST
    assert bank.json("customer", "activate", hong, "--bank", "081")["state"] == "active"
    assert "internet banking: active" in bank.ok("customer", "show", hong, "--bank", "081").stdout
    changed = bank.json("customer", "line", hong, "--bank", "081", "--carrier", "SKT",
                        "--mvno", "SK 7mobile", "--phone", "010 9999 8888")
    assert (changed["phone"], changed["carrier"], changed["mvno"]) == (
        "01099998888", "SKT", "SK 7mobile")


def test_an_activation_after_the_enrolment_days_is_refused(bank: BankCli) -> None:
    hong = bank.customer()
    bank.ok("customer", "sign-up", hong, "--bank", "081")
    refused(bank.run("customer", "activate", hong, "--bank", "081", at="2026-03-19T00:00"),
            1, "[enrolment_expired]", "sign-up")


@pytest.mark.parametrize(("change", "option"), [
    ({"--rrn": BAD_RRN}, "--rrn"),
    ({"--phone": "12345"}, "--phone"),
    ({"--name": " 홍길동"}, "--name"),
    ({"--carrier": "XT"}, "--carrier"),
    ({"--line-type": "monthly"}, "--line-type"),
])
def test_bad_customer_input_is_a_usage_error_naming_the_option_and_adds_no_one(
        bank: BankCli, change: dict[str, str], option: str) -> None:
    given = {"--name": "홍길동", "--rrn": RRN, "--phone": "010-1234-5678", "--carrier": "KT",
             **change}
    args = [x for pair in given.items() for x in pair]
    refused(bank.run("customer", "add", "--bank", "081", *args), 2, option)
    assert bank.json("customer", "list", "--bank", "081") == {"customers": []}


def test_the_same_person_twice_is_refused_naming_rrn(bank: BankCli) -> None:
    bank.customer()
    refused(bank.run("customer", "add", "--bank", "081", "--name", "홍길동", "--rrn", RRN,
                     "--phone", "010-1234-5678", "--carrier", "KT"), 1, "[exists]", "--rrn")


def test_another_bank_does_not_see_the_customer(bank: BankCli) -> None:
    hong = bank.customer()
    bank.ok("add", "004")
    for args in (["customer", "show", hong], ["card", "issue", hong], ["otp", "list", hong],
                 ["account", "list", hong]):
        refused(bank.run(*args, "--bank", "004"), 1, "[not_found]", "CUSTOMER")


def test_line_change_needs_something_to_change(bank: BankCli) -> None:
    refused(bank.run("customer", "line", bank.customer(), "--bank", "081"), 2, "--phone")


# -- accounts --------------------------------------------------------------------------------


def test_an_account_is_opened_listed_checked_locked_and_reset(bank: BankCli) -> None:
    hong = bank.customer()
    right, wrong = bank.file("pw", "0420"), bank.file("wrong", "1111")
    opened = bank.json("account", "open", hong, "--bank", "081", "--balance", "3000000",
                       "--password-file", right)
    number = opened["number"]
    assert opened["balance"] == 3_000_000
    assert [a["number"] for a in bank.json("account", "list", hong, "--bank", "081")
            ["accounts"]] == [number]
    bank.ok("account", "check", number, "--bank", "081", "--password-file", right)
    for left in (4, 3, 2, 1):
        line = refused(bank.run("account", "check", number, "--bank", "081",
                                "--password-file", wrong), 1, "[wrong_account_password]",
                       "--password-file")
        assert f"{left} attempts left" in line
    refused(bank.run("account", "check", number, "--bank", "081", "--password-file", wrong),
            1, "[account_locked]")
    refused(bank.run("account", "check", number, "--bank", "081", "--password-file", right),
            1, "[account_locked]", "kpki bank account reset")
    bank.ok("account", "reset", number, "--bank", "081", "--operator", "branch-7",
            env={"KPKI_ACCOUNT_PASSWORD": "5678"})
    bank.ok("account", "check", number, "--bank", "081", env={"KPKI_ACCOUNT_PASSWORD": "5678"})


def test_a_malformed_account_password_from_a_file_opens_nothing(bank: BankCli) -> None:
    hong = bank.customer()
    refused(bank.run("account", "open", hong, "--bank", "081", "--password-file",
                     bank.file("pw", "12ab")), 1, "--password-file", "[bad_request]")
    refused(bank.run("account", "open", hong, "--bank", "081", "--number", "12",
                     "--password-file", bank.file("pw", "0420")), 2, "--number")
    assert bank.json("account", "list", hong, "--bank", "081") == {"accounts": []}


def test_without_a_password_and_no_terminal_the_option_is_named(bank: BankCli) -> None:
    refused(bank.run("account", "open", bank.customer(), "--bank", "081"), 2,
            "--password-file", "$KPKI_ACCOUNT_PASSWORD")


# -- security cards --------------------------------------------------------------------------


def _answer(codes: list[str], first: int, second: int) -> str:
    return codes[first - 1][:2] + codes[second - 1][2:]


def test_a_card_is_issued_printed_challenged_and_answered(bank: BankCli) -> None:
    hong = bank.customer()
    seed = bank.file("seed", "printed in the test")
    issued = bank.json("card", "issue", hong, "--bank", "081", "--seed-file", seed)
    printed = bank.json("card", "print", hong, "--bank", "081")
    assert printed["serial"] == issued["serial"] and len(printed["codes"]) == 35
    text = bank.ok("card", "print", hong, "--bank", "081").stdout
    assert text.startswith(f"No. {issued['serial']}") and f"35: {printed['codes'][34]}" in text
    asked = bank.json("card", "challenge", hong, "--bank", "081")
    answer = _answer(printed["codes"], asked["first"], asked["second"])
    bank.ok("card", "answer", asked["id"], "--bank", "081", "--answer-file",
            bank.file("a", answer))
    refused(bank.run("card", "answer", asked["id"], "--bank", "081",
                     env={"KPKI_CARD_ANSWER": answer}), 1, "[challenge_used]")


def test_the_same_seed_prints_the_same_card(bank: BankCli) -> None:
    seed = bank.file("seed", "one seed")
    first = bank.customer()
    bank.ok("add", "004")
    second = bank.customer("004")
    bank.ok("card", "issue", first, "--bank", "081", "--seed-file", seed)
    bank.ok("card", "issue", second, "--bank", "004", "--seed-file", seed)
    assert (bank.json("card", "print", first, "--bank", "081")
            == bank.json("card", "print", second, "--bank", "004"))


def test_an_expired_challenge_is_refused_and_not_counted(bank: BankCli) -> None:
    hong = bank.customer()
    bank.ok("card", "issue", hong, "--bank", "081")
    codes = bank.json("card", "print", hong, "--bank", "081")["codes"]
    asked = bank.json("card", "challenge", hong, "--bank", "081")
    answer = _answer(codes, asked["first"], asked["second"])
    refused(bank.run("card", "answer", asked["id"], "--bank", "081", at="2026-03-16T09:02:01",
                     env={"KPKI_CARD_ANSWER": answer}), 1, "[challenge_expired]")
    card = bank.json("customer", "show", hong, "--bank", "081")["card"]
    assert card["failures"] == 0


def test_five_wrong_answers_lock_the_card_until_a_branch_resets_it(bank: BankCli) -> None:
    hong = bank.customer()
    bank.ok("card", "issue", hong, "--bank", "081")
    codes = bank.json("card", "print", hong, "--bank", "081")["codes"]
    for left in (4, 3, 2, 1):
        asked = bank.json("card", "challenge", hong, "--bank", "081")
        wrong = "0000" if _answer(codes, asked["first"], asked["second"]) != "0000" else "1111"
        line = refused(bank.run("card", "answer", asked["id"], "--bank", "081",
                                env={"KPKI_CARD_ANSWER": wrong}), 1, "[wrong_card_answer]",
                       "--answer-file")
        assert f"{left} attempts left" in line
    asked = bank.json("card", "challenge", hong, "--bank", "081")
    wrong = "0000" if _answer(codes, asked["first"], asked["second"]) != "0000" else "1111"
    refused(bank.run("card", "answer", asked["id"], "--bank", "081",
                     env={"KPKI_CARD_ANSWER": wrong}), 1, "[card_locked]")
    refused(bank.run("card", "challenge", hong, "--bank", "081"), 1, "[card_locked]",
            "kpki bank card reset")
    state = bank.json("card", "reset", hong, "--bank", "081", "--operator", "branch-7")
    assert (state["locked"], state["attempts_left"]) == (False, 5)
    bank.ok("card", "challenge", hong, "--bank", "081")


def test_a_malformed_answer_is_refused_naming_the_file_and_not_counted(bank: BankCli) -> None:
    hong = bank.customer()
    bank.ok("card", "issue", hong, "--bank", "081")
    asked = bank.json("card", "challenge", hong, "--bank", "081")
    refused(bank.run("card", "answer", asked["id"], "--bank", "081", "--answer-file",
                     bank.file("a", "12x4")), 1, "--answer-file", "[bad_request]")
    assert bank.json("customer", "show", hong, "--bank", "081")["card"]["failures"] == 0


def test_a_lost_card_is_retired(bank: BankCli) -> None:
    hong = bank.customer()
    serial = bank.json("card", "issue", hong, "--bank", "081")["serial"]
    assert bank.json("card", "lost", hong, "--bank", "081") == {"serial": serial, "lost": True}
    refused(bank.run("card", "print", hong, "--bank", "081"), 1, "[not_found]",
            "kpki bank card issue")


# -- OTP -------------------------------------------------------------------------------------


def _otp(bank: BankCli, hong: str, *args: str, code: str = "081") -> str:
    return str(bank.json("otp", "issue", hong, "--bank", code, *args)["serial"])


def _code(bank: BankCli, hong: str, serial: str, *, at: str = T0, code: str = "081") -> str:
    shown = bank.json("otp", "code", hong, serial, "--bank", code, at=at)
    assert re.fullmatch(r"\d{6}", shown["code"])
    return str(shown["code"])


def test_a_hardware_otp_shows_its_code_which_verifies_once(bank: BankCli) -> None:
    hong = bank.customer()
    serial = _otp(bank, hong)
    code = _code(bank, hong, serial)
    assert bank.ok("otp", "code", hong, serial, "--bank", "081").stdout.strip() == code
    accepted = bank.json("otp", "verify", hong, serial, "--bank", "081", "--code-file",
                         bank.file("otp", code))
    assert accepted["serial"] == serial
    refused(bank.run("otp", "verify", hong, serial, "--bank", "081",
                     env={"KPKI_OTP_CODE": code}), 1, "[otp_replayed]")
    [token] = bank.json("otp", "list", hong, "--bank", "081")["tokens"]
    assert (token["serial"], token["failures"]) == (serial, 0)  # a replay is not counted


def test_wrong_otp_codes_are_counted_and_lock_at_ten(bank: BankCli) -> None:
    hong = bank.customer()
    serial = _otp(bank, hong)
    right = _code(bank, hong, serial)
    wrong = "000000" if right != "000000" else "111111"
    for left in range(9, 0, -1):
        line = refused(bank.run("otp", "verify", hong, serial, "--bank", "081",
                                env={"KPKI_OTP_CODE": wrong}), 1, "[wrong_otp]",
                       "--code-file")
        assert f"{left} attempts left" in line
    refused(bank.run("otp", "verify", hong, serial, "--bank", "081",
                     env={"KPKI_OTP_CODE": wrong}), 1, "[otp_locked]", "kpki bank otp reset")
    state = bank.json("otp", "reset", hong, serial, "--bank", "081", "--operator", "b-1")
    assert (state["locked"], state["failures"]) == (False, 0)
    bank.ok("otp", "verify", hong, serial, "--bank", "081", env={"KPKI_OTP_CODE": right})


def test_a_malformed_otp_code_names_the_file_and_is_not_counted(bank: BankCli) -> None:
    hong = bank.customer()
    serial = _otp(bank, hong)
    refused(bank.run("otp", "verify", hong, serial, "--bank", "081", "--code-file",
                     bank.file("c", "12345x")), 1, "--code-file", "[bad_request]")
    assert bank.json("otp", "list", hong, "--bank", "081")["tokens"][0]["failures"] == 0


def test_a_hardware_otp_registered_at_a_second_bank_is_one_token(bank: BankCli) -> None:
    bank.ok("add", "004")
    at_kb, at_hana = bank.customer("004"), bank.customer("081")
    serial = _otp(bank, at_kb, code="004")
    code = _code(bank, at_kb, serial, code="004")
    bank.ok("otp", "register", at_hana, serial, "--bank", "081", env={"KPKI_OTP_CODE": code})
    later = "2026-03-16T09:01:30"
    bank.ok("otp", "verify", at_hana, serial, "--bank", "081", at=later,
            env={"KPKI_OTP_CODE": _code(bank, at_hana, serial, at=later)})
    bank.json("otp", "lost", at_hana, serial, "--bank", "081")
    refused(bank.run("otp", "verify", at_kb, serial, "--bank", "004", at="2026-03-16T09:03",
                     env={"KPKI_OTP_CODE": "123456"}), 1, "[otp_lost]")


def test_a_mobile_otp_needs_its_device_and_activation(bank: BankCli) -> None:
    hong = bank.customer()
    refused(bank.run("otp", "issue", hong, "--bank", "081", "--kind", "mobile"), 2,
            "--device")
    serial = _otp(bank, hong, "--kind", "mobile", "--device", "galaxy-s24")
    code = _code(bank, hong, serial)
    refused(bank.run("otp", "verify", hong, serial, "--bank", "081", "--device", "galaxy-s24",
                     env={"KPKI_OTP_CODE": code}), 1, "[otp_not_activated]",
            "kpki bank otp activate")
    refused(bank.run("otp", "activate", hong, serial, "--bank", "081",
                     env={"KPKI_OTP_CODE": code}), 2, "--device")
    refused(bank.run("otp", "activate", hong, serial, "--bank", "081", "--device", "iphone",
                     env={"KPKI_OTP_CODE": code}), 1, "[otp_wrong_device]")
    bank.ok("otp", "activate", hong, serial, "--bank", "081", "--device", "galaxy-s24",
            env={"KPKI_OTP_CODE": code})
    assert bank.json("limits", hong, "--bank", "081")["medium"] == "mobile-otp"


def test_resync_takes_two_codes(bank: BankCli) -> None:
    hong = bank.customer()
    serial = _otp(bank, hong)
    later = ["2026-03-16T09:10", "2026-03-16T09:11"]
    codes = " ".join(_code(bank, hong, serial, at=t) for t in later)
    accepted = bank.json("otp", "resync", hong, serial, "--bank", "081",
                         env={"KPKI_OTP_CODE": codes})
    assert accepted["drift"] == 11
    refused(bank.run("otp", "resync", hong, serial, "--bank", "081",
                     env={"KPKI_OTP_CODE": "123456"}), 1, "two codes", "--code-file")


# -- limits ----------------------------------------------------------------------------------


def test_limits_follow_the_best_usable_medium(bank: BankCli) -> None:
    hong = bank.customer()
    refused(bank.run("limits", hong, "--bank", "081"), 1, "[no_medium]")
    bank.ok("card", "issue", hong, "--bank", "081")
    card = bank.json("limits", hong, "--bank", "081")
    assert (card["medium"], card["per_transfer"], card["per_day"], card["left_today"]) == (
        "security-card", 10_000_000, 10_000_000, 10_000_000)
    serial = _otp(bank, hong)
    assert bank.json("limits", hong, "--bank", "081")["per_day"] == 500_000_000
    assert bank.json("limits", hong, "--bank", "081", "--medium", "security-card")[
        "per_day"] == 10_000_000
    bank.ok("otp", "lost", hong, serial, "--bank", "081")
    assert bank.json("limits", hong, "--bank", "081")["medium"] == "security-card"
    assert "10,000,000" in bank.ok("limits", hong, "--bank", "081").stdout


# -- phone verification ----------------------------------------------------------------------


def _line(bank: BankCli, *extra: str) -> None:
    bank.ok("line", "add", "010-2222-3333", "--name", "김영희", "--rrn", LINE_RRN,
            "--carrier", "KT", "--mvno", "KT M모바일", *extra)


def _request(bank: BankCli, *extra: str, at: str = T0) -> Result:
    return bank.run("phone", "request", "--bank", "081", "--name", "김영희", "--phone",
                    "01022223333", "--rrn7", "920801-2", "--carrier", "KTM", *extra, at=at)


# Each command's clock starts at its --at and runs on: a step that must come after another
# one is given a later --at, not left to the milliseconds each run takes.
LATER = "2026-03-16T09:00:10"
LATEST = "2026-03-16T09:00:20"


def _sent_code(bank: BankCli) -> str:
    messages = bank.json("phone", "messages", "--bank", "081", "--phone", "010-2222-3333")
    found = re.search(r"\b(\d{6})\b", messages["messages"][-1]["text"])
    assert found is not None
    return found.group(1)


def test_an_sms_verification_is_confirmed_with_the_code_sent(bank: BankCli) -> None:
    _line(bank)
    assert _request(bank).exit_code == 0
    sent = json.loads(_request(bank, "--json", at=LATER).stdout)
    assert (sent["via"], sent["autofill"]) == ("sms", True)
    code = _sent_code(bank)
    lines = bank.ok("phone", "messages", "--bank", "081", "--phone", "01022223333",
                    "--jsonl").stdout.splitlines()
    assert len(lines) == 2 and json.loads(lines[-1])["via"] == "sms"
    wrong = "000000" if code != "000000" else "111111"
    line = refused(bank.run("phone", "confirm", sent["id"], "--bank", "081",
                            env={"KPKI_PHONE_CODE": wrong}), 1, "[wrong_code]", "--code-file")
    assert "4 tries left" in line
    result = bank.json("phone", "confirm", sent["id"], "--bank", "081", "--code-file",
                       bank.file("code", code))
    assert (result["name"], result["birth_date"], result["sex"], result["foreigner"]) == (
        "김영희", "1992-08-01", "F", False)
    assert len(result["ci"]) == 88 and len(result["di"]) == 64
    assert bank.json("phone", "status", sent["id"], "--bank", "081")["state"] == "verified"
    resent = bank.run("phone", "resend", sent["id"], "--bank", "081")
    refused(resent, 1, "[verification_used]")


def test_the_ci_is_the_same_in_every_run_of_the_home(bank: BankCli) -> None:
    _line(bank)
    cis = []
    for at in (T0, LATER):
        sent = json.loads(_request(bank, "--json", at=at).stdout)
        cis.append(bank.json("phone", "confirm", sent["id"], "--bank", "081", at=at,
                             env={"KPKI_PHONE_CODE": _sent_code(bank)})["ci"])
    assert cis[0] == cis[1]


def test_a_mismatch_never_says_which_field(bank: BankCli) -> None:
    _line(bank)
    line = refused(bank.run("phone", "request", "--bank", "081", "--name", "김영수", "--phone",
                            "01022223333", "--rrn7", "920801-2", "--carrier", "KTM"), 1,
                   "[identity_mismatch]")
    assert "김영수" not in line
    assert bank.json("phone", "messages", "--bank", "081", "--phone", "01022223333") == {
        "messages": []}


@pytest.mark.parametrize(("args", "option"), [
    (["--rrn7", "920801"], "--rrn7"),
    (["--phone", "12"], "--phone"),
    (["--carrier", "XYZ"], "--carrier"),
    (["--method", "fax"], "--method"),
])
def test_bad_phone_input_is_a_usage_error(bank: BankCli, args: list[str],
                                          option: str) -> None:
    _line(bank)
    given = {"--name": "김영희", "--phone": "01022223333", "--rrn7": "920801-2",
             "--carrier": "KTM", **dict([args])}
    refused(bank.run("phone", "request", "--bank", "081",
                     *[x for pair in given.items() for x in pair]), 2, option)
    assert bank.json("phone", "messages", "--bank", "081", "--phone", "01022223333") == {
        "messages": []}


def test_an_ars_call_is_confirmed_by_the_key_press(bank: BankCli) -> None:
    _line(bank)
    call = json.loads(_request(bank, "--method", "ars", "--json").stdout)
    assert call["via"] == "call" and re.fullmatch(r"\d\d", call["display_code"])
    bank.ok("phone", "press", call["id"], "--bank", "081",
            env={"KPKI_PHONE_CODE": call["display_code"]})
    status = bank.json("phone", "status", call["id"], "--bank", "081")
    assert status["state"] == "verified" and len(status["result"]["ci"]) == 88
    bank.ok("line", "change", "010-2222-3333", "--ars-blocked")
    refused(_request(bank, "--method", "ars"), 1, "[ars_blocked]")
    assert bank.json("line", "change", "010-2222-3333", "--ars-unblocked")[
        "ars_blocked"] is False


def test_a_suspended_line_is_refused_to_its_holder(bank: BankCli) -> None:
    _line(bank)
    assert bank.json("line", "change", "01022223333", "--state", "suspended")[
        "state"] == "suspended"
    refused(_request(bank), 1, "[line_suspended]")


def test_push_protection_takes_the_codes_into_the_app(bank: BankCli) -> None:
    _line(bank)
    password = bank.file("app", "482915")
    bank.ok("app", "enrol", "010-2222-3333", "--app-password-file", password)
    sent = json.loads(_request(bank, "--json", at=LATER).stdout)
    assert (sent["via"], sent["autofill"]) == ("app", False)
    history = bank.json("app", "history", "01022223333", "--app-password-file", password,
                        at=LATER)
    assert [e["verification"] for e in history["history"]] == [sent["id"]]
    line = refused(bank.run("app", "history", "01022223333",
                            env={"KPKI_APP_PASSWORD": "111111"}), 1, "[wrong_app_password]",
                   "--app-password-file")
    assert "4 attempts left" in line
    bank.ok("app", "remove", "01022223333", "--app-password-file", password, at=LATER)
    assert json.loads(_request(bank, "--json", at=LATEST).stdout)["via"] == "sms"


def test_a_malformed_new_app_password_enrols_nothing(bank: BankCli) -> None:
    _line(bank)
    refused(bank.run("app", "enrol", "01022223333", "--app-password-file",
                     bank.file("app", "12")), 1, "--app-password-file")
    assert json.loads(_request(bank, "--json").stdout)["via"] == "sms"


# -- the rules over every command ------------------------------------------------------------


def _bank_commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")
        else:
            found[path] = command

    walk(cli.commands["bank"], "bank")
    return found


def test_no_secret_is_taken_from_argv() -> None:
    """Passwords, answers, codes and seeds come from a file, the environment or a prompt:
    every option that carries one ends in -file."""
    secret = re.compile(r"password|answer|code|seed|pin", re.IGNORECASE)
    on_argv = [f"{path} {opt}" for path, command in _bank_commands().items()
               for param in command.params if isinstance(param, click.Option)
               for opt in param.opts if secret.search(opt) and not opt.endswith("-file")]
    assert on_argv == []


def test_every_bank_command_is_exercised_here() -> None:
    text = Path(__file__).read_text(encoding="utf-8")
    missing = [path for path in _bank_commands()
               if not re.search(r'"' + r'", "'.join(path.split()[1:]) + r'"', text)]
    assert missing == []


# -- a real process --------------------------------------------------------------------------


def test_a_real_kpki_process_issues_and_prints_a_card(bank: BankCli) -> None:
    kpki = str(Path(sys.executable).parent / "kpki")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    env.update({"KPKI_HOME": str(bank.home), "KPKI_BANK": "081", "KPKI_NOW": T0})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kpki, "bank", *args], capture_output=True, text=True,
                              env=env, timeout=120, check=False)

    added = run("customer", "add", "--name", "홍길동", "--rrn", RRN, "--phone", "01012345678",
                "--carrier", "KT")
    assert added.returncode == 0, added.stderr
    hong = added.stdout.strip()
    assert run("card", "issue", hong).returncode == 0
    printed = run("card", "print", hong, "--json")
    assert printed.returncode == 0 and len(json.loads(printed.stdout)["codes"]) == 35
    missing = run("card", "print", "c_nobody")
    assert missing.returncode == 1
    assert missing.stderr.startswith("kpki: error: no such customer [not_found]")
    assert "Traceback" not in missing.stderr


# -- designated devices ----------------------------------------------------------------------


def test_devices_are_designated_up_to_the_cap_and_the_last_is_a_branchs(
        bank: BankCli) -> None:
    bank.ok("settings", "--bank", "081", "--set", "max_devices=2")
    hong = bank.customer()
    assert bank.json("device", "list", hong, "--bank", "081") == {
        "devices": [], "designated_only": False, "step_up": None}
    bank.ok("device", "add", hong, "pc-1", "--bank", "081")
    assert bank.json("device", "add", hong, "phone-1", "--bank", "081")["devices"] == [
        "pc-1", "phone-1"]
    refused(bank.run("device", "add", hong, "tablet", "--bank", "081"), 1,
            "[too_many_devices]", "kpki bank device remove")
    bank.ok("device", "remove", hong, "phone-1", "--bank", "081")
    assert bank.json("device", "only", hong, "on", "--bank", "081")["designated_only"]
    refused(bank.run("device", "remove", hong, "pc-1", "--bank", "081"), 1,
            "[device_change_branch_only]", "--operator")
    refused(bank.run("device", "only", hong, "off", "--bank", "081"), 1,
            "[device_change_branch_only]")
    kept = bank.json("device", "remove", hong, "pc-1", "--bank", "081", "--operator", "b-7")
    assert kept["devices"] == [] and kept["designated_only"]
    assert bank.json("device", "step-up", hong, "ars", "--bank", "081")["step_up"] == "ars"
    assert bank.json("device", "step-up", hong, "none", "--bank", "081")["step_up"] is None
    assert "designated only: on" in bank.ok("device", "list", hong, "--bank", "081").stdout
    assert bank.ok("device", "list", hong, "--bank", "081", "--jsonl").stdout == ""


def test_a_bad_device_id_is_a_usage_error(bank: BankCli) -> None:
    refused(bank.run("device", "add", bank.customer(), "x" * 65, "--bank", "081"), 2,
            "DEVICE")


# -- transfers -------------------------------------------------------------------------------

KEY_PASSWORD = "Test-pass-1234!"


def test_a_transfer_is_signed_with_the_folder_answered_and_recorded(bank: BankCli) -> None:
    hong = bank.customer()
    issued = CliRunner().invoke(cli, ["--home", str(bank.home), "--at", T0, "issue", "joint",
                                      "--name", "홍길동", "--rrn", RRN, "--out",
                                      bank.tmp / "npki", "--json"],
                                env={"KPKI_KEY_PASSWORD": KEY_PASSWORD, "KPKI_HOME": "",
                                     "KPKI_CA_PASSPHRASE": ""}, catch_exceptions=False)
    assert issued.exit_code == 0, issued.output
    folder = json.loads(issued.stdout)["folder"]
    key = {"KPKI_KEY_PASSWORD": KEY_PASSWORD}
    account = bank.json("account", "open", hong, "--bank", "081", "--balance", "5000000",
                        env={"KPKI_ACCOUNT_PASSWORD": "0420"})["number"]
    payee = bank.customer(rrn="850101-2345678")
    to = bank.json("account", "open", payee, "--bank", "081",
                   env={"KPKI_ACCOUNT_PASSWORD": "1234"})["number"]
    bank.ok("card", "issue", hong, "--bank", "081")
    bank.ok("device", "add", hong, "pc-1", "--bank", "081")
    codes = bank.json("card", "print", hong, "--bank", "081")["codes"]
    bank.ok("customer", "sign-up", hong, "--bank", "081")  # internet banking, active
    bank.ok("customer", "activate", hong, "--bank", "081")

    def send(amount: int, *, right: bool = True, **kw: Any) -> Result:
        asked = bank.json("card", "challenge", hong, "--bank", "081")
        answer = _answer(codes, asked["first"], asked["second"])
        if not right:
            answer = f"{(int(answer) + 1) % 10000:04d}"
        return bank.run("transfer", "send", hong, "--bank", "081", "--from", account, "--to",
                        to, "--amount", amount, "--npki", folder, "--device", "pc-1",
                        "--challenge", asked["id"], "--json",
                        env={**key, "KPKI_CARD_ANSWER": answer}, **kw)

    done = send(1_000_000)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["accepted"], result["balance"], result["medium"]) == (
        True, 4_000_000, "security-card")
    refused(send(1_000_000, right=False, at="2026-03-16T09:00:05"), 1,
            "[wrong_card_answer]", "4 attempts left")
    refused(send(9_000_001, at="2026-03-16T09:00:10"), 1, "[over_day_limit]")
    rows = bank.json("transfer", "list", hong, "--bank", "081")["transfers"]
    assert [(r["outcome"], r["reason"]) for r in rows] == [
        ("accepted", None), ("refused", "wrong_card_answer"), ("refused", "over_day_limit")]
    assert len(bank.ok("transfer", "list", hong, "--bank", "081", "--jsonl").stdout
               .splitlines()) == 3
    assert "over_day_limit" in bank.ok("transfer", "list", hong, "--bank", "081").stdout
    refused(bank.run("transfer", "send", hong, "--bank", "081", "--from", account, "--to", to,
                     "--amount", "1", "--npki", folder, env=key), 2, "--challenge", "--otp")
    refused(bank.run("transfer", "send", hong, "--bank", "081", "--from", account, "--to", to,
                     "--amount", "1", "--npki", folder, "--otp", "1",
                     env={"KPKI_KEY_PASSWORD": "Wrong-pass-9999!", "KPKI_OTP_CODE": "123456"}),
            1, "--password-file")
    refused(bank.run("transfer", "send", hong, "--bank", "081", "--from", "12", "--to", to,
                     "--amount", "1", "--npki", folder, "--otp", "1",
                     env={**key, "KPKI_OTP_CODE": "123456"}), 2, "--from")
    refused(bank.run("transfer", "send", hong, "--bank", "081", "--from", account, "--to", "12",
                     "--amount", "1", "--npki", folder, "--otp", "1",
                     env={**key, "KPKI_OTP_CODE": "123456"}), 2, "--to")
    refused(bank.run("transfer", "send", hong, "--bank", "081", "--from", account, "--to", to,
                     "--amount", str(10**20), "--npki", folder, "--otp", "1",
                     env={**key, "KPKI_OTP_CODE": "123456"}), 2, "--amount")
    refused(bank.run("transfer", "send", hong, "--bank", "081", "--from", account, "--to", to,
                     "--amount", "1", "--npki", folder, "--challenge", "ch_1",
                     env={**key, "KPKI_CARD_ANSWER": "abcd"}), 1, "--answer-file")
    assert len(bank.json("transfer", "list", hong, "--bank", "081")["transfers"]) == 3
