#!/usr/bin/env python3
"""Reading a signPri.key against the PBKDF1 it must compute, measured in the same run.

A variant-A file with real parameters (8-byte salt, 2,048 iterations) is decrypted N times
(PBKDF1-SHA1, SEED-CBC, PKCS #8 parsing, R extraction, key consistency check); the
reference is N bare PBKDF1 computations with the same password, salt and count. Rounds
alternate to spread machine noise over both.

    python bench/keyfile.py [-n 500] [--rounds 5]

Target (issue 3): read / PBKDF1 <= 1.2.
"""

from __future__ import annotations

import argparse
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from pki.keys import npki

PASSWORD = "Bench-pass-1234!"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = npki.encrypt(key, PASSWORD, r=bytes(range(20)))
    _, salt, count, _, _ = npki._parse(data, npki.MAX_ITERATIONS)
    password = PASSWORD.encode()
    read_time = kdf_time = 0.0
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.n):
            npki.decrypt(data, PASSWORD)
        read_time += time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.n):
            npki.pbkdf1_sha1(password, salt, count)
        kdf_time += time.perf_counter() - start
    total = args.n * args.rounds
    print(f"PBKDF1-SHA1, {count} iterations: {kdf_time / total * 1e3:7.3f} ms")
    print(f"read signPri.key (variant A):   {read_time / total * 1e3:7.3f} ms")
    print(f"ratio read/PBKDF1:              {read_time / kdf_time:7.2f}  (target <= 1.20)")


if __name__ == "__main__":
    main()
