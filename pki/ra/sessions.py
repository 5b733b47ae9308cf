"""Step sessions: the order, expiry and once-only rule of an issuance flow's steps.

A flow (:class:`Flow`) is a name and its steps in order. :meth:`StepSessions.start` opens a
session (an id drawn from the entropy, the flow's first step due within
:attr:`pki.bank.institutions.BankSettings.ra_step_seconds`). Every later step goes through
:meth:`StepSessions.check` before the flow does its work and :meth:`StepSessions.done`
after, and is refused with a reason code (:class:`pki.errors.StepRefusedError`) when:

* ``session_expired``: the step came after the session's expiry (re-armed by every step
  done, so each step has the setting's time from the one before);
* ``step_repeated``: the session did this step already;
* ``step_out_of_order``: another step is due (its name is the error's ``expected``);
* ``session_finished`` / ``session_failed``: the session has ended.

An unknown session, and another institution's, are :class:`pki.errors.BankNotFoundError`
(``session``), answered the same so an institution cannot probe another's sessions.

**Exactness.** :meth:`done` re-reads the session under the store's write lock and checks
again, so of two answers to one step at once, one is done and the other is
``step_repeated``; the record of the step and the session's new state are one
transaction with one audit row. A flow whose step writes something of its own (the
issuance that ends a flow) does it in the same transaction: :meth:`done_in` takes the
transaction, and :class:`FinishingDelivery` joins an issuance's unit of work, so a
certificate is issued exactly when its session finishes. A refusal is recorded too
(:meth:`refused`), in its own transaction, so the session's history shows every step
asked for.

Expired sessions are refused when used and never cleaned up: the rows are the flow's
audit trail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..authority import IssuedCertificate
from ..bank.institutions import settings_of
from ..clock import Clock
from ..delivery import Delivery
from ..entropy import Entropy, SystemEntropy
from ..errors import BankNotFoundError, StepRefusedError
from ..store import (
    AuditAction,
    Institution,
    RaSessionRecord,
    RaSessionState,
    RaStepRecord,
    Store,
    StoreTransaction,
)
from ..store.protocols import RaLookups

__all__ = ["FinishingDelivery", "Flow", "StepSessions"]


@dataclass(frozen=True)
class Flow:
    """An issuance flow: its name (stored with each session) and its steps in order."""

    name: str
    steps: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.steps or len(set(self.steps)) != len(self.steps):
            raise ValueError(f"flow {self.name!r} needs distinct steps")
        if any("," in step for step in self.steps):
            raise ValueError("a step's name has no comma")

    def next_step(self, record: RaSessionRecord) -> str | None:
        """The step the session waits for; None when every step is done."""
        done = len(record.steps_done)
        return self.steps[done] if done < len(self.steps) else None


class StepSessions:
    """The step sessions of one store (see the module doc)."""

    def __init__(self, store: Store, *, clock: Clock, entropy: Entropy | None = None
                 ) -> None:
        self.store = store
        self.clock = clock
        self.entropy: Entropy = entropy or SystemEntropy()

    def start(self, institution: Institution, flow: Flow, *, customer_id: str | None = None,
              data: Mapping[str, Any] | None = None) -> RaSessionRecord:
        """Open a session of ``flow`` at ``institution``; one transaction and audit row.
        No step is done yet: the first is :meth:`Flow.next_step`'s."""
        now = self.clock.now()
        record = RaSessionRecord(
            id="ra_" + self.entropy.token_bytes(12).hex(), institution_id=institution.id,
            flow=flow.name, customer_id=customer_id, steps_done=(), data=dict(data or {}),
            state=RaSessionState.OPEN, created_at=now,
            expires_at=now + settings_of(institution).ra_step_lifetime)
        with self.store.transaction() as tx:
            tx.add_ra_session(record)
            tx.audit(AuditAction.RA_SESSION_STARTED, at=now,
                     detail={"institution": institution.name, "session": record.id,
                             "flow": flow.name})
        return record

    def get(self, institution: Institution, session_id: object) -> RaSessionRecord:
        """The institution's session; :class:`BankNotFoundError` for any other."""
        return _session_in(self.store, institution, session_id)

    def check(self, institution: Institution, flow: Flow, session_id: object, step: str
              ) -> RaSessionRecord:
        """The session if ``step`` is the one it waits for now; otherwise the refusal is
        recorded (:meth:`refused`) and raised as :class:`StepRefusedError`. Raises
        :class:`BankNotFoundError` for an unknown session, another institution's or
        another flow's."""
        record = _session_in(self.store, institution, session_id, flow)
        try:
            _check(record, flow, step, self.clock.now())
        except StepRefusedError as refusal:
            self.refused(institution, record.id, step, refusal.code)
            raise
        return record

    def done(self, institution: Institution, flow: Flow, session_id: str, step: str, *,
             data: Mapping[str, Any] | None = None, customer_id: str | None = None
             ) -> RaSessionRecord:
        """Record ``step`` done in its own transaction (see :meth:`done_in`); a refusal is
        recorded as by :meth:`check` and raised."""
        try:
            with self.store.transaction() as tx:
                return self.done_in(tx, institution, flow, session_id, step, data=data,
                                    customer_id=customer_id)
        except StepRefusedError as refusal:
            self.refused(institution, session_id, step, refusal.code)
            raise

    def done_in(self, tx: StoreTransaction, institution: Institution, flow: Flow,
                session_id: str, step: str, *, data: Mapping[str, Any] | None = None,
                customer_id: str | None = None) -> RaSessionRecord:
        """Within ``tx``: re-read the session under the lock, check ``step`` is still due
        (:class:`StepRefusedError` otherwise, nothing written), and record it done with
        ``data`` merged into the session's, ``customer_id`` set when given, the expiry
        re-armed, and the session finished when it was the last step. Returns the
        session as it now is."""
        now = self.clock.now()
        record = _session_in(tx, institution, session_id, flow)
        _check(record, flow, step, now)
        steps = (*record.steps_done, step)
        last = len(steps) == len(flow.steps)
        updated = dataclasses.replace(
            record, steps_done=steps, data={**record.data, **(data or {})},
            customer_id=record.customer_id if customer_id is None else customer_id,
            state=RaSessionState.FINISHED if last else RaSessionState.OPEN,
            expires_at=now + settings_of(institution).ra_step_lifetime,
            finished_at=now if last else None)
        tx.update_ra_session(updated)
        tx.add_ra_step(RaStepRecord(session_id=record.id, step=step, accepted=True,
                                    reason=None, at=now))
        tx.audit(AuditAction.RA_SESSION_FINISHED if last else AuditAction.RA_STEP_DONE,
                 at=now, detail={"institution": institution.name, "session": record.id,
                                 "flow": flow.name, "step": step})
        return updated

    def refused(self, institution: Institution, session_id: str, step: str, code: str, *,
                ends: bool = False) -> None:
        """Record that ``step`` was refused with ``code`` (a flow's own refusals too: a
        wrong card answer, a failed phone check); ``ends`` fails the session, so no step
        is taken after it. One transaction and audit row; an unknown session records
        nothing."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            record = tx.ra_session(session_id)
            if record is None or record.institution_id != institution.id:
                return
            tx.add_ra_step(RaStepRecord(session_id=record.id, step=step, accepted=False,
                                        reason=code, at=now))
            failing = ends and record.state is RaSessionState.OPEN
            if failing:
                tx.update_ra_session(dataclasses.replace(
                    record, state=RaSessionState.FAILED, finished_at=now))
            tx.audit(AuditAction.RA_SESSION_FAILED if failing else AuditAction.RA_STEP_REFUSED,
                     at=now, detail={"institution": institution.name, "session": record.id,
                                     "flow": record.flow, "step": step, "reason": code})

    def history(self, institution: Institution, session_id: object
                ) -> tuple[RaStepRecord, ...]:
        """Every step asked for in the session, done or refused, in order."""
        record = _session_in(self.store, institution, session_id)
        return tuple(self.store.ra_steps(record.id))


class FinishingDelivery:
    """An issuance's delivery that also records the flow's last step done, in the
    issuance's transaction (:class:`pki.delivery.Delivery`): the certificate exists
    exactly when the session is finished. ``inner`` is the delivery proper (an NPKI
    folder, the cloud's vault), staged first; ``data`` gets the issued serial as
    ``serial`` (hex) besides what the caller gives."""

    def __init__(self, sessions: StepSessions, institution: Institution, flow: Flow,
                 session_id: str, step: str, *, inner: Delivery | None = None,
                 data: Mapping[str, Any] | None = None) -> None:
        self.sessions = sessions
        self.institution = institution
        self.flow = flow
        self.session_id = session_id
        self.step = step
        self.inner = inner
        self.data = dict(data or {})
        self.record: RaSessionRecord | None = None
        """The finished session, once the issuance committed."""

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        if self.inner is not None:
            self.inner.stage(store, tx, issued, at=at)
        self.record = self.sessions.done_in(
            tx, self.institution, self.flow, self.session_id, self.step,
            data={**self.data, "ca": issued.ca, "serial": format(issued.serial, "X")})

    def abort(self) -> None:
        self.record = None
        if self.inner is not None:
            self.inner.abort()

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        if self.inner is not None:
            self.inner.publish(store, at=at)


def _session_in(lookups: RaLookups, institution: Institution, session_id: object,
                flow: Flow | None = None) -> RaSessionRecord:
    record = lookups.ra_session(session_id) if isinstance(session_id, str) else None
    if (record is None or record.institution_id != institution.id
            or (flow is not None and record.flow != flow.name)):
        raise BankNotFoundError("session")
    return record


def _check(record: RaSessionRecord, flow: Flow, step: str, now: dt.datetime) -> None:
    if step not in flow.steps:
        raise ValueError(f"flow {flow.name!r} has no step {step!r}")
    expected = flow.next_step(record)

    def refuse(code: str, message: str) -> StepRefusedError:
        return StepRefusedError(message, code=code, session_id=record.id, step=step,
                                expected=expected if record.state is RaSessionState.OPEN
                                else None)

    if record.state is RaSessionState.FINISHED:
        raise refuse("session_finished", "the session has finished: start a new one")
    if record.state is RaSessionState.FAILED:
        raise refuse("session_failed", "the session ended with a refusal: start a new one")
    if now >= record.expires_at:
        raise refuse("session_expired", "the session expired: start a new one")
    if step in record.steps_done:
        raise refuse("step_repeated", f"the step {step} was done already")
    if step != expected:
        raise refuse("step_out_of_order", f"the step {expected} comes first")

