"""Shared set-up of the cloud tests: a real ``kpki serve`` (or the cloud in a thread) and
a JSON client over HTTP, and users confirmed through the test channel, over HTTP or in
process."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from pki.cloud.vault import KDFParams
from pki.home import Home
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


def chunked_post(url: str, path: str, api_key: str | None, total: int) -> int:
    """POST a chunked body of ``total`` bytes to ``path`` at the server ``url`` and never
    end it; the status the server answers with meanwhile (the socket times out if it waits
    for the end)."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    try:
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n"
                + (f"X-API-Key: {api_key}\r\n" if api_key is not None else "") + "\r\n")
        sock.sendall(head.encode())
        chunk = b"[" * 65536
        sent = 0
        try:
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: it has answered
        with sock.makefile("rb") as answer:
            return int(answer.readline().split()[1])
    finally:
        sock.close()


def _user(api: Api, phone: str = "01012345678", name: str = "홍길동") -> str:
    """A user of ``api``'s institution, confirmed with the code the test channel shows."""
    status, body = api("POST", "/cloud/v1/users", {"name": name, "phone": phone,
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


FAST_KDF = KDFParams(n=2**4, r=8, p=1)  # tests only: the real cost is ~0.1 s a guess


@contextlib.contextmanager
def serve_cloud(home_path: Path, *, key_pool=None, kdf: KDFParams | None = FAST_KDF,
                test_channel: bool = True):
    """The cloud over real HTTP in this process (uvicorn in a thread); yields its URL."""
    from pki.web import WebState, create_app, serve_in_thread
    from pki.web.cloud import cloud_routes

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


def sent_code(cloud, institution, phone: str) -> str:
    """The last confirmation code the test channel shows ``institution`` for ``phone``."""
    text = cloud.messages(institution, phone)[-1].text
    return re.search(r"code (\d\d)", text).group(1)


def confirmed(cloud, phone: str = "01012345678", *, institution: str | None = None,
              api_key: str | None = None):
    """A user confirmed in process: (institution, user id). The institution is the one of
    ``api_key``, else a new one named ``institution`` (default ``bank-<phone>``)."""
    bank = cloud.authenticate(api_key or cloud.add_institution(institution or f"bank-{phone}"))
    user = cloud.register_user(bank, name="홍길동", phone=phone, birth_date=BIRTH)
    cloud.confirm(bank, user, sent_code(cloud, bank, phone))
    return bank, user
