"""Records of the browser SDK's part of the store (:mod:`pki.cloud.sdk` decides, these are
its rows; SQL in :mod:`pki.store.sqlite.sdk`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["SdkInstitution", "SdkPad", "SdkSession"]


@dataclass(frozen=True)
class SdkInstitution:
    """An institution's browser-SDK set-up."""

    institution_id: int
    org_code: str
    """``D`` (test) or ``R`` (production) and digits: what ``FinCert.Sdk.init`` names."""
    key_hash: str
    """SHA-256 of its public SDK key (the key is shown once)."""
    origins: tuple[str, ...]
    """Page origins allowed to use the SDK as this institution (``https://host:port``)."""
    added_at: dt.datetime


@dataclass(frozen=True)
class SdkSession:
    """An iframe's session: bound to one institution, page origin and device."""

    id: str
    """SHA-256 of the session token (the token lives only in the iframe)."""
    institution_id: int
    origin: str
    device: str
    created_at: dt.datetime
    expires_at: dt.datetime
    user_id: str | None = None
    """The cloud user connected through this session (its code confirmed)."""
    pending_user: str | None = None
    """A registration started by the connection flow, waiting for its code."""
    ended_at: dt.datetime | None = None


@dataclass(frozen=True)
class SdkPad:
    """A shuffled PIN pad issued to a session, answered once."""

    id: str
    session_id: str
    layout: str
    """Twelve characters, one a key position: a digit, or ``-`` for a blank key."""
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
