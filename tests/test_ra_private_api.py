"""The private-certificate flow over HTTP (``/ra/v1/private``, issue 15 items 3 and 5) against
a real ``kpki serve``: the key made on the device and only its CSR sent, the certificate and
chain answered, the registered certificate as the transfer's medium at ``/bank/v1``,
renewal after a year of use, and each refusal as 4xx JSON with its code, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from pki.clock import FixedClock, SystemClock
from pki.hierarchy import CASettings
from pki.home import Home
from pki.keys.devicekeystore import DeviceKeystore, KeystoreSettings, ScryptParams
from pki.private import DeviceEnrolment
from pki.signing import KeySigner, sign
from pki.usecases.banking import Banking

from .cloud_helpers import Api, _start, _stop
from .ra_helpers import expect_error, expect_ok, verified

RRN = "900517-1234566"
PHONE = "01012345678"
PIN = "390417"
R_HEX = "5a" * 20
"""An R for requests whose device's R does not matter to the test."""
FAST = KeystoreSettings(kdf=ScryptParams(n=2**10, r=8, p=1))


@dataclass
class Served:
    url: str
    home: Path
    kb: Api
    hana: Api
    customer: str
    account: str
    payee: str


def _make_home(path: Path, key_pool) -> tuple[str, str, str, str, str]:
    """A home with the kbprivate CA and KB (the kb limit table) with 홍길동: an account,
    the line at the carrier, the device phone-1 designated; and a payee. Returns the API
    keys of KB and Hana, the customer, the account and the payee's account."""
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    with Home.open(path, key_generator=key_pool) as home:
        home.add_ca(CASettings(label="kbprivate", style="kbprivate"), passphrase=None)
        banking = Banking.of_home(home)
        kb, kb_key = banking.add_bank("004", settings={"limit_table": "kb"})
        _, hana_key = banking.add_bank("081")
        customers = banking.customers
        customer = customers.add(kb, name="홍길동", rrn=RRN, phone=PHONE, carrier="SKT")
        customers.sign_up(kb, customer.id)
        customers.activate(kb, customer.id)
        account = customers.open_account(kb, customer.id, password="0420",
                                         balance=200_000_000)
        banking.devices.designate(kb, customer.id, "phone-1")
        payee = customers.add(kb, name="이영희", rrn="880417-1000035", phone="01099990000",
                              carrier="KT")
        to = customers.open_account(kb, payee.id, password="0420")
        banking.lines.add(PHONE, name="홍길동", rrn=RRN, carrier="SKT")
    return kb_key, hana_key, customer.id, account.number, to.number


@pytest.fixture(scope="module")
def served(tmp_path_factory, key_pool):
    path = tmp_path_factory.mktemp("ra-private-api") / "home"
    kb_key, hana_key, customer, account, payee = _make_home(path, key_pool)
    proc, url = _start(path)
    try:
        yield Served(url, path, Api(url, kb_key), Api(url, hana_key), customer, account,
                     payee)
    finally:
        _stop(proc)


def _to_issue(api: Api, account: str, *, device: str = "phone-1") -> str:
    """A session with its account and phone steps done; its path."""
    session = expect_ok(api("POST", "/ra/v1/private/sessions", {"device": device}), 201)
    assert session["next_step"] == "account"
    one = f"/ra/v1/private/sessions/{session['session_id']}"
    expect_ok(api("POST", f"{one}/account", {"number": account, "password": "0420"}))
    state = expect_ok(api("POST", f"{one}/phone", {"verification_id": verified(api)}))
    assert state["next_step"] == "issue"
    return one


def _device(folder: Path, key_pool, device: str = "phone-1", *,
            request: str = "s") -> DeviceEnrolment:
    return DeviceEnrolment.begin(DeviceKeystore(folder, settings=FAST), device=device,
                                 pin=PIN, pin_again=PIN, request=request,
                                 key_generator=key_pool)


def _issue_body(side: DeviceEnrolment) -> dict:
    """The issue step's body: the CSR and R the device sealed before sending them."""
    return {"csr": base64.b64encode(side.csr()).decode(), "r": side.r.hex()}


