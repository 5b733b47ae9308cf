"""The browser SDK's server side (issue 17 item 1), at the API level (no browser): the
routes under /sdk/v1 that the iframe calls, each rule and each bad input of the issue a
defined error with nothing signed.

``serve_sdk`` and :class:`Frame` (a client that calls the routes as the iframe does) are
shared with ``tests/test_sdk_browser.py`` and ``bench/browser.py``."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding

from pki.cloud.sdk import FinCertSdk, add_sdk_institution, shuffled_layout
from pki.cloud.service import add_institution, authenticate
from pki.entropy import SeededEntropy
from pki.home import Home
from pki.rrn import synthetic_rrn
from pki.signing.verify import CRLIndex, Verifier

from .cloud_helpers import BIRTH, FAST_KDF, PIN, RRN, Api, _issue, _user

ORG = "D0000001"
PAGE = "http://page.test:8000"
DEVICE = "web-test-device"
NAME, PHONE = "홍길동", "01012345678"


@contextlib.contextmanager
def serve_sdk(home_path: Path, *, key_pool: Any = None, sock: Any = None) -> Iterator[str]:
    """The cloud API (with its test channel) and the SDK over real HTTP in this process;
    yields the base URL."""
    from pki.web import WebState, create_app, serve_in_thread
    from pki.web.cloud import cloud_routes
    from pki.web.sdk import sdk_routes

    home = Home.open(home_path, key_generator=key_pool) if key_pool else Home.open(home_path)
    factory = home.cloud_factory(passphrase=None, kdf=FAST_KDF)
    state = WebState.of_home(home, poll_seconds=3600)
    routes = [*cloud_routes(factory, test_channel=True),
              *sdk_routes(lambda: FinCertSdk(factory()))]
    try:
        with serve_in_thread(create_app(state, extra_routes=routes), sock=sock) as url:
            yield url
    finally:
        home.close()


def set_up_institution(home_path: Path, name: str, org_code: str, origins: list[str]
                       ) -> tuple[str, str]:
    """An institution set up for the SDK: (its secret API key, its public SDK key)."""
    with Home.open(home_path) as home:
        api_key = add_institution(home.store, name, at=home.clock.now())
        sdk_key = add_sdk_institution(home.store, authenticate(home.store, api_key), org_code,
                                      origins=origins, at=home.clock.now())
    return api_key, sdk_key


def call(url: str, path: str, body: object = None, headers: dict[str, str] | None = None,
         method: str = "POST", raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    request = urllib.request.Request(url + path, data=data if method == "POST" else None,
                                     method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Frame:
    """Calls the SDK's routes as the iframe does, for one page origin and device."""

    def __init__(self, url: str, *, sdk_key: str, org_code: str = ORG, origin: str = PAGE,
                 device: str = DEVICE) -> None:
        self.url, self.sdk_key, self.org_code = url, sdk_key, org_code
        self.origin, self.device = origin, device
        self.session: str | None = None

    def open(self, resume: str | None = None) -> tuple[int, Any]:
        status, body = call(self.url, "/sdk/v1/session",
                            {"org_code": self.org_code, "origin": self.origin,
                             "device": self.device, "resume": resume},
                            {"X-Sdk-Key": self.sdk_key})
        if status == 200:
            self.session = body["session"]
        return status, body

    def headers(self) -> dict[str, str]:
        return {"X-Sdk-Session": self.session or "", "X-Sdk-Origin": self.origin,
                "X-Device-Id": self.device}

    def __call__(self, path: str, body: object = None, **headers: str) -> tuple[int, Any]:
        return call(self.url, "/sdk/v1/" + path, body, {**self.headers(), **headers})

    def connect(self, api: Api, *, name: str = NAME, phone: str = PHONE) -> None:
        """The connection flow, the code read from the test channel as the institution."""
        assert self("connect", {"name": name, "phone": phone, "birth_date": BIRTH})[0] == 200
        _, messages = api("GET", f"/cloud/v1/test/messages?phone={phone}")
        code = re.search(r"code (\d\d)", messages["messages"][-1]["text"]).group(1)
        status, body = self("connect/confirm", {"code": code})
        assert status == 200, body

    def pad(self, pin: str = PIN) -> dict[str, Any]:
        """A fresh pad answered with ``pin``: the positions of its digits."""
        status, pad = self("pad")
        assert status == 200, pad
        return {"pad": pad["pad"], "positions": [pad["keys"].index(d) for d in pin]}

    def sign(self, serial: str, pin: dict[str, Any] | None = None, **request: Any
             ) -> tuple[int, Any]:
        spec = {"type": "CMS", "plainTexts": ["이체 100,000원"], "encoding": "UTF-8",
                "signType": "02", **request}
        return self("sign", {"serial": serial, "pin": pin or self.pad(), "request": spec})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, key_pool: Any) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("sdk") / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    api_key, sdk_key = set_up_institution(path, "bank", ORG, [PAGE])
    other_key, other_sdk = set_up_institution(path, "card", "D0000002", [PAGE])
    with serve_sdk(path, key_pool=key_pool) as url:
        api = Api(url, api_key)
        user = _user(api, PHONE, NAME)
        serial = _issue(api, user)
        yield {"url": url, "path": path, "api": api, "sdk_key": sdk_key, "serial": serial,
               "other": Api(url, other_key), "other_sdk": other_sdk}


