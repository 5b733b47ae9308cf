"""Injected randomness: serial numbers, VID random values and CN sequences draw from here.

Real issuance uses :class:`SystemEntropy` (the OS CSPRNG through :mod:`secrets`).
:class:`SeededEntropy` is a deterministic stream for reproducible fixtures and tests; it
must never be used for real keys or real certificates.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Protocol

from .errors import ProfileError

__all__ = [
    "DEFAULT_SERIAL_BITS",
    "MAX_SERIAL_BITS",
    "MIN_SERIAL_BITS",
    "Entropy",
    "SeededEntropy",
    "SystemEntropy",
    "below",
    "check_serial_bits",
    "random_serial",
]


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


def below(n: int, entropy: Entropy) -> int:
    """A uniform integer in ``[0, n)``, ``n`` from 1 to 2**32: four bytes of ``entropy``
    a draw, drawn again when past the last whole multiple of ``n`` (rejection sampling: no
    modulo bias). :class:`ValueError` for another ``n``."""
    if not 1 <= n <= 2**32:
        raise ValueError(f"below() draws in [0, n) for n from 1 to 2**32, not {n}")
    limit = 2**32 - 2**32 % n
    while True:
        value = int.from_bytes(entropy.token_bytes(4), "big")
        if value < limit:
            return value % n


DEFAULT_SERIAL_BITS = 63
"""Serials that fit in a signed 64-bit integer, as real Korean CAs' do (the yessign test
certificate's serial is 3 bytes, its CA's 1 byte): a relying party keeping serials in a
64-bit column must not break on kpki's alone."""
MIN_SERIAL_BITS = 32
MAX_SERIAL_BITS = 159
"""RFC 5280: at most 20 octets, and positive."""


def check_serial_bits(bits: int) -> int:
    """``bits`` if serials of that many random bits are allowed; :class:`ProfileError`
    otherwise (fewer than 32 collide too often to retry, more than 159 break RFC 5280)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not (
            MIN_SERIAL_BITS <= bits <= MAX_SERIAL_BITS):
        raise ProfileError(f"serial numbers of {bits} bits: {MIN_SERIAL_BITS} to "
                           f"{MAX_SERIAL_BITS} are possible")
    return bits


def random_serial(entropy: Entropy, bits: int = DEFAULT_SERIAL_BITS) -> int:
    """A positive serial number of ``bits`` random bits (1 to 2**bits - 1).

    With the default 63 bits it fits in a signed 64-bit integer and its DER INTEGER in 8
    octets. Unpredictable when ``entropy`` is; unique only by drawing again when the store
    says a serial is taken (:class:`pki.errors.SerialInUseError`).
    """
    check_serial_bits(bits)
    size = -(-bits // 8)
    while True:
        value = int.from_bytes(entropy.token_bytes(size), "big") >> (8 * size - bits)
        if value:
            return value
