"""The store's records of the registration authority's flows, private certificates as
media and simple authentication; split from :mod:`pki.store.records` so that a command
reading certificates does not build them (issue 18's start-up).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PrivateMediumRecord",
    "RaSessionRecord",
    "RaSessionState",
    "RaStepRecord",
    "SimpleAuthRequestRecord",
    "SimpleAuthState",
    "SimpleAuthUser",
]


# -- registration-authority flows, private certificates as media, simple authentication -------


class RaSessionState(enum.Enum):
    """Where a registration authority's step session is (:mod:`pki.ra.sessions`)."""

    OPEN = "open"
    FINISHED = "finished"
    FAILED = "failed"
    """Ended by a refusal that ends the flow (a locked medium, ...); no step is taken
    after it."""


@dataclass(frozen=True)
class RaSessionRecord:
    """One run of an issuance flow: the steps done so far, in order, and what they
    established (``data``: JSON-able facts such as the customer's id or the phone
    verification used, never a secret)."""

    id: str
    institution_id: int
    flow: str
    customer_id: str | None
    steps_done: tuple[str, ...]
    data: Mapping[str, Any]
    state: RaSessionState
    created_at: dt.datetime
    expires_at: dt.datetime
    """The next step must come before this (re-armed by every step done)."""
    finished_at: dt.datetime | None = None


@dataclass(frozen=True)
class RaStepRecord:
    """One step asked for in a session, done or refused with its reason code."""

    session_id: str
    step: str
    accepted: bool
    reason: str | None
    at: dt.datetime


@dataclass(frozen=True)
class PrivateMediumRecord:
    """A bank customer's private certificate, registered at its bank, where it counts as
    a security medium (one per customer)."""

    customer_id: str
    institution_id: int
    ca: str
    serial: int
    device: str
    registered_at: dt.datetime


class SimpleAuthState(enum.Enum):
    """A simple-authentication request's state as stored; ``expired`` is read from the
    clock (a pending request past its expiry), not written."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    COLLECTED = "collected"
    """Approved, and its result handed to the relying party (once)."""


@dataclass(frozen=True)
class SimpleAuthUser:
    """A person's app at a simple-authentication provider: who (``person``: a keyed hash
    of the RRN, never the RRN), and the private certificate on the app's device."""

    provider: int
    person: str
    name: str
    phone: str
    birth_date: dt.date
    ca: str
    serial: int
    device: str
    registered_at: dt.datetime


@dataclass(frozen=True)
class SimpleAuthRequestRecord:
    """A relying party's request pushed to a person's app."""

    id: str
    provider: int
    institution_id: int
    """The relying party."""
    person: str | None
    """The person it matched; None when it matched nobody (it then stays pending until
    it expires, so a relying party cannot tell who has the app)."""
    nonce: str
    state: SimpleAuthState
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None = None
    result: bytes | None = None
    """The signed result (CMS, DER) once approved."""
    ci: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    """What else the flow keeps (the text shown in the app, ...); never a secret."""
