"""OTP counters under concurrency and crashes (issue 14, "Bad input and concurrency").

Twenty wrong codes at once, from threads or from processes, at two institutions: exactly
ten counted (the setting), then the token is locked at both. Twenty copies of one right code
at once: one accepted, the rest refused as replays, none counted as wrong. A process killed
while it compares a code (before its verdict is committed) leaves nothing: the attempt is
neither counted nor accepted; killed just after the commit, it is counted exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pki.errors import (
    OtpLockedError,
    OtpReplayError,
    RequestRefusedError,
    WrongOtpError,
)
from pki.store import AuditAction, open_store, sqlite_url

from .bank_helpers import in_parallel
from .bank_otp_helpers import SECRET, World, make_world

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = 20
LIMIT = 10


@pytest.fixture
def world(tmp_path) -> World:
    w = make_world(tmp_path)
    yield w
    w.store.close()


def _token_at_two_banks(world):
    """A hardware OTP issued at KB and registered at Hana: (otp, [kb, hana])."""
    kb, hana = world.customer("KB"), world.customer("Hana")
    otp = world.centre.issue_hardware(kb)
    world.centre.register(hana, otp.serial, otp.code(world.clock.now()))
    world.clock.advance(dt.timedelta(minutes=1))
    return otp, [kb, hana]


def _wrong(code: str) -> str:
    return f"{(int(code) + 500000) % 1000000:06d}"


def _in_threads(world, call):
    """``call(i, centre)`` in PARALLEL threads released together, each with its own store
    connection; the results or refusals."""
    stores = [open_store(sqlite_url(world.path)) for _ in range(PARALLEL)]
    centres = [world.centre_for(store) for store in stores]
    try:
        return in_parallel(PARALLEL, lambda i: call(i, centres[i]))
    finally:
        for store in stores:
            store.close()


def _assert_ten_counted_then_locked(world, otp, customers, results):
    refusals = [r for r in results if isinstance(r, RequestRefusedError)]
    assert len(refusals) == PARALLEL
    wrong = sorted((r.attempts_left for r in refusals if isinstance(r, WrongOtpError)),
                   reverse=True)
    assert wrong == list(range(LIMIT - 1, 0, -1))  # each count answered once, in order
    locked = [r for r in refusals if isinstance(r, OtpLockedError)]
    assert len(locked) == PARALLEL - (LIMIT - 1)
    audit = world.store.audit_log()
    assert sum(e.action == AuditAction.BANK_OTP_WRONG for e in audit) == LIMIT - 1
    assert sum(e.action == AuditAction.BANK_OTP_LOCKED for e in audit) == 1
    for customer in customers:  # locked at every institution, even for a right code
        status = world.centre.status(customer, otp.serial)
        assert (status.failures, status.locked) == (LIMIT, True)
        with pytest.raises(OtpLockedError):
            world.centre.verify(customer, otp.serial, otp.code(world.clock.now()))


def _assert_one_accepted_rest_replays(world, otp, customers, results):
    accepted = [r for r in results if not isinstance(r, RequestRefusedError)]
    assert len(accepted) == 1
    assert all(isinstance(r, OtpReplayError) for r in results if r not in accepted), [
        getattr(r, "code", r) for r in results]
    for customer in customers:
        assert world.centre.status(customer, otp.serial).failures == 0
    audit = world.store.audit_log()
    assert sum(e.action == AuditAction.BANK_OTP_ACCEPTED for e in audit) == 2  # + register
    assert not any(e.action == AuditAction.BANK_OTP_WRONG for e in audit)


# -- threads -----------------------------------------------------------------------------------


def test_twenty_parallel_wrong_codes_count_exactly_ten_then_lock_everywhere(world):
    otp, customers = _token_at_two_banks(world)
    wrong = _wrong(otp.code(world.clock.now()))
    results = _in_threads(world, lambda i, centre: centre.verify(customers[i % 2], otp.serial,
                                                                  wrong))
    _assert_ten_counted_then_locked(world, otp, customers, results)


def test_twenty_parallel_right_codes_one_accepted_the_rest_replays_none_counted(world):
    otp, customers = _token_at_two_banks(world)
    code = otp.code(world.clock.now())
    results = _in_threads(world, lambda i, centre: centre.verify(customers[i % 2], otp.serial,
                                                                  code))
    _assert_one_accepted_rest_replays(world, otp, customers, results)


# -- processes -----------------------------------------------------------------------------------

_WORKER = r"""
import datetime as dt, json, sys
from pki.bank.otp import OtpCentre
from pki.clock import FixedClock
from pki.errors import RequestRefusedError
from pki.store import open_store, sqlite_url

