"""Shared set-up of the phone-verification tests (tests/test_bank_phone*.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pki.bank.phone import PhonePolicy, PhoneVerification, Subscribers
from pki.clock import FixedClock
from pki.rrn import synthetic_rrn
from pki.store import Institution, Message, Store, open_store, sqlite_url

# 05:30 KST on 16 March 2026 (still 15 March in UTC).
T0 = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)
SECRET = b"phone-verification-test-secret!!"
PHONE = "01012345678"
NAME = "홍길동"
RRN = synthetic_rrn(dt.date(1990, 5, 17)).digits  # 900517-1...
RRN7 = RRN[:7]
APP_PASSWORD = "482915"


class World:
    """One store file, a frozen clock, the carrier side and the channel over them."""

    def __init__(self, path: Path, *, policy: PhonePolicy | None = None) -> None:
        self.url = sqlite_url(path / "phone.db")
        self.store: Store = open_store(self.url, create=True)
        self.clock = FixedClock(T0)
        self.policy = policy or PhonePolicy()
        self.lines = Subscribers(self.store, clock=self.clock)
        self.phone = self.channel(self.store)

    def channel(self, store: Store) -> PhoneVerification:
        return PhoneVerification(store, clock=self.clock, secret=SECRET, policy=self.policy)

    def other_connection(self) -> PhoneVerification:
        """The channel over a connection of its own (one per thread)."""
        return self.channel(open_store(self.url))

    def site(self, name: str = "shop") -> Institution:
        with self.store.transaction() as tx:
            return tx.add_institution(name, f"hash-of-{name}", at=self.clock.now())

    def add_line(self, phone: str = PHONE, **changes: object) -> None:
        fields: dict[str, object] = {"name": NAME, "rrn": RRN, "carrier": "SKT"}
        fields.update(changes)
        self.lines.add(phone, **fields)  # type: ignore[arg-type]

    def ask(self, site: Institution, phone: str = PHONE, **changes: object) -> str:
        fields: dict[str, object] = {"name": NAME, "rrn7": RRN7, "carrier": "SKT"}
        fields.update(changes)
        return self.phone.request(site, phone=phone, **fields).id  # type: ignore[arg-type]


_CODE = re.compile(r"verification code (\d+)")


def last_code(messages: tuple[Message, ...]) -> str:
    """The code in the last message that carried one."""
    for message in reversed(messages):
        found = _CODE.search(message.text)
        if found:
            return found.group(1)
    raise AssertionError(f"no code in {messages}")


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
