"""A store shared by several kpki processes and machines: PostgreSQL (15 or later) through
psycopg 3.

The SQL is the SQLite store's (its parts are written in the common subset of both); this
package adds the connections (:mod:`.connection`: one per thread, placeholders, errors), the
schema (:mod:`.schema`: SQLite's, table for table, with the same numbered versions) and the
unit of work (:mod:`.store`: the write lock is an advisory lock, the audit log append-only
by triggers). :func:`pki.store.open_store` opens it by URL (``postgresql://user@host/db``);
importing this package imports psycopg, so only such a URL does.
"""

from __future__ import annotations

from .schema import BASE_VERSION, SCHEMA_VERSION
from .store import PostgreSQLStore, PostgreSQLTransaction, create_at_version

__all__ = ["BASE_VERSION", "SCHEMA_VERSION", "PostgreSQLStore", "PostgreSQLTransaction",
           "create_at_version"]
