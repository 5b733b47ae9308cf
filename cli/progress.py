"""Progress of long work on a terminal: one line on stderr, rewritten in place.

Shown only when stderr is a terminal; piped or redirected, kpki prints nothing extra, so
scripts and logs see the same output as before. The library reports through a callback
(:mod:`pki.progress`); :class:`ProgressLine` is that callback for every command.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from pki.progress import Progress

__all__ = ["ProgressLine", "progress_line"]


class ProgressLine:
    """``kpki: CRL of yessign 120,000`` (``120/1000 12%`` when the total is known) on
    ``stream`` (stderr), rewritten in place; nothing at all unless ``stream`` is a
    terminal. Call it with :class:`pki.progress.Progress` reports, or :meth:`show`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.active = self._stream.isatty()
        self._shown: tuple[str, int] | None = None

    def __call__(self, report: Progress) -> None:
        """Draw ``report``; a task's last report clears the line (log lines may follow)."""
        if report.finished:
            self.close()
        else:
            self.show(report.task, report.done, report.total)

    def show(self, task: str, done: int, total: int | None = None) -> None:
        """Draw ``task``'s count; with a total, redrawn only when the percentage moves."""
        if not self.active:
            return
        if total:
            percent = done * 100 // total
            if self._shown == (task, percent) and done != total:
                return
            self._shown = (task, percent)
            text = f"{done:,}/{total:,} {percent}%"
        else:
            self._shown = (task, done)
            text = f"{done:,}"
        self._stream.write(f"\rkpki: {task} {text}\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        """Clear the line (if one was drawn), so what follows starts on a clean one."""
        if self.active and self._shown is not None:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
        self._shown = None


@contextmanager
def progress_line(stream: TextIO | None = None) -> Iterator[ProgressLine]:
    """A :class:`ProgressLine` for a block, cleared when the block ends however it ends."""
    line = ProgressLine(stream)
    try:
        yield line
    finally:
        line.close()
