"""What the OTP tests share: a store with banks and customers, and an OTP centre over it.

Customers are recorded through the store directly (the bank's customer module is tested
on its own); one person (one RRN) is a customer of several banks, as in life.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pki.bank.otp import OtpCentre, OtpSettings
from pki.clock import KST, FixedClock
from pki.entropy import SeededEntropy
from pki.store import BankCustomer, Carrier, LineType, Store, open_store, sqlite_url

SECRET = bytes(range(32))
T0 = dt.datetime(2026, 5, 11, 10, 0, 0, tzinfo=KST)
RRN = "9005171234568"
OTHER_RRN = "8501012345671"
BANKS = {"KB": "004", "Hana": "081", "Woori": "020"}


@dataclass
class World:
    path: Path
    store: Store
    clock: FixedClock
    centre: OtpCentre
    banks: dict[str, int]
    customers: dict[tuple[str, str], BankCustomer]

    def customer(self, bank: str, rrn: str = RRN) -> BankCustomer:
        return self.customers[(bank, rrn)]

    def centre_for(self, store: Store, settings: OtpSettings | None = None) -> OtpCentre:
        """Another centre (another connection, as another thread or process has)."""
        return OtpCentre(store, self.clock, secret=SECRET,
                         settings=settings or self.centre.settings)


def make_world(tmp_path: Path, *, settings: OtpSettings | None = None,
               participating: tuple[str, ...] | None = None) -> World:
    path = tmp_path / "kpki.db"
    store = open_store(sqlite_url(path), create=True)
    clock = FixedClock(T0)
    banks: dict[str, int] = {}
    customers: dict[tuple[str, str], BankCustomer] = {}
    with store.transaction() as tx:
        for name, code in BANKS.items():
            joins = participating is None or name in participating
            banks[name] = tx.add_institution(
                name, "hash-" + name, at=clock.now(), code=code,
                settings={} if joins else {"digital_otp": False}).id
        for name, institution_id in banks.items():
            for n, rrn in enumerate((RRN, OTHER_RRN)):
                customer = BankCustomer(
                    id=f"c-{name}-{n}", institution_id=institution_id, name="홍길동",
                    rrn=rrn, phone="01012345678", carrier=Carrier.SKT, mvno=None,
                    line_type=LineType.POSTPAID, created_at=clock.now())
                tx.add_bank_customer(customer)
                customers[(name, rrn)] = customer
    centre = OtpCentre(store, clock, secret=SECRET, settings=settings or OtpSettings(),
                       entropy=SeededEntropy("otp-tests"))
    return World(path, store, clock, centre, banks, customers)
