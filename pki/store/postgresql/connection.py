"""psycopg 3 under the store's SQL parts: one connection per thread, ``?`` placeholders,
and PostgreSQL's failures as kpki's errors.

The parts (:mod:`pki.store.sqlite`'s mixins) call ``execute(sql, params)`` with ``?``
placeholders and read ``fetchone``/``fetchall``/``rowcount``/iteration, as on ``sqlite3``;
:class:`Connections` gives them that over psycopg, translating each statement once
(``?`` to PostgreSQL's ``$1``, ``$2``, ... for a :class:`psycopg.RawCursor`, which sends
it as it is; SQLite's ``INDEXED BY`` hint dropped). Streams go through server-side cursors
with ``?`` as ``%s`` (and a literal ``%`` as ``%%``).

A thread has a connection of its own, in autocommit: a read runs by itself, outside any
transaction, and never sees another thread's unfinished unit of work (one shared
connection would: a transaction belongs to the whole connection). A connection that was
lost (the server restarted, a network cut, ``pg_terminate_backend``) is opened again at
the thread's next statement, unless that statement belongs to the unit of work it was
lost in (:meth:`Connections.pin`); one inherited through ``fork`` is left to the parent.

This module imports psycopg (0.3 to 0.5 s): only :func:`pki.store.open_store` of a
``postgresql://`` URL imports it.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus

from ...errors import DiskFullError, ReadOnlyStoreError, StoreError
from ...leadership import PUBLISHER_LOCK
from ..sqlite.common import BUSY_TIMEOUT_S

__all__ = ["KPKI_LOCK", "WRITE_LOCK", "Connections", "numbered", "shown_url",
           "store_error", "translate"]

KPKI_LOCK = PUBLISHER_LOCK[0]
"""``'kpki'``: the first key of every advisory lock kpki takes (two-key locks, so they
cannot meet another application's one-key locks); the publisher lease of
:mod:`pki.leadership` is ``(KPKI_LOCK, 1)``."""
WRITE_LOCK = (KPKI_LOCK, 2)
"""The store's write lock, taken by every write transaction and by migrations."""

_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+")
_QUESTION = re.compile(r"\?")
_generation = 0
"""Moves on in a child after ``fork``: connections made before belong to the parent."""


def _forked() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_forked)


def _close_all(opened: list[psycopg.Connection[Any]], lock: threading.Lock,
               generation: list[int]) -> None:
    """Close the connections of one store (not the parent's, in a child after fork)."""
    with lock:
        conns = list(opened)
        opened.clear()
    if generation[0] == _generation:
        for conn in conns:
            conn.close()


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """A part's statement as psycopg takes it (the parts' SQL has no ``?`` in literals)."""
    return _INDEXED_BY.sub("", sql).replace("%", "%%").replace("?", "%s")


def numbered(sql: str) -> str:
    """A part's statement with PostgreSQL's own placeholders (``$1``, ``$2``, ...), for a
    :class:`psycopg.RawCursor`, which sends it as it is. psycopg parses a ``%s`` statement
    again at every call once it is longer than 4 KiB or has more than 50 parameters: the
    bulk INSERT of ``put_certificates`` (19,000 parameters) spent most of its time there."""
    return _numbered(sql) if len(sql) <= 4096 else _number(sql)


def _number(sql: str) -> str:
    count = itertools.count(1)
    return _QUESTION.sub(lambda _: f"${next(count)}", _INDEXED_BY.sub("", sql))


_numbered = functools.lru_cache(maxsize=2048)(_number)


def shown_url(url: str) -> str:
    """``url`` fit to show: a password in it (``user:secret@`` or ``password=``) masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            if ":" in userinfo:
                netloc = userinfo.split(":", 1)[0] + ":***@" + host
        query = [(k, "***" if k == "password" else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/:*")))
    except ValueError:
        return url.split("://", 1)[0] + "://..."


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def store_error(exc: psycopg.Error, shown: str, doing: str) -> StoreError:
    """The kpki error for a PostgreSQL failure while ``doing`` (``write to``, ...): a lost
    connection, a full disk, a read-only server and a lock held too long by name; anything
    else with PostgreSQL's words."""
    if isinstance(exc, pgerrors.DiskFull):
        return DiskFullError(f"the database server's disk is full: cannot {doing} {shown} "
                             "(nothing was changed; free some space and try again)", path=shown)
    if isinstance(exc, pgerrors.ReadOnlySqlTransaction):
        return ReadOnlyStoreError(f"the store {shown} is read-only: cannot {doing} it "
                                  "(reading commands still work)", path=shown)
    if isinstance(exc, pgerrors.LockNotAvailable):
        return StoreError(f"cannot {doing} {shown}: another writer held the store's lock for "
                          f"{BUSY_TIMEOUT_S:.0f} s (nothing was changed; try again)")
    lost = (isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None) or \
        isinstance(exc, pgerrors.AdminShutdown | pgerrors.CrashShutdown)
    if lost:
        return StoreError(f"lost the connection to the store {shown}: {_one_line(exc)}")
    return StoreError(f"cannot {doing} {shown}: {_one_line(exc)}")


