#!/usr/bin/env python3
"""The cloud keystore: unlock-and-sign through the service, against its parts.

``kpki serve`` (with the cloud) runs on a fresh home with real KDF parameters. Measured:

* the latency of one sign request (PIN check = scrypt, vault open, CMS signature), median
  and p95, against the bare KDF time and a raw RSA-2048 signature, measured in this run;
* signatures per second with several clients at once, against raw RSA-2048 signing;
* the offline cost of trying all 10^6 PINs *with* the vault secret (10^6 x KDF time);
  without the secret there is nothing to try them against.

    python bench/cloud.py [--requests 60] [--clients 4]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    params = KDFParams()
    kdf_times = []
    for i in range(10):
        start = time.perf_counter()
        Scrypt(i.to_bytes(16, "big"), 32, params.n, params.r, params.p).derive(PIN.encode())
        kdf_times.append(time.perf_counter() - start)
    kdf = statistics.median(kdf_times)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = time.perf_counter()
    for i in range(200):
        key.sign(i.to_bytes(4, "big"), padding.PKCS1v15(), hashes.SHA256())
    raw_sign = (time.perf_counter() - start) / 200

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

            latencies = sorted(one(serials[0]) for _ in range(args.requests))
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.clients) as pool:
                list(pool.map(lambda i: one(serials[i % len(serials)]),
                              range(args.requests * 2)))
            throughput = args.requests * 2 / (time.perf_counter() - start)

    median = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"bare KDF ({params.text()}):    {kdf * 1000:7.1f} ms")
    print(f"raw RSA-2048 signature:          {raw_sign * 1000:7.2f} ms")
    print(f"unlock-and-sign latency, median: {median * 1000:7.1f} ms  = {median / kdf:.2f} x KDF,"
          f" {median / raw_sign:.0f} x raw signature")
    print(f"unlock-and-sign latency, p95:    {p95 * 1000:7.1f} ms  = {p95 / kdf:.2f} x KDF")
    print(f"signatures/s, {args.clients} clients:         {throughput:7.1f}  "
          f"({throughput * raw_sign:.3f} of raw RSA-2048 signing: the KDF is the point)")
    print(f"offline search of all 10^6 PINs WITH the vault secret: "
          f"{1e6 * kdf / 3600:.1f} CPU-hours per key; WITHOUT the secret the database offers "
          "no target to test a PIN against")


if __name__ == "__main__":
    main()
