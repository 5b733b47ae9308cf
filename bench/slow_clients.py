#!/usr/bin/env python3
"""Good OCSP clients' p99 latency while slow clients hold connections, against idle.

``kpki serve`` (one process, default limits unless given) answers a good client that sends
OCSP POST requests one after another, each over a new connection as ``openssl ocsp`` does.
Rounds alternate (ABAB): in A nothing else talks to the server; in B a second process holds
``--slow`` connections that never finish their headers (a slowloris: once a second, a header
line on each and a new connection for each the server has closed). Each round measures the
p99 of ``--requests`` latencies; the figure is B's p99 over A's, per pair of rounds, as
median, min and max over ``--rounds`` pairs (at least 5). The reference is the idle p99:
the server's own latency with nothing else talking to it, the limit a loaded server can
only approach. Everything is on loopback and bounded.

    python bench/slow_clients.py [--slow 200] [--rounds 5] [--requests 400] [--nofile 256]

``--nofile`` runs the server with that file descriptor limit (the audit's 256: the cap then
falls to fit it, and the slow clients are closed to make room for the good one).

Target (issue 10): p99 with slow clients / idle p99 < 10.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import selectors
import socket
import statistics
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

from _serve import kpki_serve
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki.home import Home

PATH = "/ocsp/yessign"
PARTIAL = b"GET /crl/yessign.crl HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def slow_clients(port: int, count: int, active: Event, stop: Event,
                 held: Synchronized) -> None:  # type: ignore[type-arg]
    """Hold ``count`` unfinished requests while ``active`` is set; none while it is not."""
    selector = selectors.DefaultSelector()
    socks: set[socket.socket] = set()

    def close(sock: socket.socket) -> None:
        selector.unregister(sock)
        socks.discard(sock)
        sock.close()

    next_drip = 0.0
    while not stop.is_set():
        if not active.is_set():
            for sock in list(socks):
                close(sock)
            held.value = 0
            active.wait(0.1)
            continue
        if time.monotonic() >= next_drip:  # once a second: a header line on each, and
            next_drip = time.monotonic() + 1.0  # a new connection for each one closed
            for sock in list(socks):
                try:
                    sock.send(b"X-Slow: 1\r\n")
                except OSError:
                    close(sock)
            while len(socks) < count:
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                    sock.sendall(PARTIAL)
                except OSError:
                    break
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
                socks.add(sock)
            held.value = len(socks)
        for key, _ in selector.select(timeout=0.05):
            sock = key.fileobj  # readable: closed by the server (or answered, then closed)
            try:
                data = sock.recv(4096)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                close(sock)  # type: ignore[arg-type]
    for sock in list(socks):
        close(sock)


def good_client(port: int, body: bytes, count: int) -> list[float]:
    """Latencies (seconds) of ``count`` OCSP POSTs, each over a new connection."""
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", PATH, body=body,
                     headers={"Content-Type": "application/ocsp-request"})
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        latencies.append(time.perf_counter() - start)
        if response.status != 200 or not answer:
            raise SystemExit(f"good client got HTTP {response.status}")
    return latencies


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=200, help="slow connections in B rounds")
    parser.add_argument("--rounds", type=int, default=5,
                        help="pairs of rounds (A then B; >= 5)")
    parser.add_argument("--requests", type=int, default=400, help="good requests per round")
    parser.add_argument("--nofile", type=int, default=None,
                        help="file descriptor limit of the server process")
    parser.add_argument("serve_options", nargs="*",
                        help="more kpki serve options (after --), e.g. --max-connections 100")
    args = parser.parse_args()
    rounds = max(5, args.rounds)

    with tempfile.TemporaryDirectory() as tmp:
        home_path = Path(tmp) / "home"
        with Home.create(home_path, passphrase=None) as home:
            issued = home.authority().issue_joint(name="홍길동", rrn="9005171234566")
        body = (ocsp.OCSPRequestBuilder()
                .add_certificate(issued.certificate, issued.chain[0], hashes.SHA1()).build()
                .public_bytes(serialization.Encoding.DER))

        with kpki_serve(home_path, "--poll", "60", "--no-cloud", *args.serve_options,
                        nofile=args.nofile) as url:
            port = int(url.rsplit(":", 1)[1])
            active, stop = multiprocessing.Event(), multiprocessing.Event()
            held: Synchronized = multiprocessing.Value("i", 0)  # type: ignore[type-arg]
            slow = multiprocessing.Process(target=slow_clients,
                                           args=(port, args.slow, active, stop, held))
            slow.start()
            try:
                good_client(port, body, 50)  # warm up
                idle, loaded, held_counts = [], [], []
                for _ in range(rounds):
                    idle.append(p99(good_client(port, body, args.requests)))
                    active.set()
                    deadline = time.monotonic() + 30
                    while held.value < args.slow and time.monotonic() < deadline:
                        time.sleep(0.05)
                    held_counts.append(held.value)
                    loaded.append(p99(good_client(port, body, args.requests)))
                    active.clear()
                    while held.value and time.monotonic() < deadline + 30:
                        time.sleep(0.05)
            finally:
                stop.set()
                active.set()
                slow.join()

    ratios = [b / a for a, b in zip(idle, loaded, strict=True)]

    def row(values: list[float], scale: float = 1000.0) -> str:
        return (f"median {statistics.median(values) * scale:7.2f}  "
                f"min {min(values) * scale:7.2f}  max {max(values) * scale:7.2f}")

    limit = f", server file descriptor limit {args.nofile}" if args.nofile else ""
    print(f"{rounds} pairs of rounds (ABAB), {args.requests} good OCSP POSTs per round, "
          f"each over a new connection{limit}")
    print(f"slow connections open (client side) at the start of B rounds: "
          f"{min(held_counts)}-{max(held_counts)} of {args.slow}")
    print(f"A idle p99 (ms):              {row(idle)}")
    print(f"B with slow clients p99 (ms): {row(loaded)}")
    print(f"p99 ratio B/A:                {row(ratios, 1.0)}  (target < 10)")


if __name__ == "__main__":
    main()
