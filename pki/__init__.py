"""kpki: the Korean certificate ecosystem for test environments.

The library never prints, prompts or exits; the ``kpki`` CLI (package ``cli``) does that.

The names below are imported on first use (PEP 562), not with the package: ``import
pki.clock`` (what every ``kpki`` command does first) then costs the clock module alone, not
the CA, the home and everything they import (a quarter of a second of CPU, issue 18).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .authority import CertificateAuthority, IssuedCertificate
    from .clock import FixedClock, SystemClock
    from .entropy import SeededEntropy, SystemEntropy
    from .errors import PKIError
    from .home import CASettings, Home, RootSettings
    from .profiles import PROFILES, FinancialKind, JointPolicy, KeyType, RegistrationAuthority
    from .rrn import RRN, synthetic_rrn

_WHERE = {
    "CertificateAuthority": "authority", "IssuedCertificate": "authority",
    "FixedClock": "clock", "SystemClock": "clock",
    "SeededEntropy": "entropy", "SystemEntropy": "entropy",
    "PKIError": "errors",
    "CASettings": "home", "Home": "home", "RootSettings": "home",
    "PROFILES": "profiles", "FinancialKind": "profiles", "JointPolicy": "profiles",
    "KeyType": "profiles", "RegistrationAuthority": "profiles",
    "RRN": "rrn", "synthetic_rrn": "rrn",
}

__all__ = [
    "PROFILES",
    "RRN",
    "CASettings",
    "CertificateAuthority",
    "FinancialKind",
    "FixedClock",
    "Home",
    "IssuedCertificate",
    "JointPolicy",
    "KeyType",
    "PKIError",
    "RegistrationAuthority",
    "RootSettings",
    "SeededEntropy",
    "SystemClock",
    "SystemEntropy",
    "synthetic_rrn",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pki' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: the next look-up is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
