"""asn1crypto specs shared by several modules."""

from __future__ import annotations

from asn1crypto import core

__all__ = ["AlgorithmIdentifier"]


class AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    """``AlgorithmIdentifier`` exactly as found: unlike asn1crypto's own algorithm specs it
    never adds NULL parameters (real VIDs write SHA-256 without them) and accepts any OID
    (the SEED ones included)."""

    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]