def _pem_chain(answer: dict) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificate(c.encode()) for c in answer["chain"])


def test_a_whole_private_flow_over_http_issues_onto_the_device(served, key_pool, tmp_path):
    one = _to_issue(served.kb, served.account)
    side = _device(tmp_path / "phone", key_pool)
    issued = expect_ok(served.kb("POST", f"{one}/issue", _issue_body(side)), 201)
    assert issued["session"]["state"] == "finished"
    assert (issued["profile"], issued["ca"], issued["replaced"]) == (
        "private-personal", "kbprivate", None)
    certificate = x509.load_pem_x509_certificate(issued["certificate"].encode())
    assert format(certificate.serial_number, "X") == issued["serial"]
    side.finish(certificate)  # the key matches: it never left the device
    unlocked = DeviceKeystore(tmp_path / "phone", settings=FAST).unlock(PIN)
    assert unlocked.certificate == certificate
    chain = _pem_chain(issued)
    assert [c.subject for c in chain][-1] == chain[-1].issuer  # the root last
    assert "r" not in issued  # the device made R and keeps it: it is not echoed

    shown = expect_ok(served.kb("GET", one))
    assert [(s["step"], s["accepted"]) for s in shown["history"]] == [
        ("account", True), ("phone", True), ("issue", True)]
    assert shown["data"]["device"] == "phone-1"
    assert PIN not in str(shown) and RRN not in str(shown) and "0420" not in str(shown)
    expect_error(served.kb("POST", f"{one}/issue", _issue_body(side)), 409, "session_finished")

    # the same person on a second phone: reissued there, the first revoked (one device)
    again = _to_issue(served.kb, served.account, device="phone-2")
    second = _device(tmp_path / "phone-2", key_pool, "phone-2")
    pem = x509.load_der_x509_csr(second.csr()).public_bytes(Encoding.PEM).decode()
    moved = expect_ok(served.kb("POST", f"{again}/issue", {"r": R_HEX, "csr": pem}), 201)
    assert moved["replaced"] == issued["serial"]
    assert moved["not_after"] == issued["not_after"]


def _transfer(served: Served, key, certificate, chain, r: str, **medium) -> tuple[int, dict]:
    order = expect_ok(served.kb("POST", "/bank/v1/orders", {
        "from_account": served.account, "to_account": served.payee, "amount": 60_000_000}))
    cms = sign(order["text"].encode(), KeySigner(certificate, key, chain),
               clock=SystemClock(), include_chain=True).der
    return served.kb("POST", f"/bank/v1/customers/{served.customer}/transfers", {
        "from_account": served.account, "to_account": served.payee, "amount": 60_000_000,
        "signature": base64.b64encode(cms).decode(), "r": r, "device": "phone-1", **medium})


def test_the_registered_private_certificate_is_the_transfers_medium(served, key_pool,
                                                                     tmp_path):
    one = _to_issue(served.kb, served.account)
    side = _device(tmp_path / "phone", key_pool)
    issued = expect_ok(served.kb("POST", f"{one}/issue", _issue_body(side)), 201)
    certificate = x509.load_pem_x509_certificate(issued["certificate"].encode())
    side.finish(certificate)
    key = DeviceKeystore(tmp_path / "phone", settings=FAST).unlock(PIN).private_key
    done = expect_ok(_transfer(served, key, certificate, _pem_chain(issued), side.r.hex(),
                               private_certificate=True), 201)
    assert (done["accepted"], done["medium"]) == (True, "private-certificate")
    # the medium answered twice, or not at all, is a bad request and moves nothing
    error = expect_error(_transfer(served, key, certificate, _pem_chain(issued), side.r.hex(),
                                   private_certificate=True,
                                   otp={"serial": "123456789012", "code": "123456"}),
                         400, "bad_request")
    assert error["field"] == "card"
    expect_error(_transfer(served, key, certificate, _pem_chain(issued), side.r.hex(),
                           private_certificate="yes"), 400, "bad_request")


