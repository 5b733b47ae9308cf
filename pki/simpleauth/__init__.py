"""Simple authentication (간편인증): every provider's app, a relying party's request, the
person's approval signed with their private certificate (issue 15 item 4).

:mod:`.providers` (the providers as data), :mod:`.content` (what the app signs),
:mod:`.service` (the provider: apps, requests, answers, results), :mod:`.app` (the
person's side: the device folder signs).
"""

from .app import DeviceApp, RegistrationProof
from .content import Approval, Registration, read_approval, read_registration
from .providers import PROVIDERS, Provider, provider
from .service import (
    AppRegistration,
    FailReason,
    PendingRequest,
    SimpleAuth,
    SimpleAuthResult,
    SimpleAuthSettings,
    SimpleAuthStatus,
    StatusView,
)

__all__ = [
    "PROVIDERS",
    "AppRegistration",
    "Approval",
    "DeviceApp",
    "FailReason",
    "PendingRequest",
    "Provider",
    "Registration",
    "RegistrationProof",
    "SimpleAuth",
    "SimpleAuthResult",
    "SimpleAuthSettings",
    "SimpleAuthStatus",
    "StatusView",
    "provider",
    "read_approval",
    "read_registration",
]
