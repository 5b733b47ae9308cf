"""Simple authentication over HTTP against a real ``kpki serve`` (issue 15 items 4 and 5):
the relying party's request → status → result, the app's pending list, approval and
decline, each refusal as 4xx JSON with its code (never a 500), and the result checked by a
relying party written with pyca/cryptography only (tests/simpleauth_rp.py)."""

from __future__ import annotations

import ast
import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from pki.home import Home
from pki.simpleauth import PendingRequest
from pki.usecases.simpleauth import simple_auth_of_home

from .cloud_helpers import Api, _kpki, _start, _stop
from .simpleauth_helpers import PIN, Person, make_home, person
from .simpleauth_rp import check_result

RP_MODULE = Path(__file__).with_name("simpleauth_rp.py")


@dataclass
class World:
    url: str
    gov: Api
    tax: Api
    root: x509.Certificate
    kim: Person
    lee: Person

    def app(self, who: Person, *, provider: int = 1) -> Api:
        return _AppApi(self.url, who.app.token(provider))


class _AppApi(Api):
    def __init__(self, url: str, token: str | None) -> None:
        super().__init__(url, None)
        self.token = token

    def __call__(self, method, path, body=None, *, raw=None, headers=None):
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return super().__call__(method, path, body, raw=raw, headers={**auth, **(headers or {})})


@pytest.fixture(scope="module")
def world(tmp_path_factory, key_pool):
    base = tmp_path_factory.mktemp("simpleauth-api")
    keys = make_home(base / "home", key_pool=key_pool)
    with Home.open(base / "home", key_generator=key_pool) as home:
        service = simple_auth_of_home(home)
        kim = person(home, service, base / "kim-phone", name="김간편")
        lee = person(home, service, base / "lee-phone", name="이간편")
        root = home.store.get_ca("root").certificate
    proc, url = _start(base / "home", "--no-publish", "--no-cloud", "--no-bank",
                       test_channel=False)
    try:
        yield World(url, Api(url, keys["정부24"]), Api(url, keys["홈택스"]), root, kim, lee)
    finally:
        _stop(proc)


def _error(result, status: int, code: str) -> dict:
    got, body = result
    assert (got, body["error"]["code"]) == (status, code), result
    return body["error"]


def _ask(world: World, who: Person, *, rp: Api | None = None, **fields) -> dict:
    body = {"provider": 1, "name": who.name, "phone": who.phone, "rrn": who.rrn.digits,
            **fields}
    status, answer = (rp or world.gov)("POST", "/simpleauth/v1/requests", body)
    assert status == 201, answer
    return answer


def _pending(world: World, who: Person) -> list[dict]:
    status, answer = world.app(who)("GET", "/simpleauth/v1/app/requests")
    assert status == 200, answer
    return answer["requests"]


def _approve_on_phone(world: World, who: Person, request_id: str) -> tuple[int, dict]:
    """The person opens the app, sees the request, enters the PIN; the phone signs."""
    shown = next(r for r in _pending(world, who) if r["request_id"] == request_id)
    request = PendingRequest(id=shown["request_id"], provider=shown["provider"],
                             relying_party=shown["relying_party"], text=shown["text"],
                             nonce=shown["nonce"], created_at=None, expires_at=None)  # type: ignore[arg-type]
    signature = who.app.approval(request, pin=PIN)
    return world.app(who)("POST", f"/simpleauth/v1/app/requests/{request_id}/approve",
                          {"signature": base64.b64encode(signature).decode()})


