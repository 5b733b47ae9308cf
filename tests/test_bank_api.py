"""The bank's JSON API (``/bank/v1``, issue 14 item 8): each route, each refusal with its
stable code and status, institution isolation (a stranger bank gets the same answer for
another bank's customer as for none), and hostile callers (no or a wrong key, oversized or
streamed bodies, wrong types, unknown fields, fuzzed bodies): 4xx JSON, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
import urllib.parse
import urllib.request

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from pki.home import Home
from pki.rrn import synthetic_rrn

from .bank_api_helpers import PHONE, RRN, add_customer, last_code, serve_bank
from .cloud_helpers import Api, _kpki, _start, _stop, chunked_post

MIB = 1024 * 1024
SEED = bytes(range(20))
UNKNOWN_CUSTOMER = "c_0123456789abcdef"


@pytest.fixture(scope="module")
def bank(tmp_path_factory, key_pool):
    with serve_bank(tmp_path_factory.mktemp("bank-api") / "home", key_pool=key_pool) as served:
        yield served


@pytest.fixture
def clock(bank):
    """The server's clock, put back after the test."""
    before = bank.clock.now()
    yield bank.clock
    bank.clock.set(before)


_phones = iter(range(10_000, 99_999))


def _customer(bank, api=None) -> tuple[str, str]:
    """A new customer of Hana (or of ``api``'s bank): (id, phone)."""
    n = next(_phones)
    phone = f"0105555{n:04d}"[:11]
    rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=n).digits
    return add_customer(api or bank.hana, rrn=rrn, phone=phone), phone


def _enrolled(bank, customer: str) -> str:
    """``customer`` with internet banking signed up and activated (logins need it)."""
    bank.hana("POST", f"/bank/v1/customers/{customer}/sign-up")
    assert bank.hana("POST", f"/bank/v1/customers/{customer}/activate")[0] == 200
    return customer


def _error(result, status: int, code: str) -> dict:
    got_status, body = result
    assert (got_status, body["error"]["code"]) == (status, code), result
    return body["error"]


# -- customers, enrolment, accounts ------------------------------------------------------------


def test_a_customer_is_added_and_seen_whole_without_the_resident_number(bank):
    customer, phone = _customer(bank)
    status, seen = bank.hana("GET", f"/bank/v1/customers/{customer}")
    assert status == 200
    assert seen["customer_id"] == customer and seen["phone"] == phone
    assert (seen["carrier"], seen["mvno"], seen["line_type"]) == ("KT", "KT M모바일", "postpaid")
    assert seen["enrolment"]["state"] == "none" and seen["accounts"] == []
    assert seen["limits"]["medium"] is None
    assert "rrn" not in json.dumps(seen) and RRN[:6] not in json.dumps(seen)


def test_the_same_person_twice_at_one_bank_is_409_exists(bank):
    status, _ = bank.hana("POST", "/bank/v1/customers", {
        "name": "홍길동", "rrn": RRN, "phone": PHONE, "carrier": "KT"})
    assert status in (201, 409)
    _error(bank.hana("POST", "/bank/v1/customers", {
        "name": "홍길동", "rrn": RRN, "phone": PHONE, "carrier": "KT"}), 409, "exists")


@pytest.mark.parametrize(("field", "value"), [
    ("rrn", "900517-1234567"), ("phone", "12345"), ("carrier", "SKY"), ("line_type", "free"),
    ("name", "x\u0000")])
def test_a_bad_customer_field_is_400_naming_it(bank, field, value):
    body = {"name": "홍길동", "rrn": RRN, "phone": PHONE, "carrier": "KT", field: value}
    error = _error(bank.hana("POST", "/bank/v1/customers", body), 400, "bad_request")
    assert error["field"] == field


def test_a_line_change_is_seen(bank):
    customer, _ = _customer(bank)
    status, body = bank.hana("POST", f"/bank/v1/customers/{customer}/line",
                             {"line_type": "suspended"})
    assert (status, body["line_type"]) == (200, "suspended")


def test_enrolment_is_activated_within_three_kst_days_or_410(bank, clock):
    customer, _ = _customer(bank)
    path = f"/bank/v1/customers/{customer}"
    _error(bank.hana("POST", f"{path}/activate"), 403, "not_enrolled")
    status, enrolment = bank.hana("POST", f"{path}/sign-up")
    assert (status, enrolment["state"]) == (200, "pending")
    assert enrolment["deadline"] == "2026-03-18T14:59:59Z"  # Wednesday 23:59:59 KST
    clock.advance(dt.timedelta(days=3))
    _error(bank.hana("POST", f"{path}/activate"), 410, "enrolment_expired")
    bank.hana("POST", f"{path}/sign-up")
    status, enrolment = bank.hana("POST", f"{path}/activate")
    assert (status, enrolment["state"]) == (200, "active")


def test_an_account_password_counts_locks_at_423_and_a_branch_resets_it(bank):
    customer, _ = _customer(bank)
    status, account = bank.hana("POST", f"/bank/v1/customers/{customer}/accounts",
                                {"password": "0420", "balance": 3_000_000})
    assert status == 201 and account["balance"] == 3_000_000
    path = f"/bank/v1/accounts/{account['number']}"
    assert bank.hana("POST", f"{path}/password", {"password": "0420"}) == (
        200, {"checked": True})
    for left in (4, 3, 2, 1):
        error = _error(bank.hana("POST", f"{path}/password", {"password": "1111"}), 401,
                       "wrong_account_password")
        assert error["attempts_left"] == left
    _error(bank.hana("POST", f"{path}/password", {"password": "1111"}), 423, "account_locked")
    _error(bank.hana("POST", f"{path}/password", {"password": "0420"}), 423, "account_locked")
    _error(bank.hana("POST", f"{path}/password", {"password": "04200"}), 400, "bad_request")
    status, reset = bank.hana("POST", f"{path}/reset", {"password": "9876", "operator": "kim"})
    assert status == 200 and not reset["locked"]
    assert bank.hana("POST", f"{path}/password", {"password": "9876"})[0] == 200
    assert bank.hana("GET", path)[1]["customer_id"] == customer


