"""Institutions are isolated: a stranger institution, holding only its own API key, gets
the same answer for another institution's user or certificate as for one that does not
exist, and cannot read, change, use or lock it (issue 10, item 2); the test channel is off
unless asked for and shows an institution only the messages it caused (item 3)."""

from __future__ import annotations

import pytest

from pki.home import Home

from .cloud_helpers import (
    BIRTH,
    PIN,
    RRN,
    Api,
    _issue,
    _sign,
    _start,
    _stop,
    _user,
    add_institution,
    serve_cloud,
    vault_records,
)

UNKNOWN_USER = "u_0123456789abcdef"
UNKNOWN_SERIAL = "7FFFFFFFFFFFFFFFFFFFFFFF"
WRONG = "246801"


@pytest.fixture(scope="module")
def world(tmp_path_factory, key_pool):
    path = tmp_path_factory.mktemp("isolation") / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    keys = {name: add_institution(path, name) for name in ("bank", "card", "stranger")}
    with serve_cloud(path, key_pool=key_pool) as url:
        yield {"url": url, "path": path, **{n: Api(url, k) for n, k in keys.items()}}


@pytest.fixture
def victim(world, request):
    """A user of the bank with a cloud certificate: (user id, serial)."""
    phone = f"010{abs(hash(request.node.name)) % 10**8:08d}"
    user = _user(world["bank"], phone)
    return user, _issue(world["bank"], user), phone


def _failures(world, serial: str) -> tuple[int, bool]:
    record = vault_records(world["path"])[int(serial, 16)]
    return record.failures, record.locked


def _same_as_unknown_user(world, method: str, suffix: str, body: object = None) -> None:
    user_path, unknown_path = (f"/cloud/v1/users/{u}{suffix}"
                               for u in (world["victim"], UNKNOWN_USER))
    seen = world["stranger"](method, user_path, body)
    assert seen == world["stranger"](method, unknown_path, body)
    assert seen[0] == 404, seen


def test_a_stranger_cannot_read_a_users_history(world, victim):
    world["victim"] = victim[0]
    _same_as_unknown_user(world, "GET", "/history")


def test_a_stranger_cannot_see_or_change_devices(world, victim):
    world["victim"] = victim[0]
    _same_as_unknown_user(world, "GET", "/devices")
    _same_as_unknown_user(world, "POST", "/devices", {"add": "attacker-phone"})
    _same_as_unknown_user(world, "POST", "/devices", {"designated_only": True})
    # The owner's own signing is untouched: no device list was made, none is required.
    assert world["bank"]("GET", f"/cloud/v1/users/{victim[0]}/devices")[1] == {
        "devices": [], "designated_only": False}
    assert _sign(world["bank"], victim[1])[0] == 200


def test_a_stranger_cannot_issue_for_another_institutions_user(world, victim):
    world["victim"] = victim[0]
    _same_as_unknown_user(world, "POST", "/certificates",
                          {"rrn": RRN, "pin": "975310", "pin_confirm": "975310"})


def test_a_stranger_cannot_confirm_another_institutions_user(world, victim):
    world["victim"] = victim[0]
    _same_as_unknown_user(world, "POST", "/confirm", {"code": "00"})


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("POST", "/sign", {"pin": PIN, "content": "eA==", "purpose": "02"}),
    ("POST", "/pin", {"old_pin": WRONG, "new_pin": "975310", "new_pin_confirm": "975310"}),
    ("POST", "/registrations", {"pin": WRONG}),
    ("POST", "/revoke", {}),
])
def test_a_stranger_gets_the_answer_for_an_unknown_certificate(world, victim, method, suffix,
                                                                body):
    serial = victim[1]
    seen = world["stranger"](method, f"/cloud/v1/certificates/{serial}{suffix}", body)
    assert seen == world["stranger"](method, f"/cloud/v1/certificates/{UNKNOWN_SERIAL}{suffix}",
                                     body)
    assert seen[0] == 404, seen


@pytest.mark.parametrize("route", ["pin", "registrations"])
def test_a_stranger_cannot_lock_a_certificate(world, victim, route):
    """The serial is in every signature: five wrong PINs from a stranger must not lock it."""
    serial = victim[1]
    body = ({"pin": WRONG} if route == "registrations" else
            {"old_pin": WRONG, "new_pin": "975310", "new_pin_confirm": "975310"})
    for _ in range(6):
        assert world["stranger"]("POST", f"/cloud/v1/certificates/{serial}/{route}",
                                 body)[0] == 404
    assert _failures(world, serial) == (0, False)
    assert _sign(world["bank"], serial)[0] == 200


def test_registration_at_another_institution_needs_the_users_phone_and_pin(world, victim):
    """The card company confirms the same person by phone, then the user's PIN registers
    the certificate there; only then may it sign, and see the user's history."""
    owner, serial, phone = victim
    card = world["card"]
    assert card("POST", f"/cloud/v1/certificates/{serial}/registrations",
                {"pin": PIN})[0] == 404  # no relation to the user yet
    someone_else = _user(card, "01055500000")  # a confirmed user, but not this person
    assert card("POST", f"/cloud/v1/certificates/{serial}/registrations",
                {"pin": PIN, "user": someone_else})[0] == 404
    same_person = _user(card, phone)
    status, body = card("POST", f"/cloud/v1/certificates/{serial}/registrations",
                        {"pin": WRONG, "user": same_person})
    assert (status, body["error"]["code"]) == (401, "wrong_pin")
    status, body = card("POST", f"/cloud/v1/certificates/{serial}/registrations",
                        {"pin": PIN, "user": same_person})
    assert status == 200 and body["user_id"] == owner, body
    assert _sign(card, serial)[0] == 200
    assert card("GET", f"/cloud/v1/users/{owner}/history")[0] == 200


def test_the_bank_still_serves_its_own_user(world, victim):
    owner, serial, _ = victim
    bank = world["bank"]
    assert bank("GET", f"/cloud/v1/users/{owner}/history")[0] == 200
    assert bank("POST", f"/cloud/v1/users/{owner}/devices", {"add": "phone-1"})[0] == 200
    assert _sign(bank, serial)[0] == 200


# -- the test channel (item 3) ---------------------------------------------------------------


def test_an_institution_sees_only_the_messages_it_caused(world):
    phone = "01098760000"
    status, _ = world["bank"]("POST", "/cloud/v1/users", {"name": "홍길동", "phone": phone,
                                                          "birth_date": BIRTH})
    assert status == 201
    assert len(world["bank"]("GET", f"/cloud/v1/test/messages?phone={phone}")[1][
        "messages"]) == 1
    assert world["stranger"]("GET", f"/cloud/v1/test/messages?phone={phone}") == (
        200, {"messages": []})


def test_the_test_channel_is_off_unless_asked_for(tmp_path, key_pool):
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    with serve_cloud(path, key_pool=key_pool, test_channel=False) as url:
        assert Api(url, key)("GET", "/cloud/v1/test/messages?phone=01012345678")[0] == 404


def test_kpki_serve_has_a_test_channel_only_with_the_flag(tmp_path, key_pool):
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    for flag, expected in ((False, 404), (True, 200)):
        proc, url = _start(path, test_channel=flag)
        try:
            assert Api(url, key)("GET", "/cloud/v1/test/messages?phone=01012345678")[0] == expected
        finally:
            _stop(proc)
