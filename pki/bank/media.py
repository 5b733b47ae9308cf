"""Security media (보안매체): what kinds there are, and the one interface a transfer's
authorisation will call whatever the kind.

A medium answers a challenge: a security card two positions' digits, an OTP token its
current code. :class:`Medium` is that step seen from outside: ``verify(response, *, at)``
returns a :class:`MediumOutcome` (accepted, or refused with the refusal's stable code) and
raises only when it cannot evaluate (an unknown challenge or token); ``verify_in(tx,
response, *, at)`` does the same inside a caller's write transaction (a transfer decides
its medium, its limits and its record in one), its writes committing with the caller's.
The transfer limits depend on the kind of medium used (:mod:`pki.bank.limits`).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..clock import Clock

if TYPE_CHECKING:
    from ..store import StoreTransaction

__all__ = ["Medium", "MediumKind", "MediumOutcome", "decision_time"]


class MediumKind(enum.Enum):
    """The kinds of security medium an institution's limit table grades."""

    SECURITY_CARD = "security-card"
    """보안카드: a printed card of 25-35 four-digit codes (:mod:`pki.bank.cards`)."""
    HARDWARE_OTP = "otp"
    """A hardware OTP token registered through the shared OTP centre."""
    MOBILE_OTP = "mobile-otp"
    """A bank's own mobile OTP, usable only at that bank."""
    DIGITAL_OTP = "digital-otp"
    """The shared digital OTP app (one per person, on one phone)."""
    PRIVATE_CERTIFICATE = "private-certificate"
    """A bank's private certificate, which some banks (KB) count as a medium."""


@dataclass(frozen=True)
class MediumOutcome:
    """What a medium made of a response."""

    kind: MediumKind
    accepted: bool
    code: str | None = None
    """The refusal's stable code (``wrong_card_answer``, ``card_locked``,
    ``challenge_used``, ``challenge_expired`` ...); None when accepted."""
    attempts_left: int | None = None
    """After a counted wrong response: how many more before the medium locks."""


class Medium(Protocol):
    """One medium of one customer, ready to check a response."""

    @property
    def kind(self) -> MediumKind: ...

    def verify(self, response: str, *, at: dt.datetime | None = None) -> MediumOutcome:
        """Check ``response`` now by the bank's clock (``at``: a later moment, see
        :func:`decision_time`); every verified wrong response is counted before this
        returns."""
        ...

    def verify_in(self, tx: StoreTransaction, response: str, *,
                  at: dt.datetime | None = None, audited: bool = True) -> MediumOutcome:
        """:meth:`verify` inside ``tx`` (under its write lock): a verified wrong response
        is counted in ``tx`` and stands if the caller commits it; the caller commits
        after a refusal as after an acceptance. ``audited=False``: an accepted response
        writes no audit row of its own (the caller's row in ``tx`` names it); a counted
        wrong response and a lock are audited whatever."""
        ...


def decision_time(clock: Clock, at: dt.datetime | None) -> dt.datetime:
    """When a medium decides a response: the bank's clock, or ``at`` when it is later (a
    caller deciding several steps at one moment, a test). Never earlier: a caller cannot
    answer a challenge, or give a code, after its time by naming a time before it."""
    now = clock.now()
    return now if at is None or at < now else at
