#!/usr/bin/env python3
"""Certificate signing with a CA key in an HSM (SoftHSM2 over PKCS #11) against the same key
in memory, measured in the same run.

The same RSA-2048 key signs the same certificates both ways: once imported into a throwaway
SoftHSM2 token (sensitive, not extractable) and used through :class:`PKCS11CAKeyStore`
(``C_Sign`` under kpki's process-wide lock), once as a pyca key in memory. Each round builds
and signs N joint certificates with ``CertificateAuthority.issue_many`` (one transaction,
pre-made subscriber public keys) from each key, alternating which goes first (ABAB), and
prints the ratio in-memory time / HSM time per round (1.0: the HSM costs nothing; 0.5: it
halves the rate), then the median, min and max. The reference is the same issuance with the
key in memory, whose limit is pyca's RSA-2048 signature; the raw lines give that signature
against ``C_Sign`` alone, in the same rounds (the HSM's own limit). No target.

    python bench/hsm.py [-n 300] [--rounds 5] [--module /usr/lib/softhsm/libsofthsm2.so]

Needs Debian's softhsm2 (``softhsm2-util``) and python-pkcs11 (``pip install '.[hsm]'``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pki.authority import CertificateAuthority, IssueRequest
from pki.clock import FixedClock
from pki.home import Home
from pki.keys.castore import KeyLabel, MemoryCAKeyStore
from pki.keys.pkcs11 import PKCS11CAKeyStore
from pki.profiles import PROFILES, KeyType
from pki.rrn import synthetic_rrn

NOW = dt.datetime(2026, 3, 15, 3, 0, tzinfo=dt.UTC)
PIN = "1234"
RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


class OneKey:
    """A key generator that always gives the same key (the CA key both ways)."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key

    def generate(self, bits: int) -> rsa.RSAPrivateKey:
        return self.key


def token(folder: Path) -> str:
    """A SoftHSM2 token of its own in ``folder`` (SOFTHSM2_CONF set before the module loads)."""
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "kpki-bench",
                    "--pin", PIN, "--so-pin", "5678"], check=True, capture_output=True)
    return "kpki-bench"


def issue(authority: CertificateAuthority, keys: list[rsa.RSAPublicKey]) -> float:
    requests = [IssueRequest(PROFILES["joint-general"], name="홍길동", rrn=RRN,
                             public_key=key) for key in keys]
    began = time.perf_counter()
    authority.issue_many(requests)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="certificates a side a round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--module", default="/usr/lib/softhsm/libsofthsm2.so")
    args = parser.parse_args()
    rounds = max(5, args.rounds)

    with tempfile.TemporaryDirectory(prefix="kpki-bench-hsm-") as tmp:
        label = token(Path(tmp))
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subscriber = [rsa.generate_private_key(public_exponent=65537, key_size=2048)
                      .public_key() for _ in range(8)]
        hsm = PKCS11CAKeyStore(f"pkcs11:token={label}?module-path={args.module}",
                               pin=PIN.encode(), key_generator=OneKey(ca_key))
        memory = MemoryCAKeyStore(key_generator=OneKey(ca_key))
        homes = {}
        for name, keys in (("hsm", hsm), ("memory", memory)):
            homes[name] = Home.in_memory(keys=keys, clock=FixedClock(NOW))
        hsm.generate(KeyLabel.of_ca("bench"), KeyType.RSA2048)  # the raw line's key
        in_token = hsm.load(KeyLabel.of_ca("bench"))
        authorities = {name: home.authority() for name, home in homes.items()}
        assert (authorities["hsm"].record.certificate.public_key()
                == authorities["memory"].record.certificate.public_key())

        data = os.urandom(512)
        signing_keys = {"memory": ca_key, "hsm": in_token}
        ratios: list[float] = []
        raw_ratios: list[float] = []
        rates: dict[str, list[float]] = {"hsm": [], "memory": []}
        raw: dict[str, list[float]] = {"hsm": [], "memory": []}
        batch = (subscriber * (args.n // len(subscriber) + 1))[:args.n]
        for round_ in range(rounds):
            order = ("memory", "hsm") if round_ % 2 == 0 else ("hsm", "memory")
            took = {}
            for name in order:
                began = time.perf_counter()
                for _ in range(args.n):
                    signing_keys[name].sign(data, padding.PKCS1v15(), hashes.SHA256())
                raw[name].append(args.n / (time.perf_counter() - began))
            for name in order:
                took[name] = issue(authorities[name], batch)
                rates[name].append(args.n / took[name])
            ratios.append(took["memory"] / took["hsm"])
            raw_ratios.append(raw["hsm"][-1] / raw["memory"][-1])
            print(f"round {round_ + 1} ({order[0]} first): in memory "
                  f"{rates['memory'][-1]:7.1f}/s, HSM {rates['hsm'][-1]:7.1f}/s, "
                  f"ratio {ratios[-1]:.2f}")
        for home in homes.values():
            home.close()

    def spread(values: list[float], fmt: str) -> str:
        return (f"median {statistics.median(values):{fmt}}  min {min(values):{fmt}}  "
                f"max {max(values):{fmt}}")

    print(f"bench/hsm.py -n {args.n} --rounds {rounds} "
          f"({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f})")
    print(f"raw RSA-2048 PKCS #1 v1.5, in memory /s:  {spread(raw['memory'], '7.1f')}")
    print(f"raw C_Sign in SoftHSM2 /s:               {spread(raw['hsm'], '7.1f')}")
    print(f"  C_Sign / in-memory rate per round:     {spread(raw_ratios, '7.2f')}")
    print(f"certificates (issue_many), HSM rate / in-memory rate over {rounds} rounds: "
          f"{spread(ratios, '.2f')}  (no target)")

if __name__ == "__main__":
    main()
