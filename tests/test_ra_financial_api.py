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


def _error(result, status: int, code: str) -> dict:
    got, body = result
    assert (got, body["error"]["code"]) == (status, code), result
    return body["error"]


def _ok(result, status: int = 200) -> dict:
    got, body = result
    assert got == status, body
    return body


def _verified(api: Api) -> str:
    sent = _ok(api("POST", "/bank/v1/verifications", {
        "name": "홍길동", "phone": PHONE, "rrn7": RRN[:8], "carrier": "SKT"}), 201)
    box = _ok(api("GET", f"/bank/v1/test/messages?phone={PHONE}"))
    code = re.search(r"code (\d{6})", box["messages"][-1]["text"]).group(1)
    _ok(api("POST", f"/bank/v1/verifications/{sent['verification_id']}/confirm",
            {"code": code}))
    return str(sent["verification_id"])


def _to_last_step(served: Served, code: str, flow: str = "issue") -> str:
    api = served.banks[code]
    session = _ok(api("POST", "/ra/v1/financial/sessions", {"flow": flow}), 201)
    one = f"/ra/v1/financial/sessions/{session['session_id']}"
    _ok(api("POST", f"{one}/account", {"number": served.accounts[code], "password": "0420"}))
    _ok(api("POST", f"{one}/phone", {"verification_id": _verified(api)}))
    challenge = _ok(api("POST", f"{one}/card-challenge"), 201)
    answer = served.cards[code].answer(challenge["first"], challenge["second"])
    _ok(api("POST", f"{one}/medium", {"card": {"challenge_id": challenge["challenge_id"],
                                               "answer": answer}}))
    _ok(api("POST", f"{one}/cloud", {"name": "홍길동", "phone": "010-1234-5678",
                                     "birth_date": "1990-05-17"}))
    box = _ok(api("GET", f"/cloud/v1/test/messages?phone={PHONE}"))
    cloud_code = re.search(r"code (\d\d)", box["messages"][-1]["text"]).group(1)
    state = _ok(api("POST", f"{one}/confirm", {"code": cloud_code}))
    assert state["next_step"] == {"register": "register", "pin-reset": "pin"}.get(flow,
                                                                                  "issue")
    return one


