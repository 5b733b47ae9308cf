#!/usr/bin/env python3
"""Time stamps: verifying a time-stamped signature, against raw RSA-2048 signing.

Measured in interleaved rounds (A B A B ...), each round timing ``-n`` operations of each:

* A, the reference: pyca's bare RSA-2048 PKCS #1 v1.5 signature over 1 KiB documents;
* B, verifying a time-stamped signature with the strict :class:`pki.signing.verify.Verifier`
  (trust the root, the licensed CA's and the root's full CRLs loaded): the signature, the
  signer's chain, validity and revocation, and the signature time-stamp token (its imprint,
  its signature, the TSA certificate's usage, chain, validity and revocation) whose genTime
  becomes the trusted signing time. Two signatures and two chains, so the target is lower
  than for a plain verification.

Also printed, per round: the TSA answering a TimeStampReq (parse, TSTInfo, signed
attributes, signature), and :func:`pki.timestamp.verify_timestamp_token` on its own.

    python bench/timestamp.py [-n 300] [--rounds 5]

Target (issue 11): verifying a time-stamped signature >= 0.3 of raw signing (median).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from pki.signing.verify import CRLIndex, Verifier
from pki.testing import TestPKI
from pki.timestamp import build_request, signature_timestamps, verify_timestamp_token

TARGET = 0.3


def rate(function: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        function(i)
    return n / (time.perf_counter() - start)


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):8.1f}  min {min(values):8.1f}  "
            f"max {max(values):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="operations per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    args = parser.parse_args()

    pki = TestPKI(seed="bench-timestamp")
    cert = pki.joint()
    documents = [os.urandom(1024) for _ in range(64)]
    signatures = [pki.sign(cert, d, timestamp=True) for d in documents]
    crls = [CRLIndex.load(pki.crl().public_bytes(Encoding.DER)),
            CRLIndex.load(pki.root_crl().public_bytes(Encoding.DER))]
    verifier = Verifier(trust=[pki.root], crls=crls, clock=pki.clock)
    first = verifier.verify(signatures[0])
    stamped = first.check("time-stamp")
    assert first.ok and stamped is not None and stamped.passed, first.checks
    key = pki.keys.generate(2048)
    assert isinstance(key, rsa.RSAPrivateKey)
    tsa = pki.tsa
    request = build_request(b"signature value", nonce=12345)
    [stamp] = signature_timestamps(signatures[0])
    root_crl = pki.root_crl()

    def raw(i: int) -> object:
        return key.sign(documents[i % 64], padding.PKCS1v15(), hashes.SHA256())

    def verify(i: int) -> object:
        result = verifier.verify(signatures[i % 64])
        assert result.ok
        return result

    def token_only(i: int) -> object:
        return verify_timestamp_token(stamp.token, signature_value=stamp.signature_value,
                                      trust=[pki.root], crls=[root_crl], clock=pki.clock)

    rounds = max(5, args.rounds)
    raws, verifies, answers, tokens, ratios = [], [], [], [], []
    for _ in range(rounds):
        a = rate(raw, args.n)
        b = rate(verify, args.n)
        raws.append(a)
        verifies.append(b)
        ratios.append(b / a)
        answers.append(rate(lambda i: tsa.respond(request), args.n))
        tokens.append(rate(token_only, args.n))

    print(f"{rounds} interleaved rounds of {args.n} operations each (per second):")
    print(f"raw RSA-2048 signing:               {spread(raws)}")
    print(f"verify a time-stamped signature:    {spread(verifies)}")
    print(f"  ratio to raw signing:             median {statistics.median(ratios):8.2f}  "
          f"min {min(ratios):8.2f}  max {max(ratios):8.2f}  (target >= {TARGET})")
    print(f"TSA answers a TimeStampReq:         {spread(answers)}")
    print(f"verify_timestamp_token alone:       {spread(tokens)}")


if __name__ == "__main__":
    main()
