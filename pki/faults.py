"""Fault points: named places where a crash test kills the process on purpose.

Crash safety is tested by killing kpki at chosen points, not at random times. Code that
must survive a crash calls :func:`fault_point` with a name at each interesting step; a test
runs kpki in a subprocess with ``KPKI_FAULT=<name>`` in its environment, and the process
SIGKILLs itself when it reaches that point (no ``finally`` blocks, no flushing, as with a
power cut), then checks what a later run finds. ``KPKI_FAULT=<name>@<n>`` kills on the
``n``-th time the point is reached (counted from 1), for points inside loops.
``KPKI_FAULT=<name>[@<n>]:<SIGNAL>`` sends that signal (``SIGTERM``, ``SIGINT``) instead,
so a test can stop a long-running command at a chosen step rather than at a random time.

Without the variable a fault point costs one look-up in the dictionary that ``os.environ``
keeps its (encoded) variables in, where ``os.environ.get`` raised and caught a ``KeyError``
on a miss (1.3 us, four times in a transfer); the variable is still read at each call, so a
test may set it in-process.
"""

from __future__ import annotations

import os
import signal
from typing import Any

__all__ = ["FAULT_ENV", "fault_point"]

FAULT_ENV = "KPKI_FAULT"
_reached: dict[str, int] = {}
_ENCODED: Any = getattr(os.environ, "_data", None)
"""The mapping behind ``os.environ`` (CPython's, which it updates with every change); None
where there is none, and then each call asks ``os.environ``."""
_ENCODED_KEY = os.environ.encodekey(FAULT_ENV)


def fault_point(name: str) -> None:
    """SIGKILL this process if ``KPKI_FAULT`` names this point (see the module doc)."""
    if _ENCODED is not None and _ENCODED_KEY not in _ENCODED:
        return
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
