"""Injected randomness: serial numbers, VID random values and CN sequences draw from here.

Real issuance uses :class:`SystemEntropy` (the OS CSPRNG through :mod:`secrets`).
:class:`SeededEntropy` is a deterministic stream for reproducible fixtures and tests; it
must never be used for real keys or real certificates.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol

__all__ = ["Entropy", "SeededEntropy", "SystemEntropy", "random_serial"]


class Entropy(Protocol):
    """A source of random bytes."""

    def token_bytes(self, n: int) -> bytes: ...


class SystemEntropy:
    """The operating system's CSPRNG."""

    def token_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)


class SeededEntropy:
    """A reproducible byte stream: SHAKE-256 over the seed and a block counter.

    For fixtures and tests only: anyone who knows the seed knows every value.
    """

    def __init__(self, seed: bytes | str | int) -> None:
        if isinstance(seed, int):
            seed = str(seed)
        if isinstance(seed, str):
            seed = seed.encode()
        self._seed = seed
        self._counter = 0

    def token_bytes(self, n: int) -> bytes:
        out = hashlib.shake_256(
            self._seed + b"\x00" + self._counter.to_bytes(8, "big")
        ).digest(n)
        self._counter += 1
        return out


SERIAL_BYTES = 16


def random_serial(entropy: Entropy) -> int:
    """A positive serial number with 127 bits of entropy (RFC 5280 allows up to 20 octets).

    The top bit is cleared so the DER INTEGER needs no leading zero and stays at 16 octets;
    zero is never returned.
    """
    while True:
        value = int.from_bytes(entropy.token_bytes(SERIAL_BYTES), "big") >> 1
        if value:
            return value
