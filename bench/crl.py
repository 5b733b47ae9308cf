#!/usr/bin/env python3
"""A full CRL from the command line: ``kpki crl publish`` against ``openssl ca -gencrl``.

The reference is OpenSSL's own CA tool making the same CRL from its text database: it
stands for what a CA operator would run instead, and its time is the limit a C program
reading revocations and signing one RSA-2048 signature reaches.

Setup (not timed), for each size N: a fresh home whose store holds N revoked certificates of
its licensed CA (each row with a real certificate's bytes, as issued ones have), and an
``openssl ca`` directory whose ``index.txt`` holds the same N revocations: same serials,
reasons and times (spread over the weeks, one every few seconds, as real revocations are),
both signing with the same RSA-2048 CA key.

Measured: each tool as a user runs it, a process from start to exit (start-up and imports
included): ``kpki --home H crl publish --ca yessign`` (reads the store, signs, keeps the CRL
in the store and writes it as DER and PEM into the publish folder) and ``openssl ca -gencrl
-out crl.pem``; wall time and peak memory (max RSS) of each process, interleaved (openssl,
kpki, openssl, kpki, ...) over the rounds; printed as the median of the per-round ratios
kpki/openssl with min and max. After the first round both CRLs are read (in a process of
their own) and must list the same serials with the same reasons and times.

Then, once per size, 1,000 status changes and a delta CRL over them, against the full CRL.

    python bench/crl.py [-n 10000 100000 1000000] [--rounds 5] [--big-rounds 3] [--quick]

``--quick``: 10,000 and 100,000 only. Sizes of 1,000,000 and more run ``--big-rounds``
rounds (3 by default: a round costs ~30 s of openssl there, and its spread is small next to
the ratio); smaller sizes run ``--rounds`` (at least 5).

Targets (issue 18): kpki/openssl <= 1.0 at 10,000 and 100,000 revocations and <= 0.3 at
1,000,000, in time and in memory; delta < 1% of the full CRL (issue 4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REASONS = ["keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"]
FIRST_REVOCATION = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SPACING_SECONDS = 7
BIG = 1_000_000


def populate(home_path: Path, n: int, ca_dir: Path) -> None:
    """N revoked certificates in the kpki store (recorded through the store's interface,
    1,000 a statement) and the same N lines in an openssl index.txt."""
    from cryptography import x509

    from pki.home import Home
    from pki.store import CertificateRecord, CertStatus, KeyOrigin

    not_after = dt.datetime(2027, 3, 1, 14, 59, 59, tzinfo=dt.UTC)
    with Home.open(home_path) as home, (ca_dir / "index.txt").open("w") as index:
        cert_der = home.store.get_ca("yessign").der
        for start in range(0, n, 1000):
            batch = []
            for i in range(start, min(n, start + 1000)):
                serial = int.from_bytes(secrets.token_bytes(16)) or 1
                reason = REASONS[i % len(REASONS)]
                revoked_at = FIRST_REVOCATION + dt.timedelta(seconds=SPACING_SECONDS * i)
                batch.append(CertificateRecord(
                    ca="yessign", serial=serial, subject=f"CN=bench{i}", holder="bench",
                    profile="joint-general", status=CertStatus.REVOKED,
                    not_before=FIRST_REVOCATION, not_after=not_after, der=cert_der,
                    issued_at=revoked_at, key_origin=KeyOrigin.PUBLIC_KEY,
                    revoked_at=revoked_at, reason=x509.ReasonFlags(reason)))
                hex_serial = format(serial, "X")
                even = hex_serial.zfill(len(hex_serial) + len(hex_serial) % 2)
                index.write(f"R\t270301145959Z\t{revoked_at:%y%m%d%H%M%S}Z,{reason}\t{even}\t"
                            f"unknown\t/CN=bench{i}\n")
            with home.store.transaction() as tx:
                assert not tx.put_certificates(batch)
    (ca_dir / "index.txt.attr").write_text("unique_subject = no\n")
    (ca_dir / "crlnumber").write_text("01\n")


def measured(args: list[str]) -> tuple[float, int, str]:
    """Wall time, max RSS (KiB) and stdout of a child process (output drained through
    files, so a full pipe never holds it up)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{args[0]} failed: {err.read().decode(errors='replace')}")
        return elapsed, usage.ru_maxrss, out.read().decode()


