#!/usr/bin/env python3
"""Time stamps: verifying a time-stamped signature, against the RSA verifications it must do
and against raw RSA-2048 signing.

Measured in interleaved rounds (the order reversed every other round: ABAB), each round
timing ``-n`` operations of each:

* R, **the reference and its limit**: what a time-stamped verification cannot do less than,
  with pyca on the same bytes: SHA-256 of the document and of the signature value (the
  token's imprint), and five RSA-2048 PKCS #1 v1.5 verifications, the keys and TBS bytes
  taken beforehand: the signature, the token's signature, and the three certificate links
  (signer <- licensed CA, licensed CA <- root, TSA <- root; the root is the trust anchor).
  The verifier below is warm: it caches the three links (checked: three links verified
  once), so a call does two RSA verifications and can beat R;
* A, issue 11's reference: pyca's bare RSA-2048 PKCS #1 v1.5 signature over 1 KiB
  documents (a private-key operation, about ten times a verification: it is not a limit of
  verifying, and is kept because issue 11's target is set against it);
* B, verifying a time-stamped signature with the strict :class:`pki.signing.verify.Verifier`
  (trust the root, the licensed CA's and the root's full CRLs loaded): the signature, the
  signer's chain, validity and revocation, and the signature time-stamp token (its imprint,
  its signature, the TSA certificate's usage, chain, validity and revocation) whose genTime
  becomes the trusted signing time. Two signatures and two chains, so the target is lower
  than for a plain verification.

Also printed, per round: the TSA answering a TimeStampReq (parse, TSTInfo, signed
attributes, signature), and :func:`pki.timestamp.verify_timestamp_token` on its own.

    python bench/timestamp.py [-n 300] [--rounds 5]

Target (issue 11): verifying a time-stamped signature >= 0.3 of raw signing (median). None
is set against R yet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import time
from collections.abc import Callable

from asn1crypto import cms
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
    links = getattr(verifier, "_links", None)  # the three links, verified once (a private
    assert links is None or len(links) == 3, links  # cache: checked while it has this name)

    # R's inputs: the signatures and the signed attributes they cover, the TBS bytes.
    def signed_part(info: cms.SignerInfo) -> tuple[bytes, bytes]:
        return info["signature"].native, b"\x31" + info["signed_attrs"].dump()[1:]

    parts = []
    for der in signatures:
        [one] = signature_timestamps(der)
        token_info = cms.ContentInfo.load(one.token)["content"]["signer_infos"][0]
        info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
        parts.append((signed_part(info), signed_part(token_info), one.signature_value))
    ca_cert, tsa_cert = cert.chain[0], tsa.certificate
    links = [(k, c.signature, c.tbs_certificate_bytes) for k, c in
             ((ca_cert.public_key(), cert.cert), (pki.root.public_key(), ca_cert),
              (pki.root.public_key(), tsa_cert))]
    signer_key, tsa_key = cert.cert.public_key(), tsa_cert.public_key()
    assert all(isinstance(k, rsa.RSAPublicKey) for k in (signer_key, tsa_key))

    def reference(i: int) -> None:
        (signature, attributes), (token_signature, token_attributes), value = parts[i % 64]
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        hashlib.sha256(documents[i % 64]).digest()
        hashlib.sha256(value).digest()
        signer_key.verify(signature, attributes, pkcs1, sha256)
        tsa_key.verify(token_signature, token_attributes, pkcs1, sha256)
        for key_, link_signature, tbs in links:
            key_.verify(link_signature, tbs, pkcs1, sha256)

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
    references, reference_ratios = [], []
    for round_ in range(rounds):
        if round_ % 2 == 0:
            r, a, b = rate(reference, args.n), rate(raw, args.n), rate(verify, args.n)
        else:
            b = rate(verify, args.n)
            a = rate(raw, args.n)
            r = rate(reference, args.n)
        references.append(r)
        raws.append(a)
        verifies.append(b)
        ratios.append(b / a)
        reference_ratios.append(b / r)
        answers.append(rate(lambda i: tsa.respond(request), args.n))
        tokens.append(rate(token_only, args.n))

    print(f"bench/timestamp.py -n {args.n} --rounds {rounds} "
          f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f})")
    print(f"{rounds} interleaved rounds of {args.n} operations each (per second):")
    print(f"R: 2 x SHA-256 + 5 RSA verifications: {spread(references)}  (the limit)")
    print(f"raw RSA-2048 signing:               {spread(raws)}")
    print(f"verify a time-stamped signature:    {spread(verifies)}")
    print(f"  ratio to R (warm: 2 verifications): median "
          f"{statistics.median(reference_ratios):8.2f}  min {min(reference_ratios):8.2f}  "
          f"max {max(reference_ratios):8.2f}  (no target yet)")
    print(f"  ratio to raw signing:             median {statistics.median(ratios):8.2f}  "
          f"min {min(ratios):8.2f}  max {max(ratios):8.2f}  (target >= {TARGET})")
    print(f"TSA answers a TimeStampReq:         {spread(answers)}")
    print(f"verify_timestamp_token alone:       {spread(tokens)}")


if __name__ == "__main__":
    main()
