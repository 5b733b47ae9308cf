#!/usr/bin/env python3
"""Signing and verifying 1 KiB documents, against raw RSA-2048 signing in the same run.

* signing: kpki ``sign`` (attached, signed attributes, ContentInfo) from a key in memory,
  against pyca's bare RSA-2048 PKCS #1 v1.5 signature over the same documents;
* verifying with the strict verifier: signature, chain to the root and revocation against
  a loaded CRL of 1,000,000 entries (the signer not among them) carrying what kpki's CRLs
  carry (CRL number, issuingDistributionPoint), current and in scope, and of the licensed
  CA certificate against the root's CRL (as a strict relying party does), then the same
  against a CRL of 10,000 entries: the look-up must not grow with the CRL.

    python bench/sign.py [-n 2000] [--crl-size 1000000]

Targets (issue 5): signing >= 0.8 of raw; verifying >= 0.5 of raw signing; verifying with
the 1,000,000-entry CRL >= 0.9 of the rate with the 10,000-entry one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from pki.formats.crlder import encode_crl
from pki.home import Home
from pki.signing import KeySigner, sign
from pki.signing.verify import CRLIndex, Verifier
from pki.store import CRLEntry


def crl_of(size: int, ca_cert, ca_key, url: str, at: dt.datetime) -> CRLIndex:  # type: ignore[no-untyped-def]
    revoked_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    entries = (CRLEntry(int.from_bytes(secrets.token_bytes(16)), revoked_at,
                        x509.ReasonFlags.key_compromise, None) for _ in range(size))
    scope = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None,
        only_contains_user_certs=False, only_contains_ca_certs=False, only_some_reasons=None,
        indirect_crl=False, only_contains_attribute_certs=False)
    extensions = [x509.Extension(x509.oid.ExtensionOID.CRL_NUMBER, False, x509.CRLNumber(7)),
                  x509.Extension(x509.oid.ExtensionOID.ISSUING_DISTRIBUTION_POINT, True, scope)]
    der, _ = encode_crl(issuer=ca_cert.subject, this_update=at,
                        next_update=at + dt.timedelta(days=1), entries=entries,
                        extensions=extensions, key=ca_key)
    return CRLIndex.load(der)


def rate(function, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(n):
        function(i)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--crl-size", type=int, default=1_000_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Home.create(Path(tmp) / "home", passphrase=None)
        authority = home.authority()
        issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
        root = home.store.get_ca("root").certificate
        ca_key = home.load_ca_key("yessign", None)
        crl_url = authority.record.crl_url
        now = home.clock.now()
        [(root_crl, _)] = home.publish_crls(passphrase=None, labels=["root"])
        home.close()
    signer = KeySigner(issued.certificate, issued.private_key, issued.chain)
    key = issued.private_key
    documents = [os.urandom(1024) for _ in range(64)]

    raw = rate(lambda i: key.sign(documents[i % 64], padding.PKCS1v15(), hashes.SHA256()),
               args.n)
    signing = rate(lambda i: sign(documents[i % 64], signer, include_chain=True), args.n)
    signatures = [sign(d, signer, include_chain=True).der for d in documents]

    start = time.perf_counter()
    big = crl_of(args.crl_size, issued.chain[0], ca_key, crl_url, now)
    load_big = time.perf_counter() - start
    small = crl_of(10_000, issued.chain[0], ca_key, crl_url, now)
    results = {}
    for name, index in (("big", big), ("small", small), ("big", big)):
        verifier = Verifier(trust=[root], crls=[index, CRLIndex.load(root_crl.der)])
        check = verifier.verify(signatures[0])
        assert check.ok, check.summary()
        assert "CRL 7" in str(check.check("revocation"))  # checked against this CRL
        results[name] = rate(lambda i: verifier.verify(signatures[i % 64]), args.n)  # noqa: B023

    print(f"raw RSA-2048 signing:          {raw:8.1f} /s")
    print(f"kpki sign (1 KiB, CMS):        {signing:8.1f} /s  ratio {signing / raw:.2f} "
          "(target >= 0.80)")
    print(f"kpki verify, {args.crl_size:,}-entry CRL: {results['big']:8.1f} /s  ratio "
          f"{results['big'] / raw:.2f} of raw signing (target >= 0.50)")
    print(f"kpki verify, 10,000-entry CRL:  {results['small']:8.1f} /s")
    print(f"big/small CRL verify rate:     {results['big'] / results['small']:8.2f}  "
          "(target >= 0.90)")
    print(f"(loading the {args.crl_size:,}-entry CRL once: {load_big:.1f} s)")


if __name__ == "__main__":
    main()