def test_steps_out_of_order_and_wrong_answers_are_refused_with_their_codes(served):
    kb = served.kb
    session = expect_ok(kb("POST", "/ra/v1/private/sessions", {"device": "phone-1"}), 201)
    one = f"/ra/v1/private/sessions/{session['session_id']}"
    error = expect_error(kb("POST", f"{one}/phone", {"verification_id": "pv_x"}), 409,
                         "step_out_of_order")
    assert error["expected"] == "account"
    expect_error(kb("POST", f"{one}/issue", {"r": R_HEX, "csr": "MII="}), 409, "step_out_of_order")
    expect_error(kb("POST", f"{one}/account", {"number": "1234567890123", "password": "0420"}),
                 404, "not_found")
    error = expect_error(kb("POST", f"{one}/account", {"number": served.account,
                                                       "password": "9999"}),
                         401, "wrong_account_password")
    assert error["attempts_left"] == 4
    expect_ok(kb("POST", f"{one}/account", {"number": served.account, "password": "0420"}))
    expect_error(kb("POST", f"{one}/account", {"number": served.account, "password": "0420"}),
                 409, "step_repeated")
    expect_error(kb("POST", f"{one}/phone", {"verification_id": "pv_nope"}), 403,
                 "phone_not_found")
    used = verified(kb)
    expect_ok(kb("POST", f"{one}/phone", {"verification_id": used}))
    other = expect_ok(kb("POST", "/ra/v1/private/sessions", {"device": "phone-1"}), 201)
    two = f"/ra/v1/private/sessions/{other['session_id']}"
    expect_ok(kb("POST", f"{two}/account", {"number": served.account, "password": "0420"}))
    expect_error(kb("POST", f"{two}/phone", {"verification_id": used}), 403,
                 "phone_used")
    error = expect_error(kb("POST", f"{one}/issue", {"r": R_HEX, "csr": "bm90IGEgY3Ny"}), 400,
                         "bad_request")
    assert error["field"] == "csr"
    error = expect_error(kb("POST", f"{one}/issue", {"r": R_HEX, "csr": "not base64 at all!"}), 400,
                         "bad_request")
    assert error["field"] == "csr"
    ec_key = ec.generate_private_key(ec.SECP256R1())  # not RSA: no Korean certificate
    ec_csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
              .sign(ec_key, hashes.SHA256()).public_bytes(Encoding.DER))
    error = expect_error(kb("POST", f"{one}/issue",
                            {"r": R_HEX, "csr": base64.b64encode(ec_csr).decode()}),
                         400, "bad_request")
    assert error["field"] == "csr"
    shown = expect_ok(kb("GET", one))
    assert shown["state"] == "open" and shown["next_step"] == "issue"
    assert [s["reason"] for s in shown["history"]][-2:] == ["bad_request"] * 2
    assert [s["reason"] for s in shown["history"]][:3] == [
        "step_out_of_order", "step_out_of_order", "not_found"]


def test_a_locked_account_ends_the_session(served, tmp_path, key_pool):
    """Its own customer: the lock would stop the other tests' flows."""
    kb = served.kb
    with Home.open(served.home, key_generator=key_pool) as home:
        banking = Banking.of_home(home)
        bank = banking.bank("004")
        other = banking.customers.add(bank, name="김잠금", rrn="850304-1000074",
                                      phone="01077770000", carrier="KT")
        banking.customers.sign_up(bank, other.id)
        banking.customers.activate(bank, other.id)
        account = banking.customers.open_account(bank, other.id, password="0420").number
    session = expect_ok(kb("POST", "/ra/v1/private/sessions", {"device": "phone-9"}), 201)
    one = f"/ra/v1/private/sessions/{session['session_id']}"
    for _ in range(4):
        expect_error(kb("POST", f"{one}/account", {"number": account, "password": "1111"}), 401,
                     "wrong_account_password")
    expect_error(kb("POST", f"{one}/account", {"number": account, "password": "1111"}), 423,
                 "account_locked")
    assert expect_ok(kb("GET", one))["state"] == "failed"
    expect_error(kb("POST", f"{one}/account", {"number": account, "password": "0420"}), 409,
                 "session_failed")


