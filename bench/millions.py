#!/usr/bin/env python3
"""Homes of millions (issue 16 item 4): how kpki's costs grow with the number of stored
certificates, the measured curves of docs/scaling.md.

At each size N (``--sizes``), in a fresh home holding N revoked certificates of yessign:

* ``kpki crl publish``: wall time (a full CRL of N entries per CA, and its files);
* ``kpki serve``: start-up time, from the process's start to the first CRL answered 200
  (the home has published before: the served bytes are the stored ones);
* ``kpki cert list --jsonl``: time to the first row, total time and max RSS (target under
  200 MB at 1,000,000), each in a child process (``os.wait4`` gives its own usage);
* issuance (``issue_many``, RSA-2048 public keys made beforehand) into that home against
  into an empty home, interleaved, ``--rounds`` rounds: the ratio's median, min and max
  (target >= 0.9: the cost of issuing must not grow with the store). This is the one
  figure with a reference measured in the same run (the empty home, the limit a full one
  can reach), at least 5 rounds.

The other figures are absolute times and memory with absolute targets (issue 16): a curve
over N, with no reference to interleave; each run prints its date and load average.

**The filler is bench-only.** Signing a million real certificates takes hours, so the N
rows are written through the store's interface (``put_certificates``, multi-row INSERTs in
one transaction per 50,000, each row with its audit row as any issuance has) reusing the DER
of one real joint
certificate issued first, under N distinct random 128-bit serials (what kpki draws). Every
row is what an issuance records, except that the DER's own serial is the same in all of them;
nothing measured here reads it (the listing parses the DER for policy, VID and fingerprint,
which costs the same whatever its serial).

    python bench/millions.py --sizes 10000,100000,1000000 [--rounds 5] [--batch 200]
                             [--keep DIR | --store postgresql]

``--store postgresql`` keeps every home's store in a database of its own on a throwaway
PostgreSQL server listening on a loopback TCP port (the tests' server, as in
``bench/issue.py``: fsync off), started for the run and gone at its end; the CLI commands
measured reach it through each home's ``store.url``.

Run it when the machine is quiet (``uptime``); the 1,000,000 home takes a few minutes to
fill and about 1 GB of disk.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _serve import kpki_serve  # noqa: E402

if TYPE_CHECKING:
    from tests.postgresql import ThrowawayServer

KPKI = str(Path(sys.executable).parent / "kpki")
RRN = "9005171234566"
FILL_BATCH = 50_000


# -- children (they import kpki; the parent stays small) ------------------------------------

def fill(home_path: Path, n: int, store_url: str | None) -> None:
    """A new home with N revoked certificates at yessign (see the module doc)."""
    from cryptography import x509

    from pki.clock import FixedClock
    from pki.home import Home
    from pki.store import CertificateRecord, CertStatus, KeyOrigin

    made = dt.datetime(2026, 2, 28, tzinfo=dt.UTC)
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with Home.create(home_path, passphrase=None, clock=FixedClock(made),
                     store_url=store_url) as home:
        real = home.authority().issue_joint(name="홍길동", rrn=RRN)
        sample = home.store.find_certificates(real.serial)[0]
        done = 0
        while done < n:
            records = {}
            for i in range(done, min(n, done + FILL_BATCH)):
                serial = int.from_bytes(secrets.token_bytes(16)) | 1
                records[serial] = CertificateRecord(
                    ca="yessign", serial=serial, subject=sample.subject,
                    holder=sample.holder, profile=sample.profile, status=CertStatus.REVOKED,
                    not_before=sample.not_before, not_after=sample.not_after, der=sample.der,
                    issued_at=at, key_origin=KeyOrigin.PUBLIC_KEY, revoked_at=at,
                    reason=x509.ReasonFlags.superseded if i % 2 else
                    x509.ReasonFlags.key_compromise)
            with home.store.transaction() as tx:
                refused = tx.put_certificates(list(records.values()))
            done += len(records) - len(refused)  # (a 128-bit serial drawn twice: never)
        print(json.dumps({"crl_url": home.store.get_ca("yessign").crl_url}))


def issuance(full_path: Path, empty_path: Path, rounds: int, batch: int) -> None:
    """Interleaved rounds of ``issue_many`` into the empty home and the full one; prints
    each round's two rates."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from pki.authority import IssueRequest
    from pki.home import Home
    from pki.profiles import PROFILES

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
            for _ in range(8)]
    requests = [IssueRequest(PROFILES["joint-general"], name="홍길동", rrn=RRN,
                             public_key=keys[i % len(keys)]) for i in range(batch)]
    with Home.open(full_path) as full, Home.open(empty_path) as empty:
        authorities = {"empty": empty.authority(), "full": full.authority()}
        for authority in authorities.values():  # warm up: imports, caches, the CA key
            authority.issue_many(requests[:10])
        rates: dict[str, list[float]] = {"empty": [], "full": []}
        for round_ in range(rounds):
            order = ["empty", "full"] if round_ % 2 == 0 else ["full", "empty"]
            for name in order:
                start = time.perf_counter()
                authorities[name].issue_many(requests)
                rates[name].append(batch / (time.perf_counter() - start))
        print(json.dumps(rates))


