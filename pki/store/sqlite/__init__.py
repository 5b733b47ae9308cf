"""The embedded default store: one SQLite file in WAL mode (or one in memory).

Parts: :mod:`.schema` (numbered migrations), :mod:`.certificates` (CAs, certificates,
revocation, CRLs, OCSP signers, deliveries, the audit log), :mod:`.cloud` (registration
and the cloud's vault), :mod:`.store` (the connection and its one unit of work, which
holds the writes of every part). :func:`pki.store.open_store` opens it by URL
(``sqlite:///path/to/kpki.db``, ``sqlite://:memory:``).
"""

from __future__ import annotations

from .schema import _MIGRATIONS, SCHEMA_VERSION, create_at_version
from .schema import split_sql as _split_sql
from .store import SQLiteStore, SQLiteTransaction

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "SQLiteTransaction", "create_at_version"]

# _MIGRATIONS and _split_sql stay importable here for tests/test_clock_backwards.py.
_PRIVATE_FOR_TESTS = (_MIGRATIONS, _split_sql)
