"""Shared set-up of the bank API tests: a home with three banks, the bank's API over real
HTTP in this process on a frozen clock, and a raw HTTP client for hostile bodies."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pki.clock import FixedClock
from pki.home import Home
from pki.signing.verify import Verifier
from pki.usecases.banking import Banking

from .cloud_helpers import Api

T0 = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)
"""10:00 KST on Monday 16 March 2026."""
SECRET = b"the bank api tests' service secret!"
RRN = "900517-1234566"
PHONE = "01012345678"


@dataclass
class BankServer:
    url: str
    clock: FixedClock
    path: Path
    hana: Api
    kb: Api
    stranger: Api
    keys: dict[str, str]

    def raw(self, method: str, path: str, body: bytes, *, key: str | None = "hana",
            headers: dict[str, str] | None = None) -> tuple[int, object]:
        """(status, parsed JSON or None) for an arbitrary byte body."""
        parts = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={
                **({"X-API-Key": self.keys[key]} if key else {}),
                "Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            data = response.read()
            try:
                return response.status, json.loads(data)
            except ValueError:
                return response.status, None
        finally:
            conn.close()


@contextlib.contextmanager
def serve_bank(home_path: Path, *, key_pool: object, test_channel: bool = True
               ) -> Iterator[BankServer]:
    """A home with Hana (081), KB (004) and Shinhan (088, the stranger), and the bank API
    over real HTTP in a thread, every worker on one frozen clock."""
    from pki.web import WebState, create_app, serve_in_thread
    from pki.web.bank import bank_routes

    clock = FixedClock(T0)
    Home.create(home_path, passphrase=None, key_generator=key_pool,
                clock=FixedClock(T0 - dt.timedelta(days=30))).close()
    with Home.open(home_path, clock=clock) as home:
        banking = Banking(home.store, clock=clock, secret=SECRET)
        keys = {name: banking.add_bank(code)[1]
                for name, code in (("hana", "081"), ("kb", "004"), ("stranger", "088"))}

    def make() -> Banking:
        opened = Home.open(home_path, clock=clock)
        return Banking(opened.store, clock=clock, secret=SECRET,
                       verifier=lambda: Verifier.for_home(opened))

    home = Home.open(home_path)
    state = WebState.of_home(home, poll_seconds=3600)
    app = create_app(state, extra_routes=bank_routes(make, test_channel=test_channel))
    try:
        with serve_in_thread(app) as url:
            yield BankServer(url, clock, home_path, *(Api(url, keys[n]) for n in
                                                      ("hana", "kb", "stranger")), keys)
    finally:
        home.close()


def add_customer(api: Api, *, rrn: str = RRN, phone: str = PHONE, name: str = "홍길동"
                 ) -> str:
    status, body = api("POST", "/bank/v1/customers", {
        "name": name, "rrn": rrn, "phone": phone, "carrier": "KT", "mvno": "KT M모바일"})
    assert status == 201, body
    return str(body["customer_id"])


def last_code(api: Api, phone: str, digits: int = 6) -> str:
    """The last code the test channel shows the calling bank for ``phone``."""
    status, body = api("GET", f"/bank/v1/test/messages?phone={phone}")
    assert status == 200, body
    found = re.search(rf"code (\d{{{digits}}})", body["messages"][-1]["text"])
    assert found, body
    return found.group(1)