class _Held:
    """A thread's connection, closed when the thread ends (its thread-local data goes)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        weakref.finalize(self, _close_in, conn, os.getpid())


def _close_in(conn: psycopg.Connection[Any], pid: int) -> None:
    if os.getpid() == pid:  # never the parent's session, from a child after fork
        conn.close()


class Connections:
    """The :class:`pki.store.sqlite.common.Connection` of a PostgreSQL store: each call runs
    on the calling thread's own connection to ``url``."""

    def __init__(self, url: str, *, shown: str, read_only: bool = False) -> None:
        self.url = url
        self.shown = shown
        self.read_only = read_only
        self._local = threading.local()
        self._opened: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._generation = _generation
        self._born = [_generation]  # what the finaliser knows of self._generation
        self._cursors = itertools.count()
        # A store dropped without close() closes its connections (as sqlite3's do).
        self._finalizer = weakref.finalize(self, _close_all, self._opened, self._lock,
                                           self._born)

    def raw(self) -> psycopg.Connection[Any]:
        """The calling thread's connection, opened (again) if it has none that works."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is None or held.conn.closed or self._generation != _generation:
            if getattr(self._local, "pinned", False):
                raise psycopg.OperationalError("the connection was lost in the middle of "
                                               "a change")
            return self._connect()
        return held.conn

    def pin(self) -> None:
        """Keep the calling thread on its connection until :meth:`unpin`: one lost in the
        meantime is not opened again (a unit of work's statements after the loss would
        each run by themselves, outside it and its write lock), each statement raises
        :class:`psycopg.OperationalError` instead."""
        self._local.pinned = True

    def unpin(self) -> psycopg.Connection[Any] | None:
        """End :meth:`pin`: the calling thread's connection, None if it was lost."""
        self._local.pinned = False
        held: _Held | None = getattr(self._local, "held", None)
        return None if held is None or held.conn.closed else held.conn

    def _connect(self) -> psycopg.Connection[Any]:
        if self._generation != _generation:  # in a child after fork: the parent's
            with self._lock:
                self._opened.clear()
            self._local = threading.local()
            self._generation = self._born[0] = _generation
        try:
            conn = psycopg.connect(self.url, autocommit=True, application_name="kpki",
                                   connect_timeout=30)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the store {self.shown}: "
                             f"{_one_line(exc)}") from None
        try:
            conn.execute(f"SET lock_timeout = {int(BUSY_TIMEOUT_S * 1000)}; "
                         "SET default_transaction_isolation = 'read committed'"
                         + ("; SET default_transaction_read_only = on" if self.read_only
                            else ""))
        except psycopg.Error as exc:
            conn.close()
            raise store_error(exc, self.shown, "open") from None
        self._local.held = _Held(conn)
        with self._lock:
            self._opened[:] = [c for c in self._opened if not c.closed] + [conn]
        return conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        # Results in PostgreSQL's binary format: a bytea comes as its bytes, where the text
        # format sends it hex-encoded (twice the bytes, then decoded here): reading a
        # 36 MB stored CRL takes 0.3 s instead of 0.7-1.0 s. Every other type kpki stores
        # (integers, text, booleans) loads to the same Python value either way.
        return psycopg.RawCursor(self.raw()).execute(numbered(sql), parameters, binary=True)

    def stream(self, sql: str, parameters: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of a query that may be very long, a batch at a time from a server-side
        cursor (constant memory here; other statements may run between rows)."""
        conn = self.raw()
        idle = conn.info.transaction_status == TransactionStatus.IDLE
        # Outside a transaction (autocommit) only a WITH HOLD cursor outlives its statement.
        cursor = conn.cursor(f"kpki_stream_{next(self._cursors)}", withhold=idle, binary=True)
        cursor.itersize = 2000
        try:
            cursor.execute(translate(sql), parameters)
            yield from cursor
        finally:
            if not conn.closed:
                cursor.close()

    def close(self) -> None:
        _close_all(self._opened, self._lock, self._born)
        self._local = threading.local()
