"""An app registers at a provider over HTTP against a real ``kpki serve`` (issue 15 item 4):
``POST /simpleauth/v1/apps`` with the registration proof and R, no key of anyone's (the
proof is the credential), checked exactly as :meth:`pki.simpleauth.SimpleAuth.register`
checks it; the device token it answers works for the app's routes; a same-name stranger
is refused; bad bodies are 4xx JSON; the RRN and R are never echoed or audited."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from pki.home import Home
from pki.keys.devicekeystore import DeviceKeystore
from pki.private import enrol_device
from pki.rrn import RRN, synthetic_rrn
from pki.simpleauth import DeviceApp, PendingRequest
from pki.usecases.simpleauth import simple_auth_of_home

from .cloud_helpers import Api, _start, _stop
from .simpleauth_helpers import FAST, PIN, Person, make_home, person
from .simpleauth_rp import check_result

APPS = "/simpleauth/v1/apps"


@dataclass
class World:
    url: str
    gov: Api
    root: x509.Certificate
    kim: Person
    """Registered at provider 1 (in Python)."""
    park: Person
    """A private certificate on the phone, registered nowhere yet."""
    stranger: Person
    """Another person with a private certificate in Kim's name, registered nowhere."""
    home: Path


def _enrolled(home: Home, folder: Path, *, name: str, serial: int, phone: str) -> Person:
    rrn = synthetic_rrn(dt.date(1991, 3, 9), serial=serial)
    keystore = DeviceKeystore(folder, settings=FAST)
    enrol_device(home.authority("kbprivate"), keystore, name=name, rrn=rrn, pin=PIN,
                 device=f"phone-r{serial}")
    return Person(name, rrn, phone, DeviceApp(folder, keystore=keystore, clock=home.clock))


@pytest.fixture(scope="module")
def world(tmp_path_factory, key_pool):
    base = tmp_path_factory.mktemp("simpleauth-register")
    keys = make_home(base / "home", key_pool=key_pool)
    with Home.open(base / "home", key_generator=key_pool) as home:
        kim = person(home, simple_auth_of_home(home), base / "kim-phone", name="김간편")
        park = _enrolled(home, base / "park-phone", name="박등록", serial=9001,
                         phone="01055550001")
        stranger = _enrolled(home, base / "stranger-phone", name="김간편", serial=9002,
                             phone="01055550002")
        root = home.store.get_ca("root").certificate
    proc, url = _start(base / "home", "--no-publish", "--no-cloud", "--no-bank",
                       test_channel=False)
    try:
        yield World(url, Api(url, keys["정부24"]), root, kim, park, stranger, base / "home")
    finally:
        _stop(proc)


def _error(result: tuple[int, dict], status: int, code: str) -> dict:
    got, body = result
    assert (got, body["error"]["code"]) == (status, code), result
    return body["error"]


def _body(who: Person, *, provider: int = 1, rrn: RRN | None = None, name: str | None = None,
          phone: str | None = None, **fields: object) -> dict:
    """What ``who``'s phone sends to register at ``provider``: the proof its key signs
    (PIN) and the R its keystore keeps, with the details the person typed."""
    proof = who.app.registration_proof(provider, name=name or who.name,
                                       phone=phone or who.phone, pin=PIN)
    return {"provider": provider, "name": name or who.name, "phone": phone or who.phone,
            "rrn": (rrn or who.rrn).digits,
            "birth_date": (rrn or who.rrn).birth_date.isoformat(),
            "proof": base64.b64encode(proof.cms).decode(), "r": proof.r.hex(), **fields}


def _app(url: str, token: str | None) -> Api:
    class Bearer(Api):
        def __call__(self, method, path, body=None, *, raw=None, headers=None):
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            return super().__call__(method, path, body, raw=raw,
                                    headers={**auth, **(headers or {})})

    return Bearer(url, None)


