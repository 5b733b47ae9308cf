"""What the bank's tests share: a store file with Hana in it, a frozen clock, callers run in
parallel threads (each its own store connection) or processes, and runs killed at a fault
point."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pki.bank.cards import SecurityCards
from pki.bank.customers import Customers
from pki.bank.institutions import BankSettings, add_bank
from pki.clock import FixedClock
from pki.entropy import SeededEntropy
from pki.store import BankCustomer, Institution, Store, open_store, sqlite_url

from .parallel import in_parallel as in_parallel  # the harness, shared with the cloud's tests

T0 = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)
"""05:30 KST on Monday 16 March 2026 (still 15 March in UTC)."""
RRN = "900517-1234566"
OTHER_RRN = "850101-2345678"


@dataclass
class BankWorld:
    """One store file, a frozen clock, Hana (081) and one customer of it."""

    path: Path
    store: Store
    clock: FixedClock
    hana: Institution
    customers: Customers
    cards: SecurityCards
    customer: BankCustomer

    def reopen(self) -> tuple[Store, Customers, SecurityCards]:
        """Another connection to the same store (what another thread or process has)."""
        store = open_store(sqlite_url(self.path))
        return (store, Customers(store, clock=self.clock),
                SecurityCards(store, clock=self.clock))


def make_world(tmp_path: Path, *, settings: BankSettings | dict[str, Any] | None = None,
               seed: str = "bank-tests") -> BankWorld:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "bank.db"
    store = open_store(sqlite_url(path), create=True)
    clock = FixedClock(T0)
    hana, _ = add_bank(store, "081", at=T0, settings=settings)
    customers = Customers(store, clock=clock, entropy=SeededEntropy(seed))
    cards = SecurityCards(store, clock=clock, entropy=SeededEntropy(seed + "-cards"))
    customer = customers.add(hana, name="홍길동", rrn=RRN, phone="010-1234-5678",
                             carrier="SKT")
    return BankWorld(path, store, clock, hana, customers, cards, customer)


def in_processes(target: Callable[..., None], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*job, barrier, queue)`` in one spawned process a job, released
    together; returns what each put on the queue (a list), in no particular order."""
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(len(jobs)), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*job, barrier, queue)) for job in jobs]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return results


def killed_at(fault: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter that SIGKILLs itself at ``fault``
    (:mod:`pki.faults`); asserts it died there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    env["KPKI_FAULT"] = fault
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == -9, (done.returncode, done.stderr)
    return done


def watch_kdf_for_the_write_lock(monkeypatch: Any, store: Store) -> list[bool]:
    """Wrap the bank's password KDF (:mod:`pki.bank.passwords`) so each run records whether
    another connection to ``store``'s database could take the write lock meanwhile (on
    either backend); the list it returns fills as the KDF runs."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    from .store_probe import could_others_write

    others_could_write: list[bool] = []

    class WatchedScrypt:
        def __init__(self, **params: Any) -> None:
            self.kdf = Scrypt(**params)

        def derive(self, key_material: bytes) -> bytes:
            others_could_write.append(could_others_write(store))
            return self.kdf.derive(key_material)

    monkeypatch.setattr("pki.bank.passwords.Scrypt", WatchedScrypt)
    return others_could_write
