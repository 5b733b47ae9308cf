"""Delivering issued certificates into NPKI folders: never a certificate the store lacks.

The rule: a certificate's files appear under their real names only after the store has
committed the certificate, so everything on disk can be revoked. And the store knows
where each certificate went, so one whose files never arrived is found again.

One delivery (:class:`NPKIDelivery`, given as ``deliver=`` to an issuing method of
:class:`pki.authority.CertificateAuthority`) goes in three steps:

1. **stage**, inside the issuing transaction: the files are written under temporary names
   (``signCert.der.tmp`` ...) into a staging folder
   ``<base>/NPKI/<org>/USER/.kpki-staging-<store id>-<token>`` (0700, keys 0600) and the
   delivery is recorded beside the certificate (:class:`pki.store.DeliveryRecord`). If the
   NPKI folder exists already the issuance is refused (:class:`FolderExistsError`), unless
   ``replace`` was asked for: then the old folder is moved into the staging folder
   (``.replaced/``), to be put back if the transaction does not commit.
2. **commit** of the transaction.
3. **publish**: the replaced folder is removed, the files get their names, the staging
   folder is renamed to the NPKI folder, and the delivery is marked done.

A crash before 2 leaves a staging folder the store does not know; a crash after it
leaves a delivery the store knows as pending. :func:`recover_deliveries` tells the two
apart and removes the first (putting a replaced folder back) and finishes the second. It
runs under the store's write lock, so no issuance of the same store can be between steps
1 and 2 meanwhile; deliveries being published by another live process are finished by
whichever gets there first (every step tolerates having been done already). Staging
folders carry the store's id, so one store never touches another's. An issuance with an
:class:`NPKIDelivery` recovers its base folder first; ``kpki cert deliver`` does it on
demand. :func:`undelivered` lists what is recorded but not in its folder, without writing.

Fault points (:mod:`pki.faults`): ``delivery.staged`` (before the commit),
``delivery.committed`` (after it, before any rename), ``delivery.renaming`` (after each
file gets its name: ``@1`` is the middle of the renames), ``delivery.renamed`` (the
folder is in place, not yet marked delivered).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization

from .errors import DeliveryError, FolderExistsError, OutputError, StoreError
from .faults import fault_point
from .fsutil import PRIVATE_DIR_MODE, fsync_dir, make_dirs
from .keys import npki
from .keys.npki import NPKIFiles
from .keys.password import check_password
from .store import CertificateRecord, DeliveryRecord, Store, StoreTransaction

if TYPE_CHECKING:
    from .authority import IssuedCertificate

__all__ = [
    "Delivery",
    "DeliveryRecovery",
    "NPKIDelivery",
    "UndeliveredCertificate",
    "recover_deliveries",
    "undelivered",
]

STAGING_PREFIX = ".kpki-staging-"
_REPLACED = ".replaced"
_TMP = ".tmp"
_FILES = (npki.CERT_FILE, npki.KEY_FILE, npki.KM_CERT_FILE, npki.KM_KEY_FILE)


@runtime_checkable
class Delivery(Protocol):
    """What an issuing method does with a certificate around its transaction."""

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        """Inside the transaction: prepare (and record) the delivery, or raise to veto."""
        ...

    def abort(self) -> None:
        """The transaction did not commit: undo what :meth:`stage` did."""
        ...

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        """After the commit: put the files in place."""
        ...


@dataclass(frozen=True)
class UndeliveredCertificate:
    """A certificate the store has whose files are not in their NPKI folder."""

    delivery: DeliveryRecord
    certificate: CertificateRecord
    staged: bool
    """Its files wait in the staging folder: :func:`recover_deliveries` puts them in
    place. Otherwise they are lost: revoke the certificate (or deliver it again from a
    key the holder still has)."""


@dataclass(frozen=True)
class DeliveryRecovery:
    """What :func:`recover_deliveries` did."""

    delivered: tuple[DeliveryRecord, ...] = ()
    """Deliveries it finished (or found finished and marked)."""
    removed: tuple[Path, ...] = ()
    """Staging folders of issuances that never committed, removed."""
    undelivered: tuple[UndeliveredCertificate, ...] = ()
    """What is still not in its folder."""


@dataclass
class _Staged:
    folder: Path
    staging: Path
    der: bytes
    records: list[DeliveryRecord] = field(default_factory=list)
    files: list[NPKIFiles] = field(default_factory=list)


def _store_tag(store: Store) -> str:
    tag = store.get_meta("store_id")
    if not tag:
        raise StoreError("the store has no id (its schema is older than this kpki)")
    return tag


def _user_dirs(base: Path) -> list[Path]:
    root = Path(base) / "NPKI"
    try:
        orgs = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    return [org / "USER" for org in orgs if (org / "USER").is_dir()]


def _holds(folder: Path, der: bytes) -> bool:
    """Whether ``folder`` holds the certificate ``der`` (as signCert.der or kmCert.der)."""
    for name in (npki.CERT_FILE, npki.KM_CERT_FILE):
        with contextlib.suppress(OSError):
            if (folder / name).read_bytes() == der:
                return True
    return False


def _finish(staging: Path, folder: Path) -> None:
    """Steps of publishing, each tolerant of having been done already (by a crashed run,
    or by another process finishing the same delivery)."""
    if not staging.is_dir():
        return
    shutil.rmtree(staging / _REPLACED, ignore_errors=True)
    for name in _FILES:
        with contextlib.suppress(FileNotFoundError):
            os.replace(staging / (name + _TMP), staging / name)
            fault_point("delivery.renaming")
    fsync_dir(staging)
    if folder.exists():
        return  # something else is there: leave the files staged, report undelivered
    with contextlib.suppress(FileNotFoundError):
        os.rename(staging, folder)
    fsync_dir(folder.parent)


def _put_back(staging: Path) -> None:
    """Undo a staging that never committed: a replaced folder goes back, the rest goes."""
    replaced = staging / _REPLACED
    with contextlib.suppress(OSError):
        for old in replaced.iterdir():
            target = staging.parent / old.name
            if not target.exists():
                os.rename(old, target)
    shutil.rmtree(staging, ignore_errors=True)


def _pending_undelivered(store: Store, records: Iterable[DeliveryRecord]
                         ) -> list[UndeliveredCertificate]:
    out = []
    for record in records:
        found = store.find_certificates(record.serial, ca=record.ca)
        if not found or _holds(Path(record.folder), found[0].der):
            continue
        out.append(UndeliveredCertificate(record, found[0], Path(record.staging).is_dir()))
    return out


def undelivered(store: Store, *, ca: str | None = None) -> list[UndeliveredCertificate]:
    """Certificates recorded with a delivery whose files are not in their NPKI folder.

    Reads only; a delivery finished on disk but not yet marked does not count.
    """
    return _pending_undelivered(store, store.pending_deliveries(ca=ca))


def _recover(store: Store, tx: StoreTransaction, bases: Iterable[Path], *,
             at: dt.datetime) -> DeliveryRecovery:
    tag = _store_tag(store)
    pending = tx.pending_deliveries()
    delivered: list[DeliveryRecord] = []
    by_staging: dict[str, list[DeliveryRecord]] = {}
    for record in pending:
        by_staging.setdefault(record.staging, []).append(record)
    for staging, records in by_staging.items():
        folder = Path(records[0].folder)
        try:
            _finish(Path(staging), folder)
        except OSError:
            continue  # stays pending; reported as undelivered
        for record in records:
            current = tx.get_certificate(record.ca, record.serial)
            if current is not None and _holds(folder, current.der):
                tx.mark_delivered(record.ca, record.serial, at=at)
                delivered.append(record)
    # Staging folders are told apart by name (the token is unique), never by the path a
    # base was reached by: a committed delivery must not pass for an orphan.
    known = {Path(s).name for s in by_staging}
    user_dirs = {Path(s).parent for s in by_staging}
    for base in bases:
        user_dirs.update(_user_dirs(base))
    removed = []
    prefix = f"{STAGING_PREFIX}{tag}-"
    for user in sorted(user_dirs):
        try:
            entries = sorted(os.listdir(user))
        except OSError:
            continue
        for entry in entries:
            if entry.startswith(prefix) and entry not in known:
                _put_back(user / entry)
                removed.append(user / entry)
    done = {(r.ca, r.serial) for r in delivered}
    left = _pending_undelivered(store, (r for r in pending if (r.ca, r.serial) not in done))
    return DeliveryRecovery(tuple(delivered), tuple(removed), tuple(left))


def recover_deliveries(store: Store, *, at: dt.datetime, bases: Iterable[Path] = ()
                       ) -> DeliveryRecovery:
    """Finish deliveries a crash interrupted after their commit, and remove the staging
    folders of issuances that never committed (in the folders of pending deliveries and
    under each of ``bases``). One write transaction; see the module docstring."""
    with store.transaction() as tx:
        return _recover(store, tx, [Path(b).absolute() for b in bases], at=at)


class NPKIDelivery:
    """Deliver issued certificates into ``<base>/NPKI/<org>/USER/<subject>/``.

    ``password`` encrypts generated keys (it must follow the joint-certificate rules;
    certificates certified from a CSR need none). ``replace`` replaces an existing folder
    instead of refusing the issuance. After the issuing call, :attr:`files` lists what
    was written. One object may deliver several issuances in turn.

    Before its first staging a delivery recovers its base (:func:`recover_deliveries`,
    inside the issuing transaction). ``recover=False`` skips that: for the deliveries
    after the first of one :meth:`~pki.authority.CertificateAuthority.issue_many`, whose
    recovery would take the deliveries the batch has staged (recorded, not yet committed)
    for interrupted ones and put them in place before the commit.
    """

    def __init__(self, base: Path, *, password: str | None, replace: bool = False,
                 recover: bool = True) -> None:
        if password is not None:
            check_password(password)
        self.base = Path(base).absolute()
        self._password = password
        self.replace = replace
        self.files: list[NPKIFiles] = []
        self._recovered = not recover
        self._staged: _Staged | None = None

    def __repr__(self) -> str:
        return f"NPKIDelivery({str(self.base)!r}, replace={self.replace})"

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        if not self._recovered:
            _recover(store, tx, [self.base], at=at)
            self._recovered = True
        folder = npki.folder_for(self.base, issued.certificate)
        if folder.exists() and not self.replace:
            raise FolderExistsError(str(folder))
        staging = folder.parent / f"{STAGING_PREFIX}{_store_tag(store)}-{secrets.token_hex(8)}"
        make_dirs(staging, mode=PRIVATE_DIR_MODE)
        self._staged = staged = _Staged(
            folder, staging, issued.certificate.public_bytes(serialization.Encoding.DER))
        try:
            pairs = [(issued, False)]
            if issued.key_management is not None:
                pairs.append((issued.key_management, True))
            for one, km in pairs:
                staged.files.append(self._write_pair(staged, one, km=km))
                record = DeliveryRecord(ca=one.ca, serial=one.serial, folder=str(folder),
                                        staging=str(staging), recorded_at=at)
                tx.record_delivery(record)
                staged.records.append(record)
            if self.replace and folder.exists():
                (staging / _REPLACED).mkdir(mode=PRIVATE_DIR_MODE)
                os.rename(folder, staging / _REPLACED / folder.name)
            fsync_dir(staging)
            fsync_dir(folder.parent)
        except OSError as exc:
            raise OutputError(f"cannot write into {staging}: {exc.strerror}",
                              path=str(staging)) from None
        fault_point("delivery.staged")

    def _write_pair(self, staged: _Staged, issued: IssuedCertificate, *, km: bool
                    ) -> NPKIFiles:
        cert_name, key_name = ((npki.KM_CERT_FILE, npki.KM_KEY_FILE) if km
                               else (npki.CERT_FILE, npki.KEY_FILE))
        _write_new(staged.staging / (cert_name + _TMP),
                   issued.certificate.public_bytes(serialization.Encoding.DER), 0o644)
        key_path = None
        if issued.private_key is not None:
            if not self._password:
                raise ValueError("a password is needed to deliver a generated key")
            _write_new(staged.staging / (key_name + _TMP),
                       npki.encrypt(issued.private_key, self._password, r=issued.r), 0o600)
            key_path = staged.folder / key_name
        return NPKIFiles(staged.folder, staged.folder / cert_name, key_path)

    def abort(self) -> None:
        staged, self._staged = self._staged, None
        if staged is not None:
            _put_back(staged.staging)

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        staged, self._staged = self._staged, None
        if staged is None:
            return
        fault_point("delivery.committed")
        try:
            _finish(staged.staging, staged.folder)
        except OSError as exc:
            self._fail(staged, exc.strerror or str(exc))
        if not _holds(staged.folder, staged.der):
            self._fail(staged, "another folder of that name appeared meanwhile")
        fault_point("delivery.renamed")
        self.files = staged.files
        # The files are in place; if marking fails, the delivery stays pending, undelivered()
        # still sees the files, and the next recovery marks it.
        with contextlib.suppress(StoreError), store.transaction() as tx:
            for record in staged.records:
                tx.mark_delivered(record.ca, record.serial, at=at)

    @staticmethod
    def _fail(staged: _Staged, why: str) -> None:
        first = staged.records[0]
        raise DeliveryError(
            f"certificate {first.serial:X} is recorded but its files could not be put into "
            f"{staged.folder}: {why}; they wait in {staged.staging}", path=str(staged.folder),
            serial=first.serial, ca=first.ca, staging=str(staged.staging))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        os.close(fd)