def _approve(world: World, who: Person, token: str, request_id: str) -> tuple[int, dict]:
    status, listed = _app(world.url, token)("GET", "/simpleauth/v1/app/requests")
    assert status == 200, listed
    shown = next(r for r in listed["requests"] if r["request_id"] == request_id)
    request = PendingRequest(id=shown["request_id"], provider=shown["provider"],
                             relying_party=shown["relying_party"], text=shown["text"],
                             nonce=shown["nonce"], created_at=None,  # type: ignore[arg-type]
                             expires_at=None)  # type: ignore[arg-type]
    signature = who.app.approval(request, pin=PIN)
    return _app(world.url, token)("POST", f"/simpleauth/v1/app/requests/{request_id}/approve",
                                  {"signature": base64.b64encode(signature).decode()})


def test_an_app_registered_over_http_is_approved_and_its_result_verified(world):
    body = _body(world.park, provider=4)
    status, registered = Api(world.url, None)("POST", APPS, body)
    assert status == 201, registered
    assert set(registered) == {"provider", "device_token", "registered_at"}
    assert registered["provider"] == 4
    token = registered["device_token"]
    world.park.app.save_token(4, token)

    status, asked = world.gov("POST", "/simpleauth/v1/requests", {
        "provider": 4, "name": world.park.name, "phone": world.park.phone,
        "rrn": world.park.rrn.digits, "nonce": "gov24-register-01"})
    assert status == 201, asked
    status, answered = _approve(world, world.park, token, asked["request_id"])
    assert (status, answered["status"]) == (200, "approved"), answered
    status, result = world.gov("POST", f"/simpleauth/v1/requests/{asked['request_id']}/result")
    assert status == 200, result
    checked = check_result(result, root=world.root, nonce="gov24-register-01")
    assert checked.signer.serial_number == world.park.keystore.status().serial
    assert world.park.app.ci(4) == result["ci"]


def test_the_token_answered_works_for_the_apps_routes_and_declines(world):
    status, registered = Api(world.url, None)("POST", APPS, _body(world.park, provider=6))
    assert status == 201, registered
    app = _app(world.url, registered["device_token"])
    assert app("GET", "/simpleauth/v1/app/requests") == (200, {"requests": []})
    status, asked = world.gov("POST", "/simpleauth/v1/requests", {
        "provider": 6, "name": world.park.name, "phone": world.park.phone,
        "birth_date": world.park.rrn.birth_date.isoformat()})
    assert status == 201, asked
    path = f"/simpleauth/v1/app/requests/{asked['request_id']}/decline"
    assert app("POST", path)[1]["status"] == "declined"


def test_registering_again_answers_alike_and_ends_the_old_token(world):
    first = Api(world.url, None)("POST", APPS, _body(world.park, provider=2))
    # Again, from a new phone number (the token names the phone, so it changes even within
    # the second the store keeps registration times to).
    again = Api(world.url, None)("POST", APPS, _body(world.park, provider=2,
                                                     phone="01055550009"))
    assert (first[0], again[0]) == (201, 201)
    assert set(first[1]) == set(again[1])
    assert first[1]["device_token"] != again[1]["device_token"]
    # Nothing in the answer says that the person had an app: the shape and the status are
    # those of a first registration; only the old token stops working.
    _error(_app(world.url, first[1]["device_token"])("GET", "/simpleauth/v1/app/requests"),
           401, "app_unauthorized")
    assert _app(world.url, again[1]["device_token"])("GET", "/simpleauth/v1/app/requests")[0] \
        == 200


def test_a_same_name_stranger_cannot_register_anothers_rrn(world):
    # The stranger's own private certificate is in Kim's name; with its proof and its R,
    # Kim's RRN and phone do not give the certificate's VID.
    body = _body(world.stranger, rrn=world.kim.rrn, phone=world.kim.phone)
    _error(Api(world.url, None)("POST", APPS, body), 403, "identity_mismatch")
    # Kim's app is untouched: its token still works, and a request reaches it.
    kim = _app(world.url, world.kim.app.token(1))
    assert kim("GET", "/simpleauth/v1/app/requests")[0] == 200
    # With Kim's R it is still refused: R is the stranger's certificate's to match.
    kim_r = world.kim.keystore.unlock(PIN).r.hex()
    _error(Api(world.url, None)("POST", APPS, {**body, "r": kim_r}), 403,
           "identity_mismatch")