request = json.loads(sys.argv[1])
store = open_store(sqlite_url(request["db"]))
clock = FixedClock(dt.datetime.fromisoformat(request["at"]))
centre = OtpCentre(store, clock, secret=bytes.fromhex(request["secret"]))
customer = store.bank_customer(request["customer"])
print("ready", flush=True)
sys.stdin.readline()
try:
    centre.verify(customer, request["serial"], request["code"])
    print(json.dumps({"outcome": "accepted"}), flush=True)
except RequestRefusedError as exc:
    print(json.dumps({"outcome": exc.code, "left": getattr(exc, "attempts_left", None)}),
          flush=True)
"""


def _worker(world, customer, serial, code, *, fault=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    if fault:
        env["KPKI_FAULT"] = fault
    request = {"db": str(world.path), "at": world.clock.now().isoformat(),
               "secret": SECRET.hex(), "customer": customer.id, "serial": serial,
               "code": code}
    return subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(request)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def _in_processes(world, customers, serial, code):
    """PARALLEL processes against the one SQLite file, released together once all are
    ready; their outcomes."""
    procs = [_worker(world, customers[i % 2], serial, code) for i in range(PARALLEL)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert all(proc.returncode == 0 for proc in procs)
    return outcomes


def test_twenty_processes_with_wrong_codes_count_exactly_ten_then_lock_everywhere(world):
    otp, customers = _token_at_two_banks(world)
    outcomes = _in_processes(world, customers, otp.serial,
                             _wrong(otp.code(world.clock.now())))
    assert sorted(o["left"] for o in outcomes if o["outcome"] == "wrong_otp") == list(
        range(1, LIMIT))
    assert sum(o["outcome"] == "otp_locked" for o in outcomes) == PARALLEL - (LIMIT - 1)
    for customer in customers:
        status = world.centre.status(customer, otp.serial)
        assert (status.failures, status.locked) == (LIMIT, True)


def test_twenty_processes_with_one_right_code_accept_it_once(world):
    otp, customers = _token_at_two_banks(world)
    outcomes = _in_processes(world, customers, otp.serial, otp.code(world.clock.now()))
    assert sorted(o["outcome"] for o in outcomes) == ["accepted"] + ["otp_replayed"] * (
        PARALLEL - 1)
    for customer in customers:
        assert world.centre.status(customer, otp.serial).failures == 0


# -- crashes ---------------------------------------------------------------------------------------


def _killed_at(world, customer, serial, code, fault):
    proc = _worker(world, customer, serial, code, fault=fault)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    out, _ = proc.communicate("go\n", timeout=60)
    assert proc.returncode == -signal.SIGKILL, out
    return out


def test_a_crash_while_a_wrong_code_is_compared_counts_nothing(world):
    otp, customers = _token_at_two_banks(world)
    wrong = _wrong(otp.code(world.clock.now()))
    for _ in range(LIMIT + 1):
        _killed_at(world, customers[0], otp.serial, wrong, "bank.otp.checked")
    status = world.centre.status(customers[0], otp.serial)
    assert (status.failures, status.locked) == (0, False)
    world.centre.verify(customers[1], otp.serial, otp.code(world.clock.now()))


def test_a_crash_after_a_wrong_code_is_committed_counts_it_once(world):
    otp, customers = _token_at_two_banks(world)
    _killed_at(world, customers[0], otp.serial, _wrong(otp.code(world.clock.now())),
               "bank.otp.committed")
    assert world.centre.status(customers[1], otp.serial).failures == 1
    assert sum(e.action == AuditAction.BANK_OTP_WRONG for e in world.store.audit_log()) == 1


def test_a_crash_while_a_right_code_is_compared_accepts_nothing(world):
    """The code was never accepted (its step is not used up): sent again, it is accepted
    once, and then it is a replay."""
    otp, customers = _token_at_two_banks(world)
    code = otp.code(world.clock.now())
    _killed_at(world, customers[0], otp.serial, code, "bank.otp.checked")
    world.centre.verify(customers[0], otp.serial, code)
    with pytest.raises(OtpReplayError):
        world.centre.verify(customers[1], otp.serial, code)