@pytest.fixture(scope="module")
def frame(world: dict[str, Any]) -> Frame:
    """A session of the bank's page, connected to the person who has the certificate."""
    made = Frame(world["url"], sdk_key=world["sdk_key"])
    assert made.open()[0] == 200
    made.connect(world["api"])
    return made


def _code(result: tuple[int, Any]) -> tuple[int, str]:
    status, body = result
    return status, body["error"]["code"]


def _history(world: dict[str, Any]) -> list[dict[str, Any]]:
    """What the cloud recorded for the person (signatures included), newest first."""
    with Home.open(world["path"]) as home:
        users = [u for u in home.store.cloud_users() if u.phone == PHONE]
        return [{"outcome": e.outcome, "serial": e.serial}
                for u in users for e in home.store.history(u.id, 100)]


def _signed_count(world: dict[str, Any]) -> int:
    return sum(1 for e in _history(world) if e["outcome"] == "signed")


def _failures(world: dict[str, Any], serial: str) -> int:
    with Home.open(world["path"]) as home:
        record = home.store.vault_record(home.cloud_ca_label() or "", int(serial, 16))
        assert record is not None
        return record.failures


# -- sessions: organisation code, key, origin, device ---------------------------------------------


def test_a_session_opens_for_an_origin_on_the_list(world):
    status, body = Frame(world["url"], sdk_key=world["sdk_key"]).open()
    assert status == 200 and body["origin"] == PAGE and body["connected"] is False
    assert body["session"].startswith("sdks_")


def test_an_origin_not_on_the_list_gets_no_session(world):
    stranger = Frame(world["url"], sdk_key=world["sdk_key"], origin="http://evil.test")
    assert _code(stranger.open()) == (401, "origin_not_allowed")


@pytest.mark.parametrize("org_code, key", [("D0000009", None), (ORG, "sdk_wrong"),
                                           (ORG, "")])
def test_an_unknown_org_code_or_a_wrong_key_is_one_answer(world, org_code, key):
    frame = Frame(world["url"], sdk_key=world["sdk_key"] if key is None else key,
                  org_code=org_code)
    assert _code(frame.open()) == (401, "unauthorized")


def test_the_secret_api_key_is_not_an_sdk_key(world):
    frame = Frame(world["url"], sdk_key=world["api"].key)
    assert _code(frame.open()) == (401, "unauthorized")


@pytest.mark.parametrize("org_code", ["X0000001", "D", "0000001", "D00000A1"])
def test_a_malformed_org_code_is_a_400(world, org_code):
    frame = Frame(world["url"], sdk_key=world["sdk_key"], org_code=org_code)
    status, body = frame.open()
    assert (status, body["error"]["field"]) == (400, "org_code")


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.test"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_a_call_from_a_page_of_another_origin_is_refused(world, frame, headers):
    """Only kpki's own iframe calls /sdk/v1: a page that fetches it directly is refused,
    and nothing is signed."""
    before = _signed_count(world)
    status, body = frame("sign", {"serial": world["serial"], "pin": frame.pad(),
                                  "request": {"plainTexts": ["x"]}}, **headers)
    assert (status, body["error"]["code"]) == (401, "origin_not_allowed")
    assert _signed_count(world) == before


