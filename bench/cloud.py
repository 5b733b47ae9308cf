#!/usr/bin/env python3
"""The cloud keystore: unlock-and-sign through the service, against the KDF it must pay,
interleaved in the same run.

``kpki serve`` (with the cloud) runs on a fresh home with real KDF parameters. Each round
(at least 5; the order reversed every other round, ABAB) measures:

* A, **the reference**: ``--per-round`` bare KDF computations (scrypt with the service's
  parameters, in this process): unlocking a cloud key cannot be faster than its PIN's KDF,
  which is the point of it;
* B: the latency of ``--per-round`` sign requests one after another (PIN check = the same
  KDF, vault open, CMS signature, HTTP), one client;
* C: signatures per second with ``--clients`` clients at once (2 x ``--per-round``
  requests), against the KDF's limit on this machine: as many KDFs a second as there are
  cores (``os.cpu_count()``) or clients, whichever is fewer, at the round's KDF time.

Printed: the median of B over the median of A per round (median, min, max), B's p95 over
all rounds, C as a share of the KDF limit per round, a raw RSA-2048 signature's time (what
the request signs once the key is open), and the offline cost of trying all 10^6 PINs
*with* the vault secret (10^6 x the KDF time); without the secret there is nothing to try
them against.

    python bench/cloud.py [--per-round 8] [--rounds 5] [--clients 4]

There is no target: the KDF is meant to dominate (the figure to watch is the latency over
the KDF, which is everything the service adds).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _serve import kpki_serve
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pki.cloud.vault import KDFParams
from pki.home import Home

PIN = "135790"


def call(url: str, key: str, path: str, body: dict) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"X-API-Key": key,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def spread(values: list[float], fmt: str = "7.2f") -> str:
    return (f"median {statistics.median(values):{fmt}}  min {min(values):{fmt}}  "
            f"max {max(values):{fmt}}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-round", type=int, default=8,
                        help="KDFs and sign requests per side per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    cores = min(args.clients, os.cpu_count() or 1)

    params = KDFParams()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = time.perf_counter()
    for i in range(200):
        key.sign(i.to_bytes(4, "big"), padding.PKCS1v15(), hashes.SHA256())
    raw_sign = (time.perf_counter() - start) / 200

    def kdf_times() -> list[float]:
        times = []
        for i in range(args.per_round):
            start = time.perf_counter()
            Scrypt(i.to_bytes(16, "big"), 32, params.n, params.r, params.p).derive(PIN.encode())
            times.append(time.perf_counter() - start)
        return times

    kpki = str(Path(sys.executable).parent / "kpki")
    with tempfile.TemporaryDirectory() as tmp:
        home_path = Path(tmp) / "home"
        Home.create(home_path, passphrase=None).close()
        api_key = subprocess.run([kpki, "--home", str(home_path), "cloud", "institution", "add",
                                  "bench"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        with kpki_serve(home_path, "--test-channel") as url:
            serials = []
            for n in range(args.clients):
                phone = f"0101234{n:04d}"
                user = call(url, api_key, "/cloud/v1/users", {
                    "name": "홍길동", "phone": phone, "birth_date": "1990-05-17"})["user_id"]
                with urllib.request.urlopen(urllib.request.Request(
                        f"{url}/cloud/v1/test/messages?phone={phone}",
                        headers={"X-API-Key": api_key})) as response:
                    text = json.loads(response.read())["messages"][-1]["text"]
                call(url, api_key, f"/cloud/v1/users/{user}/confirm",
                     {"code": re.search(r"code (\d\d)", text).group(1)})  # type: ignore[union-attr]
                serials.append(call(url, api_key, f"/cloud/v1/users/{user}/certificates", {
                    "rrn": "9005171234566", "pin": PIN, "pin_confirm": PIN})["serial"])
            body = {"pin": PIN, "purpose": "02",
                    "content": base64.b64encode(b"x" * 1024).decode()}

            def one(serial: str) -> float:
                start = time.perf_counter()
                call(url, api_key, f"/cloud/v1/certificates/{serial}/sign", body)
                return time.perf_counter() - start

            def latencies() -> list[float]:
                return [one(serials[0]) for _ in range(args.per_round)]

            def throughput() -> float:
                count = 2 * args.per_round
                start = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(max_workers=args.clients) as pool:
                    list(pool.map(lambda i: one(serials[i % len(serials)]), range(count)))
                return count / (time.perf_counter() - start)

            one(serials[0])  # warm: the server's first request
            kdfs: list[float] = []
            all_latencies: list[float] = []
            latency_ratios: list[float] = []
            shares: list[float] = []
            rates: list[float] = []
            for round_ in range(rounds):
                if round_ % 2 == 0:
                    a, b, c = kdf_times(), latencies(), throughput()
                else:
                    c = throughput()
                    b = latencies()
                    a = kdf_times()
                kdf = statistics.median(a)
                kdfs.append(kdf)
                all_latencies.extend(b)
                latency_ratios.append(statistics.median(b) / kdf)
                rates.append(c)
                shares.append(c / (cores / kdf))

    kdf = statistics.median(kdfs)
    ordered = sorted(all_latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"bench/cloud.py --per-round {args.per_round} --rounds {rounds} --clients "
          f"{args.clients} ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load "
          f"{os.getloadavg()[0]:.2f})")
    print(f"{rounds} interleaved rounds of {args.per_round} a side:")
    print(f"bare KDF ({params.text()}), ms:    {spread([k * 1e3 for k in kdfs], '7.1f')}"
          "  (the reference)")
    print(f"unlock-and-sign latency, ms:     "
          f"{spread([x * 1e3 for x in all_latencies], '7.1f')}  p95 {p95 * 1e3:7.1f}")
    print(f"  latency / KDF per round:       {spread(latency_ratios)}  "
          f"(p95 / KDF {p95 / kdf:.2f})")
    print(f"signatures/s, {args.clients} clients:         {spread(rates, '7.1f')}")
    print(f"  share of the KDF limit ({cores} at once): {spread(shares)}")
    print(f"raw RSA-2048 signature:          {raw_sign * 1000:7.2f} ms (what a request signs "
          "once the key is open)")
    print(f"offline search of all 10^6 PINs WITH the vault secret: "
          f"{1e6 * kdf / 3600:.1f} CPU-hours per key; WITHOUT the secret the database offers "
          "no target to test a PIN against")


if __name__ == "__main__":
    main()
