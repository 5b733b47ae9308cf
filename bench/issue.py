#!/usr/bin/env python3
"""Issuance throughput: kpki against raw pyca/cryptography, measured in the same run.

kpki issues N joint certificates from pre-made public keys into a fresh home (SQLite store,
one transaction per certificate). The reference rebuilds *the same certificates* with a bare
``CertificateBuilder`` (same subject, key, serial, validity and extension bytes) and signs
them with the same CA key; the script checks the bytes are identical, so the ratio is the
cost of everything kpki adds: profile, names, VID, serial uniqueness, the store and audit.

    python bench/issue.py [-n 1000] [--rounds 5]

Target (issue 2): kpki/raw rate ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pki.home import Home
from pki.rrn import synthetic_rrn

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


def prepare(certs: list[x509.Certificate]) -> list[tuple[x509.CertificateBuilder,
                                                         list[x509.Extension[x509.ExtensionType]]]]:
    """Everything the reference needs, taken from kpki's certificates (not timed)."""
    out = []
    for cert in certs:
        tbs = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        raw = {e["extn_id"].dotted: e["extn_value"].contents
               for e in tbs["tbs_certificate"]["extensions"]}
        extensions = [x509.Extension(e.oid, e.critical,
                                     x509.UnrecognizedExtension(e.oid, raw[e.oid.dotted_string]))
                      for e in cert.extensions]
        builder = (
            x509.CertificateBuilder()
            .subject_name(cert.subject)
            .issuer_name(cert.issuer)
            .public_key(cert.public_key())  # type: ignore[arg-type]
            .serial_number(cert.serial_number)
            .not_valid_before(cert.not_valid_before_utc)
            .not_valid_after(cert.not_valid_after_utc)
        )
        out.append((builder, extensions))
    return out


def raw_build_and_sign(prepared: list[tuple[x509.CertificateBuilder,
                                            list[x509.Extension[x509.ExtensionType]]]],
                       ca_key: rsa.RSAPrivateKey) -> list[bytes]:
    out = []
    for builder, extensions in prepared:
        for ext in extensions:
            builder = builder.add_extension(ext.value, ext.critical)
        out.append(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="certificates per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keygen", type=int, default=20,
                        help="certificates issued with key generation, for the second figure")
    args = parser.parse_args()

    public_keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
                   for _ in range(8)]
    kpki_times, raw_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        with Home.create(Path(tmp) / "home", passphrase=None) as home:
            authority = home.authority()
            ca_key = home.load_ca_key(authority.label, None)
            for _ in range(args.rounds):
                start = time.perf_counter()
                issued = [authority.issue_joint(name="홍길동", rrn=RRN,
                                                public_key=public_keys[i % len(public_keys)])
                          for i in range(args.n)]
                kpki_times.append(time.perf_counter() - start)
                certs = [i.certificate for i in issued]
                prepared = prepare(certs)
                start = time.perf_counter()
                rebuilt = raw_build_and_sign(prepared, ca_key)
                raw_times.append(time.perf_counter() - start)
                mine = [c.public_bytes(serialization.Encoding.DER) for c in certs]
                assert rebuilt == mine, "the reference did not rebuild the same certificates"

            start = time.perf_counter()
            for _ in range(args.keygen):
                authority.issue_joint(name="홍길동", rrn=RRN)
            keygen_rate = args.keygen / (time.perf_counter() - start)
            stored = len(home.store.list_certificates())

    kpki_rate = args.n / statistics.median(kpki_times)
    raw_rate = args.n / statistics.median(raw_times)
    print(f"certificates stored: {stored}")
    print(f"raw cryptography build+sign: {raw_rate:8.1f} certs/s (median of {args.rounds})")
    print(f"kpki issue (store, audit):   {kpki_rate:8.1f} certs/s")
    print(f"ratio kpki/raw:              {kpki_rate / raw_rate:8.2f}  (target >= 0.80)")
    print(f"kpki issue with RSA-2048 key generation: {keygen_rate:6.1f} certs/s "
          f"(bounded by key generation)")


if __name__ == "__main__":
    main()
