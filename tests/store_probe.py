"""Looking at a store from beside it, on either backend: whether another connection could
take its write lock right now, and every value its tables hold.

Tests that check what the store keeps (no secret in any row) or when it holds its write
lock (a KDF runs outside it) use these instead of ``sqlite3``, so that they run on
PostgreSQL as well (``KPKI_TEST_STORE=postgresql pytest``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from pki.store import Store
from pki.store.sqlite import SQLiteStore

__all__ = ["could_others_write", "every_stored_value", "holds"]


def _postgresql_url(store: Store) -> str | None:
    from pki.store.postgresql import PostgreSQLStore

    return store.url if isinstance(store, PostgreSQLStore) else None


def could_others_write(store: Store) -> bool:
    """Whether another connection to ``store``'s database could take its write lock now,
    without waiting for it (SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL the advisory lock
    every write transaction takes first)."""
    url = _postgresql_url(store)
    if url is None:
        assert isinstance(store, SQLiteStore)
        other = sqlite3.connect(store.path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()
    import psycopg

    from pki.store.postgresql.connection import WRITE_LOCK

    with psycopg.connect(url) as conn:  # a transaction: the lock goes with its rollback
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", WRITE_LOCK).fetchone()
        conn.rollback()
    return bool(row and row[0])


def every_stored_value(store: Store) -> Iterator[object]:
    """Every value of every row of every table of ``store``, read over a connection of
    its own (text as ``str``, blobs and ``bytea`` as ``bytes``)."""
    url = _postgresql_url(store)
    if url is None:
        assert isinstance(store, SQLiteStore)
        conn = sqlite3.connect(store.path)
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    yield from row
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        tables = [r[0] for r in pg.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE'")]
        for table in tables:
            for row in pg.execute(f'SELECT * FROM "{table}"'):
                yield from (bytes(v) if isinstance(v, memoryview) else v for v in row)


def holds(store: Store, secret: str | bytes) -> bool:
    """Whether any value ``store`` keeps contains ``secret`` (text in text, its UTF-8 or
    the bytes in blobs, the bytes' hex in text)."""
    as_bytes = secret.encode() if isinstance(secret, str) else secret
    as_text = secret if isinstance(secret, str) else secret.hex()
    for value in every_stored_value(store):
        if isinstance(value, str) and as_text in value:
            return True
        if isinstance(value, bytes) and as_bytes in value:
            return True
    return False