def test_a_session_is_its_banks_alone_and_the_key_comes_first(served):
    session = expect_ok(served.kb("POST", "/ra/v1/private/sessions", {"device": "phone-1"}), 201)
    one = f"/ra/v1/private/sessions/{session['session_id']}"
    expect_error(served.hana("GET", one), 404, "not_found")
    expect_error(served.hana("POST", f"{one}/account", {"number": served.account,
                                                        "password": "0420"}), 404, "not_found")
    expect_error(served.kb("GET", "/ra/v1/private/sessions/" + "x" * 200), 404, "not_found")
    expect_error(served.kb("GET", "/ra/v1/private/sessions/ra_nothing"), 404, "not_found")
    assert Api(served.url, None)("GET", one)[0] == 401
    assert Api(served.url, "wrong")("POST", "/ra/v1/private/sessions",
                                    {"device": "p"})[0] == 401
    expect_error(served.kb("GET", "/ra/v1/private/nothing"), 404, "no_route")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/ra/v1/private/sessions", {}, "device"),
    ("/ra/v1/private/sessions", {"device": 7}, "device"),
    ("/ra/v1/private/sessions", {"device": "x" * 65}, "device"),
    ("/ra/v1/private/sessions", {"device": "phone-1", "pin": "390417"}, "pin"),
    ("/ra/v1/private/sessions", {"device": "bad device\n"}, "device"),
    ("/ra/v1/private/renewals", {"customer_id": "c", "signature": "***", "r": "00",
                                 "new_r": "00"}, "signature"),
    ("/ra/v1/private/renewals", {"customer_id": "c", "signature": "eA==", "r": "zz",
                                 "new_r": "00"}, "r"),
    ("/ra/v1/private/renewals", {"customer_id": "c", "signature": "eA==", "new_r": "00"},
     "r"),
    ("/ra/v1/private/renewals", {"customer_id": "c", "signature": "eA==", "r": "00"},
     "new_r"),
    ("/ra/v1/private/renewals", {"customer_id": "c", "signature": "eA==", "r": "00",
                                 "new_r": "00"}, "new_r"),
])
def test_bad_bodies_are_400_naming_the_field(served, path, body, field):
    error = expect_error(served.kb("POST", path, body), 400, "bad_request")
    assert error["field"] == field


@pytest.mark.parametrize("raw", [b"[]", b"not json", b"\xff\xfe", b'{"device": null}',
                                 b'{"device": {"a": 1}}', b"1" * 5000])
def test_bodies_that_are_no_json_object_are_4xx_never_500(served, raw):
    status, body = served.kb("POST", "/ra/v1/private/sessions", raw=raw)
    assert 400 <= status < 500 and body["error"]["code"] in ("bad_request", "bad_json")
    one = "/ra/v1/private/sessions/ra_nothing"
    for step in ("account", "phone", "issue"):
        status, body = served.kb("POST", f"{one}/{step}", raw=raw)
        assert 400 <= status < 500, (step, body)