@pytest.mark.parametrize("body", [{"password": "0420", "balance": -1},
                                  {"password": "0420", "balance": 10**16},
                                  {"password": "0420", "balance": 1.5},
                                  {"password": "042"},
                                  {"password": "0420", "number": "12"}])
def test_a_bad_account_is_400(bank, body):
    customer, _ = _customer(bank)
    _error(bank.hana("POST", f"/bank/v1/customers/{customer}/accounts", body), 400,
           "bad_request")
    assert bank.hana("GET", f"/bank/v1/customers/{customer}")[1]["accounts"] == []


# -- security cards ------------------------------------------------------------------------------


def _card(bank, customer: str) -> list[str]:
    status, card = bank.hana("POST", f"/bank/v1/customers/{customer}/card",
                             {"seed": customer})
    assert status == 201 and len(card["codes"]) == 35
    return card["codes"]


def _challenge(bank, customer: str) -> dict:
    status, challenge = bank.hana("POST", f"/bank/v1/customers/{customer}/card/challenge")
    assert status == 201, challenge
    return challenge


def _answer_of(codes: list[str], challenge: dict) -> str:
    return codes[challenge["first"] - 1][:2] + codes[challenge["second"] - 1][2:]


def test_a_card_challenge_is_answered_once(bank):
    customer, _ = _customer(bank)
    codes = _card(bank, customer)
    challenge = _challenge(bank, customer)
    path = f"/bank/v1/challenges/{challenge['challenge_id']}/answer"
    assert bank.hana("POST", path, {"answer": _answer_of(codes, challenge)}) == (
        200, {"answered": True})
    _error(bank.hana("POST", path, {"answer": _answer_of(codes, challenge)}), 409,
           "challenge_used")
    assert bank.hana("GET", f"/bank/v1/test/customers/{customer}/card")[1]["codes"] == codes


def test_a_late_answer_is_410_and_not_counted(bank, clock):
    customer, _ = _customer(bank)
    codes = _card(bank, customer)
    challenge = _challenge(bank, customer)
    clock.advance(dt.timedelta(seconds=121))
    _error(bank.hana("POST", f"/bank/v1/challenges/{challenge['challenge_id']}/answer",
                     {"answer": "0000"}), 410, "challenge_expired")
    assert bank.hana("GET", f"/bank/v1/customers/{customer}/card")[1]["failures"] == 0
    assert codes


def test_five_wrong_answers_lock_the_card_until_a_branch_resets_it(bank):
    customer, _ = _customer(bank)
    codes = _card(bank, customer)
    for left in (4, 3, 2, 1):
        challenge = _challenge(bank, customer)
        wrong = f"{(int(_answer_of(codes, challenge)) + 1) % 10000:04d}"
        error = _error(bank.hana("POST", f"/bank/v1/challenges/{challenge['challenge_id']}"
                                         "/answer", {"answer": wrong}), 401,
                       "wrong_card_answer")
        assert error["attempts_left"] == left
    challenge = _challenge(bank, customer)
    wrong = f"{(int(_answer_of(codes, challenge)) + 1) % 10000:04d}"
    _error(bank.hana("POST", f"/bank/v1/challenges/{challenge['challenge_id']}/answer",
                     {"answer": wrong}), 423, "card_locked")
    _error(bank.hana("POST", f"/bank/v1/customers/{customer}/card/challenge"), 423,
           "card_locked")
    status, card = bank.hana("POST", f"/bank/v1/customers/{customer}/card/reset",
                             {"operator": "branch-kim"})
    assert status == 200 and not card["locked"] and card["failures"] == 0
    assert bank.hana("POST", f"/bank/v1/customers/{customer}/card/lost") == (
        200, {"lost": True})
    _error(bank.hana("GET", f"/bank/v1/customers/{customer}/card"), 404, "not_found")


def test_a_malformed_answer_is_400(bank):
    customer, _ = _customer(bank)
    _card(bank, customer)
    challenge = _challenge(bank, customer)
    error = _error(bank.hana("POST", f"/bank/v1/challenges/{challenge['challenge_id']}"
                                     "/answer", {"answer": "12a4"}), 400, "bad_request")
    assert error["field"] == "answer"


def test_the_limits_follow_the_media(bank):
    customer, _ = _customer(bank)
    _card(bank, customer)
    status, limits = bank.hana("GET", f"/bank/v1/customers/{customer}/limits")
    assert status == 200
    assert limits == {"medium": "security-card", "per_transfer": 10_000_000,
                      "per_day": 10_000_000, "used_today": 0, "left_today": 10_000_000}


# -- OTP -------------------------------------------------------------------------------------------


def _totp(seed: bytes, at: dt.datetime) -> str:
    return TOTP(seed, 6, SHA1(), 60, enforce_key_length=False).generate(at.timestamp()).decode()


def test_a_hardware_otp_verifies_once_and_counts_wrong_codes(bank, clock):
    customer, _ = _customer(bank)
    serial = f"{next(_phones):08d}"
    status, token = bank.hana("POST", f"/bank/v1/customers/{customer}/otp",
                              {"kind": "hardware", "serial": serial, "seed": SEED.hex()})
    assert (status, token["serial"], token["kind"]) == (201, serial, "hardware")
    path = f"/bank/v1/customers/{customer}/otp/{serial}"
    code = _totp(SEED, clock.now())
    assert bank.hana("GET", f"/bank/v1/test/customers/{customer}/otp/{serial}/code") == (
        200, {"code": code})
    status, accepted = bank.hana("POST", f"{path}/verify", {"code": code})
    assert (status, accepted["accepted"]) == (200, True)
    _error(bank.hana("POST", f"{path}/verify", {"code": code}), 409, "otp_replayed")
    wrong = f"{(int(_totp(SEED, clock.now() + dt.timedelta(minutes=30))) + 1) % 10**6:06d}"
    assert _error(bank.hana("POST", f"{path}/verify", {"code": wrong}), 401,
                  "wrong_otp")["attempts_left"] == 9
    _error(bank.hana("POST", f"{path}/verify", {"code": "12345"}), 400, "bad_request")
    status, seen = bank.hana("GET", path)
    assert (status, seen["failures"]) == (200, 1)
    assert bank.hana("GET", f"/bank/v1/customers/{customer}/otp")[1]["tokens"] == [seen]
    status, lost = bank.hana("POST", f"{path}/lost")
    assert (status, lost["lost"]) == (200, True)
    clock.advance(dt.timedelta(minutes=1))
    _error(bank.hana("POST", f"{path}/verify", {"code": _totp(SEED, clock.now())}), 403,
           "otp_lost")


