"""The store: what kpki keeps about CAs, certificates, the cloud and every change made to
them.

The rest of the library talks to the :class:`Store` protocol (:mod:`pki.store.protocols`)
and its typed records (:mod:`pki.store.records`); only a backend knows its query language.
Every state change happens inside one :meth:`Store.transaction` together with its audit
rows. :func:`open_store` opens a backend by URL; the embedded default is SQLite
(:mod:`pki.store.sqlite`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import StoreError
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
from .records import (
    Account,
    AuditAction,
    AuditEvent,
    BankCustomer,
    BankSession,
    CardChallenge,
    CARecord,
    Carrier,
    CertificateRecord,
    CertStatus,
    CloudUser,
    CRLEntry,
    CRLInfo,
    DeliveryRecord,
    DesignatedDevices,
    HistoryEntry,
    Institution,
    KeyOrigin,
    LineState,
    LineType,
    LoginChallengeRecord,
    Message,
    OCSPSignerRecord,
    OtpKind,
    OtpRegistration,
    OtpToken,
    PendingCode,
    PhoneApp,
    PhoneVerificationRecord,
    PrivateMediumRecord,
    PublishedCRL,
    RaSessionRecord,
    RaSessionState,
    RaStepRecord,
    RevocationReason,
    Sealed,
    SecurityCardRecord,
    SessionMethod,
    SimpleAuthKey,
    SimpleAuthRequestRecord,
    SimpleAuthState,
    SimpleAuthUser,
    SubscriberLine,
    TransferOutcome,
    TransferRecord,
    VaultRecord,
    VerificationMethod,
    Via,
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
    "TransferWrites",
    "VaultRecord",
    "VerificationMethod",
    "Via",
    "open_store",
    "sqlite_url",
]

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
    """Open the store at ``url``: ``sqlite:///path/to/kpki.db`` or ``sqlite://:memory:``.

    ``create`` makes the store if there is none (a memory store is always new).
    ``time_order=False`` records times exactly as given, even earlier than a CA's previous
    event, for test PKIs whose clock travels on purpose (see
    :meth:`StoreTransaction.event_time`). Raises :class:`StoreError` for an unknown scheme
    or a store that cannot be opened.
    """
    for hook in on_open_url:
        url = hook(url, create)
    if url.startswith(SQLITE_SCHEME):
        from .sqlite import SQLiteStore

        target = url[len(SQLITE_SCHEME):]
        if not target:
            raise StoreError(f"no path in the store URL {url!r} (sqlite:///path/to/kpki.db)")
        return SQLiteStore(target, create=create or target == MEMORY, time_order=time_order)
    raise StoreError(f"unknown store URL {url!r}: kpki opens sqlite:///path/to/kpki.db "
                     "and sqlite://:memory:")