def test_the_relying_party_module_imports_nothing_of_kpki():
    tree = ast.parse(RP_MODULE.read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not [m for m in imported if m == "pki" or m.startswith(("pki.", "tests"))]
    assert "cryptography" in imported


def test_an_approved_result_is_verified_by_a_relying_party_with_pyca_only(world):
    asked = _ask(world, world.kim, nonce="gov24-nonce-0001", text="정부24 로그인")
    assert asked["status"] == "pending" and asked["nonce"] == "gov24-nonce-0001"
    shown = _pending(world, world.kim)
    assert [(r["request_id"], r["relying_party"], r["text"]) for r in shown] == [
        (asked["request_id"], "정부24", "정부24 로그인")]
    status, answered = _approve_on_phone(world, world.kim, asked["request_id"])
    assert (status, answered["status"]) == (200, "approved"), answered
    status, seen = world.gov("GET", f"/simpleauth/v1/requests/{asked['request_id']}")
    assert (status, seen["status"]) == (200, "approved")

    status, result = world.gov("POST", f"/simpleauth/v1/requests/{asked['request_id']}/result")
    assert status == 200, result
    checked = check_result(result, root=world.root, nonce="gov24-nonce-0001")
    assert len(result["ci"]) == 88
    assert checked.signer.serial_number == world.kim.keystore.status().serial
    assert _pending(world, world.kim) == []


def test_a_result_is_handed_over_once(world):
    asked = _ask(world, world.kim)
    assert _approve_on_phone(world, world.kim, asked["request_id"])[0] == 200
    path = f"/simpleauth/v1/requests/{asked['request_id']}/result"
    assert world.gov("POST", path)[0] == 200
    _error(world.gov("POST", path), 409, "result_collected")
    assert world.gov("GET", path[:-len("/result")])[1]["status"] == "collected"


def test_a_second_approval_is_refused_as_answered(world):
    asked = _ask(world, world.kim)
    assert _approve_on_phone(world, world.kim, asked["request_id"])[0] == 200
    path = f"/simpleauth/v1/app/requests/{asked['request_id']}/decline"
    _error(world.app(world.kim)("POST", path), 409, "request_answered")


def test_another_relying_partys_request_is_not_found(world):
    asked = _ask(world, world.kim)
    path = f"/simpleauth/v1/requests/{asked['request_id']}"
    _error(world.tax("GET", path), 404, "not_found")
    _error(world.tax("POST", path + "/result"), 404, "not_found")
    _error(world.gov("GET", "/simpleauth/v1/requests/sar_000000000000000000000000"), 404,
           "not_found")


def test_a_request_for_nobody_answers_like_one_never_answered(world):
    real = _ask(world, world.kim)
    nobody = _ask(world, world.kim, name="박없음")
    wrong_phone = _ask(world, world.kim, phone="01099998888")
    unregistered = _ask(world, world.kim, provider=8)  # no app at Toss
    for asked in (real, nobody, wrong_phone, unregistered):
        status, seen = world.gov("GET", f"/simpleauth/v1/requests/{asked['request_id']}")
        assert status == 200
        assert set(seen) == set(asked) - {"nonce"}
        assert (seen["status"], seen["reason"], seen["answered_at"]) == ("pending", None, None)
        _error(world.gov("POST", f"/simpleauth/v1/requests/{asked['request_id']}/result"),
               409, "not_approved")
    assert [r["request_id"] for r in _pending(world, world.kim)][-1] == real["request_id"]
    ids = {r["request_id"] for r in _pending(world, world.kim)}
    assert not ids & {nobody["request_id"], wrong_phone["request_id"],
                      unregistered["request_id"]}


def test_a_request_by_birth_date_reaches_the_app(world):
    asked = _ask(world, world.lee, rrn=None,
                 birth_date=world.lee.rrn.birth_date.isoformat())
    assert asked["request_id"] in {r["request_id"] for r in _pending(world, world.lee)}


def test_the_person_declines(world):
    asked = _ask(world, world.lee)
    path = f"/simpleauth/v1/app/requests/{asked['request_id']}/decline"
    status, answer = world.app(world.lee)("POST", path)
    assert (status, answer["status"]) == (200, "declined")
    seen = world.gov("GET", f"/simpleauth/v1/requests/{asked['request_id']}")[1]
    assert seen["status"] == "declined"
    error = _error(world.gov("POST", f"/simpleauth/v1/requests/{asked['request_id']}/result"),
                   409, "not_approved")
    assert error["state"] == "declined"


def test_an_app_reports_its_locked_pin_as_a_failure(world):
    asked = _ask(world, world.lee)
    path = f"/simpleauth/v1/app/requests/{asked['request_id']}/fail"
    assert world.app(world.lee)("POST", path, {"reason": "pin_locked"})[0] == 200
    seen = world.gov("GET", f"/simpleauth/v1/requests/{asked['request_id']}")[1]
    assert (seen["status"], seen["reason"]) == ("failed", "pin_locked")
    _error(world.app(world.lee)("POST", path, {"reason": "pin_locked"}), 409,
           "request_answered")
    # Only the provider finds a certificate revoked: an app cannot claim it.
    other = _ask(world, world.lee)["request_id"]
    error = _error(world.app(world.lee)("POST", f"/simpleauth/v1/app/requests/{other}/fail",
                                        {"reason": "certificate_revoked"}), 400, "bad_request")
    assert error["field"] == "reason"


def test_a_signature_for_another_request_is_refused_and_changes_nothing(world):
    first, second = _ask(world, world.kim), _ask(world, world.kim)
    shown = next(r for r in _pending(world, world.kim)
                 if r["request_id"] == first["request_id"])
    request = PendingRequest(id=shown["request_id"], provider=1, relying_party="",
                             text="", nonce=shown["nonce"], created_at=None,  # type: ignore[arg-type]
                             expires_at=None)  # type: ignore[arg-type]
    signature = base64.b64encode(world.kim.app.approval(request, pin=PIN)).decode()
    path = f"/simpleauth/v1/app/requests/{second['request_id']}/approve"
    _error(world.app(world.kim)("POST", path, {"signature": signature}), 403,
           "content_mismatch")
    # Lee's app cannot approve Kim's request, even with Kim's signature.
    _error(world.app(world.lee)("POST", f"/simpleauth/v1/app/requests/{first['request_id']}"
                                "/approve", {"signature": signature}), 404, "not_found")
    assert world.gov("GET", f"/simpleauth/v1/requests/{second['request_id']}")[1][
        "status"] == "pending"


def test_the_app_proves_itself_with_its_device_token(world):
    path = "/simpleauth/v1/app/requests"
    _error(_AppApi(world.url, None)("GET", path), 401, "app_unauthorized")
    _error(_AppApi(world.url, "1.bm9ib2R5.AAAA")("GET", path), 401, "app_unauthorized")
    _error(_AppApi(world.url, world.kim.phone)("GET", path), 401, "app_unauthorized")
    token = world.kim.app.token(1)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    _error(_AppApi(world.url, forged)("GET", path), 401, "app_unauthorized")
    # A relying party's API key is no app token, and an app token no API key.
    _error(_AppApi(world.url, world.gov.key)("GET", path), 401, "app_unauthorized")
    _error(Api(world.url, token)("GET", "/simpleauth/v1/providers"), 401, "unauthorized")


@pytest.mark.parametrize(("body", "field"), [
    ({"provider": 9, "name": "김간편", "phone": "01012345678", "rrn": "9005171234566"},
     "provider"),
    ({"provider": 1, "name": "김간편", "phone": "01012345678", "rrn": "123"}, "rrn"),
    ({"provider": 1, "name": "김간편", "phone": "12", "rrn": "9005171234566"}, "phone"),
    ({"provider": 1, "name": "", "phone": "01012345678", "rrn": "9005171234566"}, "name"),
    ({"provider": 1, "name": "김간편", "phone": "01012345678"}, "rrn"),
    ({"provider": 1, "name": "김간편", "phone": "01012345678", "birth_date": "1990-02-30"},
     "birth_date"),
    ({"provider": 1, "name": "김간편", "phone": "01012345678", "rrn": "9005171234566",
      "nonce": "short"}, "nonce"),
    ({"provider": "1", "name": "김간편", "phone": "01012345678"}, "provider"),
    ({"provider": 1, "name": "김간편", "phone": "01012345678", "extra": 1}, "extra"),
])
def test_bad_requests_are_400_naming_the_field(world, body, field):
    error = _error(world.gov("POST", "/simpleauth/v1/requests", body), 400, "bad_request")
    assert error["field"] == field


def test_hostile_bodies_are_4xx_json(world):
    asked = _ask(world, world.kim)
    path = f"/simpleauth/v1/app/requests/{asked['request_id']}/approve"
    app = world.app(world.kim)
    _error(app("POST", path, {"signature": "not base64!"}), 400, "bad_request")
    _error(app("POST", path, {"signature": base64.b64encode(b"junk").decode()}), 403,
           "signature_invalid")
    _error(app("POST", path, raw=b"{"), 400, "bad_json")
    _error(app("POST", path, {"reason": 1}), 400, "bad_request")
    _error(world.gov("GET", "/simpleauth/v1/nothing"), 404, "no_route")
    _error(world.gov("GET", "/simpleauth/v1/requests/" + "x" * 100), 404, "not_found")
    _error(Api(world.url, None)("POST", "/simpleauth/v1/requests", {}), 401, "unauthorized")


def test_the_providers_are_listed(world):
    status, answer = world.gov("GET", "/simpleauth/v1/providers")
    assert status == 200
    assert [(p["code"], p["name"]) for p in answer["providers"]] == [
        (1, "Kakao"), (2, "Payco"), (3, "Samsung Pass"), (4, "KB"), (5, "PASS"),
        (6, "Naver"), (7, "Shinhan"), (8, "Toss"), (10, "Hana"), (11, "NH")]


def test_serve_has_a_switch_for_simple_authentication():
    shown = subprocess.run([_kpki(), "serve", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert "--no-simpleauth" in shown and "--simpleauth-timeout" in shown
    assert json.dumps  # the module's json is used by the helpers