def test_ten_wrong_codes_lock_the_otp_at_423_until_a_branch_resets_it(bank, clock):
    customer, _ = _customer(bank)
    status, token = bank.hana("POST", f"/bank/v1/customers/{customer}/otp",
                              {"kind": "hardware"})
    path = f"/bank/v1/customers/{customer}/otp/{token['serial']}"
    right = bank.hana("GET", f"/bank/v1/test/customers/{customer}/otp/{token['serial']}"
                             "/code")[1]["code"]
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(9):
        bank.hana("POST", f"{path}/verify", {"code": wrong})
    _error(bank.hana("POST", f"{path}/verify", {"code": wrong}), 423, "otp_locked")
    status, reset = bank.hana("POST", f"{path}/reset", {"operator": "branch-lee"})
    assert (status, reset["locked"], reset["failures"]) == (200, False, 0)


def test_a_mobile_otp_is_activated_from_its_device(bank, clock):
    customer, _ = _customer(bank)
    _error(bank.hana("POST", f"/bank/v1/customers/{customer}/otp", {"kind": "mobile"}), 400,
           "bad_request")
    _error(bank.hana("POST", f"/bank/v1/customers/{customer}/otp",
                     {"kind": "mobile", "device": "p", "seed": SEED.hex()}), 400,
           "bad_request")
    status, token = bank.hana("POST", f"/bank/v1/customers/{customer}/otp",
                              {"kind": "mobile", "device": "galaxy"})
    assert status == 201 and token["activated"] is False
    path = f"/bank/v1/customers/{customer}/otp/{token['serial']}"
    code = bank.hana("GET", f"/bank/v1/test/customers/{customer}/otp/{token['serial']}"
                            "/code")[1]["code"]
    _error(bank.hana("POST", f"{path}/verify", {"code": code, "device": "galaxy"}), 403,
           "otp_not_activated")
    _error(bank.hana("POST", f"{path}/activate", {"code": code, "device": "iphone"}), 403,
           "otp_wrong_device")
    _error(bank.hana("POST", f"{path}/activate", {"code": code}), 400, "bad_request")
    assert bank.hana("POST", f"{path}/activate", {"code": code, "device": "galaxy"})[0] == 200
    clock.advance(dt.timedelta(minutes=1))
    code = bank.hana("GET", f"/bank/v1/test/customers/{customer}/otp/{token['serial']}"
                            "/code")[1]["code"]
    assert bank.hana("POST", f"{path}/verify", {"code": code, "device": "galaxy"})[0] == 200
    # the mobile OTP is Hana's alone
    other, _ = _customer(bank, bank.kb)
    _error(bank.kb("POST", f"/bank/v1/customers/{other}/otp/{token['serial']}/register",
                   {"code": code}), 404, "not_found")


def test_a_mobile_otp_not_activated_in_three_days_is_410(bank, clock):
    customer, _ = _customer(bank)
    token = bank.hana("POST", f"/bank/v1/customers/{customer}/otp",
                      {"kind": "mobile", "device": "galaxy"})[1]
    clock.advance(dt.timedelta(days=3))
    code = bank.hana("GET", f"/bank/v1/test/customers/{customer}/otp/{token['serial']}"
                            "/code")[1]["code"]
    _error(bank.hana("POST", f"/bank/v1/customers/{customer}/otp/{token['serial']}/activate",
                     {"code": code, "device": "galaxy"}), 410, "otp_activation_expired")


def test_a_hardware_otp_registers_at_another_bank_and_resynchronises(bank, clock):
    n = next(_phones)
    rrn = synthetic_rrn(dt.date(1988, 1, 2), serial=n).digits
    at_hana = add_customer(bank.hana, rrn=rrn, phone=f"0106666{n % 10000:04d}")
    at_kb = add_customer(bank.kb, rrn=rrn, phone=f"0106666{n % 10000:04d}")
    serial = f"{n:09d}"
    bank.hana("POST", f"/bank/v1/customers/{at_hana}/otp",
              {"kind": "hardware", "serial": serial, "seed": SEED.hex()})
    status, accepted = bank.kb("POST", f"/bank/v1/customers/{at_kb}/otp/{serial}/register",
                               {"code": _totp(SEED, clock.now())})
    assert status == 200 and accepted["serial"] == serial
    _error(bank.kb("POST", f"/bank/v1/customers/{at_kb}/otp/{serial}/register",
                   {"code": "000000"}), 400, "bad_request")  # registered already
    later = clock.now() + dt.timedelta(minutes=10)
    status, accepted = bank.kb("POST", f"/bank/v1/customers/{at_kb}/otp/{serial}/resync", {
        "first": _totp(SEED, later), "second": _totp(SEED, later + dt.timedelta(minutes=1))})
    assert (status, accepted["drift"]) == (200, 11)


# -- phone verification -------------------------------------------------------------------------


def _line(bank, *, ars_blocked: bool = False) -> dict:
    n = next(_phones)
    rrn = synthetic_rrn(dt.date(1992, 8, 1), female=True, serial=n).digits
    line = {"phone": f"0107777{n % 10000:04d}", "name": "김영희", "rrn": rrn, "carrier": "KT",
            "mvno": "KT M모바일", "ars_blocked": ars_blocked}
    status, body = bank.hana("POST", "/bank/v1/test/lines", line)
    assert status == 201, body
    return {"name": "김영희", "phone": line["phone"], "rrn7": rrn[:7], "carrier": "KTM"}


