"""Hostile input to the cloud API never gets a 500 (issue 10, item 6): every body is checked
against its route's schema before any work, the API key before the body is read, and the
body's size while it streams in."""

from __future__ import annotations

import http.client
import json
import urllib.parse

import pytest

from pki.home import Home

from .cloud_helpers import (
    BIRTH,
    PIN,
    RRN,
    Api,
    _issue,
    _user,
    add_institution,
    chunked_post,
    serve_cloud,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory, key_pool):
    path = tmp_path_factory.mktemp("api") / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    with serve_cloud(path, key_pool=key_pool) as url:
        api = Api(url, key)
        user = _user(api, "01012340000")
        yield {"url": url, "key": key, "api": api, "user": user, "serial": _issue(api, user)}


def _raw(world, method, path, body: bytes, headers=None):
    """(status, parsed JSON or None) for an arbitrary byte body."""
    parts = urllib.parse.urlsplit(world["url"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={
            "X-API-Key": world["key"], "Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, None
    finally:
        conn.close()


def _assert_json_4xx(result) -> None:
    status, body = result
    assert 400 <= status < 500, result
    assert isinstance(body, dict) and isinstance(body["error"]["code"], str), result


def test_deeply_nested_json_is_a_400_even_without_an_api_key(world):
    deep = b"[" * 100_000 + b"]" * 100_000
    _assert_json_4xx(_raw(world, "POST", "/cloud/v1/users", deep))
    status, body = _raw(world, "POST", "/cloud/v1/users", deep, headers={"X-API-Key": ""})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    nested = b'{"name": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001
    _assert_json_4xx(_raw(world, "POST", "/cloud/v1/users", nested))


@pytest.mark.parametrize("body", [{"remove": {"a": 1}}, {"remove": 10**20}, {"add": 10**20},
                                  {"add": ["x"]}, {"designated_only": "yes"},
                                  {"designated_only": 10**20}])
def test_devices_refuse_wrong_types(world, body):
    status, answer = world["api"]("POST", f"/cloud/v1/users/{world['user']}/devices", body)
    assert (status, answer["error"]["code"]) == (400, "bad_request"), answer


def _routes(world):
    """(method, path, a valid body) for every route that takes a body."""
    user, serial = world["user"], world["serial"]
    return [
        ("POST", "/cloud/v1/users", {"name": "홍길동", "phone": "01011110000",
                                     "birth_date": BIRTH}),
        ("POST", f"/cloud/v1/users/{user}/confirm", {"code": "00"}),
        ("POST", f"/cloud/v1/users/{user}/certificates",
         {"rrn": RRN, "pin": "975310", "pin_confirm": "975310", "kind": "personal"}),
        ("POST", f"/cloud/v1/users/{user}/devices",
         {"add": "phone-1", "remove": "phone-0", "designated_only": False}),
        ("POST", f"/cloud/v1/certificates/{serial}/sign",
         {"pin": PIN, "content": "eA==", "purpose": "02", "detached": False, "bare": False,
          "pss": False, "include_r": False, "no_attrs": False}),
        ("POST", f"/cloud/v1/certificates/{serial}/pin",
         {"old_pin": "246801", "new_pin": "975310", "new_pin_confirm": "975310"}),
        ("POST", f"/cloud/v1/certificates/{serial}/registrations", {"pin": "246801"}),
        ("POST", f"/cloud/v1/certificates/{serial}/revoke", {"reason": "keyCompromise"}),
    ]


VALUES = [None, True, False, 0, -1, 10**20, -(10**20), 1.5, 1e308, "", "x" * 5000, "\u0000",
          "１２３４５６", [], [1, 2], {}, {"a": 1}, {"a": {"b": [1, {"c": None}]}}]

RAW = [b"", b"{", b"}", b"[]", b"null", b"1", b'"x"', b"{}" * 2, b'{"a":}', b"\xff\xfe",
       b'{"pin": "\xff"}', b"1e999999", b"NaN", b'{"pin": NaN}', b"{" * 10_000, b"[" * 10_000,
       b'{"pin": ' + b"9" * 5000 + b"}", b"\x00" * 64]


def _mutations(body: dict) -> list[bytes]:
    """A fixed set of mutated bodies: each field dropped, each field set to each of VALUES,
    an unknown field, the text cut and single bytes replaced at fixed places, and the RAW
    oddities."""
    out = [json.dumps(body).encode()]
    for name in body:
        out.append(json.dumps({k: v for k, v in body.items() if k != name}).encode())
        for value in VALUES:
            out.append(json.dumps({**body, name: value}).encode())
    out.append(json.dumps({**body, "unknown": 1}).encode())
    text = json.dumps(body).encode()
    out.extend(text[:cut] for cut in (1, 2, len(text) // 2, len(text) - 1))
    out.extend(text.replace(b'"', b"'", n) for n in (1, 3))
    step = max(1, len(text) // 20)
    for at in range(0, len(text), step):  # one byte replaced, at fixed places
        out.extend(text[:at] + byte + text[at + 1:] for byte in (b'"', b"{", b"\\", b"9",
                                                                b"\xff"))
    out.extend(RAW)
    return out


def test_fuzzed_bodies_never_get_a_500(world):
    seen = 0
    for method, path, body in _routes(world):
        for mutated in _mutations(body):
            status, answer = _raw(world, method, path, mutated)
            assert status < 500, (path, mutated[:200], status, answer)
            assert isinstance(answer, dict), (path, mutated[:200], status)
            if status >= 400:
                assert isinstance(answer["error"]["code"], str)
            seen += 1
    assert seen > 1200


@pytest.mark.parametrize("path", ["/cloud/v1/users/u_0123456789abcdef/history",
                                  "/cloud/v1/test/messages?phone=" + "9" * 5000,
                                  "/cloud/v1/certificates/ZZZ/sign",
                                  "/cloud/v1/certificates/" + "F" * 5000 + "/sign"])
def test_odd_paths_are_json_4xx(world, path):
    method = "POST" if path.endswith("/sign") else "GET"
    _assert_json_4xx(_raw(world, method, path, b"{}" if method == "POST" else b""))


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(world):
    assert chunked_post(world["url"], "/cloud/v1/users", world["key"], 3 * MIB) == 413


def test_the_api_key_is_checked_before_the_body_is_read(world):
    assert chunked_post(world["url"], "/cloud/v1/users", None, 64 * 1024) == 401
    assert chunked_post(world["url"], "/cloud/v1/users", "kpki_wrong", 64 * 1024) == 401


def test_a_declared_length_over_the_limit_is_refused_unread(world):
    status, _ = _raw(world, "POST", "/cloud/v1/users", b"",
                        headers={"Content-Length": str(3 * MIB)})
    assert status == 413



@pytest.mark.parametrize(("devices", "body", "code"), [
    (0, {"designated_only": True, "add": ""}, "bad_request"),
    (0, {"designated_only": True, "add": "bad\x00id"}, "bad_request"),
    (5, {"designated_only": True, "add": "phone-5"}, "too_many_devices"),
])
def test_a_refused_devices_request_changes_nothing(world, devices, body, code):
    """One request, one unit of work: a device refused (malformed, or one too many)
    leaves the designated-only switch as it was (it used to be turned on first)."""
    api = world["api"]
    user = _user(api, f"0109{len(body['add']) + devices:07d}")
    path = f"/cloud/v1/users/{user}/devices"
    for n in range(devices):
        assert api("POST", path, {"add": f"phone-{n}"})[0] == 200
    before = api("GET", path)
    status, answer = api("POST", path, body)
    assert answer["error"]["code"] == code and 400 <= status < 500, answer
    assert api("GET", path) == before


@pytest.mark.parametrize(("body", "message", "field"), [
    ({"name": "가" * 65, "phone": "01012345678", "birth_date": "1990-05-17"},
     "the field 'name' is longer than 64 characters", "name"),
    ({"name": 1, "phone": "01012345678", "birth_date": "1990-05-17"},
     "the field 'name' should be text, not a whole number", "name"),
    ({"phone": "01012345678", "birth_date": "1990-05-17"},
     "the field 'name' is missing", "name"),
    ({"name": "홍길동", "phone": "01012345678", "birth_date": "1990-05-17", "x": 1},
     "this request has no field 'x'", "x"),
])
def test_a_body_that_does_not_fit_is_refused_in_kpkis_words(world, body, message, field):
    # msgspec's own wording ("Expected `str` of length <= 64 - at `$.name`") reached the CLI
    status, answer = world["api"]("POST", "/cloud/v1/users", body)
    assert status == 400, answer
    assert answer["error"] == {"code": "bad_request", "message": message, "field": field}