def test_renewal_after_a_year_of_use_over_http(tmp_path, key_pool):
    """A home of its own: the second server runs a year and a day later."""
    path = tmp_path / "home"
    kb_key, _, customer, account, _ = _make_home(path, key_pool)
    proc, url = _start(path)
    try:
        kb = Api(url, kb_key)
        one = _to_issue(kb, account)
        side = _device(tmp_path / "phone", key_pool)
        issued = expect_ok(kb("POST", f"{one}/issue", _issue_body(side)), 201)
        certificate = x509.load_pem_x509_certificate(issued["certificate"].encode())
        side.finish(certificate)
        unlocked = DeviceKeystore(tmp_path / "phone", settings=FAST).unlock(PIN)
        signer = KeySigner(certificate, unlocked.private_key, _pem_chain(issued))
        renewal_side = _device(tmp_path / "renewed", key_pool)

        def renewal(at: dt.datetime) -> dict:
            cms = sign(renewal_side.csr(), signer, clock=FixedClock(at),
                       include_chain=True).der
            return {"customer_id": customer, "signature": base64.b64encode(cms).decode(),
                    "r": unlocked.r.hex(), "new_r": renewal_side.r.hex()}

        error = expect_error(kb("POST", "/ra/v1/private/renewals",
                                renewal(dt.datetime.now(dt.UTC))), 403, "renewal_window")
        assert error["message"]
    finally:
        _stop(proc)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=367)
    proc, url = _start(path, env={"KPKI_NOW": "+367d"})
    try:
        kb = Api(url, kb_key)
        renewed = expect_ok(kb("POST", "/ra/v1/private/renewals", renewal(later)), 201)
        assert renewed["session"] is None and renewed["replaced"] == issued["serial"]
        new = x509.load_pem_x509_certificate(renewed["certificate"].encode())
        assert new.not_valid_after_utc > certificate.not_valid_after_utc
        renewal_side.finish(new)
        # signed before the old one was revoked, but no longer the registered one: two
        # seconds before `later`, which the revocation cannot precede (the server's clock
        # passed it before the first renewal), so the signing time's second is always an
        # earlier one than the revocation's. Signed at `later` itself, a fast start put
        # both in one second, and the verifier rightly refused a signer's claim of "the
        # same second" as not before the revocation (certificate_revoked, on CI).
        expect_error(kb("POST", "/ra/v1/private/renewals",
                        renewal(later - dt.timedelta(seconds=2))), 403,
                     "signer_not_certificate")
    finally:
        _stop(proc)


@pytest.mark.parametrize("signature", ["eA==", base64.b64encode(b"0" * 3000).decode(), ""])
def test_a_renewal_that_is_no_signature_is_4xx_never_500(served, signature):
    status, body = served.kb("POST", "/ra/v1/private/renewals", {
        "customer_id": served.customer, "signature": signature, "r": "00" * 20,
        "new_r": "11" * 20})
    assert 400 <= status < 500 and body["error"]["code"], body
    expect_error(served.kb("POST", "/ra/v1/private/renewals", {
              "customer_id": "c_nobody", "signature": signature, "r": "00",
              "new_r": "11" * 20}), 404, "not_found")
    expect_error(served.hana("POST", "/ra/v1/private/renewals", {
              "customer_id": served.customer, "signature": signature, "r": "00",
              "new_r": "11" * 20}), 404, "not_found")


def test_a_device_whose_answer_was_lost_finishes_from_the_session(served, key_pool,
                                                                   tmp_path):
    """The key and R are sealed on the device before the CSR is sent; the issue answer
    never arrives (the app was killed): the session shows the certificate, and the device
    attaches it to the key it kept, opened again with the PIN."""
    one = _to_issue(served.kb, served.account)
    session_id = one.rsplit("/", 1)[1]
    side = _device(tmp_path / "phone", key_pool, request=session_id)
    before = expect_ok(served.kb("GET", one))
    assert before["certificate"] is None
    expect_ok(served.kb("POST", f"{one}/issue", _issue_body(side)), 201)  # the answer is lost
    del side

    keystore = DeviceKeystore(tmp_path / "phone", settings=FAST)
    resumed = DeviceEnrolment.resume(keystore, pin=PIN, request=session_id)
    assert resumed is not None
    shown = expect_ok(served.kb("GET", one))
    certificate = x509.load_pem_x509_certificate(shown["certificate"].encode())
    resumed.finish(certificate)
    unlocked = keystore.unlock(PIN)
    assert unlocked.certificate == certificate and keystore.pending() is None
    registered = expect_ok(served.kb("GET", f"/ra/v1/private/customers/{served.customer}"
                                            "/certificate"))
    assert registered["serial"] == format(certificate.serial_number, "X")
    expect_error(served.hana("GET", f"/ra/v1/private/customers/{served.customer}/certificate"),
                 404, "not_found")
