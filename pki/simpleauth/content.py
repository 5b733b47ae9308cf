"""What a person's app signs: the approval of one request, and the proof that registers
the app. Both are one line of canonical JSON (sorted keys, no spaces, UTF-8), so a
relying party reads them with any JSON parser after checking the CMS signature over their
exact bytes.

An approval binds the relying party's ``nonce``, the ``request`` id, the ``provider``, the
``decision`` (``approve``), the time the person approved (``approved_at``, UTC, to the
second) and the person's ``ci``: the CI is **inside the signed content**, so what the
relying party receives as the person's CI is what the holder of the private certificate
signed, and the provider refuses an approval whose CI is not the registered person's.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["APPROVAL_FORMAT", "REGISTRATION_FORMAT", "Approval", "Registration",
           "read_approval", "read_registration"]

APPROVAL_FORMAT = "kpki-simpleauth-approval-v1"
REGISTRATION_FORMAT = "kpki-simpleauth-registration-v1"


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode()


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(content: bytes, keys: set[str], form: str) -> dict[str, Any] | None:
    try:
        data = json.loads(content.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or set(data) != keys or data.get("format") != form:
        return None
    return data


def _parse_time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Approval:
    """One approval, as signed."""

    request: str
    provider: int
    nonce: str
    ci: str
    approved_at: dt.datetime
    decision: str = "approve"

    def content(self) -> bytes:
        """The exact bytes the app signs."""
        return _canonical({"format": APPROVAL_FORMAT, "request": self.request,
                           "provider": self.provider, "nonce": self.nonce, "ci": self.ci,
                           "decision": self.decision,
                           "approved_at": _time(self.approved_at)})


def read_approval(content: bytes) -> Approval | None:
    """The approval ``content`` states, or None when it is not one."""
    data = _read(content, {"format", "request", "provider", "nonce", "ci", "decision",
                           "approved_at"}, APPROVAL_FORMAT)
    if data is None:
        return None
    when = _parse_time(data["approved_at"])
    fields = (data["request"], data["nonce"], data["ci"], data["decision"])
    if (when is None or not all(isinstance(f, str) for f in fields)
            or isinstance(data["provider"], bool) or not isinstance(data["provider"], int)):
        return None
    return Approval(request=data["request"], provider=data["provider"], nonce=data["nonce"],
                    ci=data["ci"], approved_at=when, decision=data["decision"])


@dataclass(frozen=True)
class Registration:
    """The proof that registers an app: the key's holder asks ``provider`` to register
    it for ``name`` at ``phone``, at ``at``."""

    provider: int
    name: str
    phone: str
    at: dt.datetime

    def content(self) -> bytes:
        return _canonical({"format": REGISTRATION_FORMAT, "provider": self.provider,
                           "name": self.name, "phone": self.phone, "at": _time(self.at)})


def read_registration(content: bytes) -> Registration | None:
    data = _read(content, {"format", "provider", "name", "phone", "at"}, REGISTRATION_FORMAT)
    if data is None:
        return None
    when = _parse_time(data["at"])
    if (when is None or not isinstance(data["name"], str) or not isinstance(data["phone"], str)
            or isinstance(data["provider"], bool) or not isinstance(data["provider"], int)):
        return None
    return Registration(provider=data["provider"], name=data["name"], phone=data["phone"],
                        at=when)
