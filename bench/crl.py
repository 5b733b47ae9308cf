#!/usr/bin/env python3
"""A full CRL over 1,000,000 revocations: kpki against ``openssl ca -gencrl``, same run.

Setup (not timed): a fresh home whose store holds N revoked certificates of its licensed
CA, and an ``openssl ca`` directory whose ``index.txt`` holds the same N revocations
(same serials, dates and reasons), both signing with the same RSA-2048 CA key.

Measured, each in its own process so peak memory (max RSS) is comparable: building,
signing and writing the full CRL (kpki: ``issue_crl`` + ``write_crl``; OpenSSL:
``openssl ca -gencrl``). Then 1,000 status changes and a delta CRL over them, against the
full CRL's time.

    python bench/crl.py [-n 1000000]

Targets (issue 4): kpki/openssl <= 1.0 in time and in memory; delta < 1% of full.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REASONS = ["keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"]


def populate(home_path: Path, n: int, ca_dir: Path) -> None:
    """N revoked certificates in the kpki store (recorded as revoked through the store's
    interface, in one transaction) and the same N lines in an openssl index.txt."""
    from cryptography import x509

    from pki.home import Home
    from pki.store import CertificateRecord, CertStatus, KeyOrigin

    revoked_at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    not_after = dt.datetime(2027, 3, 1, 14, 59, 59, tzinfo=dt.UTC)
    index_lines = []
    with Home.open(home_path) as home:
        cert_der = home.store.get_ca("yessign").der
        with home.store.transaction() as tx:
            for i in range(n):
                serial = int.from_bytes(secrets.token_bytes(16)) or 1
                reason = REASONS[i % len(REASONS)]
                tx.put_certificate(CertificateRecord(
                    ca="yessign", serial=serial, subject=f"CN=bench{i}", holder="bench",
                    profile="joint-general", status=CertStatus.REVOKED,
                    not_before=revoked_at, not_after=not_after, der=cert_der,
                    issued_at=revoked_at, key_origin=KeyOrigin.PUBLIC_KEY,
                    revoked_at=revoked_at, reason=x509.ReasonFlags(reason)))
                hex_serial = format(serial, "X")
                even = hex_serial.zfill(len(hex_serial) + len(hex_serial) % 2)
                index_lines.append(f"R\t270301145959Z\t260301000000Z,{reason}\t{even}\t"
                                   f"unknown\t/CN=bench{i}\n")
    (ca_dir / "index.txt").write_text("".join(index_lines))
    (ca_dir / "index.txt.attr").write_text("unique_subject = no\n")
    (ca_dir / "crlnumber").write_text("01\n")


def run_measured(args: list[str]) -> tuple[float, int, str]:
    """Wall time, max RSS (KiB) and stdout of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"{args[0]} failed: {err}")
    return elapsed, usage.ru_maxrss, out


def kpki_child(home_path: str, mode: str) -> None:
    """Runs in a child process: one full CRL, or 1,000 changes then a delta CRL."""
    from cryptography import x509

    from pki import lifecycle
    from pki.home import Home
    from pki.revocation.crl import delta_url, issue_crl, write_crl

    with Home.open(home_path) as home:
        record = home.store.get_ca("yessign")
        key = home.load_ca_key("yessign", None)
        at = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
        if mode == "full":
            start = time.perf_counter()
            crl = issue_crl(record, key, home.store, at=at)
            write_crl(crl, home.publish_dir, record.crl_url)
            print(json.dumps({"seconds": time.perf_counter() - start,
                              "entries": crl.info.entries, "bytes": len(crl.der)}))
            return
        serials = [entry.serial for entry in itertools.islice(
            home.store.crl_entries("yessign", at=at), 1000)]
        for serial in serials:  # 1,000 changes: revoked ones turned into suspended
            with home.store.transaction() as tx:
                tx.set_status("yessign", serial, status=lifecycle.CertStatus.SUSPENDED,
                              at=at, revoked_at=at, reason=x509.ReasonFlags.certificate_hold,
                              invalidity_date=None)
        start = time.perf_counter()
        crl = issue_crl(record, key, home.store, at=at + dt.timedelta(hours=1), delta=True)
        write_crl(crl, home.publish_dir, delta_url(record.crl_url))
        print(json.dumps({"seconds": time.perf_counter() - start,
                          "entries": crl.info.entries}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[1].startswith("setup"):
            from pki.clock import FixedClock
            from pki.home import Home

            home_path = Path(args.child[0])
            # Made before the revocations and the CRLs, whose times are fixed: a CA's time
            # never goes backwards (its CRLs are dated no earlier than its latest event).
            made = FixedClock(dt.datetime(2026, 2, 28, tzinfo=dt.UTC))
            Home.create(home_path, passphrase=None, clock=made).close()
            populate(home_path, int(args.child[1].split(":")[1]), home_path.parent / "openssl-ca")
        else:
            kpki_child(*args.child)
        return

    # The parent stays small (no kpki import, no setup data): a child's peak RSS counts
    # what it inherited at fork.
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        home_path = tmp_path / "home"
        ca_dir = tmp_path / "openssl-ca"
        ca_dir.mkdir()
        start = time.perf_counter()
        run_measured([sys.executable, __file__, "--child", str(home_path), f"setup:{args.n}"])
        print(f"setup: {args.n:,} revocations in the store and in index.txt "
              f"({time.perf_counter() - start:.1f} s)")
        (ca_dir / "openssl.cnf").write_text(f"""
[ca]
default_ca = bench
[bench]
database = {ca_dir}/index.txt
crlnumber = {ca_dir}/crlnumber
certificate = {home_path}/cas/yessign/cert.pem
private_key = {home_path}/cas/yessign/key.pem
default_md = sha256
default_crl_days = 1
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
""")
        o_time, o_rss, _ = run_measured(
            ["openssl", "ca", "-gencrl", "-config", str(ca_dir / "openssl.cnf"), "-out",
             str(ca_dir / "crl.pem"), "-batch"])
        k_time, k_rss, out = run_measured([sys.executable, __file__, "--child",
                                           str(home_path), "full"])
        full = json.loads(out)
        _, _, d_out = run_measured([sys.executable, __file__, "--child",
                                         str(home_path), "delta"])
        delta = json.loads(d_out)

    print(f"openssl ca -gencrl: {o_time:7.2f} s  {o_rss / 1024:8.1f} MiB peak")
    print(f"kpki full CRL:      {k_time:7.2f} s  {k_rss / 1024:8.1f} MiB peak "
          f"({full['entries']:,} entries, {full['bytes'] / 2**20:.1f} MiB; "
          f"{full['seconds']:.2f} s inside the process)")
    print(f"ratio kpki/openssl: time {k_time / o_time:.2f}, memory {k_rss / o_rss:.2f} "
          "(targets <= 1.0)")
    print(f"delta CRL over {delta['entries']:,} changes: {delta['seconds'] * 1000:.1f} ms = "
          f"{100 * delta['seconds'] / full['seconds']:.3f}% of the full CRL (target < 1%)")


if __name__ == "__main__":
    main()
