"""Phone verification under concurrency and crashes (issue 14 item 5 and "Bad input and
concurrency"): every counter exact however many callers arrive at once (threads, each on
its own connection to one SQLite file), and a process killed at a fault point charges
nothing it did not commit.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from pki.bank.phone import PhonePolicy, PhoneVerification, VerificationState
from pki.errors import (
    AppLockedError,
    CodeTriesExhaustedError,
    IdentityMismatchError,
    MismatchLimitError,
    RequestRefusedError,
    SendLimitError,
    VerificationUsedError,
    WrongAppPasswordError,
    WrongPhoneCodeError,
)
from pki.faults import FAULT_ENV

from .bank_helpers import in_parallel
from .phone_helpers import (
    APP_PASSWORD,
    NAME,
    PHONE,
    RRN7,
    SECRET,
    T0,
    World,
    last_code,
    other_code,
)


@pytest.fixture
def world(tmp_path):
    world = World(tmp_path)
    world.add_line()
    return world


def _in_parallel(world: World, count: int,
                 call: Callable[[int, PhoneVerification], object]) -> list[object]:
    """Run ``call(i, channel)`` in ``count`` threads released together, each with its own
    store connection; the results or the refusals."""
    channels = [world.other_connection() for _ in range(count)]
    try:
        return in_parallel(count, lambda i: call(i, channels[i]))
    finally:
        for channel in channels:
            channel.store.close()


def test_twenty_parallel_wrong_codes_count_exactly_the_limit(world):
    site = world.site()
    verification = world.ask(site)
    wrong = other_code(last_code(world.phone.messages(site, PHONE)))
    results = _in_parallel(world, 20, lambda i, c: c.confirm(site, verification, wrong))
    counted = sorted(r.tries_left for r in results if isinstance(r, WrongPhoneCodeError))
    assert counted == [0, 1, 2, 3, 4]  # each try answered once, in order
    assert all(isinstance(r, CodeTriesExhaustedError) for r in results
               if not isinstance(r, WrongPhoneCodeError))
    assert world.store.phone_verification(verification).tries == 5


def test_twenty_parallel_right_codes_verify_once(world):
    site = world.site()
    verification = world.ask(site)
    code = last_code(world.phone.messages(site, PHONE))
    results = _in_parallel(world, 20, lambda i, c: c.confirm(site, verification, code))
    refused = [r for r in results if isinstance(r, RequestRefusedError)]
    assert len(refused) == 19 and all(isinstance(r, VerificationUsedError) for r in refused)
    assert world.store.phone_verification(verification).tries == 0  # none counted as wrong
    assert sum(1 for row in world.store.audit_log() if row.action == "phone.verified") == 1


def test_twenty_parallel_requests_send_exactly_the_daily_limit(world):
    site = world.site()
    results = _in_parallel(world, 20, lambda i, c: c.request(
        site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT"))
    refused = [r for r in results if isinstance(r, RequestRefusedError)]
    assert len(refused) == 10 and all(isinstance(r, SendLimitError) for r in refused)
    assert len(world.phone.messages(site, PHONE)) == 10


def test_twenty_parallel_wrong_app_passwords_count_exactly_the_limit(tmp_path):
    world = World(tmp_path, policy=PhonePolicy(app_password_tries=3))
    world.add_line()
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    results = _in_parallel(world, 20, lambda i, c: c.app_history(PHONE, password="000000"))
    wrong = sorted(r.attempts_left for r in results if isinstance(r, WrongAppPasswordError))
    assert wrong == [1, 2]
    assert all(isinstance(r, AppLockedError) for r in results
               if not isinstance(r, WrongAppPasswordError))
    app = world.store.phone_app(PHONE)
    assert (app.failures, app.locked) == (3, True)


@pytest.mark.parametrize("phone", [PHONE, "01099998888"], ids=["line", "no-line"])
def test_twenty_parallel_mismatches_count_exactly_the_budget(tmp_path, phone):
    world = World(tmp_path, policy=PhonePolicy(mismatches_per_phone_day=4))
    world.add_line()
    site = world.site()
    results = _in_parallel(world, 20, lambda i, c: c.request(
        site, name="김철수", phone=phone, rrn7=RRN7, carrier="SKT"))
    kinds = [type(r) for r in results]
    assert kinds.count(IdentityMismatchError) == 4
    assert kinds.count(MismatchLimitError) == 16
    assert world.store.phone_mismatches(phone, T0 - dt.timedelta(days=1)) == 4
    with pytest.raises(MismatchLimitError):  # the holder too, for the rest of the day
        world.ask(site, phone=phone)


@pytest.mark.parametrize("others_right", [False, True], ids=["wrong", "right"])
def test_a_try_counts_what_the_lock_sees_not_what_an_earlier_read_saw(world, monkeypatch,
                                                                      others_right):
    """A slow caller reads the verification, then others try before it takes the lock:
    it is decided on the count as it stands then (threads rarely interleave so; this
    interleaves them on purpose)."""
    site = world.site()
    verification = world.ask(site)
    code = last_code(world.phone.messages(site, PHONE))
    slow = world.other_connection()
    read = slow.store.phone_verification
    reads = []

    def read_then_others_try(verification_id):
        record = read(verification_id)  # outside the lock
        reads.append(record)
        if len(reads) > 1:
            return record
        if others_right:
            world.phone.confirm(site, verification, code)
        else:
            for _ in range(5):
                with pytest.raises(WrongPhoneCodeError):
                    world.phone.confirm(site, verification, other_code(code))
        return record

    monkeypatch.setattr(slow.store, "phone_verification", read_then_others_try)
    with pytest.raises(VerificationUsedError if others_right else CodeTriesExhaustedError):
        slow.confirm(site, verification, code if others_right else other_code(code))
    assert world.store.phone_verification(verification).tries == (0 if others_right else 5)


# -- crashes ---------------------------------------------------------------------------------

_CONFIRM = r"""
import datetime as dt, sys
from pki.bank.phone import PhoneVerification
from pki.clock import FixedClock
from pki.store import open_store
url, site_id, verification, code, at, secret = sys.argv[1:]
store = open_store(url)
channel = PhoneVerification(store, clock=FixedClock(dt.datetime.fromisoformat(at)),
                            secret=secret.encode())
