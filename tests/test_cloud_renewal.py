"""Renewal on use is one unit of work (issue 10, item 5): the new key is sealed and the new
certificate recorded in one transaction, or neither; signatures that race a renewal wait
for it and sign with the new certificate; a crash at any point leaves a usable certificate.
Issuance into the vault is one unit of work the same way."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from pki.clock import FixedClock
from pki.cloud.service import CloudSignature
from pki.cloud.vault import KDFParams
from pki.home import Home
from pki.profiles import FINANCIAL_PROFILES
from pki.store import open_store, sqlite_url

from .cloud_helpers import (
    PIN,
    RRN,
    Api,
    _issue,
    _sign,
    _start,
    _stop,
    _user,
    add_institution,
    confirmed,
    expect_crash,
    vault_records,
)

FAST = KDFParams(n=2**4, r=8, p=1)


def test_parallel_signatures_at_renewal_time_all_sign_with_the_new_certificate(
        home, monkeypatch):
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    factory = home.cloud_factory(passphrase=None, kdf=FAST)
    cloud = factory()
    bank, user = confirmed(cloud)
    issued = cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    home.clock.set(issued.certificate.not_valid_after_utc - dt.timedelta(days=10))
    clouds = [factory() for _ in range(5)]
    barrier = threading.Barrier(len(clouds))
    results: list[object] = [None] * len(clouds)

    def run(i: int) -> None:
        barrier.wait(timeout=120)
        try:
            results[i] = clouds[i].sign(bank, issued.serial, pin=PIN, content=b"x",
                                        purpose="02")
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clouds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a parallel call never finished"
    assert all(isinstance(r, CloudSignature) for r in results), results
    serials = {r.serial for r in results}
    assert len(serials) == 1 and issued.serial not in serials
    assert all(r.renewed_from == issued.serial for r in results)
    assert len(home.store.renewals_of(cloud.authority.label, issued.serial)) == 1
    # Afterwards the old serial still signs, with the new certificate.
    again = cloud.sign(bank, issued.serial, pin=PIN, content=b"y", purpose="02")
    assert again.serial in serials


@pytest.fixture
def due(tmp_path, key_pool):
    """A home whose clock ran three years behind: its cloud certificate is due for
    renewal by the real clock that ``kpki serve`` uses. (home path, API key, serial)."""
    path = tmp_path / "home"
    now = dt.datetime.now(dt.UTC)
    past = FixedClock(now.replace(year=now.year - 3) + dt.timedelta(days=10))
    Home.create(path, passphrase=None, key_generator=key_pool, clock=past).close()
    with Home.open(path, clock=past, key_generator=key_pool) as home:
        cloud = home.cloud_factory(passphrase=None)()
        api_key = cloud.add_institution("bank")
        bank, user = confirmed(cloud, api_key=api_key)
        serial = cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN).serial
    return path, api_key, format(serial, "X")


def _rows(path):
    """The financial certificates and the sealed keys in the home's store (hex serials)."""
    store = open_store(sqlite_url(path / "kpki.db"))
    try:
        certificates = {format(r.serial, "X") for profile in FINANCIAL_PROFILES.values()
                        for r in store.list_certificates(profile=profile.name)}
    finally:
        store.close()
    return certificates, {format(serial, "X") for serial in vault_records(path)}


@pytest.mark.parametrize("point", ["cloud.renew.sealed", "cloud.renew.committed"])
def test_a_crash_during_renewal_on_use_leaves_a_usable_certificate(due, point):
    path, api_key, serial = due
    proc, url = _start(path, env={"KPKI_FAULT": point})
    expect_crash(proc, lambda: _sign(Api(url, api_key), serial))
    certificates, keys = _rows(path)
    assert certificates == keys  # no certificate without its key, no key without its record
    assert len(keys) == (1 if point == "cloud.renew.sealed" else 2)
    proc, url = _start(path)
    try:
        api = Api(url, api_key)
        status, body = _sign(api, serial)
        assert status == 200, body
        assert body["renewed_from"] == serial
        assert _sign(api, body["serial"])[0] == 200  # the new serial is in the vault
        if point == "cloud.renew.committed":
            assert body["serial"] in keys  # the renewal made before the crash is used
    finally:
        _stop(proc)
    certificates, keys = _rows(path)
    assert certificates == keys and len(keys) == 2


@pytest.mark.parametrize(("point", "kept"), [("cloud.issue.staged", False),
                                             ("cloud.issue.sealed", False),
                                             ("cloud.issue.committed", True)])
def test_a_crash_during_issuance_leaves_the_certificate_with_its_key_or_neither(
        tmp_path, key_pool, point, kept):
    """kpki serve is killed at each step of a cloud issuance: with the certificate written
    but no key, with both written but not committed, and after the commit. The store then
    holds the certificate and its sealed key, or neither; never one without the other."""
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    proc, url = _start(path, env={"KPKI_FAULT": point})
    api = Api(url, key)
    user = _user(api)
    expect_crash(proc, lambda: _issue(api, user))
    certificates, keys = _rows(path)
    assert certificates == keys and len(keys) == (1 if kept else 0)
    proc, url = _start(path)
    try:
        serial = _issue(Api(url, key), user)
        assert _sign(Api(url, key), serial)[0] == 200
        for earlier in keys:  # a certificate issued before the crash is usable
            assert _sign(Api(url, key), earlier)[0] == 200
    finally:
        _stop(proc)
    assert _rows(path) == ({serial} | keys, {serial} | keys)


def test_a_failure_while_sealing_leaves_no_certificate_and_no_audit_row(home, monkeypatch):
    """In process: sealing the key fails inside the issuing transaction (after the
    certificate and its audit row were written in it); nothing of the issuance remains."""
    from pki.cloud.vault import Sealer

    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    cloud = home.cloud_factory(passphrase=None, kdf=FAST)()
    bank, user = confirmed(cloud)
    before = [e.action for e in home.store.audit_log()]

    def broken(self, plaintext, *, associated):
        raise OSError("the vault's disk went away")

    monkeypatch.setattr(Sealer, "seal", broken)
    with pytest.raises(OSError):
        cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    assert home.store.list_certificates(ca=cloud.authority.label) == []
    assert home.store.vault_records_of(user) == []
    assert [e.action for e in home.store.audit_log()] == before
    monkeypatch.undo()
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    issued = cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN)
    assert [r.serial for r in home.store.vault_records_of(user)] == [issued.serial]
    assert [e.action for e in home.store.audit_log(serial=issued.serial)] == [
        "certificate.issued", "cloud.key.sealed"]
