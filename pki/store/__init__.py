"""The store: what kpki keeps about CAs, certificates, the cloud and every change made to
them.

The rest of the library talks to the :class:`Store` protocol (:mod:`pki.store.protocols`)
and its typed records (:mod:`pki.store.records`); only a backend knows its query language.
Every state change happens inside one :meth:`Store.transaction` together with its audit
rows. :func:`open_store` opens a backend by URL; the embedded default is SQLite
(:mod:`pki.store.sqlite`), and a store shared by several machines is PostgreSQL
(:mod:`pki.store.postgresql`, running the same SQL).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from . import records
from .records import (
    AuditAction,
    AuditEvent,
    CARecord,
    CertificateRecord,
    CertStatus,
    CRLEntry,
    CRLInfo,
    DeliveryRecord,
    KeyOrigin,
    OCSPSignerRecord,
    PublishedCRL,
    RevocationReason,
)

if TYPE_CHECKING:
    from .bankrecords import (
        Account,
        BankCustomer,
        BankSession,
        CardChallenge,
        Carrier,
        DesignatedDevices,
        LineState,
        LineType,
        LoginChallengeRecord,
        OtpKind,
        OtpRegistration,
        OtpToken,
        PhoneApp,
        PhoneVerificationRecord,
        SecurityCardRecord,
        SessionMethod,
        SimpleAuthKey,
        SubscriberLine,
        TransferOutcome,
        TransferRecord,
        VerificationMethod,
    )
    from .cloudrecords import (
        CloudUser,
        HistoryEntry,
        Institution,
        Message,
        PendingCode,
        Sealed,
        VaultRecord,
        Via,
    )
    from .protocols import (
        BankLookups,
        BankReads,
        BankWrites,
        CertificateReads,
        CertificateWrites,
        CloudReads,
        CloudWrites,
        OtpReads,
        OtpWrites,
        PhoneReads,
        PhoneWrites,
        RaReads,
        RaWrites,
        RegistrationReads,
        RegistrationWrites,
        Store,
        StoreTransaction,
        TransferReads,
        TransferWrites,
    )
    from .rarecords import (
        PrivateMediumRecord,
        RaSessionRecord,
        RaSessionState,
        RaStepRecord,
        SimpleAuthRequestRecord,
        SimpleAuthState,
        SimpleAuthUser,
    )

__all__ = [
    "Account",
    "AuditAction",
    "AuditEvent",
    "BankCustomer",
    "BankLookups",
    "BankReads",
    "BankSession",
    "BankWrites",
    "CARecord",
    "CRLEntry",
    "CRLInfo",
    "CardChallenge",
    "Carrier",
    "CertStatus",
    "CertificateReads",
    "CertificateRecord",
    "CertificateWrites",
    "CloudReads",
    "CloudUser",
    "CloudWrites",
    "DeliveryRecord",
    "DesignatedDevices",
    "HistoryEntry",
    "Institution",
    "KeyOrigin",
    "LineState",
    "LineType",
    "LoginChallengeRecord",
    "Message",
    "OCSPSignerRecord",
    "OtpKind",
    "OtpReads",
    "OtpRegistration",
    "OtpToken",
    "OtpWrites",
    "PendingCode",
    "PhoneApp",
    "PhoneReads",
    "PhoneVerificationRecord",
    "PhoneWrites",
    "PrivateMediumRecord",
    "PublishedCRL",
    "RaReads",
    "RaSessionRecord",
    "RaSessionState",
    "RaStepRecord",
    "RaWrites",
    "RegistrationReads",
    "RegistrationWrites",
    "RevocationReason",
    "Sealed",
    "SecurityCardRecord",
    "SessionMethod",
    "SimpleAuthKey",
    "SimpleAuthRequestRecord",
    "SimpleAuthState",
    "SimpleAuthUser",
    "Store",
    "StoreTransaction",
    "SubscriberLine",
    "TransferOutcome",
    "TransferReads",
    "TransferRecord",
    "TransferState",
    "TransferWrites",
    "VaultRecord",
    "VerificationMethod",
    "Via",
    "open_store",
    "sqlite_url",
]

_PROTOCOLS = frozenset({
    "BankLookups",
    "BankReads",
    "BankWrites",
    "CertificateReads",
    "CertificateWrites",
    "CloudReads",
    "CloudWrites",
    "OtpReads",
    "OtpWrites",
    "PhoneReads",
    "PhoneWrites",
    "RaReads",
    "RaWrites",
    "RegistrationReads",
    "RegistrationWrites",
    "Store",
    "StoreTransaction",
    "TransferReads",
    "TransferWrites",
})


def __getattr__(name: str) -> Any:
    # Imported when first asked for (issue 18's start-up): the protocols, for type checking
    # and the backends' tests, so that opening a store to read it does not build two
    # hundred protocol methods; the records of the cloud, the bank and the RA flows
    # (pki.store.records names their modules), so that reading a certificate does not
    # build their thirty dataclasses.
    if name in _PROTOCOLS:
        from . import protocols

        return getattr(protocols, name)
    if name in records.ELSEWHERE:
        return getattr(records, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SQLITE_SCHEME = "sqlite://"
MEMORY = ":memory:"


def sqlite_url(path: str | Path) -> str:
    """The URL of the SQLite store in the file ``path`` (made absolute)."""
    return SQLITE_SCHEME + str(Path(path).absolute())


on_open_url: list[Callable[[str, bool], str]] = []
"""Test hook: each function here is given the URL of every store this process opens (and
``create``) and returns the URL to open instead; the suite's run on PostgreSQL
(``tests/postgresql.py``) sends every store to a database of its own. Empty outside
tests."""


def open_store(url: str, *, create: bool = False, time_order: bool = True) -> Store:
    """Open the store at ``url``: ``sqlite:///path/to/kpki.db``, ``sqlite://:memory:``, or
    a PostgreSQL database, ``postgresql://user@host:port/db`` (also ``postgres://``, and
    anything else libpq takes after the scheme, ``?host=/run/postgresql`` say; a password
    comes from ``~/.pgpass`` or ``$PGPASSWORD``, as libpq finds it).

    ``create`` makes the store if there is none (a memory store is always new; a
    PostgreSQL database must exist, ``create`` makes kpki's tables in it).
    ``time_order=False`` records times exactly as given, even earlier than a CA's previous
    event, for test PKIs whose clock travels on purpose (see
    :meth:`StoreTransaction.event_time`). Raises :class:`StoreError` for an unknown scheme
    or a store that cannot be opened (a PostgreSQL server that cannot be reached, a
    refused login, a missing database, psycopg not installed), never showing a password.
    """
    for hook in on_open_url:
        url = hook(url, create)
    if url.startswith(SQLITE_SCHEME):
        from .sqlite import SQLiteStore

        target = url[len(SQLITE_SCHEME):]
        if not target:
            raise StoreError(f"no path in the store URL {url!r} (sqlite:///path/to/kpki.db)")
        return SQLiteStore(target, create=create or target == MEMORY, time_order=time_order)
    if url.startswith(POSTGRESQL_SCHEMES):
        return _open_postgresql(url, create=create, time_order=time_order)
    shown = url.split("://", 1)[0] + "://..." if "@" in url else url
    raise StoreError(f"unknown store URL {shown!r}: kpki opens sqlite:///path/to/kpki.db, "
                     "sqlite://:memory: and postgresql://user@host/database")


POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def _open_postgresql(url: str, *, create: bool, time_order: bool) -> Store:
    # psycopg is imported here, for a postgresql:// URL only: it costs 0.3 to 0.5 s.
    try:
        from .postgresql import PostgreSQLStore
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        raise StoreError("a PostgreSQL store needs psycopg: pip install "
                         "'kpki[postgresql]'") from None
    return PostgreSQLStore(url, create=create, time_order=time_order)