def test_a_session_answers_only_to_its_own_origin_and_device(world, frame):
    """A tampered iframe request: the session token with another origin or device (a
    token lifted into another page or browser) is refused, nothing signed."""
    before = _signed_count(world)
    for changed in ({"X-Sdk-Origin": "http://evil.test"}, {"X-Device-Id": "another-device"},
                    {"X-Sdk-Session": frame.session[:-2] + "00"}):
        status, body = frame("sign", {"serial": world["serial"], "pin": frame.pad(),
                                      "request": {"plainTexts": ["x"]}}, **changed)
        assert (status, body["error"]["code"]) == (401, "session_invalid"), changed
    assert _signed_count(world) == before


def test_a_session_is_resumed_only_for_its_institution_origin_and_device(world, frame):
    again = Frame(world["url"], sdk_key=world["sdk_key"])
    status, body = again.open(resume=frame.session)
    assert status == 200 and body["session"] == frame.session and body["connected"]
    elsewhere = Frame(world["url"], sdk_key=world["sdk_key"], device="other-device")
    status, body = elsewhere.open(resume=frame.session)
    assert status == 200 and body["session"] != frame.session and not body["connected"]
    card = Frame(world["url"], sdk_key=world["other_sdk"], org_code="D0000002")
    status, body = card.open(resume=frame.session)
    assert status == 200 and body["session"] != frame.session and not body["connected"]


# -- the connection and what an institution sees --------------------------------------------------


def test_before_the_code_nothing_is_listed_and_nothing_signed(world):
    fresh = Frame(world["url"], sdk_key=world["sdk_key"], device="fresh-device")
    fresh.open()
    assert _code(fresh("certificates")) == (409, "not_connected")
    assert fresh("status") == (200, {"connected": False})
    fresh("connect", {"name": NAME, "phone": PHONE, "birth_date": BIRTH})
    assert _code(fresh("connect/confirm", {"code": "xx"}))[0] == 400
    assert _code(fresh.sign(world["serial"])) == (409, "not_connected")


def test_a_connected_session_lists_the_persons_certificates(world, frame):
    status, body = frame("certificates")
    assert status == 200
    (cert,) = body["certificates"]
    assert cert["certSeqNum"] == world["serial"] and cert["status"] == "valid"
    assert cert["locked"] is False and NAME in cert["subject"]


def test_an_institution_sees_only_its_own_users_certificates(world):
    """The same person connected through another institution sees nothing there (the
    certificate is registered at the bank only), and cannot sign with its serial."""
    card = Frame(world["url"], sdk_key=world["other_sdk"], org_code="D0000002")
    card.open()
    card.connect(world["other"])
    assert card("certificates") == (200, {"certificates": []})
    assert _code(card.sign(world["serial"])) == (404, "not_found")
    assert _code(card.sign("ABCDEF")) == (404, "not_found")


def test_disconnecting_ends_the_session(world):
    mine = Frame(world["url"], sdk_key=world["sdk_key"], device="leaving-device")
    mine.open()
    mine.connect(world["api"])
    assert mine("disconnect") == (200, {"connected": False})
    assert _code(mine("status")) == (401, "session_invalid")
    again = Frame(world["url"], sdk_key=world["sdk_key"], device="leaving-device")
    assert again.open(resume=mine.session)[1]["connected"] is False


# -- signing --------------------------------------------------------------------------------------


def _verify(world: dict[str, Any], der: bytes, content: bytes | None = None):
    with Home.open(world["path"]) as home:
        root = home.store.get_ca("root").certificate
        ca = home.store.get_ca(home.cloud_ca_label() or "").certificate
        crls = [CRLIndex.load(crl.der) for crl, _ in home.publish_crls(passphrase=None)]
    return Verifier(trust=[root], intermediates=[ca], crls=crls).verify(der, content=content)


