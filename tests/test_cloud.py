"""The cloud keystore over real HTTP (kpki serve on an ephemeral port)."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from pki.cloud.vault import KDFParams
from pki.home import Home
from pki.signing.verify import Verifier
from pki.store import VaultRecord, open_store, sqlite_url

RRN = "9005171234566"
BIRTH = "1990-05-17"
PIN = "135790"
DEADLINE = 30.0


def _kpki() -> str:
    return str(Path(sys.executable).parent / "kpki")


def _start(home: Path, *extra: str, env: dict[str, str] | None = None,
           test_channel: bool = True) -> tuple[subprocess.Popen[str], str]:
    flags = ["--test-channel"] if test_channel else []
    proc = subprocess.Popen([_kpki(), "--home", str(home), "serve", "--port", "0", *flags,
                             *extra], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=None if env is None else {**os.environ, **env})
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        line = proc.stderr.readline() if proc.stderr else ""
        if not line:
            break
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            drain = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            proc.stderr.close()
            proc._drain = drain  # type: ignore[attr-defined]
            return proc, match.group(1)
    proc.kill()
    proc.wait(timeout=20)
    if proc.stderr:
        proc.stderr.close()
    pytest.fail("kpki serve did not start")


def expect_crash(proc: subprocess.Popen[str], call) -> None:
    """``call()`` must find the server gone (it SIGKILLs itself at a fault point); the
    process is reaped whatever happens."""
    try:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            call()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
        proc._drain.wait(timeout=5)  # type: ignore[attr-defined]
    assert proc.returncode == -signal.SIGKILL


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=20)
    proc._drain.wait(timeout=5)  # type: ignore[attr-defined]


class Api:
    def __init__(self, url: str, key: str | None) -> None:
        self.url, self.key = url, key

    def __call__(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={**({"X-API-Key": self.key} if self.key else {}),
                                                  "Content-Type": "application/json",
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


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


def _user(api: Api, phone: str = "01012345678") -> str:
    status, body = api("POST", "/cloud/v1/users", {"name": "홍길동", "phone": phone,
                                                   "birth_date": BIRTH})
    assert status == 201, body
    user = body["user_id"]
    _, messages = api("GET", f"/cloud/v1/test/messages?phone={phone}")
    code = re.search(r"code (\d\d)", messages["messages"][-1]["text"]).group(1)
    assert api("POST", f"/cloud/v1/users/{user}/confirm", {"code": code})[0] == 200
    return user


def _issue(api: Api, user: str, pin: str = PIN) -> str:
    status, body = api("POST", f"/cloud/v1/users/{user}/certificates",
                       {"rrn": RRN, "pin": pin, "pin_confirm": pin})
    assert status == 201, body
    return body["serial"]


def _sign(api: Api, serial: str, pin: str = PIN, **options):
    body = {"pin": pin, "content": base64.b64encode(b"transfer 100,000 KRW").decode(),
            "purpose": "02", **options}
    headers = {"X-Device-Id": options.pop("device")} if "device" in options else None
    body.pop("device", None)
    return api("POST", f"/cloud/v1/certificates/{serial}/sign", body, headers=headers)


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
    assert "OCSP" in result.check("revocation").detail
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


FAST_KDF = KDFParams(n=2**4, r=8, p=1)  # tests only: the real cost is ~0.1 s a guess


@contextlib.contextmanager
def serve_cloud(home_path: Path, *, key_pool=None, kdf: KDFParams | None = FAST_KDF,
                test_channel: bool = True):
    """The cloud over real HTTP in this process (uvicorn in a thread); yields its URL."""
    from pki.cloud.api import cloud_routes
    from pki.web import WebState, create_app, serve_in_thread

    home = Home.open(home_path, key_generator=key_pool) if key_pool else Home.open(home_path)
    factory = home.cloud_factory(passphrase=None, kdf=kdf)
    state = WebState.of_home(home, poll_seconds=3600)
    app = create_app(state, extra_routes=cloud_routes(factory, test_channel=test_channel))
    try:
        with serve_in_thread(app) as url:
            yield url
    finally:
        home.close()


def vault_records(home_path: Path) -> dict[int, VaultRecord]:
    """Every sealed key in the home's store, by serial (read through the store)."""
    store = open_store(sqlite_url(home_path / "kpki.db"))
    try:
        return {record.serial: record for user in store.cloud_users()
                for record in store.vault_records_of(user.id)}
    finally:
        store.close()


def add_institution(home_path: Path, name: str) -> str:
    from pki.cloud.service import add_institution as add

    with Home.open(home_path) as home:
        return add(home.store, name, at=home.clock.now())