def test_a_phone_verification_by_sms(bank):
    person = _line(bank)
    status, sent = bank.hana("POST", "/bank/v1/verifications", person)
    assert (status, sent["via"], sent["autofill"]) == (201, "sms", True)
    path = f"/bank/v1/verifications/{sent['verification_id']}"
    code = last_code(bank.hana, person["phone"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert _error(bank.hana("POST", f"{path}/confirm", {"code": wrong}), 400,
                  "wrong_code")["tries_left"] == 4
    status, result = bank.hana("POST", f"{path}/confirm", {"code": code})
    assert status == 200 and result["name"] == "김영희" and len(result["ci"]) == 88
    assert result["birth_date"] == "1992-08-01" and result["sex"] == "F"
    _error(bank.hana("POST", f"{path}/confirm", {"code": code}), 409, "verification_used")
    status, seen = bank.hana("GET", path)
    assert (status, seen["state"], seen["result"]) == (200, "verified", result)
    _error(bank.hana("POST", f"{path}/resend"), 409, "verification_used")


def test_a_phone_verification_expires_and_is_resent(bank, clock):
    person = _line(bank)
    sent = bank.hana("POST", "/bank/v1/verifications", person)[1]
    path = f"/bank/v1/verifications/{sent['verification_id']}"
    code = last_code(bank.hana, person["phone"])
    clock.advance(dt.timedelta(minutes=4))
    _error(bank.hana("POST", f"{path}/confirm", {"code": code}), 410, "code_expired")
    status, again = bank.hana("POST", f"{path}/resend")
    assert (status, again["sends_left"]) == (200, 3)
    assert bank.hana("POST", f"{path}/confirm",
                     {"code": last_code(bank.hana, person["phone"])})[0] == 200


def test_a_mismatch_and_an_ineligible_line_are_403(bank):
    person = _line(bank)
    _error(bank.hana("POST", "/bank/v1/verifications", {**person, "name": "이영희"}), 403,
           "identity_mismatch")
    _error(bank.hana("POST", "/bank/v1/verifications", {**person, "method": "push"}), 403,
           "push_not_enrolled")
    assert bank.hana("POST", f"/bank/v1/test/lines/{person['phone']}",
                     {"state": "suspended"})[0] == 200
    _error(bank.hana("POST", "/bank/v1/verifications", person), 403, "line_suspended")


def test_an_ars_verification_is_confirmed_by_a_key_press(bank):
    person = _line(bank)
    status, sent = bank.hana("POST", "/bank/v1/verifications", {**person, "method": "ars"})
    assert (status, sent["via"]) == (201, "call") and len(sent["display_code"]) == 2
    path = f"/bank/v1/verifications/{sent['verification_id']}"
    _error(bank.hana("POST", f"{path}/confirm", {"code": "123456"}), 400, "bad_request")
    _error(bank.kb("POST", f"/bank/v1/test/verifications/{sent['verification_id']}/press",
                   {"digits": sent["display_code"]}), 404, "not_found")
    assert bank.hana("POST", f"/bank/v1/test/verifications/{sent['verification_id']}/press",
                     {"digits": sent["display_code"]}) == (200, {"pressed": True})
    assert bank.hana("GET", path)[1]["state"] == "verified"
    blocked = _line(bank, ars_blocked=True)
    error = _error(bank.hana("POST", "/bank/v1/verifications", {**blocked, "method": "ars"}),
                   403, "ars_blocked")
    assert "blocked numbers" in error["message"]


def test_push_protection_through_the_carrier_app(bank):
    person = _line(bank)
    app = {"phone": person["phone"], "password": "482915"}
    assert bank.hana("POST", "/bank/v1/test/apps", app) == (201, {"enrolled": True})
    status, sent = bank.hana("POST", "/bank/v1/verifications", person)
    assert (status, sent["via"], sent["autofill"]) == (201, "app", False)
    status, history = bank.hana("POST", "/bank/v1/test/apps/history", app)
    assert status == 200 and history["history"][0]["verification_id"] == sent[
        "verification_id"]
    assert _error(bank.hana("POST", "/bank/v1/test/apps/history",
                            {**app, "password": "000000"}), 401,
                  "wrong_app_password")["attempts_left"] == 4


def test_sends_past_the_bound_are_429(bank):
    person = _line(bank)
    sent = bank.hana("POST", "/bank/v1/verifications", person)[1]
    for _ in range(4):
        assert bank.hana("POST", f"/bank/v1/verifications/{sent['verification_id']}"
                                 "/resend")[0] == 200
    error = _error(bank.hana("POST", f"/bank/v1/verifications/{sent['verification_id']}"
                                     "/resend"), 429, "send_limit")
    assert error["scope"] == "verification"


# -- isolation -------------------------------------------------------------------------------------


def _same_as_unknown(bank, method: str, victim_path: str, unknown_path: str,
                     body: object = None) -> None:
    seen = bank.stranger(method, victim_path, body)
    assert seen == bank.stranger(method, unknown_path, body)
    assert seen[0] == 404 and seen[1]["error"]["code"] == "not_found", seen


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("POST", "/line", {"line_type": "lost"}), ("POST", "/sign-up", None),
    ("POST", "/activate", None), ("POST", "/accounts", {"password": "0420"}),
    ("POST", "/card", {}), ("GET", "/card", None), ("POST", "/card/challenge", None),
    ("POST", "/card/reset", {"operator": "x"}), ("POST", "/card/lost", None),
    ("POST", "/otp", {"kind": "hardware"}), ("GET", "/otp", None), ("GET", "/limits", None)])
def test_a_stranger_cannot_tell_a_customer_exists(bank, method, suffix, body):
    customer, _ = _customer(bank)
    _card(bank, customer)
    _same_as_unknown(bank, method, f"/bank/v1/customers/{customer}{suffix}",
                     f"/bank/v1/customers/{UNKNOWN_CUSTOMER}{suffix}", body)
    # and nothing changed for the owner
    seen = bank.hana("GET", f"/bank/v1/customers/{customer}")[1]
    assert seen["line_type"] == "postpaid" and seen["accounts"] == [] and seen["otp"] == []
    assert seen["card"]["failures"] == 0 and seen["enrolment"]["state"] == "none"


