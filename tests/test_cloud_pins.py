"""PIN and confirmation-code counting under concurrency and crashes (issue 10, items 1, 7).

Only a verified wrong PIN is charged; at most five PIN checks of one certificate are in
flight at once (more are refused as ``busy``, never charged); a crash during a check never
charges it. The fifth wrong confirmation code is the last one ever checked.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from pki.cloud.service import MAX_ATTEMPTS, MAX_DEVICES
from pki.errors import (
    CodeExhaustedError,
    CodeLimitError,
    PinBusyError,
    PinChangedError,
    PinLockedError,
    RequestRefusedError,
    TooManyDevicesError,
    WrongCodeError,
    WrongPinError,
)
from pki.home import Home
from pki.store import AuditAction, open_store, sqlite_url

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
    sent_code,
    vault_records,
)
from .parallel import in_parallel

WRONG = "246801"


@pytest.fixture
def factory(home, monkeypatch):
    """Clouds over one home, one per thread (each its own store connection), with the
    real KDF so that checks in flight overlap as they do in service."""
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    return home.cloud_factory(passphrase=None)


def _issued(factory, phone="01012345678"):
    cloud = factory()
    bank, user = confirmed(cloud, phone)
    return cloud, bank, user, cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN).serial


def _in_parallel(factory, count, call):
    """Run ``call(i, cloud)`` in ``count`` threads released together, each with its own
    cloud (its own store connection); results or errors."""
    clouds = [factory() for _ in range(count)]
    return in_parallel(count, lambda i: call(i, clouds[i]))


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
    code = sent_code(cloud, bank, "01012345678")
    wrong = f"{(int(code) + 1) % 100:02d}"
    results = _in_parallel(factory, 100, lambda i, c: c.confirm(bank, user, wrong))
    assert all(isinstance(r, RequestRefusedError) for r in results)
    checked = [r for r in results if isinstance(r, WrongCodeError)]  # compared, counted
    assert len(checked) == 5, len(checked)
    assert all(isinstance(r, CodeExhaustedError) for r in results if r not in checked)
    with pytest.raises(CodeExhaustedError):  # even the right code is no longer compared
        cloud.confirm(bank, user, code)


def _served_certificate(tmp_path, key_pool):
    """A home whose bank issued a cloud certificate through kpki serve, now stopped:
    (home path, the bank's API key, the serial)."""
    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    proc, url = _start(path)
    try:
        api = Api(url, key)
        serial = _issue(api, _user(api))
    finally:
        _stop(proc)
    return path, key, serial


def test_crashes_during_right_pin_signing_never_lock(tmp_path, key_pool):
    """kpki serve is killed five times in the middle of a right-PIN signature (after the
    KDF, before the result is recorded); the certificate is neither charged nor blocked."""
    path, key, serial = _served_certificate(tmp_path, key_pool)
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
    path, key, serial = _served_certificate(tmp_path, key_pool)
    for _ in range(MAX_ATTEMPTS + 1):
        proc, url = _start(path, env={"KPKI_FAULT": "cloud.pin.reserved"})
        expect_crash(proc, lambda u=url: _sign(Api(u, key), serial, pin=WRONG))
    proc, url = _start(path)
    try:
        assert _sign(Api(url, key), serial)[0] == 200
    finally:
        _stop(proc)


def test_twenty_parallel_checks_keep_at_most_five_in_flight_and_leave_none(factory,
                                                                           monkeypatch):
    """The bound on checks in flight is exact: twenty right PINs at once never have more
    than five vault openings running together, every granted check ran, and no
    reservation outlives its request."""
    from pki.cloud.vault import Vault

    cloud, bank, _, serial = _issued(factory)
    lock = threading.Lock()
    running = {"now": 0, "most": 0, "ran": 0}
    real_open = Vault.open

    def counted_open(self, *args, **kwargs):
        with lock:
            running["now"] += 1
            running["ran"] += 1
            running["most"] = max(running["most"], running["now"])
        try:
            return real_open(self, *args, **kwargs)
        finally:
            with lock:
                running["now"] -= 1

    monkeypatch.setattr(Vault, "open", counted_open)
    results = _in_parallel(factory, 20, lambda i, c: c.sign(bank, serial, pin=PIN,
                                                         content=b"x", purpose="02"))
    granted = [r for r in results if not isinstance(r, PinBusyError)]
    assert 1 <= running["most"] <= MAX_ATTEMPTS
    assert running["ran"] == len(granted)
    assert cloud.store.pin_check_boots() == []
    with cloud.store.transaction() as tx:
        assert tx.pin_checks_in_flight(cloud.authority.label, serial) == 0


def _spend_codes(cloud, bank, phone, count):
    """``count`` wrong codes for ``phone`` at ``bank``, over as many registrations as it
    takes (five a code)."""
    while count > 0:
        user = cloud.register_user(bank, name="홍길동", phone=phone, birth_date="1990-05-17")
        code = sent_code(cloud, bank, phone)
        for k in range(1, min(count, 5) + 1):
            with pytest.raises(WrongCodeError):
                cloud.confirm(bank, user, f"{(int(code) + k) % 100:02d}")
        count -= 5


def test_twenty_parallel_wrong_codes_spend_the_phone_budget_exactly(factory):
    """Eight of the day's ten wrong codes for a phone are spent; the same wrong guess
    sent twenty times at once to a fresh registration is compared exactly twice, the rest
    refused as over the limit without being compared."""
    cloud = factory()
    bank = cloud.authenticate(cloud.add_institution("bank"))
    phone = "01012345678"
    budget = cloud.registrar.policy.phone_attempts
    _spend_codes(cloud, bank, phone, budget - 2)
    user = cloud.register_user(bank, name="홍길동", phone=phone, birth_date="1990-05-17")
    code = sent_code(cloud, bank, phone)
    wrong = f"{(int(code) + 1) % 100:02d}"
    results = _in_parallel(factory, 20, lambda i, c: c.confirm(bank, user, wrong))
    assert sum(isinstance(r, WrongCodeError) for r in results) == 2
    assert all(isinstance(r, WrongCodeError | CodeLimitError) for r in results), results
    with cloud.store.transaction() as tx:
        spent = tx.wrong_codes(phone, bank.id, cloud.clock.now() - dt.timedelta(days=1))
    assert spent == budget
    with pytest.raises(CodeLimitError):  # not even the right code is compared now
        cloud.confirm(bank, user, code)


def test_twenty_parallel_device_additions_stop_exactly_at_the_cap(factory):
    """Twenty different devices added at once: exactly five are kept, the others refused
    as too many; the same device added twenty times at once is one device and one audit
    row."""
    cloud, bank, user, _ = _issued(factory)
    results = _in_parallel(factory, 20, lambda i, c: c.add_device(bank, user, f"phone-{i}"))
    assert sum(r is None for r in results) == MAX_DEVICES
    assert all(r is None or isinstance(r, TooManyDevicesError) for r in results), results
    assert len(cloud.devices(bank, user).devices) == MAX_DEVICES

    cloud, bank, user, _ = _issued(factory, phone="01087654321")
    before = len(cloud.store.audit_log())
    results = _in_parallel(factory, 20, lambda i, c: c.add_device(bank, user, "phone"))
    assert results == [None] * 20
    assert cloud.devices(bank, user).devices == ("phone",)
    added = [e for e in cloud.store.audit_log()[before:]
             if e.action == AuditAction.CLOUD_DEVICE_ADDED]
    assert len(added) == 1


# -- a PIN changed while another check of the same key runs -----------------------------------

NEW = "593104"


def _on_first(point: str, action):
    """A fault-point hook that runs ``action`` the first time ``point`` is reached."""
    done = []

    def hook(name: str) -> None:
        if name == point and not done:
            done.append(name)
            action()

    return hook


def test_a_wrong_pin_checked_against_a_seal_replaced_meanwhile_is_not_charged(
        factory, monkeypatch):
    cloud, bank, _, serial = _issued(factory)
    other = factory()
    change = _on_first("cloud.pin.reserved", lambda: other.change_pin(
        bank, serial, old_pin=PIN, new_pin=NEW, new_pin_confirm=NEW))
    monkeypatch.setattr("pki.cloud.pin.fault_point", change)
    with pytest.raises(PinChangedError) as info:
        cloud.sign(bank, serial, pin=WRONG, content=b"x", purpose="02")
    assert info.value.code == "pin_changed"
    assert _key_row(cloud, serial) == (0, False)  # checked against the old seal only
    assert cloud.sign(bank, serial, pin=NEW, content=b"x", purpose="02").serial == serial


def test_two_pin_changes_at_once_leave_the_pin_one_of_them_was_told(factory, monkeypatch):
    cloud, bank, _, serial = _issued(factory)
    other = factory()
    first = _on_first("cloud.pin.verified", lambda: other.change_pin(
        bank, serial, old_pin=PIN, new_pin=NEW, new_pin_confirm=NEW))
    monkeypatch.setattr("pki.cloud.pin.fault_point", first)
    with pytest.raises(PinChangedError):  # the later one is refused, nothing changed
        cloud.change_pin(bank, serial, old_pin=PIN, new_pin="864209", new_pin_confirm="864209")
    assert cloud.sign(bank, serial, pin=NEW, content=b"x", purpose="02").serial == serial
