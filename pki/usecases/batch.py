"""Issue a batch file's people into NPKI folders: all or nothing, in one transaction.

The batch file (:mod:`pki.batchfile`) is read and every row checked before anything is
asked for or issued; then :meth:`pki.authority.CertificateAuthority.issue_many` issues
every row in one store transaction, each row delivered by its own
:class:`pki.delivery.NPKIDelivery` (its own password): the files are staged inside the
transaction and put in place after the commit, so a refusal or a crash before the commit
leaves no certificate in the store and no folder on disk, and a crash after it leaves
deliveries the store knows as pending (``kpki cert deliver``, :func:`.issuing.finish_deliveries`
puts them in place).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..authority import IssueRequest, IssueStep, check_subscriber_names
from ..batchfile import MAX_ROWS, Batch, read_batch
from ..delivery import NPKIDelivery
from ..errors import BatchFileError, PKIError
from ..fsutil import check_writable_dir
from ..home import Home
from ..keys.password import check_password
from ..profiles import FinancialKind, JointPolicy, Profile
from .issuing import IssuedIntoFolder, profile_of

__all__ = ["BatchEntry", "BatchOrder", "IssuedBatch", "issue_batch"]


@dataclass(frozen=True)
class BatchOrder:
    """Issue every row of the batch file ``path`` into ``<out>/NPKI/<CA org>/USER/...``."""

    path: Path
    """The batch file (CSV or JSON Lines)."""
    out: Path
    """The base folder of the NPKI tree."""
    profile: JointPolicy | FinancialKind = JointPolicy.GENERAL
    """The family of every row, and the profile of rows that name no policy (kind)."""
    ra: str = "INITECH"
    """The registration authority of rows that name none."""
    ca: str | None = None
    """Issuing CA label; ``None``: the home's first licensed CA."""
    with_km: bool = False
    """Also issue a key-management pair for every row (joint certificates only)."""
    replace: bool = False
    """Replace NPKI folders of those names instead of refusing the batch."""
    serial_bits: int | None = None
    """Random bits in the serial numbers; ``None``: the CA style's length."""
    not_before: dt.datetime | None = None
    """Validity of every row (as :class:`pki.authority.IssueRequest` takes it); ``None``:
    from today."""
    not_after: dt.datetime | None = None
    """``None``: the profile's term."""
    max_rows: int = MAX_ROWS

    @property
    def default_profile(self) -> Profile:
        return profile_of(self.profile)

    def read(self) -> Batch:
        """Read and check the batch file and the base folder, without the home. Raises
        :class:`pki.errors.BatchFileError` or :class:`pki.errors.OutputError`."""
        check_writable_dir(self.out)
        return read_batch(self.path, profile=self.default_profile, ra=self.ra,
                          max_rows=self.max_rows)

    def ca_label(self, home: Home, batch: Batch) -> str:
        """The issuing CA's label, after checking every row's names against its style (the
        longest CN it makes of them must fit). Raises :class:`BatchFileError` naming the
        row, or :class:`pki.errors.NotFoundError`."""
        label = self.ca or home.default_ca_label()
        record = home.store.get_ca(label)
        if record.is_root:  # refused by home.authority
            return label
        for row in batch.rows:
            try:
                check_subscriber_names(record.style, name=row.name, alias=row.alias,
                                       ra=row.ra)
            except PKIError as exc:
                raise BatchFileError(str(exc), path=str(batch.path), row=row.row,
                                     column="alias" if row.alias else "name",
                                     cause=exc) from None
        return label


@dataclass(frozen=True, kw_only=True)
class BatchEntry(IssuedIntoFolder):
    """One row issued and delivered."""

    row: int
    """The row's line number in the batch file."""
    name: str
    """The holder's name as the row gave it (NFC)."""


@dataclass(frozen=True)
class IssuedBatch:
    """What :func:`issue_batch` issued, in the order of the file."""

    path: Path
    entries: tuple[BatchEntry, ...]


def issue_batch(home: Home, order: BatchOrder, *, password: str | None,
                passphrase: bytes | None, batch: Batch | None = None,
                progress: Callable[[IssueStep, int, int], object] | None = None,
                ) -> IssuedBatch:
    """Issue every row of ``order``'s batch file and deliver it, all or nothing.

    ``batch`` is the file as :meth:`BatchOrder.read` gave it (read again if ``None``);
    ``password`` encrypts the keys of rows without a password of their own (needed if
    :attr:`Batch.needs_password`), ``passphrase`` opens the CA key; ``progress`` is passed
    to :meth:`~pki.authority.CertificateAuthority.issue_many`. Raises
    :class:`BatchFileError` for a bad row (nothing issued), :class:`FolderExistsError`
    for a folder in the way (nothing issued), :class:`DeliveryError` when files could not
    be put in place after the commit (all recorded; ``finish_deliveries`` completes it).
    """
    batch = batch if batch is not None else order.read()
    label = order.ca_label(home, batch)
    if batch.needs_password:
        if password is None:
            raise ValueError("some rows have no password of their own: give one for them")
        check_password(password)
    authority = home.authority(label, passphrase=passphrase)
    requests = [IssueRequest(row.profile, name=row.name, rrn=row.rrn, ra=row.ra,
                             alias=row.alias, with_km=order.with_km,
                             serial_bits=order.serial_bits, not_before=order.not_before,
                             not_after=order.not_after) for row in batch.rows]
    # One delivery a row (each row its own password); only the first recovers the base
    # (see NPKIDelivery).
    deliveries = [NPKIDelivery(order.out, password=row.password or password,
                               replace=order.replace, recover=index == 0)
                  for index, row in enumerate(batch.rows)]
    issued = authority.issue_many(requests, deliver=deliveries, progress=progress)
    entries = tuple(BatchEntry(one, tuple(delivery.files), row=row.row,
                               name=row.name)
                    for row, one, delivery in zip(batch.rows, issued, deliveries, strict=True))
    return IssuedBatch(batch.path, entries)