def make_empty(home_path: Path, store_url: str | None) -> None:
    from pki.clock import FixedClock
    from pki.home import Home

    Home.create(home_path, passphrase=None, store_url=store_url,
                clock=FixedClock(dt.datetime(2026, 2, 28, tzinfo=dt.UTC))).close()


class Stores:
    """Where each home's store goes: SQLite in the home (no URL), or a new database on the
    run's throwaway PostgreSQL server."""

    def __init__(self, kind: str, stack: contextlib.ExitStack) -> None:
        self._server: ThrowawayServer | None = None
        if kind == "postgresql":
            from _postgresql import loopback_server

            self._server = stack.enter_context(loopback_server())

    def new(self, name: str) -> list[str]:
        """The child's arguments naming the store of home ``name`` (made empty here)."""
        if self._server is None:
            return ["-"]
        from _postgresql import new_database

        return [new_database(self._server, name)]


# -- the parent --------------------------------------------------------------------------

def child(*args: str) -> str:
    done = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                          capture_output=True, text=True)
    return done.stdout


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def cert_list(home: Path, limit: int | None) -> dict[str, float]:
    """``kpki cert list --jsonl [--limit N]``: seconds to the first row and to the end, max
    RSS (MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([KPKI, "--home", str(home), "cert", "list", "--jsonl",
                             *(["--limit", str(limit)] if limit else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    first_at = time.perf_counter() - start
    rows = 1 if first else 0
    for _ in proc.stdout:
        rows += 1
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    if status != 0:
        raise SystemExit("kpki cert list failed")
    return {"first_row_s": first_at, "total_s": total, "max_rss_mib": usage.ru_maxrss / 1024,
            "rows": rows}


def serve_start(home: Path, crl_path: str) -> float:
    """Seconds from starting ``kpki serve`` to its first CRL answered 200."""
    start = time.perf_counter()
    with kpki_serve(home) as url:
        while True:
            try:
                with urllib.request.urlopen(url + crl_path, timeout=30) as response:
                    if response.status == 200:
                        response.read()
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.01)


def measure(size: int, tmp: Path, rounds: int, batch: int, list_limit: int | None,
            stores: Stores) -> dict[str, object]:
    home = tmp / f"home-{size}"
    empty = tmp / f"empty-{size}"
    start = time.perf_counter()
    if (home / "filled.json").is_file():  # --keep: filled by an earlier run
        info, fill_s = json.loads((home / "filled.json").read_text()), float("nan")
    else:
        info = json.loads(child("fill", str(home), str(size), *stores.new(f"home_{size}")))
        fill_s = time.perf_counter() - start
        (home / "filled.json").write_text(json.dumps(info))
    if not empty.is_dir():
        child("empty", str(empty), *stores.new(f"empty_{size}"))
    crl_path = "/" + info["crl_url"].split("://", 1)[1].split("/", 1)[1]
    publish_s = timed([KPKI, "--home", str(home), "crl", "publish"])
    serve_s = serve_start(home, crl_path)
    listing = cert_list(home, list_limit)
    rates = json.loads(child("issue", str(home), str(empty), str(max(5, rounds)), str(batch)))
    ratios = [f / e for f, e in zip(rates["full"], rates["empty"], strict=True)]
    return {"size": size, "fill_s": fill_s, "crl_publish_s": publish_s,
            "serve_start_s": serve_s, **listing,
            "issue_rate_empty": statistics.median(rates["empty"]),
            "issue_rate_full": statistics.median(rates["full"]),
            "issue_ratio_median": statistics.median(ratios),
            "issue_ratio_min": min(ratios), "issue_ratio_max": max(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated numbers of stored certificates")
    parser.add_argument("--rounds", type=int, default=5, help="issuance rounds (>= 5)")
    parser.add_argument("--batch", type=int, default=200, help="certificates a round")
    parser.add_argument("--list-limit", type=int, metavar="N",
                        help="list only the first N certificates of each home (the whole "
                        "listing of a million takes long on a busy machine) [all]")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the homes in DIR and keep them; a later run reuses them "
                        "(no fill time then) [a temporary folder]")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                        help="the homes' store (postgresql: a throwaway server on a "
                        "loopback port, a database per home) [sqlite]")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "fill":
            fill(Path(rest[0]), int(rest[1]), None if rest[2] == "-" else rest[2])
        elif kind == "empty":
            make_empty(Path(rest[0]), None if rest[1] == "-" else rest[1])
        else:
            issuance(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]))
        return
    if args.keep is not None and args.store == "postgresql":
        parser.error("--keep keeps SQLite homes only (the PostgreSQL server is a "
                     "throwaway one)")
    sizes = [int(s) for s in args.sizes.split(",")]
    with contextlib.ExitStack() as stack:
        run(args, sizes, Stores(args.store, stack))


def run(args: argparse.Namespace, sizes: list[int], stores: Stores) -> None:
    print(f"bench/millions.py --sizes {args.sizes} --rounds {args.rounds} --batch "
          f"{args.batch}{f' --list-limit {args.list_limit}' if args.list_limit else ''} "
          f"--store {args.store}  "
          f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f})")
    print("filler: one real joint certificate's DER under N random serials, all revoked "
          "(bench-only; see the module doc)")
    print(f"{'N':>9} {'fill s':>7} {'publish s':>9} {'serve s':>7} {'list 1st s':>10} "
          f"{'list s':>7} {'rows':>9} {'list MiB':>8} {'issue/s empty':>13} "
          f"{'issue/s full':>12} {'ratio med [min-max]':>20}")
    for size in sizes:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            r = measure(size, args.keep, args.rounds, args.batch, args.list_limit, stores)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                r = measure(size, Path(tmp), args.rounds, args.batch, args.list_limit,
                            stores)
        print(f"{size:>9,} {r['fill_s']:>7.1f} {r['crl_publish_s']:>9.2f} "
              f"{r['serve_start_s']:>7.2f} {r['first_row_s']:>10.3f} {r['total_s']:>7.1f} "
              f"{r['rows']:>9,} {r['max_rss_mib']:>8.1f} {r['issue_rate_empty']:>13.1f} "
              f"{r['issue_rate_full']:>12.1f} {r['issue_ratio_median']:>8.2f} "
              f"[{r['issue_ratio_min']:.2f}-{r['issue_ratio_max']:.2f}]", flush=True)
    print("targets: list first row < 1 s and max RSS < 200 MB at 1,000,000; serve start "
          "< 2 s; issuance ratio full/empty >= 0.9")


if __name__ == "__main__":
    main()