@pytest.mark.parametrize("encoding, codec", [("UTF-8", "utf-8"), ("EUC-KR", "cp949")])
def test_a_cms_signature_covers_the_text_in_its_encoding(world, frame, encoding, codec):
    texts = ["민원 신청: 주민등록등본 발급", "두 번째 문서"]
    status, body = frame.sign(world["serial"], plainTexts=texts, encoding=encoding)
    assert status == 200, body
    assert body["certSeqNum"] == world["serial"] and "rValue" not in body
    assert len(body["signedVals"]) == 2
    for text, value in zip(texts, body["signedVals"], strict=True):
        der = base64.urlsafe_b64decode(value)
        verdict = _verify(world, der)
        assert verdict.ok, verdict.summary()
        assert verdict.content == text.encode(codec)


def test_without_content_the_signature_is_detached(world, frame):
    _, body = frame.sign(world["serial"], plainTexts=["x"], withoutContent=True)
    der = base64.urlsafe_b64decode(body["signedVals"][0])
    assert _verify(world, der, content=b"x").ok
    signed = cms.ContentInfo.load(der)["content"]
    assert signed["encap_content_info"]["content"].native is None  # no content inside


@pytest.mark.parametrize("algorithm", ["RSASSA-PKCS1-v1_5_SHA256",
                                       "RSASSA-PSS_SHA256_MGF1_SHA256"])
def test_pkcs1_is_the_bare_signature_over_the_content(world, frame, algorithm):
    status, body = frame.sign(world["serial"], type="PKCS1", plainTexts=["로그인"],
                              algorithms=algorithm, signType="01")
    assert status == 200, body
    signature = base64.urlsafe_b64decode(body["signedVals"][0])
    with Home.open(world["path"]) as home:
        (record,) = home.store.find_certificates(int(world["serial"], 16))
    pad = (padding.PKCS1v15() if "v1_5" in algorithm
           else padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH))
    record.certificate.public_key().verify(signature, "로그인".encode(), pad, hashes.SHA256())


def test_include_r_returns_r_and_ssn_is_checked_against_the_vid(world, frame):
    status, body = frame.sign(world["serial"], includeR=True, ssn=RRN)
    assert status == 200, body
    assert len(base64.urlsafe_b64decode(body["rValue"])) == 20
    other = str(synthetic_rrn(dt.date(1990, 5, 17), serial=999).digits)
    status, body = frame.sign(world["serial"], ssn=other)
    assert (status, body["error"]["code"]) == (409, "ssn_mismatch")
    assert "signedVals" not in body


def test_binary_content_is_signed_as_given(world, frame):
    blob = bytes(range(256))
    status, body = frame("sign", {"serial": world["serial"], "pin": frame.pad(), "request": {
        "binaries": [base64.b64encode(blob).decode()], "signType": "99"}})
    assert status == 200, body
    assert _verify(world, base64.urlsafe_b64decode(body["signedVals"][0])).content == blob


# -- bad input: each a defined error, nothing signed ----------------------------------------------


def test_an_unknown_encoding_is_refused_and_nothing_signed(world, frame):
    before = _signed_count(world)
    pin = frame.pad()
    status, body = frame.sign(world["serial"], pin, encoding="Shift_JIS")
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        400, "unknown_encoding", "encoding")
    assert _signed_count(world) == before
    assert frame.sign(world["serial"], pin)[0] == 200  # the pad was not spent on it


def test_euc_kr_is_the_mapping_browsers_use_under_that_label(world, frame):
    """WHATWG's EUC-KR (what a browser sends under that label) is CP949: a syllable
    outside KS X 1001's 2,350 is two bytes, not Python's 8-byte euc_kr composition."""
    status, body = frame.sign(world["serial"], plainTexts=["똠방각하"], encoding="EUC-KR")
    assert status == 200, body
    content = _verify(world, base64.urlsafe_b64decode(body["signedVals"][0])).content
    assert content == "똠방각하".encode("cp949") != "똠방각하".encode("euc_kr")


def test_a_text_euc_kr_cannot_write_is_refused(world, frame):
    status, body = frame.sign(world["serial"], plainTexts=["이모지 😀"], encoding="EUC-KR")
    assert (status, body["error"]["code"]) == (400, "unencodable")


@pytest.mark.parametrize("change, field", [
    ({"type": "XML"}, "type"), ({"algorithms": "RSA-MD5"}, "algorithms"),
    ({"signType": "42"}, "signType"), ({"plainTexts": []}, "content"),
    ({"plainTexts": None}, "content")])
