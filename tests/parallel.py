"""The parallel-caller harness of the concurrency tests (the bank's and the cloud's)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pki.errors import RequestRefusedError


def in_parallel(count: int, call: Callable[[int], object]) -> list[object]:
    """Run ``call(i)`` in ``count`` threads released together; results or refusals."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait(timeout=120)
        try:
            results[i] = call(i)
        except RequestRefusedError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a parallel call never finished"
    return results
