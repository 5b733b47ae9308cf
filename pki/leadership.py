"""Who publishes: one publisher at a time among the processes serving one store.

Several ``kpki serve`` processes (replicas behind a load balancer) may share one store. All of
them answer from it; exactly one of them publishes (CRLs, OCSP signers, the TSA) at a time: the
holder of the store's **publisher lease**. Every publisher round asks :meth:`Lease.hold` first
and publishes only while it answers True; a process that does not hold it tries again at its
next round, so when the holder dies another takes over within one publish interval (two at
the most, counting the round in progress).

* :class:`FileLease`, for a home whose store is an SQLite file: ``flock`` on a lock file beside
  it. The kernel releases it when the holder's process ends, however it ends.
* :class:`AdvisoryLease`, for a PostgreSQL store: a session advisory lock
  (``pg_try_advisory_lock``) held by a connection that does nothing else. The server releases
  it when the holder's session ends: at once when the process dies (its socket closes), after
  ``idle_session_timeout`` when the process is frozen (``SIGSTOP``, a paused VM) and stops its
  heartbeat, after the TCP keepalives when its host vanishes. The heartbeat is
  :meth:`Lease.hold` itself, once a round, and a thread of the lease beating every third of
  the idle timeout while it is held: a round may take longer than the timeout (a full round
  on a home of millions: tens of seconds), and the server must not end the holder's session
  in its middle, or another replica would take over and start a full round of its own. The
  thread stops (and the server ends the session) when :meth:`Lease.hold` has not been called
  for ``max_round`` seconds, so a holder stuck in a round gives the lease up.
* :class:`SoleLease`: always held (a store in memory has one process).

A lease is an optimisation of work, not the guard of correctness: a former holder that was
paused and resumes in the middle of a round may still finish it, and that is harmless,
because a CRL's number is taken in the store's write transaction that records the CRL (one
sequence per CA under the store's write lock): CRL numbers strictly increase across the fleet
whoever publishes. The lease keeps two publishers from doing the work twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from .errors import StoreError

__all__ = ["PUBLISHER_LOCK", "AdvisoryLease", "FileLease", "Lease", "SoleLease"]

PUBLISHER_LOCK = (0x6B706B69, 1)
"""The advisory lock of the publisher lease: (``'kpki'``, 1), a two-key lock so it cannot
collide with another application's one-key locks; the store's write lock is (``'kpki'``, 2)
(:data:`pki.store.postgresql.connection.WRITE_LOCK`, which takes ``'kpki'`` from here)."""


class Lease(Protocol):
    """The right to publish for one store; held by one process at a time."""

    def hold(self) -> bool:
        """Take the lease, or check it is still ours; True while this process holds it.
        Never blocks, never raises for a lost connection (the answer is then False)."""
        ...

    def release(self) -> None:
        """Give the lease up (nothing if not held)."""
        ...


class SoleLease:
    """Always held: the only process of a store (in memory)."""

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


class FileLease:
    """``flock`` on ``path`` (made 0600 when missing): the lease of an SQLite home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def hold(self) -> bool:
        with self._lock:
            if self._fd is not None:
                return True
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                return False  # a read-only home publishes nothing
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # closing the descriptor drops the flock
                self._fd = None


class AdvisoryLease:
    """A session advisory lock on a PostgreSQL server: the lease of a PostgreSQL store.

    ``conninfo`` is the store's URL (libpq finds the password itself); ``idle_timeout`` the
    seconds after which the server ends the session of a frozen holder (its heartbeat
    stopped); ``max_round`` the seconds a holder may go without calling :meth:`hold` (the
    longest round) before its heartbeat stops too (see the module doc)."""

    def __init__(self, conninfo: str, *, idle_timeout: float = 10.0,
                 max_round: float = 600.0, key: tuple[int, int] = PUBLISHER_LOCK) -> None:
        if idle_timeout <= 0 or max_round <= 0:
            raise ValueError("idle_timeout and max_round must be positive")
        self.conninfo = conninfo
        self.idle_timeout = idle_timeout
        self.max_round = max_round
        self.key = key
        self._conn: Any = None
        self._held = False
        self._lock = threading.Lock()
        self._last_hold = 0.0
        self._beating: threading.Event | None = None
        """Set to stop the heartbeat thread of the current holding (None: no thread)."""

    def hold(self) -> bool:
        with self._lock:
            self._last_hold = time.monotonic()
            try:
                return self._hold()
            except StoreError:
                raise
            except Exception:  # psycopg.Error: the connection is gone, and the lease with it
                self._drop()
                return False

    def _hold(self) -> bool:
        if self._conn is not None and not self._conn.closed and self._held:
            self._conn.execute("SELECT 1")  # the heartbeat: it keeps the session alive
        else:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                     self.key).fetchone()
            self._held = bool(row[0])
        if self._held and self._beating is None:
            self._beating = threading.Event()
            threading.Thread(target=self._heartbeat, args=(self._beating,), daemon=True,
                             name="kpki-lease-heartbeat").start()
        return self._held

    def _heartbeat(self, stopped: threading.Event) -> None:
        """Keep the holder's session busy while a round runs (see the module doc)."""
        while not stopped.wait(self.idle_timeout / 3):
            with self._lock:
                if stopped.is_set():
                    return  # given up or lost
                if time.monotonic() - self._last_hold > self.max_round:
                    self._beating = None  # a round stuck: the server ends the session,
                    return  # unless hold() comes first, which beats again
                try:
                    self._conn.execute("SELECT 1")
                except Exception:  # psycopg.Error: the session is gone, and the lease with it
                    self._drop()
                    return

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise StoreError("a PostgreSQL store needs psycopg: pip install "
                             "'kpki[postgresql]'") from None
        ms = max(1, int(self.idle_timeout * 1000))
        # The server ends the session of a frozen holder (no heartbeat for idle_timeout), and
        # notices a vanished host through its keepalives.
        options = (f"-c idle_session_timeout={ms} -c tcp_keepalives_idle=10 "
                   "-c tcp_keepalives_interval=5 -c tcp_keepalives_count=3")
        return psycopg.connect(self.conninfo, autocommit=True, options=options,
                               application_name="kpki publisher lease", connect_timeout=10)

    def _drop(self) -> None:
        self._held = False
        if self._beating is not None:
            self._beating.set()
            self._beating = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def release(self) -> None:
        with self._lock:
            if self._held and self._conn is not None and not self._conn.closed:
                with contextlib.suppress(Exception):
                    self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
            self._drop()