def test_a_stranger_cannot_use_another_banks_account_challenge_otp_or_verification(bank):
    customer, _ = _customer(bank)
    codes = _card(bank, customer)
    account = bank.hana("POST", f"/bank/v1/customers/{customer}/accounts",
                        {"password": "0420"})[1]["number"]
    _same_as_unknown(bank, "POST", f"/bank/v1/accounts/{account}/password",
                     "/bank/v1/accounts/999999999999/password", {"password": "1111"})
    _same_as_unknown(bank, "GET", f"/bank/v1/accounts/{account}",
                     "/bank/v1/accounts/999999999999")
    challenge = _challenge(bank, customer)
    _same_as_unknown(bank, "POST", f"/bank/v1/challenges/{challenge['challenge_id']}/answer",
                     "/bank/v1/challenges/ch_000000000000000000000000/answer",
                     {"answer": _answer_of(codes, challenge)})
    token = bank.hana("POST", f"/bank/v1/customers/{customer}/otp",
                      {"kind": "hardware"})[1]["serial"]
    _same_as_unknown(bank, "GET", f"/bank/v1/test/customers/{customer}/otp/{token}/code",
                     f"/bank/v1/test/customers/{UNKNOWN_CUSTOMER}/otp/{token}/code")
    person = _line(bank)
    sent = bank.hana("POST", "/bank/v1/verifications", person)[1]["verification_id"]
    for suffix, body in (("", None), ("/confirm", {"code": "123456"}), ("/resend", None)):
        method = "GET" if body is None and not suffix else "POST"
        _same_as_unknown(bank, method, f"/bank/v1/verifications/{sent}{suffix}",
                         f"/bank/v1/verifications/pv_{'0' * 24}{suffix}", body)
    assert bank.stranger("GET", f"/bank/v1/test/messages?phone={person['phone']}") == (
        200, {"messages": []})
    # the owner's account, challenge and verification are untouched
    assert bank.hana("GET", f"/bank/v1/accounts/{account}")[1]["failures"] == 0
    assert bank.hana("POST", f"/bank/v1/challenges/{challenge['challenge_id']}/answer",
                     {"answer": _answer_of(codes, challenge)})[0] == 200
    assert bank.hana("GET", f"/bank/v1/verifications/{sent}")[1]["tries_left"] == 5


# -- hostile callers ------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "kpki_wrong"])
def test_no_or_a_wrong_api_key_is_401(bank, key):
    api = Api(bank.url, key)
    _error(api("GET", f"/bank/v1/customers/{UNKNOWN_CUSTOMER}"), 401, "unauthorized")
    _error(api("POST", "/bank/v1/customers", {"name": "x"}), 401, "unauthorized")


@pytest.mark.parametrize(("body", "message", "field"), [
    ({"name": "가" * 65, "rrn": RRN, "phone": PHONE, "carrier": "KT"},
     "the field 'name' is longer than 64 characters", "name"),
    ({"name": 1, "rrn": RRN, "phone": PHONE, "carrier": "KT"},
     "the field 'name' should be text, not a whole number", "name"),
    ({"rrn": RRN, "phone": PHONE, "carrier": "KT"}, "the field 'name' is missing", "name"),
    ({"name": "홍길동", "rrn": RRN, "phone": PHONE, "carrier": "KT", "x": 1},
     "this request has no field 'x'", "x"),
])
def test_a_body_that_does_not_fit_is_refused_in_kpkis_words(bank, body, message, field):
    status, answer = bank.hana("POST", "/bank/v1/customers", body)
    assert status == 400, answer
    assert answer["error"] == {"code": "bad_request", "message": message, "field": field}


