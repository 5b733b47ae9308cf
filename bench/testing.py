#!/usr/bin/env python3
"""TestPKI against trustme, like with like: RSA-2048 leaves from a key pool and RSA-2048 CA
signing on both sides, interleaved in the same run.

* **kpki**: ``TestPKI().joint()`` with a warm key pool: an RSA-2048 subscriber key from
  :class:`pki.testing.TestKeyPool` (no key generation), the full Korean joint profile, VID,
  the store, signed by the licensed CA's RSA-2048 key (SHA-256, PKCS #1 v1.5).
* **trustme, the reference**: ``trustme.CA(key_type=KeyType.RSA).issue_cert(host,
  key_type=KeyType.RSA)`` with trustme's RSA key generation drawing from the same pool: an
  RSA-2048 leaf key, signed by an RSA-2048 CA key. trustme's own defaults are ECDSA P-256
  for the CA and the leaf, and ``key_type=RSA`` for the leaf alone generates a new RSA-2048
  key per certificate (50-100 ms, which would be nearly all of the figure): the pool makes
  the two sides do the same work apart from what each builds, so the limit it stands for is
  one RSA-2048 CA signature and a certificate's building per certificate.
* **trustme out of the box** (printed for information, not compared): ``trustme.CA()
  .issue_cert(host)``, ECDSA P-256 CA and leaves, a new leaf key per certificate.

Each round makes ``-n`` certificates on each side (a fresh TestPKI and fresh CAs per round,
made outside the timing), the order reversed every other round (ABAB); the ratio
kpki time / trustme time is taken within a round and printed as median, min and max. Also
the time to write ``-n`` NPKI folders (signCert.der + signPri.key encrypted under the
password: its PBKDF1 and SEED), once, with no reference.

    pip install '.[bench]' && python bench/testing.py [-n 200] [--rounds 5]

Target (issue 7): kpki time / trustme time <= 1.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pki.testing import TestKeyPool, TestPKI

if TYPE_CHECKING:
    import trustme

TARGET = 1.5


def pooled_trustme_keys(trustme: ModuleType, pool: TestKeyPool) -> None:
    """trustme's RSA keys (CA and leaves) drawn from ``pool``; ECDSA keys as trustme makes
    them."""
    def generate(self: trustme.KeyType) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        if self is trustme.KeyType.RSA:
            return pool.generate(2048)
        return ec.generate_private_key(ec.SECP256R1())

    trustme.KeyType._generate_key = generate  # type: ignore[method-assign, assignment]


def spread(values: list[float], fmt: str) -> str:
    return (f"median {statistics.median(values):{fmt}}  min {min(values):{fmt}}  "
            f"max {max(values):{fmt}}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="certificates per side per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    import trustme  # the bench extra; imported after the options, which parse without it

    pool = TestKeyPool()
    pool.warm()
    pooled_trustme_keys(trustme, pool)
    leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
        "check.example", key_type=trustme.KeyType.RSA)
    leaf_key = load_pem_private_key(leaf.private_key_pem.bytes(), None)
    assert isinstance(leaf_key, rsa.RSAPrivateKey) and leaf_key.key_size == 2048

    def kpki_side() -> Callable[[int], object]:
        pki = TestPKI(keys=pool)
        return lambda i: pki.joint()

    def trustme_side() -> Callable[[int], object]:
        ca = trustme.CA(key_type=trustme.KeyType.RSA)
        return lambda i: ca.issue_cert(f"host{i}.example", key_type=trustme.KeyType.RSA)

    def trustme_default() -> Callable[[int], object]:
        ca = trustme.CA()
        return lambda i: ca.issue_cert(f"host{i}.example")

    sides = {"kpki": kpki_side, "trustme": trustme_side, "default": trustme_default}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for name in order:
            issue = sides[name]()
            start = time.perf_counter()
            for i in range(args.n):
                issue(i)
            times[name].append(time.perf_counter() - start)

    pki = TestPKI(keys=pool)
    certs = [pki.joint() for _ in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for cert in certs:
            cert.npki_dir(Path(tmp))
        folders = time.perf_counter() - start

    ratios = [k / t for k, t in zip(times["kpki"], times["trustme"], strict=True)]
    ms = {name: [t / args.n * 1e3 for t in values] for name, values in times.items()}
    print(f"bench/testing.py -n {args.n} --rounds {rounds} "
          f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f})")
    print(f"{rounds} interleaved rounds of {args.n} certificates a side (ms a certificate):")
    print(f"kpki TestPKI().joint(), RSA-2048 pooled leaf, RSA CA:  {spread(ms['kpki'], '6.2f')}")
    print(f"trustme issue_cert, RSA-2048 pooled leaf, RSA CA:      {spread(ms['trustme'], '6.2f')}"
          "  (the reference)")
    print(f"  ratio kpki / trustme:                                {spread(ratios, '6.2f')}"
          f"  (target <= {TARGET})")
    print(f"trustme out of the box (ECDSA P-256 CA and new leaf):  {spread(ms['default'], '6.2f')}"
          "  (information)")
    print(f"writing {args.n} NPKI folders (signCert.der + signPri.key): {folders:.2f} s "
          f"({folders / args.n * 1e3:.1f} ms each; no reference)")


if __name__ == "__main__":
    main()
