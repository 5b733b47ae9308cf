"""How the SQL stores write values down and read them back, and SQLite's errors.

Times are stored as ``YYYY-MM-DDTHH:MM:SSZ`` text (UTC, whole seconds), serials as upper-case
hex text; nothing of this leaves the backend.

The SQL of the parts (:mod:`.certificates`, :mod:`.cloud`, ...) is portable: the common
subset of SQLite (3.35 and later) and PostgreSQL (15 and later), with ``?`` placeholders,
``INSERT ... ON CONFLICT`` instead of ``INSERT OR IGNORE/REPLACE``, and no statement that
is expected to fail inside a transaction (PostgreSQL aborts the whole transaction after a
failed statement; SQLite does not). So :mod:`pki.store.postgresql` runs the same parts on
its own :class:`Connection`. The one SQLite-only word left, ``INDEXED BY`` (a planner
hint), is dropped by that backend.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, Self

from cryptography import x509

from ...errors import DiskFullError, ReadOnlyStoreError, StoreError

__all__ = ["BUSY_TIMEOUT_S", "Connection", "Cursor", "SQLiteConnection", "UnitOfWork", "hex_serial",
           "opt_ts", "parse_ts", "primary_code", "reason_of", "store_error", "ts", "ts_or_none"]

BUSY_TIMEOUT_S = 60.0

_REASONS = {reason.value: reason for reason in x509.ReasonFlags}


@functools.lru_cache(maxsize=1024)
def ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=4096)
def parse_ts(text: str) -> dt.datetime:
    # fromisoformat reads the trailing Z since Python 3.11, twenty times faster than strptime
    return dt.datetime.fromisoformat(text)


def opt_ts(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_ts(text)


def ts_or_none(value: dt.datetime | None) -> str | None:
    """:func:`ts` of an optional time (the inverse of :func:`opt_ts`)."""
    return None if value is None else ts(value)


def reason_of(text: str | None) -> x509.ReasonFlags | None:
    """The reason stored as its RFC 5280 name (``keyCompromise``); None stays None."""
    return None if text is None else _REASONS[text]


def hex_serial(serial: int) -> str:
    return format(serial, "X")


def primary_code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF


def store_error(exc: sqlite3.Error, path: str, doing: str) -> StoreError:
    """The kpki error for an SQLite failure: a full disk and a read-only store by name,
    since the user can act on them; anything else with SQLite's words."""
    code = primary_code(exc)
    if code == sqlite3.SQLITE_FULL:
        return DiskFullError(f"the disk is full: cannot {doing} {path} (nothing was changed; "
                             "free some space and try again)", path=path)
    if code == sqlite3.SQLITE_READONLY:
        return ReadOnlyStoreError(f"the store {path} is read-only: cannot {doing} it "
                                  "(reading commands still work)", path=path)
    return StoreError(f"cannot {doing} {path}: {exc}")


class Cursor(Protocol):
    """What the parts read from an executed statement (an ``sqlite3.Cursor`` is one)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the parts run their SQL on (an ``sqlite3.Connection`` or cursor is one)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


class SQLiteConnection:
    """What the parts of the store share: the connection and its path. A backend other
    than SQLite puts its own :meth:`_query` and :meth:`_stream` before these."""

    _conn: Connection
    path: str

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, self.path, "read the store") from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            yield from self._conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, self.path, "read the store") from None


class UnitOfWork:
    """What the backends' transactions share: entered once at a time, refused on a
    read-only store, and on leaving, ROLLBACK or COMMIT (:meth:`_end`, the backend's), then
    what the caches learnt in a change that was not committed forgotten."""

    path: str
    _active: bool
    _ca_ids: dict[str, int]
    _latest: dict[int, str]
    _store_ca_ids: dict[str, int]
    """The store's cache of CA ids (its reads on the transaction's connection see the
    change)."""

    def _writes_refused(self) -> bool:
        """Whether the store is read-only."""
        raise NotImplementedError

    def _begin(self) -> None:
        """BEGIN, with the store's write lock; :class:`StoreError` if that fails."""
        raise NotImplementedError

    def _end(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        """ROLLBACK (after an exception) or COMMIT; raises if the change was not written."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self._active:
            raise StoreError("transactions on one store do not nest")
        if self._writes_refused():
            raise ReadOnlyStoreError(f"the store {self.path} is read-only: cannot write to "
                                     "it (reading commands still work)", path=self.path)
        self._begin()
        self._latest.clear()
        self._active = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self._active = False
        committed = False
        try:
            self._end(exc_type, exc)
            committed = exc_type is None
        finally:
            if not committed:
                self._forget()

    def _forget(self) -> None:
        """Drop what the caches learnt in a change that was not committed: the id of a CA
        row it added (SQLite gives that number to the next CA added, whatever its label;
        a PostgreSQL sequence does not roll back, so the next try gets another id) and the
        CA times it moved; the store's cache too."""
        self._ca_ids.clear()
        self._latest.clear()
        self._store_ca_ids.clear()
