"""The cloud keystore over real HTTP (kpki serve on an ephemeral port)."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography import x509

from pki.home import Home
from pki.signing.verify import Verifier

from .cloud_helpers import (
    BIRTH,
    DEADLINE,
    PIN,
    RRN,
    Api,
    _issue,
    _kpki,
    _sign,
    _start,
    _stop,
    _user,
    vault_records,
)
from .postgresql import on_postgresql


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, key_pool):
    root = tmp_path_factory.mktemp("cloud")
    home = Home.create(root / "home", passphrase=None, key_generator=key_pool)
    home.close()
    keys = {}
    for name in ("bank", "card"):
        done = subprocess.run([_kpki(), "--home", str(root / "home"), "cloud", "institution",
                               "add", name], capture_output=True, text=True, check=True)
        keys[name] = done.stdout.strip()
    proc, url = _start(root / "home")
    yield {"url": url, "home": root / "home", "keys": keys, "proc": proc, "root": root}
    if proc.poll() is None:
        _stop(proc)


def test_full_flow_register_issue_sign_verify(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    user = _user(api)
    serial = _issue(api, user)
    status, signed = _sign(api, serial, include_r=True)
    assert status == 200, signed
    with Home.open(cloud["home"]) as home:
        root = home.store.get_ca("root").certificate
        chain = home.chain_of("yessign")
        ca = home.store.get_ca("yessign").certificate

    def through_test_server(url: str, body: bytes | None) -> bytes:
        request = urllib.request.Request(
            cloud["url"] + urllib.parse.urlsplit(url).path, data=body,
            headers={"Content-Type": "application/ocsp-request"} if body else {})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    # OCSP for the signer; the CA certificate names no responder: the root's CRL for it.
    result = Verifier(trust=[root], intermediates=[ca, *chain], use_ocsp=True,
                      fetch_crls=True, http=through_test_server).verify(
        base64.b64decode(signed["signature"]), rrn=RRN, r=bytes.fromhex(signed["r"]))
    assert result.ok, result.summary()
    assert "OCSP" in result.check("revocation").detail, result.summary()
    cert = x509.load_der_x509_certificate(base64.b64decode(signed["certificate"]))
    assert cert.extensions.get_extension_for_class(x509.CertificatePolicies).value[0] \
        .policy_identifier.dotted_string == "1.2.410.200005.1.1.1.10"
    _, history = api("GET", f"/cloud/v1/users/{user}/history")
    assert history["history"][0]["outcome"] == "signed"
    assert history["history"][0]["purpose"] == "02"


def test_parallel_wrong_pins_stop_at_five(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    serial = _issue(api, _user(api, "01011112222"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: _sign(api, serial, pin="246801"), range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(401) == 4  # four wrong PINs answered with attempts left
    assert statuses.count(423) >= 1  # the fifth locks
    assert set(statuses) == {401, 423} | ({429} & set(statuses))  # the rest: unchecked
    record = vault_records(cloud["home"])[int(serial, 16)]
    assert record.failures == 5 and record.locked
    assert _sign(api, serial)[0] == 423  # the right PIN no longer helps: revoke and reissue


def test_right_pin_resets_the_count(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    serial = _issue(api, _user(api, "01022223333"))
    for _ in range(4):
        assert _sign(api, serial, pin="246801")[1]["error"]["code"] == "wrong_pin"
    assert _sign(api, serial)[0] == 200
    _status, body = _sign(api, serial, pin="246801")
    assert body["error"]["attempts_left"] == 4


@pytest.mark.parametrize(("pin", "rule"), [("12345", "format"), ("1234567", "format"),
                                          ("123456", "sequence"), ("900517", "birth-date")])
def test_pin_rules_at_issuance(cloud, pin, rule):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    user = _user(api, "01033334444")
    status, body = api("POST", f"/cloud/v1/users/{user}/certificates",
                       {"rrn": RRN, "pin": pin, "pin_confirm": pin})
    assert (status, body["error"]["code"], body["error"]["rule"]) == (400, "pin_policy", rule)


def test_bad_requests_get_json_errors(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    assert api("POST", "/cloud/v1/users", raw=b"{not json")[1]["error"]["code"] == "bad_json"
    assert Api(cloud["url"], None)("POST", "/cloud/v1/users", {})[0] == 401
    assert Api(cloud["url"], "kpki_wrong")("POST", "/cloud/v1/users", {})[0] == 401
    assert api("GET", "/cloud/v1/users/u_nobody/history")[0] == 404
    assert api("POST", "/cloud/v1/certificates/ABCDEF/sign",
               {"pin": PIN, "content": "", "purpose": "02"})[0] == 404
    user = _user(api, "01044445555")
    serial = _issue(api, user)
    assert _sign(api, serial, pin="12345")[1]["error"]["code"] == "bad_request"
    assert _sign(api, serial, purpose="77")[1]["error"]["code"] == "bad_request"
    big = {"pin": PIN, "content": base64.b64encode(b"x" * (1200 * 1024)).decode(),
           "purpose": "02"}
    status, body = api("POST", f"/cloud/v1/certificates/{serial}/sign", big)
    assert (status, body["error"]["code"]) == (413, "too_large")  # content over 1 MiB
    huge = {"pin": PIN, "content": base64.b64encode(b"x" * (3 * 1024 * 1024)).decode(),
            "purpose": "02"}
    with contextlib.suppress(urllib.error.URLError):  # refused before it is read
        assert api("POST", f"/cloud/v1/certificates/{serial}/sign", huge)[0] == 413
    status, wrong_code = api("POST", "/cloud/v1/users", {"name": "김", "phone": "01055556666",
                                                         "birth_date": BIRTH})
    assert api("POST", f"/cloud/v1/users/{wrong_code['user_id']}/confirm",
               {"code": "xx"})[1]["error"]["code"] == "code_invalid"
    assert api("POST", "/cloud/v1/users", {"name": "", "phone": "1",
                                           "birth_date": "x"})[0] == 400


def test_devices_designation_and_limit(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    user = _user(api, "01066667777")
    serial = _issue(api, user)
    for n in range(5):
        assert api("POST", f"/cloud/v1/users/{user}/devices", {"add": f"phone-{n}"})[0] == 200
    assert api("POST", f"/cloud/v1/users/{user}/devices",
               {"add": "phone-6"})[1]["error"]["code"] == "too_many_devices"
    api("POST", f"/cloud/v1/users/{user}/devices", {"designated_only": True})
    assert _sign(api, serial)[1]["error"]["code"] == "device_not_designated"
    assert _sign(api, serial, device="phone-2")[0] == 200


def test_another_institution_needs_registration(cloud):
    bank = Api(cloud["url"], cloud["keys"]["bank"])
    card = Api(cloud["url"], cloud["keys"]["card"])
    serial = _issue(bank, _user(bank, "01077778888"))
    assert _sign(card, serial)[1]["error"]["code"] == "not_found"
    same_person = _user(card, "01077778888")  # the card company confirms the phone
    assert card("POST", f"/cloud/v1/certificates/{serial}/registrations",
                {"pin": PIN, "user": same_person})[0] == 200
    assert _sign(card, serial)[0] == 200


def test_pin_change_needs_the_old_pin(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    serial = _issue(api, _user(api, "01088889999"))
    change = {"old_pin": "246801", "new_pin": "864209", "new_pin_confirm": "864209"}
    assert api("POST", f"/cloud/v1/certificates/{serial}/pin", change)[0] == 401
    change["old_pin"] = PIN
    assert api("POST", f"/cloud/v1/certificates/{serial}/pin", change)[0] == 200
    assert _sign(api, serial)[0] == 401
    assert _sign(api, serial, pin="864209")[0] == 200


def test_revoke_then_signing_is_refused(cloud):
    api = Api(cloud["url"], cloud["keys"]["bank"])
    serial = _issue(api, _user(api, "01099990000"))
    assert api("POST", f"/cloud/v1/certificates/{serial}/revoke", {})[0] == 200
    assert _sign(api, serial)[1]["error"]["code"] == "revoked"


def test_no_pin_or_code_in_the_log(cloud, tmp_path):
    home = Home.create(tmp_path / "h", passphrase=None)
    home.close()
    key = subprocess.run([_kpki(), "--home", str(tmp_path / "h"), "cloud", "institution", "add",
                          "x"], capture_output=True, text=True, check=True).stdout.strip()
    log = tmp_path / "serve.log"
    log_file = log.open("w")
    proc = subprocess.Popen([_kpki(), "--home", str(tmp_path / "h"), "serve", "--port", "0",
                             "--test-channel"], stderr=log_file, stdout=subprocess.DEVNULL)
    try:
        start = time.monotonic()
        while "listening" not in log.read_text() and time.monotonic() - start < DEADLINE:
            pass
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text()).group(1)
        api = Api(url, key)
        user = _user(api, "01012121212")
        serial = _issue(api, user, pin="975310")
        _sign(api, serial, pin="975310")
        _sign(api, serial, pin="864200")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log_file.close()
    text = log.read_text()
    assert "975310" not in text and "864200" not in text and key not in text
    assert re.search(r"POST /cloud/v1/certificates/\w+/sign 401", text)


def test_sigkill_during_a_signing_burst_loses_nothing(cloud, tmp_path):
    home_path = tmp_path / "burst"
    Home.create(home_path, passphrase=None).close()
    key = subprocess.run([_kpki(), "--home", str(home_path), "cloud", "institution", "add", "b"],
                         capture_output=True, text=True, check=True).stdout.strip()
    proc, url = _start(home_path)
    api = Api(url, key)
    serials = [_issue(api, _user(api, f"0101000{n:04d}")) for n in range(3)]

    def burst(i: int) -> int:
        try:
            return _sign(api, serials[i % 3], pin=PIN if i % 2 else "246801")[0]
        except (urllib.error.URLError, ConnectionError, OSError):
            return 0

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(burst, i) for i in range(40)]
        concurrent.futures.wait(futures[:6])
        _stop(proc, signal.SIGKILL)
        concurrent.futures.wait(futures)
    if not on_postgresql():  # a server's own files are its business
        db = sqlite3.connect(home_path / "kpki.db")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    proc, url = _start(home_path)
    try:
        api = Api(url, key)
        for serial in serials:
            status, body = _sign(api, serial)
            assert status in (200, 423), body  # intact (or locked by the wrong guesses)
        records = vault_records(home_path).values()
        assert all(0 <= r.failures <= 5 for r in records)
        assert all(r.locked == (r.failures >= 5) for r in records)
    finally:
        _stop(proc)
