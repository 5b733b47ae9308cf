"""pki.entropy.below: the one uniform draw in [0, n) that the RRN generator, the bank's
security cards and the SDK's PIN pad shuffle share (each had its own copy)."""

from __future__ import annotations

import pytest

from pki.entropy import SeededEntropy, below


class _Script:
    """Entropy that hands out the given 4-byte values in order."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    def token_bytes(self, n: int) -> bytes:
        assert n == 4
        return self.values.pop(0).to_bytes(4, "big")


def test_a_draw_is_in_range_and_reproducible():
    draws = [below(10, SeededEntropy(n)) for n in range(200)]
    assert set(draws) == set(range(10))
    assert below(10**8, SeededEntropy(7)) == below(10**8, SeededEntropy(7))


def test_values_past_the_last_whole_multiple_are_drawn_again():
    """No modulo bias: 2**32 is not a multiple of 3, so its last value is refused."""
    assert below(3, _Script(2**32 - 1, 5)) == 2
    assert below(3, _Script(2**32 - 2, 4)) == (2**32 - 2) % 3


def test_one_is_always_zero():
    assert below(1, _Script(123)) == 0


@pytest.mark.parametrize("n", [0, -1, 2**32 + 1])
def test_a_bound_outside_one_to_two_to_the_32_is_refused(n):
    with pytest.raises(ValueError):
        below(n, _Script())
