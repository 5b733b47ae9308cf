#!/usr/bin/env python3
"""TestPKI against trustme: 1,000 certificates each, in the same run.

kpki: ``TestPKI().joint()`` with a warm key pool (RSA-2048 CA signing, the full Korean
profile, VID, store). trustme: ``trustme.CA(key_type=KeyType.RSA).issue_cert(...)``
(RSA-2048 CA signing; trustme makes a new RSA key for every certificate). Also the time to
write 1,000 NPKI folders (signCert.der + signPri.key).

    pip install '.[bench]' && python bench/testing.py [-n 1000]

Target (issue 7): kpki time / trustme time <= 1.5.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import trustme

from pki.testing import TestKeyPool, TestPKI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()

    TestKeyPool().warm()
    pki = TestPKI()
    start = time.perf_counter()
    certs = [pki.joint() for _ in range(args.n)]
    kpki_time = time.perf_counter() - start

    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    start = time.perf_counter()
    for i in range(args.n):
        ca.issue_cert(f"host{i}.example")
    trustme_time = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for cert in certs:
            cert.npki_dir(Path(tmp))
        folders_time = time.perf_counter() - start

    print(f"TestPKI().joint() x {args.n}:          {kpki_time:7.2f} s")
    print(f"trustme issue_cert (RSA) x {args.n}:   {trustme_time:7.2f} s")
    print(f"ratio kpki/trustme:                  {kpki_time / trustme_time:7.3f}  (target <= 1.5)")
    print(f"writing {args.n} NPKI folders:          {folders_time:7.2f} s")


if __name__ == "__main__":
    main()