def test_bad_sign_options_name_their_field(world, frame, change, field):
    status, body = frame.sign(world["serial"], **change)
    assert (status, body["error"]["code"], body["error"].get("field")) == (
        400, "bad_request", field)


def test_a_replayed_pin_pad_answer_is_refused_nothing_signed_nothing_charged(world, frame):
    answer = frame.pad()
    assert frame.sign(world["serial"], answer)[0] == 200
    before = _signed_count(world)
    assert _code(frame.sign(world["serial"], answer)) == (409, "pad_used")
    assert _signed_count(world) == before
    wrong = frame.pad("000000")
    assert _code(frame.sign(world["serial"], wrong)) == (401, "wrong_pin")
    assert _failures(world, world["serial"]) == 1
    assert _code(frame.sign(world["serial"], wrong)) == (409, "pad_used")
    assert _failures(world, world["serial"]) == 1  # the replay was not a PIN attempt
    assert frame.sign(world["serial"])[0] == 200  # a right PIN clears the count
    assert _failures(world, world["serial"]) == 0


def test_a_pad_of_another_session_is_unknown(world, frame):
    other = Frame(world["url"], sdk_key=world["sdk_key"], device="other-pad-device")
    other.open()
    assert _code(frame.sign(world["serial"], other.pad())) == (409, "pad_unknown")
    assert _code(frame.sign(world["serial"], {"pad": "pad_nothing", "positions": [0] * 6})) == (
        409, "pad_unknown")


def _twenty_at_once(send):
    """``send()`` from twenty threads released together; their (status, error code)."""
    start = threading.Barrier(20)

    def one(_: int) -> tuple[int, str | None]:
        start.wait()
        status, body = send()
        return status, body.get("error", {}).get("code")

    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(one, range(20)))


def test_one_pad_answer_sent_twenty_times_at_once_signs_once(world, frame):
    """A hostile page replays the iframe's request twenty times at once: one signature."""
    before = _signed_count(world)
    answer = frame.pad()
    results = _twenty_at_once(lambda: frame.sign(world["serial"], answer))
    assert sorted(results) == sorted([(200, None)] + [(409, "pad_used")] * 19)
    assert _signed_count(world) == before + 1


def test_one_wrong_pin_answer_sent_twenty_times_at_once_is_charged_once(world, frame):
    wrong = frame.pad("000000")
    results = _twenty_at_once(lambda: frame.sign(world["serial"], wrong))
    assert sorted(results) == sorted([(401, "wrong_pin")] + [(409, "pad_used")] * 19)
    assert _failures(world, world["serial"]) == 1
    assert frame.sign(world["serial"])[0] == 200  # the right PIN clears the count
    assert _failures(world, world["serial"]) == 0


def test_a_session_cannot_sign_with_another_persons_certificate(world, frame):
    """Another person's certificate at the same institution: the serial of a certificate
    that does not exist for this session, whatever PIN; nothing signed, nothing charged."""
    serial = _issue(world["api"], _user(world["api"], "01077770000", "이영희"))
    before = _signed_count(world)
    for pin in (PIN, "000000"):
        assert _code(frame.sign(serial, frame.pad(pin))) == (404, "not_found")
    assert _failures(world, serial) == 0 and _signed_count(world) == before


@pytest.mark.parametrize("positions", [[0, 1, 2], [0] * 7, [12, 0, 0, 0, 0, 0], [-1] * 6])
def test_a_pad_answer_is_six_positions(world, frame, positions):
    status, body = frame.sign(world["serial"], {"pad": frame.pad()["pad"],
                                                "positions": positions})
    assert status == 400 and body["error"]["code"] == "bad_request"


def test_a_blank_key_is_not_a_digit_and_charges_nothing(world, frame):
    _, pad = frame("pad")
    blank = pad["keys"].index(None)
    answer = {"pad": pad["pad"], "positions": [blank] + [pad["keys"].index(d) for d in PIN[1:]]}
    assert frame.sign(world["serial"], answer)[1]["error"]["field"] == "positions"
    assert _failures(world, world["serial"]) == 0


def test_a_pad_is_the_ten_digits_and_two_blanks_shuffled(world, frame):
    layouts = set()
    for _ in range(5):
        keys = frame("pad")[1]["keys"]
        assert sorted(k for k in keys if k is not None) == list("0123456789")
        assert keys.count(None) == 2
        layouts.add(tuple(keys))
    assert len(layouts) > 1