def test_a_whole_financial_flow_over_http_issues_into_the_cloud(served):
    hana = served.banks["081"]
    one = _to_last_step(served, "081")
    _error(hana("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": "802418"}), 403,
           "pin_mismatch")
    issued = _ok(hana("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 201)
    assert issued["session"]["state"] == "finished"
    assert "BEGIN CERTIFICATE" in issued["certificate"]
    signed = _ok(hana("POST", f"/cloud/v1/certificates/{issued['serial']}/sign",
                      {"pin": PIN, "content": "aGk=", "purpose": "01"}))
    assert signed
    shown = _ok(hana("GET", one))
    assert [(s["step"], s["accepted"], s["reason"]) for s in shown["history"]][-2:] == [
        ("issue", False, "pin_mismatch"), ("issue", True, None)]
    assert PIN not in str(shown) and RRN not in str(shown)
    _error(hana("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 409,
           "session_finished")

    # the same person registers it at KB: 타행 인증서 등록, answered "10"
    kb = served.banks["004"]
    other = _to_last_step(served, "004", flow="register")
    answer = _ok(kb("POST", f"{other}/register", {"serial": issued["serial"], "pin": PIN}))
    assert (answer["status"], answer["registered"]) == ("10", True)


def test_refusals_are_4xx_json_with_their_codes(served):
    hana = served.banks["081"]
    session = _ok(hana("POST", "/ra/v1/financial/sessions", {"flow": "issue"}), 201)
    one = f"/ra/v1/financial/sessions/{session['session_id']}"
    error = _error(hana("POST", f"{one}/phone", {"verification_id": "pv_x"}), 409,
                   "step_out_of_order")
    assert error["message"]
    _error(hana("POST", f"{one}/account", {"number": "1234567890123", "password": "0420"}),
           404, "not_found")
    error = _error(hana("POST", f"{one}/account", {"number": served.accounts["081"],
                                                   "password": "9999"}),
                   401, "wrong_account_password")
    assert error["attempts_left"] == 4
    _ok(hana("POST", f"{one}/account", {"number": served.accounts["081"], "password": "0420"}))
    _error(hana("POST", f"{one}/phone", {"verification_id": "pv_nope"}), 403,
           "phone_not_found")
    _error(hana("POST", f"{one}/phone", {"verification_id": 7}), 400, "bad_request")
    _error(hana("POST", "/ra/v1/financial/sessions", {"flow": "pin-reset"}), 403,
           "pin_reset_off")
    _error(hana("GET", "/ra/v1/financial/sessions/ra_nope"), 404, "not_found")
    _error(served.banks["004"]("GET", one), 404, "not_found")
    assert Api(served.url, None)("GET", one)[0] == 401


def test_a_pin_reset_over_http_keeps_the_certificate_under_the_new_pin(served):
    woori = served.banks["020"]
    one = _to_last_step(served, "020")
    issued = _ok(woori("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 201)
    serial = issued["serial"]
    reset = _to_last_step(served, "020", flow="pin-reset")
    new = "739150"
    _error(woori("POST", f"{reset}/pin", {"serial": serial, "pin": new,
                                          "pin_confirm": "739151"}), 403, "pin_mismatch")
    _error(woori("POST", f"{reset}/pin", {"serial": "zz", "pin": new, "pin_confirm": new}),
           400, "bad_request")
    _error(woori("POST", f"{reset}/pin", {"serial": serial, "pin": 739150,
                                          "pin_confirm": new}), 400, "bad_request")
    done = _ok(woori("POST", f"{reset}/pin", {"serial": serial, "pin": new,
                                              "pin_confirm": new}))
    assert (done["serial"], done["session"]["state"]) == (serial, "finished")
    sign = f"/cloud/v1/certificates/{serial}/sign"
    body = {"content": "aGk=", "purpose": "01"}
    _error(woori("POST", sign, {**body, "pin": PIN}), 401, "wrong_pin")
    assert _ok(woori("POST", sign, {**body, "pin": new}))
    shown = _ok(woori("GET", reset))
    assert new not in str(shown) and PIN not in str(shown)
    _error(woori("POST", f"{reset}/pin", {"serial": serial, "pin": new, "pin_confirm": new}),
           409, "session_finished")

    # Hana keeps no recovery copies: a certificate it issued is refused, naming the reissue
    hana_one = _to_last_step(served, "081")
    hanas = _ok(served.banks["081"]("POST", f"{hana_one}/issue",
                                    {"pin": PIN, "pin_confirm": PIN}), 201)["serial"]
    register = _to_last_step(served, "020", flow="register")
    _ok(woori("POST", f"{register}/register", {"serial": hanas, "pin": PIN}))
    refused = _to_last_step(served, "020", flow="pin-reset")
    error = _error(woori("POST", f"{refused}/pin", {"serial": hanas, "pin": new,
                                                    "pin_confirm": new}),
                   403, "no_recovery_copy")
    assert "reissue" in error["message"]


def test_renewal_notices_are_sent_for_the_calling_institutions_certificates(served):
    woori = served.banks["020"]
    one = _to_last_step(served, "020")
    issued = _ok(woori("POST", f"{one}/issue", {"pin": PIN, "pin_confirm": PIN}), 201)
    assert issued["serial"] not in _ok(woori("POST", "/ra/v1/financial/renewal-notices"))[
        "due"]
    from cryptography import x509

    not_after = x509.load_pem_x509_certificate(issued["certificate"].encode()
                                               ).not_valid_after_utc
    days = (not_after - dt.datetime.now(dt.UTC)).days - 20
    proc, url = _start(served.home, env={"KPKI_NOW": f"+{days}d"})
    try:
        later = {c: Api(url, served.banks[c].key) for c in ("020", "004")}
        due = _ok(later["020"]("POST", "/ra/v1/financial/renewal-notices"))["due"]
        assert issued["serial"] in due
        assert issued["serial"] not in _ok(later["004"](
            "POST", "/ra/v1/financial/renewal-notices"))["due"]
        again = _ok(later["020"]("POST", "/ra/v1/financial/renewal-notices"))["due"]
        assert issued["serial"] in again
        box = _ok(later["020"]("GET", f"/cloud/v1/test/messages?phone={PHONE}"))
        assert sum(issued["serial"] in m["text"] and "expires on" in m["text"]
                   for m in box["messages"]) == 1
    finally:
        _stop(proc)
    assert Api(served.url, None)("POST", "/ra/v1/financial/renewal-notices")[0] == 401