def check_same(openssl_pem: str, kpki_der: str) -> None:
    """Runs in a child process: both CRLs list the same serials, reasons and times."""
    from cryptography import x509

    def lines(crl: x509.CertificateRevocationList) -> set[tuple[int, str, dt.datetime]]:
        found = set()
        for entry in crl:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value
                name = reason.reason.value
            except x509.ExtensionNotFound:
                name = "unspecified"
            found.add((entry.serial_number, name, entry.revocation_date_utc))
        return found

    theirs = lines(x509.load_pem_x509_crl(Path(openssl_pem).read_bytes()))
    ours = lines(x509.load_der_x509_crl(Path(kpki_der).read_bytes()))
    if theirs != ours:
        raise SystemExit(f"the CRLs differ: {len(theirs - ours)} lines only in openssl's, "
                         f"{len(ours - theirs)} only in kpki's")
    print(json.dumps({"lines": len(ours)}))


def delta_child(home_path: str) -> None:
    """Runs in a child process: 1,000 changes, then a delta CRL (timed inside)."""
    from cryptography import x509

    from pki import lifecycle
    from pki.home import Home
    from pki.revocation.crl import delta_url, issue_crl, write_crl

    with Home.open(home_path) as home:
        record = home.store.get_ca("yessign")
        key = home.load_ca_key("yessign", None)
        at = home.clock.now()
        serials = [entry.serial for entry in itertools.islice(
            home.store.crl_entries("yessign", at=at), 1000)]
        for serial in serials:  # 1,000 changes: revoked ones turned into suspended
            with home.store.transaction() as tx:
                tx.set_status("yessign", serial, status=lifecycle.CertStatus.SUSPENDED,
                              at=at, revoked_at=at, reason=x509.ReasonFlags.certificate_hold,
                              invalidity_date=None)
        start = time.perf_counter()
        crl = issue_crl(record, key, home.store, at=home.clock.now(), delta=True)
        write_crl(crl, home.publish_dir, delta_url(record.crl_url))
        print(json.dumps({"seconds": time.perf_counter() - start,
                          "entries": crl.info.entries}))


def kpki_command() -> str:
    """The ``kpki`` script installed beside this Python, as a user runs it."""
    beside = Path(sys.executable).with_name("kpki")
    found = str(beside) if beside.is_file() else shutil.which("kpki")
    if found is None:
        raise SystemExit("no kpki command beside this Python or on PATH")
    return found


def ratios(kpki: list[float], openssl: list[float]) -> str:
    each = sorted(k / o for k, o in zip(kpki, openssl, strict=True))
    return f"median {statistics.median(each):.2f} (min {each[0]:.2f}, max {each[-1]:.2f})"


