"""Fault points: named places where a crash test kills the process on purpose.

Crash safety is tested by killing kpki at chosen points, not at random times. Code that
must survive a crash calls :func:`fault_point` with a name at each interesting step; a test
runs kpki in a subprocess with ``KPKI_FAULT=<name>`` in its environment, and the process
SIGKILLs itself when it reaches that point (no ``finally`` blocks, no flushing, as with a
power cut), then checks what a later run finds. ``KPKI_FAULT=<name>@<n>`` kills on the
``n``-th time the point is reached (counted from 1), for points inside loops.
``KPKI_FAULT=<name>[@<n>]:<SIGNAL>`` sends that signal (``SIGTERM``, ``SIGINT``) instead,
so a test can stop a long-running command at a chosen step rather than at a random time.

Without the variable a fault point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

__all__ = ["FAULT_ENV", "fault_point"]

FAULT_ENV = "KPKI_FAULT"
_reached: dict[str, int] = {}


def fault_point(name: str) -> None:
    """SIGKILL this process if ``KPKI_FAULT`` names this point (see the module doc)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    wanted, _, sent = wanted.partition(":")
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    count = _reached[name] = _reached.get(name, 0) + 1
    if count == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.Signals.__members__.get(sent, signal.SIGKILL))
