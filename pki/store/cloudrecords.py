"""The store's records of registration (users, codes, the messages carrying them) and
of the cloud's vault (:mod:`pki.cloud`), split from :mod:`pki.store.records` so that a
command reading certificates does not build them (issue 18's start-up).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..purposes import Purpose

__all__ = [
    "CloudUser",
    "HistoryEntry",
    "Institution",
    "Message",
    "PendingCode",
    "Sealed",
    "VaultRecord",
    "Via",
]


# -- registration (users, codes, the messages carrying them) --------------------------------


@dataclass(frozen=True)
class Institution:
    """An institution allowed to call the cloud and the bank (its API key is kept only
    hashed)."""

    id: int
    name: str
    added_at: dt.datetime
    code: str | None = None
    """Its 3-digit financial institution code (``081`` Hana), for a bank; None for an
    institution that only calls the cloud."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Its bank settings as stored (:class:`pki.bank.institutions.BankSettings` reads
    them); empty: the defaults."""


@dataclass(frozen=True)
class CloudUser:
    """A person registered by an institution, by name, phone and birth date."""

    id: str
    name: str
    phone: str
    """Digits only."""
    birth_date: dt.date
    institution_id: int | None
    """The institution that registered the user (None for users registered before kpki
    kept it)."""
    created_at: dt.datetime
    confirmed_at: dt.datetime | None = None
    """When the code sent to the phone came back; None while unconfirmed."""
    designated_only: bool = False
    """Signing is allowed from designated devices only."""

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True)
class PendingCode:
    """A confirmation code waiting for its user, with what the limits need."""

    user_id: str
    code_hash: str
    expires_at: dt.datetime
    attempts: int
    """Wrong guesses so far."""
    phone: str
    institution_id: int | None


class Via(enum.Enum):
    """How a message reached a phone."""

    SMS = "sms"
    APP = "app"
    """A push to the carrier's app (phone verification's push protection)."""
    CALL = "call"
    """A voice call (ARS)."""


@dataclass(frozen=True)
class Message:
    """A message sent to a phone (the built-in channel keeps them for the test channel)."""

    phone: str
    text: str
    at: dt.datetime
    institution_id: int | None
    """The institution whose request caused it."""
    via: Via = Via.SMS


# -- the vault -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """What the store keeps of one key: nothing usable without the PIN and the vault
    secret (:mod:`pki.cloud.vault` seals and opens it)."""

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    kdf: str
    secret_check: str | None = None
    """The check value of the secret it was sealed under (None: sealed before kpki kept
    one; adopted at the next start)."""


@dataclass(frozen=True)
class VaultRecord:
    """A certificate's sealed key in the cloud, with its PIN count."""

    ca: str
    serial: int
    user_id: str
    sealed: Sealed
    failures: int = 0
    """Verified wrong PINs in a row."""
    locked_at: dt.datetime | None = None
    """When the last allowed wrong PIN locked it for good."""
    renewal_noticed_at: dt.datetime | None = None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True)
class HistoryEntry:
    """One event in a user's history (the last twenty are shown)."""

    at: dt.datetime
    institution: str
    device: str | None
    purpose: Purpose | None
    serial: int | None
    outcome: str
    """``signed``, ``registered``, ``pin-changed``, ``revoked``, ``refused-device``, or the
    code of the refusal (``wrong_pin`` ...)."""
