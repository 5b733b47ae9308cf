"""Signing and verifying documents as CMS SignedData (korean-pki.md section 8).

The signing side is imported on first use (PEP 562): ``kpki verify`` imports the verifier
without it (its DER encoders, the R envelope's ciphers), issue 18.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .verify import (
    CannotEvaluateError,
    Check,
    CheckName,
    CheckTime,
    Outcome,
    TimeSource,
    VerificationResult,
    Verifier,
    verify,
)

if TYPE_CHECKING:
    from .cms import PURPOSES, KeySigner, SignedDocument, Signer, sign
    from .envelope import open_r_envelope, seal_r

_WHERE = {
    "PURPOSES": "cms", "KeySigner": "cms", "SignedDocument": "cms", "Signer": "cms",
    "sign": "cms",
    "open_r_envelope": "envelope", "seal_r": "envelope",
}

__all__ = [
    "PURPOSES",
    "CannotEvaluateError",
    "Check",
    "CheckName",
    "CheckTime",
    "KeySigner",
    "Outcome",
    "SignedDocument",
    "Signer",
    "TimeSource",
    "VerificationResult",
    "Verifier",
    "open_r_envelope",
    "seal_r",
    "sign",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
