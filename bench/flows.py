#!/usr/bin/env python3
"""A joint certificate issued as a bank's RA does it (issue 15 item 1), over HTTP, against
the issuance it ends with.

Measured in interleaved rounds (A B A B ...), at least 5, each measurement ``--flows``
issuances; printed as median and p95 of all, and the ratio of medians per round:

* **A, the reference**: the bare :meth:`pki.authority.CertificateAuthority.issue_joint`
  the flow ends with, in this process on the same home: a general-purpose joint
  certificate recorded and delivered into an NPKI folder (:class:`pki.delivery.NPKIDelivery`,
  its key file encrypted under the password), one transaction.
* **B, the flow**: every request of the flow through a real ``kpki serve`` (``/ra/v1`` and
  the bank's ``/bank/v1``), one customer a flow: start, terms, identify, the phone
  verification (request, the SMS read from the test channel, confirm), phone, account
  (the account password's check under the bank's key), the card challenge, medium, issue (the same
  issuance, with the fee charged and the session finished in its transaction). 12 HTTP
  requests.

The steps' overhead is B - A; target: (B - A) / A <= 3 (medians), **with a pooled key**:
the server's and this process's RSA key generation replaced by a pool of keys made
beforehand (``pki.testing.TestKeyPool``; the server is ``kpki serve`` itself, started by a
launcher that installs the pool), so the figure is the issuance itself. Then the same **with
RSA-2048 key generation** (a second server, generating as ``kpki serve`` does), where key
generation's variance dominates both.

    python bench/flows.py [--flows 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _serve import kpki_serve

from pki.bank.cards import PrintedCard
from pki.delivery import NPKIDelivery
from pki.home import Home
from pki.keys.generate import RSAKeyGenerator
from pki.ra.joint import REQUIRED_TERMS
from pki.rrn import synthetic_rrn
from pki.testing import TestKeyPool
from pki.usecases.banking import Banking

TARGET = 3.0
WARM = 8
"""Flows run before the timing: ``kpki serve``'s worker threads (8) each make their desk
(a home opened, the bank's secrets derived, the CA key loaded) at their first request."""
PASSWORD = "Bench-flow-pw-1!"
_LAUNCHER = """
import sys
from pki.keys.generate import RSAKeyGenerator
from pki.testing import TestKeyPool
pool = TestKeyPool()
pool.warm()  # every key loaded before the first request, as the bench's own pool is
RSAKeyGenerator.generate = lambda self, bits: pool.generate(bits)
from pki.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    rrn: str
    phone: str
    account: str
    card: PrintedCard


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def setup(home_path: Path, count: int) -> tuple[str, list[Customer]]:
    """Hana and ``count`` customers (one a flow: a phone takes 10 codes a KST day), each
    enrolled, with an account, a security card, a designated PC and a phone line."""
    Home.create(home_path, passphrase=None, key_generator=TestKeyPool()).close()
    with Home.open(home_path) as home:
        banking = Banking.of_home(home)
        hana, key = banking.add_bank("081")
        customers = []
        for n in range(count):
            rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=n + 1).digits
            phone = f"0105{n:07d}"
            added = banking.customers.add(hana, name="홍길동", rrn=rrn, phone=phone,
                                          carrier="SKT")
            banking.customers.sign_up(hana, added.id)
            banking.customers.activate(hana, added.id)
            account = banking.customers.open_account(hana, added.id, password="0420",
                                                     balance=10**9)
            banking.devices.designate(hana, added.id, "pc-1")
            card = banking.cards.issue(hana, added.id)
            banking.lines.add(phone, name="홍길동", rrn=rrn, carrier="SKT")
            customers.append(Customer(added.id, "홍길동", rrn, phone, account.number, card))
    return key, customers


@contextlib.contextmanager
def serve(home: Path, *, pooled: bool) -> Iterator[str]:
    """``kpki serve --test-channel --no-publish`` on ``home``; with ``pooled`` its RSA
    keys come from the test key pool."""
    command = [sys.executable, "-c", _LAUNCHER] if pooled else None
    with kpki_serve(home, "--test-channel", "--no-publish", command=command) as url:
        yield url


class Client:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def __call__(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"X-API-Key": self.key,
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer


def flow(api: Client, who: Customer) -> None:
    """Every request of a joint issuance, as the bank's front end sends them."""
    session = api("POST", "/ra/v1/joint/sessions", {"operation": "issue", "device": "pc-1"})
    one = f"/ra/v1/joint/sessions/{session['session_id']}"
    api("POST", f"{one}/terms", {"agreed": list(REQUIRED_TERMS), "certificate": "general"})
    api("POST", f"{one}/identify", {"rrn": who.rrn, "customer_id": who.id})
    sent = api("POST", "/bank/v1/verifications", {"name": who.name, "phone": who.phone,
                                                  "rrn7": who.rrn[:7], "carrier": "SKT"})
    box = api("GET", f"/bank/v1/test/messages?phone={who.phone}")
    code = re.search(r"code (\d{6})", box["messages"][-1]["text"])
    assert code is not None
    api("POST", f"/bank/v1/verifications/{sent['verification_id']}/confirm",
        {"code": code.group(1)})
    api("POST", f"{one}/phone", {"verification_id": sent["verification_id"]})
    api("POST", f"{one}/account", {"number": who.account, "password": "0420"})
    challenge = api("POST", f"{one}/card-challenge")
    api("POST", f"{one}/medium", {"card": {
        "challenge_id": challenge["challenge_id"],
        "answer": who.card.answer(challenge["first"], challenge["second"])}})
    issued = api("POST", f"{one}/issue", {"password": PASSWORD})
    assert issued["fee"] == 4_400, issued


def measure(home_path: Path, key: str, customers: Iterator[Customer], *, pooled: bool,
            flows: int, rounds: int, out: Path
            ) -> tuple[list[float], list[float], list[float]]:
    generator: TestKeyPool | RSAKeyGenerator = RSAKeyGenerator()
    if pooled:
        generator = TestKeyPool()
        generator.warm()  # loaded (made once per machine) before anything is timed
    with Home.open(home_path, key_generator=generator) as home, \
            serve(home_path, pooled=pooled) as url:
        authority = home.authority()
        api = Client(url, key)
        for _ in range(WARM):  # warm: each worker thread's desk, CA key and store
            flow(api, next(customers))
        authority.issue_joint(name="홍길동", rrn="9005171234566",
                              deliver=NPKIDelivery(out / "warm", password=PASSWORD))
        bare: list[float] = []
        full: list[float] = []
        ratios: list[float] = []
        for r in range(rounds):
            a_times, b_times = [], []
            for i in range(flows):
                start = time.perf_counter()
                authority.issue_joint(name="홍길동", rrn="9005171234566",
                                      deliver=NPKIDelivery(out / f"{pooled}-{r}-{i}",
                                                           password=PASSWORD))
                a_times.append(time.perf_counter() - start)
                who = next(customers)
                start = time.perf_counter()
                flow(api, who)
                b_times.append(time.perf_counter() - start)
            bare.extend(a_times)
            full.extend(b_times)
            a, b = statistics.median(a_times), statistics.median(b_times)
            ratios.append((b - a) / a)
    return bare, full, ratios


def report(title: str, bare: list[float], full: list[float], ratios: list[float]) -> None:
    a, b = statistics.median(bare), statistics.median(full)
    print(title)
    print(f"  bare issue_joint into a folder:   median {a * 1e3:8.2f} ms  "
          f"p95 {p95(bare) * 1e3:8.2f} ms")
    print(f"  the whole flow over HTTP:         median {b * 1e3:8.2f} ms  "
          f"p95 {p95(full) * 1e3:8.2f} ms")
    print(f"  the steps' overhead (B - A):      median {(b - a) * 1e3:8.2f} ms")
    print(f"  overhead / bare, per round:       median {statistics.median(ratios):8.2f}  "
          f"min {min(ratios):8.2f}  max {max(ratios):8.2f}  (target <= {TARGET})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=4, help="issuances per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        key, customers = setup(home, 2 * (rounds * args.flows + WARM))
        supply = iter(customers)
        pooled = measure(home, key, supply, pooled=True, flows=args.flows, rounds=rounds,
                         out=Path(tmp) / "bare")
        generated = measure(home, key, supply, pooled=False, flows=args.flows,
                            rounds=rounds, out=Path(tmp) / "bare")
    print(f"{rounds} interleaved rounds of {args.flows} issuances each "
          "(A: bare issuance, B: the flow's 12 requests to kpki serve)")
    report("with a pooled key (the issuance itself):", *pooled)
    report("with RSA-2048 key generation:", *generated)


if __name__ == "__main__":
    main()
