"""Which processes are alive, so that a crashed one's PIN checks in flight are forgotten.

A PIN check in flight is a reservation row in the store that names the *boot* (one running
process) that made it. A reservation is never charged: only a verified wrong PIN is. But
the bound on checks in flight (five per certificate) would stay taken by a process that
died mid-check, so every process holds an exclusive ``flock`` on
``<home>/cloud/boots/<boot>.lock`` for as long as it lives; the kernel drops the lock when
the process dies, however it dies. A boot whose lock file can be locked by someone else,
or is gone, is dead, and its reservations are swept (at start-up, and whenever a check is
refused as busy). Where ``flock`` does not exist only the own boot counts as alive.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from pathlib import Path

__all__ = ["Boot"]

_LOCK = threading.Lock()
_BOOTS: dict[Path, Boot] = {}


class Boot:
    """This process's identity for one home's reservations (one per process and home)."""

    def __init__(self, folder: Path | None) -> None:
        self.id = secrets.token_hex(8)
        self.folder = folder
        self._fd: int | None = None
        if folder is not None and sys.platform != "win32":
            import fcntl

            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(folder / f"{self.id}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd = fd

    @classmethod
    def of(cls, folder: Path) -> Boot:
        """The process's boot for the home whose boot folder is ``folder``."""
        folder = folder.resolve()
        with _LOCK:
            boot = _BOOTS.get(folder)
            if boot is None or boot._pid != os.getpid():
                boot = _BOOTS[folder] = cls(folder)
                boot._pid = os.getpid()
            return boot

    _pid: int = -1

    def alive(self, boot_id: str) -> bool:
        """Whether the process of ``boot_id`` still runs; a dead one's lock file is removed."""
        if boot_id == self.id:
            return True
        if self.folder is None or sys.platform == "win32" or not boot_id.isalnum():
            return False
        import fcntl

        path = self.folder / f"{boot_id}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return False
        finally:
            os.close(fd)

    def sweep_files(self) -> None:
        """Remove the lock files of dead boots (they hold no reservation any more)."""
        if self.folder is None:
            return
        for path in self.folder.glob("*.lock"):
            self.alive(path.stem)