try:
    channel.confirm(store.institution(int(site_id)), verification, code)
except Exception as exc:
    print(type(exc).__name__)
"""


def _confirm_killed_at(world: World, site_id: int, verification: str, code: str,
                       point: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    env[FAULT_ENV] = point
    done = subprocess.run(
        [sys.executable, "-c", _CONFIRM, world.url, str(site_id), verification, code,
         world.clock.now().isoformat(), SECRET.decode()],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.mark.parametrize("point, counted", [("bank.phone.decided", 0),
                                            ("bank.phone.committed", 1)])
def test_a_crash_charges_a_wrong_code_only_once_committed(world, point, counted):
    site = world.site()
    verification = world.ask(site)
    code = last_code(world.phone.messages(site, PHONE))
    _confirm_killed_at(world, site.id, verification, other_code(code), point)
    assert world.store.phone_verification(verification).tries == counted
    assert world.phone.status(site, verification).tries_left == 5 - counted


@pytest.mark.parametrize("point, state", [
    ("bank.phone.decided", VerificationState.PENDING),
    ("bank.phone.committed", VerificationState.VERIFIED)])
def test_a_crash_while_confirming_the_right_code_verifies_all_or_nothing(world, point, state):
    site = world.site()
    verification = world.ask(site)
    code = last_code(world.phone.messages(site, PHONE))
    _confirm_killed_at(world, site.id, verification, code, point)
    assert world.phone.status(site, verification).state is state
    assert world.store.phone_verification(verification).tries == 0
    if state is VerificationState.PENDING:  # the code still works, once
        assert world.phone.confirm(site, verification, code).name == NAME
