"""The embedded default store: one SQLite file in WAL mode (or one in memory).

Parts: :mod:`.schema` (numbered migrations), :mod:`.certificates` (CAs, certificates,
revocation, CRLs, OCSP signers, deliveries, the audit log), :mod:`.cloud` (registration
and the cloud's vault), :mod:`.store` (the connection and its one unit of work, which
holds the writes of every part). :func:`pki.store.open_store` opens it by URL
(``sqlite:///path/to/kpki.db``, ``sqlite://:memory:``).
"""

from __future__ import annotations

from .schema import SCHEMA_VERSION, create_at_version
from .store import SQLiteStore, SQLiteTransaction

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "SQLiteTransaction", "create_at_version"]
