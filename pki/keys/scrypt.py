"""scrypt cost parameters as kpki stores them (``scrypt:N:r:p``), read with bounds.

One piece for every sealed-key format that names its own KDF cost (the cloud vault, the
device keystore): a stored record asking for a 1 TiB KDF, or for an ``N`` scrypt cannot
run, is refused before any work is done.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScryptParams"]


@dataclass(frozen=True)
class ScryptParams:
    """The KDF's cost; :meth:`read` refuses values outside sane bounds."""

    n: int = 2**15
    r: int = 8
    p: int = 2

    def text(self) -> str:
        return f"scrypt:{self.n}:{self.r}:{self.p}"

    @classmethod
    def read(cls, text: str, *, min_n: int = 2**10) -> ScryptParams | None:
        """The parameters in ``text``, or ``None`` if it is not ``scrypt:N:r:p`` or asks for
        ``N`` outside ``min_n``..2^20 (or not a power of two), ``r`` outside 1..32 or ``p``
        outside 1..16. The caller raises its own format's error."""
        try:
            name, n, r, p = text.split(":")
            params = cls(int(n), int(r), int(p))
        except ValueError:
            return None
        if name != "scrypt" or not (min_n <= params.n <= 2**20 and params.n & (params.n - 1) == 0
                                    and 1 <= params.r <= 32 and 1 <= params.p <= 16):
            return None
        return params