def bench_size(n: int, rounds: int, tmp_path: Path) -> dict[str, object]:
    home_path = tmp_path / f"home-{n}"
    ca_dir = tmp_path / f"openssl-ca-{n}"
    ca_dir.mkdir()
    start = time.perf_counter()
    measured([sys.executable, __file__, "--child", "setup", str(home_path), str(n)])
    print(f"setup: {n:,} revocations in the store and in index.txt "
          f"({time.perf_counter() - start:.1f} s)", flush=True)
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
    openssl = ["openssl", "ca", "-gencrl", "-config", str(ca_dir / "openssl.cnf"), "-out",
               str(ca_dir / "crl.pem"), "-batch"]
    kpki = [kpki_command(), "--home", str(home_path), "crl", "publish", "--ca", "yessign"]
    o_times, o_rss, k_times, k_rss = [], [], [], []
    for round_number in range(rounds):
        elapsed, rss, _ = measured(openssl)
        o_times.append(elapsed)
        o_rss.append(rss)
        elapsed, rss, _ = measured(kpki)
        k_times.append(elapsed)
        k_rss.append(rss)
        print(f"  round {round_number + 1}: openssl {o_times[-1]:6.2f} s {o_rss[-1] / 1024:7.1f} "
              f"MiB   kpki {k_times[-1]:6.2f} s {k_rss[-1] / 1024:7.1f} MiB", flush=True)
        if round_number == 0:
            _, _, out = measured([sys.executable, __file__, "--child", "check",
                                  str(ca_dir / "crl.pem"),
                                  str(home_path / "publish" / "crl" / "yessign.crl")])
            print(f"  both CRLs list the same {json.loads(out)['lines']:,} serials, reasons "
                  "and times", flush=True)
    _, _, out = measured([sys.executable, __file__, "--child", "delta", str(home_path)])
    delta = json.loads(out)
    shutil.rmtree(home_path)
    shutil.rmtree(ca_dir)
    return {"n": n, "rounds": rounds, "o_times": o_times, "o_rss": o_rss, "k_times": k_times,
            "k_rss": k_rss, "delta": delta}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, nargs="+", default=[10_000, 100_000, BIG],
                        help="numbers of revocations [10,000 100,000 1,000,000]")
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 only")
    parser.add_argument("--rounds", type=int, default=5, help="rounds below 1,000,000 [5]")
    parser.add_argument("--big-rounds", type=int, default=3,
                        help="rounds at 1,000,000 and more [3]")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "setup":
            from pki.clock import FixedClock
            from pki.home import Home

            # Made before the revocations, whose times are fixed: a CA's time never goes
            # backwards.
            made = FixedClock(dt.datetime(2026, 2, 28, tzinfo=dt.UTC))
            Home.create(Path(rest[0]), passphrase=None, clock=made).close()
            populate(Path(rest[0]), int(rest[1]),
                     Path(rest[0]).with_name(f"openssl-ca-{rest[1]}"))
        elif kind == "check":
            check_same(*rest)
        else:
            delta_child(*rest)
        return

    sizes = [10_000, 100_000] if args.quick else args.n
    # The parent stays small (no kpki import, no setup data); each tool runs in a process of
    # its own, measured through wait4.
    results = []
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rounds = args.big_rounds if n >= BIG else args.rounds
            print(f"{n:,} revocations, {rounds} rounds (openssl, kpki, openssl, kpki, ...)",
                  flush=True)
            results.append(bench_size(n, rounds, Path(tmp)))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nreference: openssl ca -gencrl (one process, C); kpki: kpki crl publish --ca "
          "yessign (one process, start-up included)")
    for r in results:
        n = r["n"]
        o_times, k_times = r["o_times"], r["k_times"]
        o_rss, k_rss = r["o_rss"], r["k_rss"]
        target = 0.3 if n >= BIG else 1.0
        assert isinstance(o_times, list) and isinstance(k_times, list)
        assert isinstance(o_rss, list) and isinstance(k_rss, list)
        print(f"{n:>9,}: openssl {statistics.median(o_times):6.2f} s "
              f"{statistics.median(o_rss) / 1024:7.1f} MiB; kpki "
              f"{statistics.median(k_times):6.2f} s {statistics.median(k_rss) / 1024:7.1f} MiB")
        print(f"           kpki/openssl time   {ratios(k_times, o_times)}  "
              f"(target <= {target})")
        print(f"           kpki/openssl memory {ratios(k_rss, o_rss)}  (target <= {target})")
        delta = r["delta"]
        assert isinstance(delta, dict)
        print(f"           delta CRL over {delta['entries']:,} changes: "
              f"{delta['seconds'] * 1000:.1f} ms = "
              f"{100 * delta['seconds'] / statistics.median(k_times):.3f}% of the full CRL's "
              "command (target < 1%)")


if __name__ == "__main__":
    main()