def test_the_shuffle_is_a_permutation_drawn_from_the_entropy():
    first = shuffled_layout(SeededEntropy(1))
    assert sorted(first) == sorted("0123456789--")
    assert shuffled_layout(SeededEntropy(1)) == first
    assert len({shuffled_layout(SeededEntropy(n)) for n in range(20)}) > 10


def test_five_wrong_pins_lock_the_certificate(world, tmp_path_factory, key_pool):
    """Its own person and certificate (the lock is for good)."""
    api = world["api"]
    user = _user(api, "01099990000", "김철수")
    serial = _issue(api, user)
    locked = Frame(world["url"], sdk_key=world["sdk_key"], device="lock-device")
    locked.open()
    locked.connect(api, name="김철수", phone="01099990000")
    for left in (4, 3, 2, 1):
        status, body = locked.sign(serial, locked.pad("999999"))
        assert (status, body["error"]["code"], body["error"]["attempts_left"]) == (
            401, "wrong_pin", left)
    assert _code(locked.sign(serial, locked.pad("999999"))) == (423, "pin_locked")
    assert _code(locked.sign(serial)) == (423, "pin_locked")  # the right PIN too
    assert locked("certificates")[1]["certificates"][0]["locked"] is True


HOSTILE = [b"[" * 100_000, b'{"serial": ' + b'{"a": ' * 5000 + b"1", b"\xff\xfe",
           b'{"serial": 1}', b'{"serial": "1", "x": 1}', b"", b"null", b'"text"',
           b'{"org_code": "D0000001", "origin": "' + b"a" * 300 + b'", "device": "d"}',
           b'{"pin": {"pad": "p", "positions": [' + b"0," * 1000 + b'0]}}',
           b'{"code": 12}', b"1e999999", b'{"\\ud800": 1}']


@pytest.mark.parametrize("raw", HOSTILE)
@pytest.mark.parametrize("route", ["session", "sign", "connect/confirm", "pad", "pin"])
def test_hostile_bodies_are_4xx_json_never_500(world, frame, route, raw):
    """On every kind of route, the one before a session (/session) included."""
    headers = {**frame.headers(), "X-Sdk-Key": world["sdk_key"]}
    status, body = call(world["url"], "/sdk/v1/" + route, raw=raw, headers=headers)
    if route == "pad" and raw == b"":  # a pad takes no body: an empty one is a request
        assert status == 200 and body["pad"].startswith("pad_")
        return
    assert 400 <= status < 500 and isinstance(body["error"]["code"], str)


@pytest.mark.parametrize("route", ["sign", "session"])
def test_a_body_larger_than_the_limit_is_413_while_it_streams_in(world, frame, route):
    """A chunked body that never ends is refused once it passes the limit, before a
    session too."""
    parts = urllib.parse.urlsplit(world["url"])
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in frame.headers().items())
        sock.sendall((f"POST /sdk/v1/{route} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/json\r\nTransfer-Encoding: chunked\r\n" + head
                      + "\r\n").encode())
        chunk = b"a" * 65536
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(64):  # 4 MiB, more than the limit
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        with sock.makefile("rb") as answer:
            assert int(answer.readline().split()[1]) == 413
    finally:
        sock.close()


def test_an_unknown_sdk_route_is_a_json_404(world):
    assert _code(call(world["url"], "/sdk/v1/nothing")) == (404, "no_route")


def test_without_a_session_nothing_is_read(world):
    status, body = call(world["url"], "/sdk/v1/certificates", {},
                        {"X-Sdk-Origin": PAGE, "X-Device-Id": DEVICE})
    assert (status, body["error"]["code"]) == (401, "session_invalid")


# -- the frame page and the script ----------------------------------------------------------------


def test_the_frame_may_be_shown_only_by_the_organisations_origins(world):
    request = urllib.request.Request(world["url"] + f"/sdk/v1/frame?org={ORG}")
    with urllib.request.urlopen(request, timeout=30) as response:
        policy = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {PAGE}" in policy and "script-src 'self'" in policy
    with urllib.request.urlopen(world["url"] + "/sdk/v1/frame?org=D0000099",
                                timeout=30) as response:
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("org, origin, answer", [
    (ORG, PAGE, {"known": True, "allowed": True}),
    (ORG, "http://evil.test", {"known": True, "allowed": False}),
    ("D0000099", PAGE, {"known": False, "allowed": False})])
