"""Signing and verifying documents as CMS SignedData (korean-pki.md section 8)."""

from .cms import PURPOSES, KeySigner, SignedDocument, Signer, sign
from .envelope import open_r_envelope, seal_r
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
