#!/usr/bin/env python3
"""Batch issuance: ``kpki issue joint --from people.csv`` against ``issue_many`` from Python.

Both sides issue the same N joint certificates into NPKI folders, in one transaction each,
from the same home:

- **CLI**: ``pki.cli.main.main(["issue", "joint", "--from", CSV, "--out", DIR, "--manifest",
  FILE])`` in this process, as a script would run it: it opens the home, decrypts the CA key
  (PBKDF2, 600,000 iterations), reads and checks the CSV, issues through ``issue_many`` with
  one NPKI delivery a row and writes the manifest. In-process, so the interpreter start-up
  and imports (0.5-0.9 s on the 2-core development machine, paid once per call whatever N
  is) are not in the figure.
- **Python**, the reference: ``authority.issue_many(requests, deliver=[NPKIDelivery(...),
  ...])`` with the authority built beforehand, the requests and deliveries built inside the
  timing. It is the call the CLI ends in, so it is the CLI's limit: the ratio says what the
  CLI's home, key, CSV and manifest handling cost on top of it.

Both write the folders (signCert.der, signPri.key encrypted under the password), and both
draw subscriber keys from the same small pool of pre-generated RSA-2048 keys: key
generation (~50-100 ms a key) would otherwise be nearly all of both figures. Rounds are
interleaved, the side that went first going second in the next round (CLI, Python, Python,
CLI, ...); the ratio of each round is CLI rate / Python rate in that round.

    python bench/batch.py [-n 1000] [--rounds 5]

Target (issue 13 item 2): median ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from pki.authority import CertificateAuthority, IssueRequest
from pki.cli.main import main as kpki
from pki.delivery import NPKIDelivery
from pki.home import Home
from pki.keys import generate
from pki.profiles import PROFILES, Profile
from pki.rrn import synthetic_rrn

PASSWORD = "Test-pass-1234!"
PASSPHRASE = b"bench-ca-passphrase"


def _pool_keys(count: int) -> None:
    pool = itertools.cycle([rsa.generate_private_key(public_exponent=65537, key_size=2048)
                            for _ in range(count)])
    generate.RSAKeyGenerator.generate = lambda self, bits: next(pool)  # type: ignore[method-assign]


def _people(n: int) -> list[tuple[str, str]]:
    birth = dt.date(1990, 5, 17)
    return [(f"사람{i}", synthetic_rrn(birth, female=bool(i % 2), serial=i).digits)
            for i in range(n)]


def _cli(root: Path, round_: int, csv: Path, *_: object) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # its one-line summary
        status = kpki(["issue", "joint", "--from", str(csv), "--out",
                       str(root / f"cli-{round_}"), "--manifest",
                       str(root / f"manifest-{round_}.jsonl")])
    assert status == 0, status


def _python(root: Path, round_: int, csv: Path, authority: CertificateAuthority,
            profile: Profile, people: list[tuple[str, str]]) -> None:
    out = root / f"py-{round_}"
    requests = [IssueRequest(profile, name=n, rrn=r) for n, r in people]
    deliveries = [NPKIDelivery(out, password=PASSWORD, recover=i == 0)
                  for i in range(len(people))]
    authority.issue_many(requests, deliver=deliveries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="certificates per call")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _pool_keys(8)
    people = _people(args.n)
    cli_rates, py_rates, ratios = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home_path = root / "home"
        Home.create(home_path, passphrase=PASSPHRASE).close()
        csv = root / "people.csv"
        csv.write_text("name,rrn\n" + "".join(f"{n},{r}\n" for n, r in people),
                       encoding="utf-8")
        os.environ.update({"KPKI_HOME": str(home_path), "KPKI_KEY_PASSWORD": PASSWORD,
                           "KPKI_CA_PASSPHRASE": PASSPHRASE.decode()})
        with Home.open(home_path, passphrase=PASSPHRASE) as home:
            authority = home.authority(passphrase=PASSPHRASE)
            profile = PROFILES["joint-general"]
            for round_ in range(args.rounds):
                # Alternate which side goes first: the second of a round pays for the
                # write-back of the first's folders.
                sides: list[Callable[..., None]] = ([_cli, _python] if round_ % 2 == 0
                                                    else [_python, _cli])
                times: dict[Callable[..., None], float] = {}
                for side in sides:
                    start = time.perf_counter()
                    side(root, round_, csv, authority, profile, people)
                    times[side] = time.perf_counter() - start
                cli_time, py_time = times[_cli], times[_python]

                for name in ("cli", "py"):
                    written = list((root / f"{name}-{round_}").glob(
                        "NPKI/*/USER/*/signPri.key"))
                    assert len(written) == args.n, (name, len(written))
                cli_rates.append(args.n / cli_time)
                py_rates.append(args.n / py_time)
                ratios.append(cli_rates[-1] / py_rates[-1])
                print(f"round {round_ + 1}: CLI {cli_rates[-1]:7.1f}/s  Python "
                      f"{py_rates[-1]:7.1f}/s  ratio {ratios[-1]:.2f}", flush=True)
            stored = len(home.store.list_certificates())

    def summary(values: list[float], fmt: str) -> str:
        return (f"median {statistics.median(values):{fmt}}  min {min(values):{fmt}}  "
                f"max {max(values):{fmt}}")

    print(f"certificates stored: {stored}; both sides write the NPKI folders (signCert.der "
          "+ signPri.key) and draw keys from the same pre-generated pool")
    print(f"kpki issue joint --from CSV (in-process): {summary(cli_rates, '8.1f')} certs/s")
    print(f"issue_many from Python:                  {summary(py_rates, '8.1f')} certs/s")
    print(f"ratio CLI / Python ({args.rounds} interleaved rounds of {args.n}): "
          f"{summary(ratios, '.2f')}  (target >= 0.70)")


if __name__ == "__main__":
    main()