def test_a_proof_that_is_not_the_devices_registration_is_refused(world):
    api = Api(world.url, None)
    junk = {**_body(world.park), "proof": base64.b64encode(b"junk").decode()}
    _error(api("POST", APPS, junk), 403, "proof_invalid")
    # A proof made for another provider, name or phone does not register this one.
    _error(api("POST", APPS, {**_body(world.park, provider=5), "provider": 7}), 403,
           "proof_invalid")
    other_phone = {**_body(world.park), "phone": "01055559999"}
    _error(api("POST", APPS, other_phone), 403, "proof_invalid")
    # A name that is not the certificate's, with a proof signed over that name.
    _error(api("POST", APPS, _body(world.park, name="박다른")), 403, "name_mismatch")


def test_registering_needs_no_key_and_ignores_one(world):
    status, registered = world.gov("POST", APPS, _body(world.park, provider=10))
    assert status == 201, registered


@pytest.mark.parametrize(("change", "field"), [
    ({"provider": 9}, "provider"),
    ({"provider": "1"}, "provider"),
    ({"name": ""}, "name"),
    ({"phone": "12"}, "phone"),
    ({"rrn": "123"}, "rrn"),
    ({"rrn": None}, "rrn"),
    ({"birth_date": "1991-03-10"}, "birth_date"),
    ({"proof": "not base64!"}, "proof"),
    ({"r": "zz"}, "r"),
    ({"r": "00" * 19}, "r"),
    ({"extra": 1}, "extra"),
    ({"r": "0" * 100}, "r"),
])
def test_bad_registration_bodies_are_400_naming_the_field(world, change, field):
    body = {"provider": 1, "name": "박등록", "phone": "01055550001",
            "rrn": world.park.rrn.digits, "birth_date": "1991-03-09",
            "proof": base64.b64encode(b"x").decode(), "r": "00" * 20, **change}
    error = _error(Api(world.url, None)("POST", APPS, body), 400, "bad_request")
    assert error["field"] == field


def test_missing_fields_and_hostile_bodies_are_4xx_json(world):
    api = Api(world.url, None)
    body = _body(world.park)
    for field in ("proof", "r", "rrn", "name", "phone", "provider"):
        error = _error(api("POST", APPS, {k: v for k, v in body.items() if k != field}),
                       400, "bad_request")
        assert error["field"] == field
    _error(api("POST", APPS, raw=b"{"), 400, "bad_json")
    _error(api("POST", APPS, raw=b"[" * 10000), 400, "bad_request")  # a list, not an object
    _error(api("POST", APPS, raw=json.dumps({**body, "name": "x" * 70}).encode()), 400,
           "bad_request")
    _error(api("GET", APPS), 404, "no_route")


def test_the_rrn_and_r_are_never_echoed_nor_audited(world):
    api = Api(world.url, None)
    body = _body(world.stranger, rrn=world.kim.rrn, phone=world.kim.phone)
    wrong_check = world.park.rrn.digits[:12] + str((int(world.park.rrn.digits[12]) + 1) % 10)
    answers = [
        api("POST", APPS, body),
        api("POST", APPS, {**body, "rrn": wrong_check}),
        api("POST", APPS, {**body, "r": body["r"][:-2]}),
        api("POST", APPS, {**body, "birth_date": "2001-01-01"}),
        api("POST", APPS, _body(world.park, provider=11)),
    ]
    assert [status for status, _ in answers] == [403, 400, 400, 400, 201]
    said = json.dumps([answer for _, answer in answers], ensure_ascii=False)
    secrets = [body["r"], body["r"][:-2], wrong_check, world.kim.rrn.digits,
               world.park.rrn.digits, world.kim.rrn.digits[6:], world.park.rrn.digits[6:],
               base64.b64encode(bytes.fromhex(body["r"])).decode()]
    assert not [s for s in secrets if s in said]
    with Home.open(world.home) as home:
        audited = json.dumps([str(event) for event in home.store.audit_log()],
                             ensure_ascii=False)
    assert "simpleauth" in audited
    assert not [s for s in secrets if s in audited]