def test_a_value_outside_a_closed_set_is_400_naming_the_field(bank):
    customer, _ = _customer(bank)
    error = _error(bank.hana("POST", f"/bank/v1/customers/{customer}/otp", {"kind": "sim"}),
                   400, "bad_request")
    assert error["field"] == "kind"


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[" * 100_000, b"null", b"1e999999"])
def test_a_body_that_is_no_json_object_is_400(bank, raw):
    status, body = bank.raw("POST", "/bank/v1/customers", raw)
    assert 400 <= status < 500 and isinstance(body, dict), (status, body)


def _routes(bank):
    """(method, path, a valid body) for every route that takes a body."""
    customer, _ = _customer(bank)
    c = f"/bank/v1/customers/{customer}"
    return [
        ("POST", "/bank/v1/customers", {"name": "홍길동", "rrn": RRN, "phone": PHONE,
                                        "carrier": "KT", "mvno": None,
                                        "line_type": "postpaid"}),
        ("POST", f"{c}/line", {"phone": PHONE, "carrier": "KT", "mvno": None,
                               "line_type": "lost"}),
        ("POST", f"{c}/accounts", {"password": "0420", "balance": 5, "number": None}),
        ("POST", "/bank/v1/accounts/123456789012/password", {"password": "0420"}),
        ("POST", "/bank/v1/accounts/123456789012/reset", {"password": "0420",
                                                          "operator": "k"}),
        ("POST", f"{c}/card", {"seed": "s"}),
        ("POST", f"{c}/card/reset", {"operator": "k"}),
        ("POST", "/bank/v1/challenges/ch_1/answer", {"answer": "1234"}),
        ("POST", f"{c}/otp", {"kind": "hardware", "device": None, "serial": "12345678",
                              "seed": SEED.hex()}),
        ("POST", f"{c}/otp/123456789012/verify", {"code": "123456", "device": None}),
        ("POST", f"{c}/otp/123456789012/resync", {"first": "123456", "second": "123456",
                                                  "device": None}),
        ("POST", "/bank/v1/verifications", {"name": "김영희", "phone": PHONE,
                                            "rrn7": "920801-2", "carrier": "KTM",
                                            "method": "sms"}),
        ("POST", "/bank/v1/verifications/pv_1/confirm", {"code": "123456"}),
        ("POST", "/bank/v1/test/lines", {"phone": PHONE, "name": "김", "rrn": RRN,
                                         "carrier": "KT", "mvno": None,
                                         "line_type": "postpaid", "state": "active",
                                         "other_name": False, "ars_blocked": False}),
        ("POST", "/bank/v1/test/apps/history", {"phone": PHONE, "password": "482915"}),
        ("POST", f"{c}/devices", {"device": "galaxy", "operator": None}),
        ("POST", f"{c}/devices/designated-only", {"on": True, "operator": None}),
        ("POST", f"{c}/devices/decide", {"operation": "transfer", "device": "x",
                                         "day_total": 5, "otp_exempt": False}),
        ("POST", f"{c}/keys", {"device": "galaxy", "public_key": "eA=="}),
        ("POST", "/bank/v1/sessions/password", {"customer_id": customer,
                                                "account": "123456789012",
                                                "password": "0420"}),
        ("POST", "/bank/v1/sessions/certificate", {"challenge_id": "lc_1", "signature": "eA==",
                                                   "r": "00"}),
        ("POST", "/bank/v1/orders", {"from_account": "123456789012",
                                     "to_account": "123456789013", "amount": 5}),
        ("POST", f"{c}/transfers", {"from_account": "123456789012",
                                    "to_account": "123456789013", "amount": 5,
                                    "signature": "eA==", "r": "00", "device": "x",
                                    "step_up": None,
                                    "card": {"challenge_id": "ch_1", "answer": "1234"}}),
    ]


VALUES = [None, True, 0, -1, 10**20, 1.5, "", "x" * 5000, "\u0000", "１２３４", [], {"a": 1}]


def test_fuzzed_bodies_never_get_a_500(bank):
    seen = 0
    for method, path, body in _routes(bank):
        mutated = [json.dumps({k: v for k, v in body.items() if k != name}).encode()
                   for name in body]
        mutated += [json.dumps({**body, name: value}).encode()
                    for name in body for value in VALUES]
        text = json.dumps(body).encode()
        mutated += [text[:len(text) // 2], json.dumps({**body, "unknown": 1}).encode(),
                    b"\x00" * 16, b"[]"]
        for raw in mutated:
            status, answer = bank.raw(method, path, raw)
            assert status < 500, (path, raw[:100], status, answer)
            assert isinstance(answer, dict), (path, raw[:100], status)
            if status >= 400:
                assert isinstance(answer["error"]["code"], str)
            seen += 1
    assert seen > 500


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/bank/v1/customers/" + "c" * 5000),
    ("GET", "/bank/v1/accounts/" + "1" * 5000),
    ("POST", "/bank/v1/challenges/" + "x" * 5000 + "/answer"),
    ("GET", "/bank/v1/verifications/%00"),
    ("GET", "/bank/v1/test/messages?phone=" + "9" * 5000),
    ("GET", "/bank/v1/nothing/here"),
    ("DELETE", "/bank/v1/customers"),
])
def test_odd_paths_are_json_4xx(bank, method, path):
    status, body = bank.raw(method, path, b'{"answer": "1234"}' if method == "POST" else b"")
    assert 400 <= status < 500 and isinstance(body, dict), (status, body)
    assert isinstance(body["error"]["code"], str)


def test_text_with_a_nul_is_refused_alike_on_every_store_backend(bank):
    """PostgreSQL's text cannot hold a NUL (SQLite's can): the API refuses it before the
    store, 400 naming the field in a body or a query, 404 as an unknown id in a path, so a
    caller gets one answer whatever the backend (on PostgreSQL it was 503 "the store is
    busy or unavailable", or a 500)."""
    customer, _ = _customer(bank)
    error = _error(bank.hana("POST", "/bank/v1/sessions/password", {
        "customer_id": customer + "\u0000", "account": "123456789012", "password": "0420"}),
        400, "bad_request")
    assert error["field"] == "customer_id"
    for path in (f"/bank/v1/customers/{customer}%00", "/bank/v1/verifications/%00"):
        status, body = bank.raw("GET", path, b"")
        assert (status, body["error"]["code"]) == (404, "not_found"), body
    status, body = bank.raw("GET", "/bank/v1/test/messages?phone=0101%00", b"")
    assert (status, body["error"]["field"]) == (400, "phone"), body


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(bank):
    assert chunked_post(bank.url, "/bank/v1/customers", bank.keys["hana"], 3 * MIB) == 413


def test_the_api_key_is_checked_before_the_body_is_read(bank):
    assert chunked_post(bank.url, "/bank/v1/customers", None, 64 * 1024) == 401
    assert chunked_post(bank.url, "/bank/v1/customers", "kpki_wrong", 64 * 1024) == 401


def test_a_declared_length_over_the_limit_is_refused_unread(bank):
    status, body = bank.raw("POST", "/bank/v1/customers", b"",
                            headers={"Content-Length": str(3 * MIB)})
    assert status == 413 and body["error"]["code"] == "too_large"


# -- kpki serve ------------------------------------------------------------------------------------


