#!/usr/bin/env python3
"""One-shot CLI commands: what a user pays for each ``kpki`` call (issue 18).

1. ``kpki cert show SERIAL``: CPU time (user + sys) of the whole process, absolute.
   Target <= 0.1 s. For context, the same for ``kpki --help`` and for ``python -c pass``
   (the interpreter's own start-up with this environment's site packages: the floor no
   Python command goes below).
2. ``kpki verify`` of one signature from files (``--trust``, ``--untrusted``, ``--crl`` of
   the licensed CA and of the root, no home) against ``openssl cms -verify
   -crl_check_all`` on the same certificates and CRLs (the root, the CA certificate and
   both CRLs in its -CAfile: openssl cms reads CRLs only from there, as PEM), interleaved
   A B A B. The reference is a C program doing the same checks in one process: the limit
   it stands for is verification without an interpreter's start-up, and at 1,000,000
   entries, reading the whole CRL in C. Targets: kpki/openssl <= 3 at 10,000 CRL entries,
   <= 0.5 at 1,000,000. Both must answer "valid, not revoked" or the run stops.

Times are CPU seconds of each child process (``RUSAGE_CHILDREN``), less disturbed by other
load on the machine than wall time, which is printed beside them. Every command runs once
before it is measured, with bytecode writing on, so no round compiles a module (the
environment's ``PYTHONDONTWRITEBYTECODE`` is dropped for the children).

Setup (not timed): a home with one joint certificate and a signature by it; N revoked
certificates of its licensed CA put into the store in bulk (as ``bench/crl.py`` does), then
``kpki publish``. The 1,000,000 case adds to the 10,000 one (about 4 minutes).

    python bench/cli.py [--rounds 5] [--quick]

``--quick`` skips the 1,000,000-entry CRL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

RRN = "8001011234560"
PASSWORD = "bench-Secret-123"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("KPKI_HOME", None)
    return env


def kpki_command() -> str:
    """The ``kpki`` script installed beside this Python, as a user runs it."""
    beside = Path(sys.executable).with_name("kpki")
    found = str(beside) if beside.is_file() else shutil.which("kpki")
    if found is None:
        raise SystemExit("no kpki script found: pip install -e .")
    return found


def run(args: Sequence[str], *, check: Callable[[int, str], bool] | None = None
        ) -> tuple[float, float]:
    """CPU seconds (user + sys) and wall seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(list(args), capture_output=True, text=True, env=child_env())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if check is not None and not check(done.returncode, done.stdout + done.stderr):
        raise SystemExit(f"{args[0]} {' '.join(args[1:3])}... answered otherwise "
                         f"({done.returncode}):\n{done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def succeeded(status: int, _: str) -> bool:
    return status == 0


def stats(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


# -- setup ---------------------------------------------------------------------------------


class Material:
    """The home, the signature and the files both verifiers read."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.kpki = kpki_command()
        self.serial = ""

    def cli(self, *args: str) -> str:
        done = subprocess.run([self.kpki, "--home", str(self.home), *args], check=True,
                              capture_output=True, text=True, env=child_env())
        return done.stdout

    def create(self) -> None:
        self.cli("init", "--no-passphrase")
        (self.base / "password").write_text(PASSWORD + "\n")
        self.cli("issue", "joint", "--name", "홍길동", "--rrn", RRN, "--out",
                 str(self.base / "out"), "--password-file", str(self.base / "password"))
        folder = next((self.base / "out").glob("NPKI/*/USER/*"))
        (self.base / "document.txt").write_text("이체 100,000원\n")
        self.cli("sign", str(self.base / "document.txt"), "--npki", str(folder),
                 "--password-file", str(self.base / "password"), "--out",
                 str(self.base / "document.p7s"))
        from cryptography import x509

        self.serial = format(x509.load_der_x509_certificate(
            (folder / "signCert.der").read_bytes()).serial_number, "X")
        shutil.copy(self.home / "cas" / "root" / "cert.pem", self.base / "root.pem")
        shutil.copy(self.home / "cas" / "yessign" / "cert.pem", self.base / "ca.pem")

    def revoke_more(self, count: int) -> None:
        """``count`` more revoked certificates of the licensed CA, in bulk."""
        from cryptography import x509

        from pki.home import Home
        from pki.store import CertificateRecord, CertStatus, KeyOrigin

        at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        with Home.open(self.home) as home:
            der = home.store.get_ca("yessign").der
            for start in range(0, count, 50_000):
                batch = [CertificateRecord(
                    ca="yessign", serial=secrets.randbits(62) | 1 << 62,
                    subject=f"CN=bench{start + i}", holder="bench", profile="joint-general",
                    status=CertStatus.REVOKED, not_before=at, not_after=at.replace(year=2030),
                    der=der, issued_at=at, key_origin=KeyOrigin.PUBLIC_KEY, revoked_at=at,
                    reason=x509.ReasonFlags.key_compromise)
                    for i in range(min(50_000, count - start))]
                with home.store.transaction() as tx:
                    tx.put_certificates(batch)

    def publish(self, name: str) -> Path:
        """Publish the CRLs and keep a copy of them, and openssl's -CAfile, under ``name``."""
        self.cli("publish")
        folder = self.base / name
        folder.mkdir()
        crls = self.home / "publish" / "crl"
        for file in ("yessign.crl", "root.crl"):
            shutil.copy(crls / file, folder / file)
        (folder / "cafile.pem").write_bytes(b"".join(
            path.read_bytes() for path in (self.base / "root.pem", self.base / "ca.pem",
                                           crls / "yessign.crl.pem", crls / "root.crl.pem")))
        return folder


# -- measuring -----------------------------------------------------------------------------


def kpki_verify(material: Material, crls: Path) -> list[str]:
    return [material.kpki, "--home", str(material.base / "no-home"), "verify",
            str(material.base / "document.p7s"), "--trust", str(material.base / "root.pem"),
            "--untrusted", str(material.base / "ca.pem"),
            "--crl", str(crls / "yessign.crl"), "--crl", str(crls / "root.crl")]


def openssl_verify(material: Material, crls: Path) -> list[str]:
    return ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(material.base / "document.p7s"), "-purpose", "any",
            "-CAfile", str(crls / "cafile.pem"), "-crl_check_all", "-out", os.devnull]


def kpki_not_revoked(status: int, output: str) -> bool:
    return status == 0 and "not revoked (CRL" in output


def openssl_valid(status: int, output: str) -> bool:
    return status == 0 and "Verification successful" in output


def measure_show(material: Material, rounds: int) -> None:
    show = [material.kpki, "--home", str(material.home), "cert", "show", material.serial]
    commands = {"kpki cert show": show, "kpki --help": [material.kpki, "--help"],
                "python -c pass": [sys.executable, "-c", "pass"]}
    for command in commands.values():
        run(command, check=succeeded)
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    wall: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            c, w = run(command, check=succeeded)
            cpu[name].append(c)
            wall[name].append(w)
    print("One-shot commands, CPU seconds (user + sys) of the process; wall seconds beside:")
    for name in commands:
        target = "   target <= 0.100" if name == "kpki cert show" else ""
        print(f"  {name:<16} CPU {stats(cpu[name])}  wall {stats(wall[name])}{target}")


def measure_verify(material: Material, crls: Path, entries: int, rounds: int,
                   target: float) -> None:
    ours, theirs = kpki_verify(material, crls), openssl_verify(material, crls)
    run(ours, check=kpki_not_revoked)
    run(theirs, check=openssl_valid)
    ratios, walls = [], []
    kpki_cpu, openssl_cpu = [], []
    for i in range(rounds):
        order = [(ours, kpki_not_revoked), (theirs, openssl_valid)]
        if i % 2:
            order.reverse()
        measured = {id(cmd): run(cmd, check=check) for cmd, check in order}
        (k_cpu, k_wall), (o_cpu, o_wall) = measured[id(ours)], measured[id(theirs)]
        kpki_cpu.append(k_cpu)
        openssl_cpu.append(o_cpu)
        ratios.append(k_cpu / o_cpu)
        walls.append(k_wall / o_wall)
    print(f"kpki verify vs openssl cms -verify -crl_check_all, CRL of {entries:,} entries "
          f"({(crls / 'yessign.crl').stat().st_size / 1e6:.1f} MB DER):")
    print(f"  kpki    CPU {stats(kpki_cpu)} s")
    print(f"  openssl CPU {stats(openssl_cpu)} s")
    print(f"  kpki/openssl CPU  {stats(ratios)}   target <= {target}")
    print(f"  kpki/openssl wall {stats(walls)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="skip the 1,000,000-entry CRL (its setup takes minutes)")
    args = parser.parse_args(argv)
    if args.rounds < 5:
        parser.error("at least 5 rounds")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="kpki-bench-cli-") as tmp:
        material = Material(Path(tmp))
        material.create()
        material.revoke_more(10_000)
        small = material.publish("crl-10k")
        measure_show(material, args.rounds)
        measure_verify(material, small, 10_000, args.rounds, target=3.0)
        if not args.quick:
            material.revoke_more(990_000)
            large = material.publish("crl-1m")
            measure_verify(material, large, 1_000_000, args.rounds, target=0.5)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