def test_a_page_may_ask_whether_its_origin_may_use_a_code(world, org, origin, answer):
    request = urllib.request.Request(world["url"] + f"/sdk/v1/origin?org={org}",
                                     headers={"Origin": origin})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert json.loads(response.read()) == answer


def test_the_script_is_served_for_pages_of_other_origins(world):
    with urllib.request.urlopen(world["url"] + "/sdk/v1/fincert.js", timeout=30) as response:
        assert response.headers.get_content_type() == "text/javascript"
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert b"FinCert" in response.read()


# -- the CLI --------------------------------------------------------------------------------------


def test_institution_add_with_an_org_code_prints_the_sdk_key(tmp_path, key_pool):
    from cli.main import cli

    home = tmp_path / "home"
    Home.create(home, passphrase=None, key_generator=key_pool).close()
    runner = CliRunner()
    done = runner.invoke(cli, ["--home", str(home), "cloud", "institution", "add", "bank",
                               "--org-code", "D1234567", "--origin", "http://LocalHost:8000",
                               "--json"])
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert shown["sdk_key"].startswith("sdk_") and shown["origins"] == ["http://localhost:8000"]
    done = runner.invoke(cli, ["--home", str(home), "cloud", "institution", "origin", "D1234567",
                               "--add", "https://bank.test", "--remove",
                               "http://localhost:8000"])
    assert done.exit_code == 0 and done.output.split() == ["https://bank.test"]
    with Home.open(home) as opened:
        assert opened.store.sdk_institution_by_org_code("D1234567").origins == (
            "https://bank.test",)


@pytest.mark.parametrize("args, words", [
    (["--org-code", "Q1"], "--org-code"), (["--origin", "http://x.test"], "--org-code"),
    (["--org-code", "D1234567", "--origin", "http://x.test/path"], "--origin")])
def test_institution_add_refuses_bad_sdk_options_naming_them(tmp_path, key_pool, args, words):
    from cli.main import cli

    home = tmp_path / "home"
    Home.create(home, passphrase=None, key_generator=key_pool).close()
    done = CliRunner().invoke(cli, ["--home", str(home), "cloud", "institution", "add", "bank",
                                    *args])
    assert done.exit_code == 2 and words in done.output
    with Home.open(home) as opened:
        assert opened.store.institutions() == []


def test_openssl_cms_verifies_an_sdk_signature(world, frame, tmp_path):
    _, body = frame.sign(world["serial"], plainTexts=["가나다"], encoding="EUC-KR")
    der = base64.urlsafe_b64decode(body["signedVals"][0])
    with Home.open(world["path"]) as home:
        root = home.store.get_ca("root").certificate
        ca = home.store.get_ca(home.cloud_ca_label() or "").certificate
    (tmp_path / "sig.der").write_bytes(der)
    # the trust store: the root and the cloud CA (openssl cms takes no -untrusted)
    (tmp_path / "trust.pem").write_bytes(root.public_bytes(Encoding.PEM)
                                         + ca.public_bytes(Encoding.PEM))
    done = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in",
                           tmp_path / "sig.der", "-CAfile", tmp_path / "trust.pem",
                           "-purpose", "any",
                           "-out", tmp_path / "out.bin"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.bin").read_bytes() == "가나다".encode("cp949")


def test_kpki_serve_serves_the_sdk(tmp_path, key_pool):
    """A real `kpki serve` process: the script, and a session for an allowed origin."""
    from .cloud_helpers import _start, _stop

    home = tmp_path / "home"
    Home.create(home, passphrase=None, key_generator=key_pool).close()
    _, sdk_key = set_up_institution(home, "bank", ORG, [PAGE])
    proc, url = _start(home)
    try:
        with urllib.request.urlopen(url + "/sdk/v1/fincert.js", timeout=30) as response:
            assert b"FinCert" in response.read()
        status, body = Frame(url, sdk_key=sdk_key).open()
        assert status == 200 and body["origin"] == PAGE
    finally:
        _stop(proc)
