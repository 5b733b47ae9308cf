"""The joint-certificate flows over HTTP (``/ra/v1/joint``, issue 15 items 1 and 5) against a
real ``kpki serve``: the whole flow into an NPKI folder, and each refusal as 4xx JSON with
its stable code, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pki.bank.cards import PrintedCard
from pki.errors import StepRefusedError
from pki.home import Home
from pki.keys import npki
from pki.ra.joint import REQUIRED_TERMS
from pki.usecases.banking import Banking
from pki.web.jsonapi import error_response

from .cloud_helpers import Api, _start, _stop
from .ra_helpers import expect_error, verified

PASSWORD = "Joint-pw-2026!"
RRN = "900517-1234566"
PHONE = "01012345678"


@dataclass
class Served:
    url: str
    home: Path
    hana: Api
    kb: Api
    customer: str
    account: str
    card: PrintedCard


@pytest.fixture(scope="module")
def served(tmp_path_factory, key_pool):
    path = tmp_path_factory.mktemp("ra-api") / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    with Home.open(path) as home:
        banking = Banking.of_home(home)
        hana, hana_key = banking.add_bank("081")
        _, kb_key = banking.add_bank("004")
        customers = banking.customers
        customer = customers.add(hana, name="홍길동", rrn=RRN, phone=PHONE, carrier="SKT")
        customers.sign_up(hana, customer.id)
        customers.activate(hana, customer.id)
        account = customers.open_account(hana, customer.id, password="0420",
                                         balance=1_000_000)
        banking.devices.designate(hana, customer.id, "phone-1")
        card = banking.cards.issue(hana, customer.id)
        banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
    proc, url = _start(path)
    try:
        yield Served(url, path, Api(url, hana_key), Api(url, kb_key), customer.id,
                     account.number, card)
    finally:
        _stop(proc)


def _to_medium(served: Served, *, certificate: str = "general") -> str:
    status, session = served.hana("POST", "/ra/v1/joint/sessions",
                                  {"operation": "issue", "device": "phone-1"})
    assert status == 201, session
    one = f"/ra/v1/joint/sessions/{session['session_id']}"
    for step, body in (("terms", {"agreed": list(REQUIRED_TERMS), "certificate": certificate}),
                       ("identify", {"rrn": RRN, "customer_id": served.customer}),
                       ("phone", {"verification_id": verified(served.hana)}),
                       ("account", {"number": served.account, "password": "0420"})):
        status, answer = served.hana("POST", f"{one}/{step}", body)
        assert status == 200, answer
    return str(session["session_id"])


def _answer(served: Served, session: str) -> dict:
    status, challenge = served.hana("POST", f"/ra/v1/joint/sessions/{session}/card-challenge")
    assert status == 201, challenge
    return {"card": {"challenge_id": challenge["challenge_id"],
                     "answer": served.card.answer(challenge["first"], challenge["second"])}}


def test_a_whole_joint_flow_over_http_issues_into_an_npki_folder(served):
    session = _to_medium(served)
    one = f"/ra/v1/joint/sessions/{session}"
    status, state = served.hana("POST", f"{one}/medium", _answer(served, session))
    assert (status, state["next_step"]) == (200, "issue")
    status, issued = served.hana("POST", f"{one}/issue", {"password": PASSWORD})
    assert status == 201, issued
    assert issued["fee"] == 4_400 and issued["profile"] == "joint-general"
    assert issued["session"]["state"] == "finished"
    folder = Path(issued["folder"])
    assert folder.is_relative_to(served.home / "ra" / "joint" / session)
    loaded = npki.load(folder, PASSWORD)
    assert format(loaded.certificate.serial_number, "X") == issued["serial"]
    status, shown = served.hana("GET", one)
    assert status == 200
    assert [s["step"] for s in shown["history"]] == [
        "terms", "identify", "phone", "account", "medium", "issue"]
    assert PASSWORD not in str(shown) and RRN not in str(shown)
    expect_error(served.hana("POST", f"{one}/issue", {"password": PASSWORD}), 409,
                 "session_finished")


def test_out_of_order_and_repeated_steps_are_409_naming_the_step_due(served):
    _, session = served.hana("POST", "/ra/v1/joint/sessions",
                                  {"operation": "issue", "device": "phone-1"})
    one = f"/ra/v1/joint/sessions/{session['session_id']}"
    error = expect_error(served.hana("POST", f"{one}/identify",
                                     {"rrn": RRN, "customer_id": served.customer}), 409,
                         "step_out_of_order")
    assert error["expected"] == "terms"
    terms = {"agreed": list(REQUIRED_TERMS), "certificate": "banking"}
    assert served.hana("POST", f"{one}/terms", terms)[0] == 200
    expect_error(served.hana("POST", f"{one}/terms", terms), 409, "step_repeated")
    _status, shown = served.hana("GET", one)
    assert [(s["step"], s["reason"]) for s in shown["history"]] == [
        ("identify", "step_out_of_order"), ("terms", None), ("terms", "step_repeated")]


def test_each_steps_refusal_is_4xx_json_with_its_code(served):
    _status, session = served.hana("POST", "/ra/v1/joint/sessions",
                                  {"operation": "issue", "device": "phone-1"})
    one = f"/ra/v1/joint/sessions/{session['session_id']}"
    expect_error(served.hana("POST", f"{one}/terms", {"agreed": ["certificate-terms"],
                                                      "certificate": "general"}),
                 403, "terms_not_agreed")
    served.hana("POST", f"{one}/terms", {"agreed": list(REQUIRED_TERMS),
                                         "certificate": "general"})
    expect_error(served.hana("POST", f"{one}/identify", {"rrn": "850101-2345678",
                                                         "customer_id": served.customer}),
                 403, "identity_not_matched")
    expect_error(served.hana("POST", f"{one}/identify", {"rrn": RRN, "customer_id": "c_nobody"}),
                 403, "identity_not_matched")
    served.hana("POST", f"{one}/identify", {"rrn": RRN, "customer_id": served.customer})
    expect_error(served.hana("POST", f"{one}/phone", {"verification_id": "pv_nope"}), 403,
                 "phone_not_found")
    served.hana("POST", f"{one}/phone", {"verification_id": verified(served.hana)})
    error = expect_error(served.hana("POST", f"{one}/account",
                                     {"number": served.account, "password": "9999"}),
                         401, "wrong_account_password")
    assert error["attempts_left"] == 4
    served.hana("POST", f"{one}/account", {"number": served.account, "password": "0420"})
    expect_error(served.hana("POST", f"{one}/medium", {}), 400, "bad_request")
    served.hana("POST", f"{one}/medium", _answer(served, session["session_id"]))
    error = expect_error(served.hana("POST", f"{one}/issue", {"password": "short"}), 400,
                         "bad_request")
    assert error["field"] == "password"


def test_bad_bodies_keys_and_sessions_are_4xx_never_500(served):
    expect_error(served.hana("POST", "/ra/v1/joint/sessions", {"operation": "mint",
                                                               "device": "x"}), 400, "bad_request")
    expect_error(served.hana("POST", "/ra/v1/joint/sessions", {"operation": "reissue",
                                                               "device": "x"}), 400, "bad_request")
    expect_error(served.hana("POST", "/ra/v1/joint/sessions", raw=b"{\"operation\": "), 400,
                 "bad_json")
    expect_error(Api(served.url, None)("POST", "/ra/v1/joint/sessions",
                                       {"operation": "issue", "device": "x"}), 401, "unauthorized")
    expect_error(served.hana("GET", "/ra/v1/joint/sessions/ra_nope"), 404, "not_found")
    expect_error(served.hana("GET", "/ra/v1/joint/sessions/" + "x" * 100), 404, "not_found")
    expect_error(served.hana("GET", "/ra/v1/nothing"), 404, "no_route")
    _status, session = served.hana("POST", "/ra/v1/joint/sessions",
                                  {"operation": "issue", "device": "phone-1"})
    expect_error(served.kb("GET", f"/ra/v1/joint/sessions/{session['session_id']}"), 404,
                 "not_found")


def test_an_expired_session_is_410_and_the_other_step_refusals_409():
    def status(code: str) -> int:
        return error_response(StepRefusedError("x", code=code, session_id="ra_x",
                                               step="terms")).status_code

    assert status("session_expired") == 410
    assert {status(c) for c in ("step_out_of_order", "step_repeated", "session_finished",
                                "session_failed")} == {409}
