#!/usr/bin/env python3
"""OCSP responses per second through the real ``kpki serve``, against raw RSA-2048 signing.

A home with a good, a revoked and an unknown serial is served by ``kpki serve`` (uvicorn,
one process). Client processes send POST requests over keep-alive connections for a fixed
number of requests each; every response is checked for HTTP 200 and every 50th parsed
(parsing all of them would load the clients' core, not the server's). The reference is pyca
RSA-2048 PKCS #1 v1.5 SHA-256 signing in one thread, measured in the same run: each OCSP
response needs exactly one such signature.

    python bench/ocsp.py [--requests 4000] [--clients 2]

Target (issue 4): responses/s over raw signatures/s >= 0.5.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import tempfile
import time
from pathlib import Path

from _serve import kpki_serve
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp

from pki import lifecycle
from pki.home import Home

CHECK_EVERY = 50


def client(port: int, path: str, bodies: list[bytes], count: int, queue: multiprocessing.Queue
           ) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    statuses = {}
    start = time.perf_counter()
    for i in range(count):
        conn.request("POST", path, body=bodies[i % len(bodies)],
                      headers={"Content-Type": "application/ocsp-request"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}")
        if i % CHECK_EVERY == 0:  # parsing every response would load the clients' core
            parsed = ocsp.load_der_ocsp_response(body)
            name = parsed.certificate_status.name
            statuses[name] = statuses.get(name, 0) + 1
    queue.put((time.perf_counter() - start, statuses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per client")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--signing-threads", type=int, default=1)
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = 2000
    start = time.perf_counter()
    for i in range(n):
        key.sign(i.to_bytes(8, "big") * 16, padding.PKCS1v15(), hashes.SHA256())
    raw_rate = n / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        home_path = Path(tmp) / "home"
        with Home.create(home_path, passphrase=None) as home:
            authority = home.authority()
            good = authority.issue_joint(name="홍길동", rrn="9005171234566")
            revoked = authority.issue_joint(name="홍길동", rrn="9005171234566")
            lifecycle.revoke(home.store, revoked.serial, at=home.clock.now())
            ca_cert = authority.certificate
            path = "/ocsp/yessign"
        unknown = (x509.CertificateBuilder().subject_name(good.subject)
                   .issuer_name(ca_cert.subject).public_key(good.certificate.public_key())
                   .serial_number(424242).not_valid_before(good.certificate.not_valid_before_utc)
                   .not_valid_after(good.certificate.not_valid_after_utc)
                   .sign(key, hashes.SHA256()))
        bodies = [ocsp.OCSPRequestBuilder().add_certificate(c, ca_cert, hashes.SHA1()).build()
                  .public_bytes(serialization.Encoding.DER)
                  for c in (good.certificate, revoked.certificate, unknown)]

        with kpki_serve(home_path, "--poll", "60", "--signing-threads",
                        str(args.signing_threads), "--no-cloud") as url:
            port = int(url.rsplit(":", 1)[1])
            queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            workers = [multiprocessing.Process(target=client,
                                               args=(port, path, bodies, args.requests, queue))
                       for _ in range(args.clients)]
            start = time.perf_counter()
            for w in workers:
                w.start()
            results = [queue.get() for _ in workers]
            wall = time.perf_counter() - start
            for w in workers:
                w.join()

    total = args.requests * args.clients
    statuses: dict[str, int] = {}
    for _, counts in results:
        for name, count in counts.items():
            statuses[name] = statuses.get(name, 0) + count
    rate = total / wall
    print(f"raw RSA-2048 signing:     {raw_rate:8.1f} signatures/s (one thread)")
    print(f"kpki serve OCSP (POST):   {rate:8.1f} responses/s ({total} requests, "
          f"{args.clients} keep-alive clients; {statuses})")
    print(f"ratio responses/signatures: {rate / raw_rate:.2f}  (target >= 0.50)")


if __name__ == "__main__":
    main()
