"""PIN and confirmation-code counting under concurrency and crashes (issue 10, items 1, 7).

Only a verified wrong PIN is charged; at most five PIN checks of one certificate are in
flight at once (more are refused as ``busy``, never charged); a crash during a check never
charges it. The fifth wrong confirmation code is the last one ever checked.
"""

from __future__ import annotations

import re
import threading

import pytest

from pki.cloud.service import MAX_ATTEMPTS
from pki.errors import (
    CodeExhaustedError,
    PinBusyError,
    PinLockedError,
    RequestRefusedError,
    WrongCodeError,
    WrongPinError,
)
from pki.home import Home
from pki.store import open_store, sqlite_url

from .test_cloud import (
    PIN,
    RRN,
    Api,
    _issue,
    _sign,
    _start,
    _stop,
    _user,
    add_institution,
    expect_crash,
    vault_records,
)

WRONG = "246801"


@pytest.fixture
def factory(home, monkeypatch):
    """Clouds over one home, one per thread (each its own store connection), with the
    real KDF so that checks in flight overlap as they do in service."""
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    return home.cloud_factory(passphrase=None)


def _issued(factory, phone="01012345678"):
    cloud = factory()
    bank = cloud.authenticate(cloud.add_institution(f"bank-{phone}"))
    user = cloud.register_user(bank, name="홍길동", phone=phone, birth_date="1990-05-17")
    text = cloud.messages(bank, phone)[-1].text
    cloud.confirm(bank, user, re.search(r"code (\d\d)", text).group(1))
    return cloud, bank, user, cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN).serial


def _in_parallel(factory, count, call):
    """Run ``call(i, cloud)`` in ``count`` threads released together; results or errors."""
    clouds = [factory() for _ in range(count)]
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i, clouds[i])
        except RequestRefusedError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _key_row(cloud, serial):
    record = cloud.store.vault_record(cloud.authority.label, serial)
    return record.failures, record.locked


@pytest.mark.parametrize("count", [6, 20])
def test_parallel_right_pins_never_lock(factory, count):
    cloud, bank, _, serial = _issued(factory)
    results = _in_parallel(factory, count, lambda i, c: c.sign(bank, serial, pin=PIN,
                                                            content=b"x", purpose="02"))
    refused = [r for r in results if isinstance(r, RequestRefusedError)]
    assert all(isinstance(r, PinBusyError) and r.serial == serial for r in refused), \
        [(r.code, str(r)) for r in refused]
    assert count - len(refused) >= MAX_ATTEMPTS  # the first five in flight always finish
    assert _key_row(cloud, serial) == (0, False)
    assert cloud.sign(bank, serial, pin=PIN, content=b"y", purpose="02").serial == serial


def test_fifty_parallel_wrong_pins_lock_exactly_at_five(factory):
    cloud, bank, _, serial = _issued(factory)
    results = _in_parallel(factory, 50, lambda i, c: c.sign(bank, serial, pin=WRONG,
                                                         content=b"x", purpose="02"))
    assert all(isinstance(r, RequestRefusedError) for r in results)
    left = sorted(r.attempts_left for r in results if isinstance(r, WrongPinError))
    assert left == [1, 2, 3, 4]  # each charge answered once, in order
    assert all(isinstance(r, WrongPinError | PinLockedError | PinBusyError) for r in results)
    assert _key_row(cloud, serial) == (MAX_ATTEMPTS, True)
    with pytest.raises(PinLockedError) as info:
        cloud.sign(bank, serial, pin=PIN, content=b"x", purpose="02")
    assert info.value.code == "pin_locked"


def test_a_right_pin_while_wrong_ones_are_in_flight_is_never_charged(factory):
    cloud, bank, _, serial = _issued(factory)
    results = _in_parallel(factory, 8, lambda i, c: c.sign(
        bank, serial, pin=PIN if i % 2 else WRONG, content=b"x", purpose="02"))
    failures, _ = _key_row(cloud, serial)
    charged = sum(1 for r in results if isinstance(r, WrongPinError))
    assert failures <= charged <= MAX_ATTEMPTS


def test_a_hundred_parallel_code_guesses_check_exactly_five(factory):
    cloud = factory()
    bank = cloud.authenticate(cloud.add_institution("bank"))
    user = cloud.register_user(bank, name="홍길동", phone="01012345678",
                               birth_date="1990-05-17")
    code = re.search(r"code (\d\d)", cloud.messages(bank, "01012345678")[-1].text).group(1)
    wrong = f"{(int(code) + 1) % 100:02d}"
    results = _in_parallel(factory, 100, lambda i, c: c.confirm(bank, user, wrong))
    assert all(isinstance(r, RequestRefusedError) for r in results)
    checked = [r for r in results if isinstance(r, WrongCodeError)]  # compared, counted
    assert len(checked) == 5, len(checked)
    assert all(isinstance(r, CodeExhaustedError) for r in results if r not in checked)
    with pytest.raises(CodeExhaustedError):  # even the right code is no longer compared
        cloud.confirm(bank, user, code)


def test_crashes_during_right_pin_signing_never_lock(tmp_path, key_pool):
    """kpki serve is killed five times in the middle of a right-PIN signature (after the
    KDF, before the result is recorded); the certificate is neither charged nor blocked."""
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    proc, url = _start(path)
    try:
        api = Api(url, key)
        serial = _issue(api, _user(api))
    finally:
        _stop(proc)
    for _ in range(MAX_ATTEMPTS + 1):
        proc, url = _start(path, env={"KPKI_FAULT": "cloud.pin.verified"})
        expect_crash(proc, lambda u=url: _sign(Api(u, key), serial))
    proc, url = _start(path)
    try:
        status, body = _sign(Api(url, key), serial)
        assert status == 200, body
    finally:
        _stop(proc)
    assert [(r.failures, r.locked) for r in vault_records(path).values()] == [(0, False)]
    store = open_store(sqlite_url(path / "kpki.db"))
    try:
        assert store.pin_check_boots() == []  # no PIN check left in flight
    finally:
        store.close()


def test_crashes_during_wrong_pin_checks_charge_nothing_unverified(tmp_path, key_pool):
    """Killed while a wrong PIN is being checked (before the verdict is recorded), the
    attempt is not charged: only a recorded, verified failure counts."""
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    proc, url = _start(path)
    try:
        api = Api(url, key)
        serial = _issue(api, _user(api))
    finally:
        _stop(proc)
    for _ in range(MAX_ATTEMPTS + 1):
        proc, url = _start(path, env={"KPKI_FAULT": "cloud.pin.reserved"})
        expect_crash(proc, lambda u=url: _sign(Api(u, key), serial, pin=WRONG))
    proc, url = _start(path)
    try:
        assert _sign(Api(url, key), serial)[0] == 200
    finally:
        _stop(proc)
