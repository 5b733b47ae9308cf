"""What the group hands its commands: the home, the clock every command runs on (``kpki
--at`` / ``$KPKI_NOW``) and how times are shown (``--utc``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pki.clock import Clock, SystemClock

if TYPE_CHECKING:
    from pki.home import Home


@dataclass
class Context:
    home: Path
    home_given: bool
    clock: Clock = field(default_factory=SystemClock)
    """The real clock, or with ``--at`` an :class:`pki.clock.OffsetClock` that starts at
    that time and runs on."""
    utc: bool = False
    """Show times in UTC instead of KST (``--utc``); JSON is the same either way."""

    pin_file: Path | None = None
    """Where the user PIN of the tokens holding CA keys is (``--pin-file``), else
    ``$KPKI_CA_PIN`` or a prompt, when a token is first used."""

    def open_home(self, *, passphrase: bytes | None = None) -> Home:
        """The home, on this context's clock."""
        from pki.home import Home  # on first use: kpki --help and friends never pay for it

        from .secrets import token_pin

        return Home.open(self.home, clock=self.clock, passphrase=passphrase,
                         pin=token_pin(self.pin_file))


STDOUT_GONE = threading.Event()
"""Set once stdout's reader has gone (``kpki cert list | head``): output from then on is
dropped, and a command that only reads (a listing) may stop early instead of running to
its end for nobody."""


class Stopped(SystemExit):
    """A long-running command (``kpki serve``) was asked to stop (SIGTERM) and stopped
    cleanly: exit status 0, nothing printed. A :class:`SystemExit`, so that an event loop
    it interrupts passes it on instead of keeping it as a task's failure."""

    def __init__(self) -> None:
        super().__init__(0)
