"""How long work says how far it has got: a callback the caller passes in.

The library never prints: a CRL over a million revocations, a batch of issuances or the
start of a server calls ``progress(Progress(...))`` now and then, and the face decides what
to show (``kpki`` draws one line on a terminal and nothing when stderr is piped,
:mod:`cli.progress`). Reports come every :data:`EVERY` items and at the end of each task,
so the cost stays out of the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["EVERY", "Progress", "ProgressCallback", "counted"]

T = TypeVar("T")

EVERY = 10_000
"""Items between two reports of :func:`counted`."""


@dataclass(frozen=True)
class Progress:
    """How far one task has got."""

    task: str
    """What is being done, in a few words ("CRL of yessign")."""
    done: int
    """Items done so far."""
    total: int | None = None
    """Items in all, when known beforehand."""
    finished: bool = False
    """The task's last report."""


ProgressCallback = Callable[[Progress], object]


def counted(items: Iterable[T], progress: ProgressCallback | None, task: str, *,
            total: int | None = None, every: int = EVERY) -> Iterator[T]:
    """``items``, reporting to ``progress`` every ``every`` items and once at their end
    (``items`` unchanged when ``progress`` is None)."""
    if progress is None:
        yield from items
        return
    done = 0
    for item in items:
        yield item
        done += 1
        if done % every == 0:
            progress(Progress(task, done, total))
    progress(Progress(task, done, total, finished=True))
