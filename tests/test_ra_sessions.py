"""The registration authority's step sessions (pki.ra.sessions): order, expiry, once only,
the institution's own sessions only, and the store's records of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pki.bank.institutions import add_bank
from pki.errors import BankNotFoundError, StepRefusedError
from pki.ra.sessions import Flow, StepSessions
from pki.store import AuditAction, RaSessionState, open_store, sqlite_url

from .bank_helpers import BankWorld, in_parallel, make_world

FLOW = Flow("test-flow", ("terms", "identify", "issue"))


@pytest.fixture
def world(tmp_path: Path) -> BankWorld:
    return make_world(tmp_path)


@pytest.fixture
def sessions(world: BankWorld) -> StepSessions:
    return StepSessions(world.store, clock=world.clock)


def refusal(call: object, *args: object, **kwargs: object) -> StepRefusedError:
    with pytest.raises(StepRefusedError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_steps_are_done_in_order_and_the_last_finishes_the_session(world, sessions):
    record = sessions.start(world.hana, FLOW)
    for step in FLOW.steps:
        sessions.check(world.hana, FLOW, record.id, step)
        record = sessions.done(world.hana, FLOW, record.id, step, data={step: True})
    assert record.state is RaSessionState.FINISHED
    assert record.steps_done == FLOW.steps
    assert record.data == {"terms": True, "identify": True, "issue": True}
    assert [s.step for s in sessions.history(world.hana, record.id)] == list(FLOW.steps)
    actions = [e.action for e in world.store.audit_log()]
    assert actions.count(AuditAction.RA_STEP_DONE) == 2
    assert actions.count(AuditAction.RA_SESSION_FINISHED) == 1


def test_a_step_out_of_order_is_refused_naming_the_step_due(world, sessions):
    record = sessions.start(world.hana, FLOW)
    error = refusal(sessions.check, world.hana, FLOW, record.id, "identify")
    assert (error.code, error.expected) == ("step_out_of_order", "terms")
    history = sessions.history(world.hana, record.id)
    assert [(s.step, s.accepted, s.reason) for s in history] == [
        ("identify", False, "step_out_of_order")]


def test_a_repeated_step_is_refused(world, sessions):
    record = sessions.start(world.hana, FLOW)
    sessions.done(world.hana, FLOW, record.id, "terms")
    assert refusal(sessions.check, world.hana, FLOW, record.id, "terms").code == "step_repeated"
    assert refusal(sessions.done, world.hana, FLOW, record.id, "terms").code == "step_repeated"


def test_each_step_expires_the_setting_after_the_one_before(world, sessions):
    record = sessions.start(world.hana, FLOW)
    world.clock.advance(dt.timedelta(seconds=599))
    sessions.done(world.hana, FLOW, record.id, "terms")
    world.clock.advance(dt.timedelta(seconds=599))  # re-armed by the step
    sessions.done(world.hana, FLOW, record.id, "identify")
    world.clock.advance(dt.timedelta(seconds=600))
    assert refusal(sessions.check, world.hana, FLOW, record.id, "issue").code == "session_expired"


def test_the_expiry_is_the_institutions_setting(tmp_path):
    world = make_world(tmp_path, settings={"ra_step_seconds": 60})
    sessions = StepSessions(world.store, clock=world.clock)
    record = sessions.start(world.hana, FLOW)
    world.clock.advance(dt.timedelta(seconds=60))
    assert refusal(sessions.done, world.hana, FLOW, record.id, "terms").code == "session_expired"


def test_a_failed_session_takes_no_more_steps(world, sessions):
    record = sessions.start(world.hana, FLOW)
    sessions.refused(world.hana, record.id, "terms", "card_locked", ends=True)
    assert sessions.get(world.hana, record.id).state is RaSessionState.FAILED
    assert refusal(sessions.check, world.hana, FLOW, record.id, "terms").code == "session_failed"


def test_a_finished_session_takes_no_more_steps(world, sessions):
    record = sessions.start(world.hana, FLOW)
    for step in FLOW.steps:
        sessions.done(world.hana, FLOW, record.id, step)
    assert refusal(sessions.check, world.hana, FLOW, record.id, "terms").code == \
        "session_finished"


def test_another_institutions_session_is_answered_as_unknown(world, sessions):
    kb, _ = add_bank(world.store, "004", at=world.clock.now())
    record = sessions.start(world.hana, FLOW)
    for session_id in (record.id, "ra_nope", 7):
        with pytest.raises(BankNotFoundError):
            sessions.check(kb if session_id == record.id else world.hana, FLOW, session_id,
                           "terms")
    with pytest.raises(BankNotFoundError):
        sessions.check(world.hana, Flow("other", ("terms",)), record.id, "terms")
    assert sessions.history(world.hana, record.id) == ()


def test_two_answers_to_one_step_at_once_do_it_once(world):
    record = StepSessions(world.store, clock=world.clock).start(world.hana, FLOW)

    def answer(_: int) -> object:
        store = open_store(sqlite_url(world.path))
        try:
            return StepSessions(store, clock=world.clock).done(world.hana, FLOW, record.id,
                                                               "terms").steps_done
        finally:
            store.close()

    outcomes = in_parallel(8, answer)
    assert outcomes.count(("terms",)) == 1
    assert sorted(getattr(o, "code", "") for o in outcomes) == [""] + ["step_repeated"] * 7
