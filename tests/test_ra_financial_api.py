"""The financial-certificate flows over HTTP (``/ra/v1/financial``, issue 15 items 2 and 5)
against a real ``kpki serve``: the whole flow into the cloud, registration at another bank
answered with the KFTC status, and refusals as 4xx JSON with their codes, never a 500."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pki.bank.cards import PrintedCard
from pki.home import Home
from pki.usecases.banking import Banking

from .cloud_helpers import Api, _start, _stop
from .ra_helpers import expect_error, expect_ok, verified

RRN = "900517-1234566"
PHONE = "01012345678"
PIN = "802417"


@dataclass
class Served:
    url: str
    home: Path
    banks: dict[str, Api]
    accounts: dict[str, str]
    cards: dict[str, PrintedCard]


@pytest.fixture(scope="module")
def served(tmp_path_factory, key_pool):
    path = tmp_path_factory.mktemp("ra-financial-api") / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    banks, accounts, cards = {}, {}, {}
    with Home.open(path) as home:
        banking = Banking.of_home(home)
        banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
        for code in ("081", "004", "020"):
            bank, key = banking.add_bank(code, settings={"pin_reset": code == "020"})
            customer = banking.customers.add(bank, name="홍길동", rrn=RRN, phone=PHONE,
                                             carrier="SKT")
            banking.customers.sign_up(bank, customer.id)
            banking.customers.activate(bank, customer.id)
            accounts[code] = banking.customers.open_account(bank, customer.id,
                                                            password="0420").number
            cards[code] = banking.cards.issue(bank, customer.id)
            banks[code] = key
    proc, url = _start(path)
    try:
        yield Served(url, path, {c: Api(url, k) for c, k in banks.items()}, accounts, cards)
    finally:
        _stop(proc)


def _to_last_step(served: Served, code: str, flow: str = "issue") -> str:
    api = served.banks[code]
    session = expect_ok(api("POST", "/ra/v1/financial/sessions", {"flow": flow}), 201)
    one = f"/ra/v1/financial/sessions/{session['session_id']}"
    expect_ok(api("POST", f"{one}/account", {"number": served.accounts[code], "password": "0420"}))
    expect_ok(api("POST", f"{one}/phone", {"verification_id": verified(api)}))
    challenge = expect_ok(api("POST", f"{one}/card-challenge"), 201)
    answer = served.cards[code].answer(challenge["first"], challenge["second"])
    expect_ok(api("POST", f"{one}/medium", {"card": {"challenge_id": challenge["challenge_id"],
                                                     "answer": answer}}))
    expect_ok(api("POST", f"{one}/cloud", {"name": "홍길동", "phone": "010-1234-5678",
                                           "birth_date": "1990-05-17"}))
    box = expect_ok(api("GET", f"/cloud/v1/test/messages?phone={PHONE}"))
    cloud_code = re.search(r"code (\d\d)", box["messages"][-1]["text"]).group(1)
    state = expect_ok(api("POST", f"{one}/confirm", {"code": cloud_code}))
    assert state["next_step"] == {"register": "register", "pin-reset": "pin"}.get(flow,
                                                                                  "issue")
    return one


def test_a_whole_financial_flow_over_http_issues_into_the_cloud(served):
    hana = served.banks["081"]
    one = _to_last_step(served, "081")
    expect_error(hana("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": "802418"}), 403,
                 "pin_mismatch")
    issued = expect_ok(hana("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 201)
    assert issued["session"]["state"] == "finished"
    assert "BEGIN CERTIFICATE" in issued["certificate"]
    signed = expect_ok(hana("POST", f"/cloud/v1/certificates/{issued['serial']}/sign",
                            {"pin": PIN, "content": "aGk=", "purpose": "01"}))
    assert signed
    shown = expect_ok(hana("GET", one))
    assert [(s["step"], s["accepted"], s["reason"]) for s in shown["history"]][-2:] == [
        ("issue", False, "pin_mismatch"), ("issue", True, None)]
    assert PIN not in str(shown) and RRN not in str(shown)
    expect_error(hana("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 409,
                 "session_finished")

    # the same person registers it at KB: 타행 인증서 등록, answered "10"
    kb = served.banks["004"]
    other = _to_last_step(served, "004", flow="register")
    answer = expect_ok(kb("POST", f"{other}/register", {"serial": issued["serial"], "pin": PIN}))
    assert (answer["status"], answer["registered"]) == ("10", True)


def test_refusals_are_4xx_json_with_their_codes(served):
    hana = served.banks["081"]
    session = expect_ok(hana("POST", "/ra/v1/financial/sessions", {"flow": "issue"}), 201)
    one = f"/ra/v1/financial/sessions/{session['session_id']}"
    error = expect_error(hana("POST", f"{one}/phone", {"verification_id": "pv_x"}), 409,
                         "step_out_of_order")
    assert error["message"]
    expect_error(hana("POST", f"{one}/account", {"number": "1234567890123", "password": "0420"}),
                 404, "not_found")
    error = expect_error(hana("POST", f"{one}/account", {"number": served.accounts["081"],
                                                         "password": "9999"}),
                         401, "wrong_account_password")
    assert error["attempts_left"] == 4
    expect_ok(hana("POST", f"{one}/account", {"number": served.accounts["081"],
                                              "password": "0420"}))
    expect_error(hana("POST", f"{one}/phone", {"verification_id": "pv_nope"}), 403,
                 "phone_not_found")
    expect_error(hana("POST", f"{one}/phone", {"verification_id": 7}), 400, "bad_request")
    expect_error(hana("POST", "/ra/v1/financial/sessions", {"flow": "pin-reset"}), 403,
                 "pin_reset_off")
    expect_error(hana("GET", "/ra/v1/financial/sessions/ra_nope"), 404, "not_found")
    expect_error(served.banks["004"]("GET", one), 404, "not_found")
    assert Api(served.url, None)("GET", one)[0] == 401


def test_a_pin_reset_over_http_keeps_the_certificate_under_the_new_pin(served):
    woori = served.banks["020"]
    one = _to_last_step(served, "020")
    issued = expect_ok(woori("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 201)
    serial = issued["serial"]
    reset = _to_last_step(served, "020", flow="pin-reset")
    new = "739150"
    expect_error(woori("POST", f"{reset}/pin", {"serial": serial, "pin": new,
                                                "pin_confirm": "739151"}), 403, "pin_mismatch")
    expect_error(woori("POST", f"{reset}/pin", {"serial": "zz", "pin": new, "pin_confirm": new}),
                 400, "bad_request")
    expect_error(woori("POST", f"{reset}/pin", {"serial": serial, "pin": 739150,
                                                "pin_confirm": new}), 400, "bad_request")
    done = expect_ok(woori("POST", f"{reset}/pin", {"serial": serial, "pin": new,
                                                    "pin_confirm": new}))
    assert (done["serial"], done["session"]["state"]) == (serial, "finished")
    sign = f"/cloud/v1/certificates/{serial}/sign"
    body = {"content": "aGk=", "purpose": "01"}
    expect_error(woori("POST", sign, {**body, "pin": PIN}), 401, "wrong_pin")
    assert expect_ok(woori("POST", sign, {**body, "pin": new}))
    shown = expect_ok(woori("GET", reset))
    assert new not in str(shown) and PIN not in str(shown)
    expect_error(woori("POST", f"{reset}/pin", {"serial": serial, "pin": new, "pin_confirm": new}),
                 409, "session_finished")

    # Hana keeps no recovery copies: a certificate it issued is refused, naming the reissue
    hana_one = _to_last_step(served, "081")
    hanas = expect_ok(served.banks["081"]("POST", f"{hana_one}/issue",
                                          {"pin": PIN, "pin_confirm": PIN}), 201)["serial"]
    register = _to_last_step(served, "020", flow="register")
    expect_ok(woori("POST", f"{register}/register", {"serial": hanas, "pin": PIN}))
    refused = _to_last_step(served, "020", flow="pin-reset")
    error = expect_error(woori("POST", f"{refused}/pin", {"serial": hanas, "pin": new,
                                                          "pin_confirm": new}),
                         403, "no_recovery_copy")
    assert "reissue" in error["message"]


def test_renewal_notices_are_sent_for_the_calling_institutions_certificates(served):
    woori = served.banks["020"]
    one = _to_last_step(served, "020")
    issued = expect_ok(woori("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 201)
    assert issued["serial"] not in expect_ok(woori("POST", "/ra/v1/financial/renewal-notices"))[
        "due"]
    from cryptography import x509

    not_after = x509.load_pem_x509_certificate(issued["certificate"].encode()
                                               ).not_valid_after_utc
    days = (not_after - dt.datetime.now(dt.UTC)).days - 20
    proc, url = _start(served.home, env={"KPKI_NOW": f"+{days}d"})
    try:
        later = {c: Api(url, served.banks[c].key) for c in ("020", "004")}
        due = expect_ok(later["020"]("POST", "/ra/v1/financial/renewal-notices"))["due"]
        assert issued["serial"] in due
        assert issued["serial"] not in expect_ok(later["004"](
            "POST", "/ra/v1/financial/renewal-notices"))["due"]
        again = expect_ok(later["020"]("POST", "/ra/v1/financial/renewal-notices"))["due"]
        assert issued["serial"] in again
        box = expect_ok(later["020"]("GET", f"/cloud/v1/test/messages?phone={PHONE}"))
        assert sum(issued["serial"] in m["text"] and "expires on" in m["text"]
                   for m in box["messages"]) == 1
    finally:
        _stop(proc)
    assert Api(served.url, None)("POST", "/ra/v1/financial/renewal-notices")[0] == 401
