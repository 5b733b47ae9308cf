"""Shared set-up of the simple-authentication tests: a home on disk with the bank's private
CA (kbprivate), two relying parties, and people whose phones (device folders) hold a
private certificate registered at a provider."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pki.cloud.service import add_institution
from pki.hierarchy import CASettings
from pki.home import Home
from pki.keys.devicekeystore import DeviceKeystore, KeystoreSettings, ScryptParams
from pki.profiles import PRIVATE_STYLE
from pki.rrn import RRN, synthetic_rrn
from pki.simpleauth import DeviceApp, SimpleAuth
from pki.usecases.simpleauth import register_app

PIN = "390417"
WRONG_PIN = "390418"
FAST = KeystoreSettings(kdf=ScryptParams(n=2**10, r=8, p=1))
"""A cheap KDF so tests can try many PINs (each keystore file names its own)."""
RPS = ("정부24", "홈택스")

_serials = iter(range(1, 10_000))


@dataclass
class Person:
    name: str
    rrn: RRN
    phone: str
    app: DeviceApp

    @property
    def keystore(self) -> DeviceKeystore:
        return self.app.keystore


def make_home(path: Path, *, key_pool: object, clock: object = None) -> dict[str, str]:
    """A home with the private CA and the relying parties; their API keys by name."""
    Home.create(path, passphrase=None, key_generator=key_pool, clock=clock).close()  # type: ignore[arg-type]
    with Home.open(path, key_generator=key_pool, clock=clock) as home:  # type: ignore[arg-type]
        home.add_ca(CASettings(label="kbprivate", style=PRIVATE_STYLE), passphrase=None)
        return {name: add_institution(home.store, name, at=home.clock.now()) for name in RPS}


def person(home: Home, service: SimpleAuth, folder: Path, *, provider: int = 1,
           name: str = "김간편", phone: str | None = None) -> Person:
    """A person with a new private certificate on a phone in ``folder``, registered at
    ``provider``."""
    n = next(_serials)
    rrn = synthetic_rrn(dt.date(1988, 4, 17), serial=n)
    phone = phone or f"0107777{n:04d}"
    keystore = DeviceKeystore(folder, settings=FAST)
    register_app(service, keystore, provider, name=name, rrn=rrn, phone=phone, pin=PIN,
                 authority=home.authority("kbprivate"), device=f"phone-{n}")
    return Person(name, rrn, phone, DeviceApp(folder, keystore=keystore, clock=service.clock))