def test_kpki_serve_serves_the_bank_and_its_test_channel_only_when_asked(tmp_path, key_pool):
    from pki.usecases.banking import Banking

    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    with Home.open(path) as home:
        key = Banking.of_home(home).add_bank("081")[1]
    proc, url = _start(path, test_channel=False)
    try:
        api = Api(url, key)
        customer = add_customer(api)
        assert api("GET", f"/bank/v1/customers/{customer}")[0] == 200
        _error(api("GET", f"/bank/v1/test/messages?phone={PHONE}"), 404, "no_route")
    finally:
        _stop(proc)
    proc, url = _start(path, "--no-bank")
    try:
        request = urllib.request.Request(f"{url}/bank/v1/customers/{customer}",
                                         headers={"X-API-Key": key})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        refused.value.close()
        assert refused.value.code == 404
    finally:
        _stop(proc)
    shown = subprocess.run([_kpki(), "serve", "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^\s+--no-bank\s", shown, re.MULTILINE)  # an option of its own


# -- designated devices, logins, transfers ----------------------------------------------------


def test_designated_devices_their_cap_and_the_branch_only_rule(bank):
    customer, _ = _customer(bank)
    path = f"/bank/v1/customers/{customer}/devices"
    assert bank.hana("GET", path) == (200, {"devices": [], "designated_only": False,
                                            "step_up": None})
    _error(bank.hana("POST", f"{path}/designated-only", {"on": True}), 409,
           "no_designated_device")
    for n in range(5):
        assert bank.hana("POST", path, {"device": f"phone-{n}"})[0] == 200
    _error(bank.hana("POST", path, {"device": "phone-5"}), 409, "too_many_devices")
    for n in range(1, 5):
        bank.hana("POST", f"{path}/remove", {"device": f"phone-{n}"})
    status, state = bank.hana("POST", f"{path}/designated-only", {"on": True})
    assert (status, state["devices"], state["designated_only"]) == (200, ["phone-0"], True)
    error = _error(bank.hana("POST", f"{path}/remove", {"device": "phone-0"}), 403,
                   "device_change_branch_only")
    assert error["change"]
    _error(bank.hana("POST", f"{path}/designated-only", {"on": False}), 403,
           "device_change_branch_only")
    status, decision = bank.hana("POST", f"{path}/decide",
                                 {"operation": "transfer", "device": "cafe-pc"})
    assert (status, decision["verdict"], decision["code"]) == (200, "refused",
                                                               "device_not_designated")
    assert bank.hana("POST", f"{path}/step-up", {"method": "sms"})[1]["step_up"] == "sms"
    decision = bank.hana("POST", f"{path}/decide",
                         {"operation": "transfer", "device": "cafe-pc"})[1]
    assert (decision["verdict"], decision["methods"]) == ("step-up", ["sms"])
    status, state = bank.hana("POST", f"{path}/remove",
                              {"device": "phone-0", "operator": "teller-0042"})
    assert (status, state["devices"]) == (200, [])
    _error(bank.hana("POST", path, {"device": ""}), 400, "bad_request")
    _error(bank.hana("POST", f"{path}/decide", {"operation": "sign"}), 400, "bad_request")


def test_a_password_login_makes_a_session_that_logs_out(bank):
    customer = _enrolled(bank, _customer(bank)[0])
    account = bank.hana("POST", f"/bank/v1/customers/{customer}/accounts",
                        {"password": "0420"})[1]["number"]
    body = {"customer_id": customer, "account": account, "password": "0420"}
    status, session = bank.hana("POST", "/bank/v1/sessions/password", body)
    assert (status, session["method"], session["ended_at"]) == (201, "password", None)
    path = f"/bank/v1/sessions/{session['session_id']}"
    assert bank.hana("GET", path)[1] == session
    _error(bank.stranger("GET", path), 404, "not_found")
    assert bank.hana("POST", f"{path}/logout")[1]["ended_at"] is not None
    _error(bank.hana("POST", "/bank/v1/sessions/password", {**body, "password": "1111"}),
           401, "wrong_account_password")
    other, _ = _customer(bank)
    _error(bank.hana("POST", "/bank/v1/sessions/password", {**body, "customer_id": other}),
           403, "not_enrolled")
    _enrolled(bank, other)
    _error(bank.hana("POST", "/bank/v1/sessions/password", {**body, "customer_id": other}),
           403, "account_not_owned")


def test_a_simple_authentication_login(bank):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    customer = _enrolled(bank, _customer(bank)[0])
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    status, registered = bank.hana("POST", f"/bank/v1/customers/{customer}/keys", {
        "device": "galaxy", "public_key": base64.b64encode(public).decode()})
    assert status == 201
    status, challenge = bank.hana("POST", f"/bank/v1/customers/{customer}/login-challenge")
    assert status == 201
    signature = key.sign(challenge["text"].encode(), ec.ECDSA(hashes.SHA256()))
    login = {"challenge_id": challenge["challenge_id"], "key_id": registered["key_id"],
             "signature": base64.b64encode(signature).decode()}
    status, session = bank.hana("POST", "/bank/v1/sessions/simple-auth", login)
    assert (status, session["method"], session["key_id"]) == (201, "simple-auth",
                                                              registered["key_id"])
    _error(bank.hana("POST", "/bank/v1/sessions/simple-auth", login), 403,
           "login_challenge_used")
    _error(bank.hana("POST", "/bank/v1/sessions/simple-auth",
                     {**login, "signature": "not base64!"}), 400, "bad_request")
    assert bank.hana("POST", f"/bank/v1/customers/{customer}/keys/{registered['key_id']}"
                             "/remove") == (200, {"removed": True})


def _signed_transfer(bank, payer: dict, amount: int, *, challenge: dict | None = None,
                     to: str | None = None) -> dict:
    """A transfer body: the order signed with the payer's certificate, the card answered."""
    from pki.signing import KeySigner, sign

    status, order = bank.hana("POST", "/bank/v1/orders", {
        "from_account": payer["account"], "to_account": to or payer["to"], "amount": amount})
    assert status == 200, order
    issued = payer["certificate"]
    cms = sign(order["text"].encode(), KeySigner(issued.certificate, issued.private_key,
                                                 issued.chain),
               clock=bank.clock, include_chain=True).der
    challenge = challenge or _challenge(bank, payer["customer"])
    return {"from_account": payer["account"], "to_account": to or payer["to"],
            "amount": amount, "signature": base64.b64encode(cms).decode(),
            "r": issued.r.hex(), "device": "galaxy",
            "card": {"challenge_id": challenge["challenge_id"],
                     "answer": _answer_of(payer["codes"], challenge)}}


@pytest.fixture
def payer(bank, key_pool):
    """A customer of Hana with a joint certificate for their RRN, a card, an account of
    20,000,000 KRW and another customer's account to pay into."""
    n = next(_phones)
    rrn = synthetic_rrn(dt.date(1985, 3, 4), serial=n)
    customer = _enrolled(bank, add_customer(bank.hana, rrn=rrn.digits,
                                            phone=f"0108888{n % 10000:04d}"))
    codes = _card(bank, customer)
    account = bank.hana("POST", f"/bank/v1/customers/{customer}/accounts",
                        {"password": "0420", "balance": 20_000_000})[1]["number"]
    payee, _ = _customer(bank)
    to = bank.hana("POST", f"/bank/v1/customers/{payee}/accounts",
                   {"password": "0420"})[1]["number"]
    bank.hana("POST", f"/bank/v1/customers/{customer}/devices", {"device": "galaxy"})
    with Home.open(bank.path, clock=bank.clock, key_generator=key_pool) as home:
        certificate = home.authority().issue_joint(name="홍길동", rrn=rrn)
    return {"customer": customer, "codes": codes, "account": account, "to": to,
            "certificate": certificate}


def test_a_transfer_signed_and_answered_moves_the_money_once(bank, payer):
    body = _signed_transfer(bank, payer, 1_000_000)
    path = f"/bank/v1/customers/{payer['customer']}/transfers"
    status, result = bank.hana("POST", path, body)
    assert status == 201, result
    assert (result["accepted"], result["medium"], result["balance"]) == (
        True, "security-card", 19_000_000)
    again = {**body, "card": _signed_transfer(bank, payer, 1_000_000)["card"]}
    error = _error(bank.hana("POST", path, again), 409, "signature_replayed")
    assert error["transfer"]["accepted"] is False
    status, listed = bank.hana("GET", path)
    assert [(t["outcome"], t["code"]) for t in listed["transfers"]] == [
        ("accepted", None), ("refused", "signature_replayed")]
    assert bank.hana("GET", f"/bank/v1/accounts/{payer['to']}")[1]["balance"] == 1_000_000


def test_a_customer_without_active_internet_banking_cannot_transfer(bank, payer):
    path = f"/bank/v1/customers/{payer['customer']}"
    body = _signed_transfer(bank, payer, 1_000_000)
    with Home.open(bank.path, clock=bank.clock) as home, home.store.transaction() as tx:
        tx.set_enrolment(payer["customer"], signed_up_at=bank.clock.now(), activated_at=None)
    error = _error(bank.hana("POST", f"{path}/transfers", body), 403, "not_enrolled")
    assert error["transfer"]["accepted"] is False
    assert bank.hana("GET", f"/bank/v1/accounts/{payer['account']}")[1]["balance"] == 20_000_000


def test_a_refused_transfer_is_4xx_with_its_record(bank, payer):
    path = f"/bank/v1/customers/{payer['customer']}/transfers"
    body = _signed_transfer(bank, payer, 1_000_000)
    wrong = f"{(int(body['card']['answer']) + 1) % 10000:04d}"
    error = _error(bank.hana("POST", path, {**body, "card": {**body["card"],
                                                                 "answer": wrong}}),
                   401, "wrong_card_answer")
    assert error["attempts_left"] == 4 and error["transfer"]["transfer_id"]
    _error(bank.hana("POST", path, _signed_transfer(bank, payer, 10_000_001)), 403,
           "over_transfer_limit")
    error = _error(bank.hana("POST", path, {**_signed_transfer(bank, payer, 3_000_000),
                                             "device": "cafe-pc"}), 403, "step_up_required")
    assert error["transfer"]["step_up_methods"] == ["sms", "ars"]
    body = _signed_transfer(bank, payer, 1_000)
    _error(bank.hana("POST", path, {**body, "amount": 2_000}), 403, "signed_text_mismatch")
    assert bank.hana("GET", f"/bank/v1/accounts/{payer['account']}")[1]["balance"] == \
        20_000_000


@pytest.mark.parametrize(("change", "field"), [
    ({"signature": None}, "signature"),
    ({"simple_auth": {"session_id": "s_1", "text": "x", "signature": "eA=="}}, "signature"),
    ({"card": None}, "card"),
    ({"otp": {"serial": "123456789012", "code": "123456"}}, "card"),
    ({"r": None}, "r"),
    ({"r": "zz"}, "r"),
    ({"signature": "***"}, "signature"),
    ({"amount": 0}, "amount"),
    ({"to_account": "12"}, "to_account"),
    ({"card": {"challenge_id": "ch_1", "answer": "abcd"}}, "answer"),
    ({"card": None, "otp": {"serial": "123456789012", "code": "12"}}, "code"),
])
def test_a_malformed_transfer_is_400_and_recorded_nowhere(bank, payer, change, field):
    path = f"/bank/v1/customers/{payer['customer']}/transfers"
    body = {**_signed_transfer(bank, payer, 1_000), **change}
    error = _error(bank.hana("POST", path, body), 400, "bad_request")
    assert error["field"] == field
    assert bank.hana("GET", path)[1]["transfers"] == []


def test_a_stranger_cannot_transfer_from_or_list_another_banks_customer(bank, payer):
    body = _signed_transfer(bank, payer, 1_000)
    _same_as_unknown(bank, "POST", f"/bank/v1/customers/{payer['customer']}/transfers",
                     f"/bank/v1/customers/{UNKNOWN_CUSTOMER}/transfers", body)
    for suffix in ("/transfers", "/devices"):
        _same_as_unknown(bank, "GET", f"/bank/v1/customers/{payer['customer']}{suffix}",
                         f"/bank/v1/customers/{UNKNOWN_CUSTOMER}{suffix}")
    _same_as_unknown(bank, "POST", f"/bank/v1/customers/{payer['customer']}/devices",
                     f"/bank/v1/customers/{UNKNOWN_CUSTOMER}/devices", {"device": "x"})
    assert bank.hana("GET", f"/bank/v1/customers/{payer['customer']}/transfers")[1] == {
        "transfers": []}
    assert bank.hana("GET", f"/bank/v1/customers/{payer['customer']}/devices")[1][
        "devices"] == ["galaxy"]
