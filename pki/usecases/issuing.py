"""Issue into an NPKI folder; renew or reissue into one; finish interrupted deliveries.

Each issuance delivers through :class:`pki.delivery.NPKIDelivery`: the files appear under
their names only after the store has committed the certificate, and a staging left by a
failure is removed (see :mod:`pki.delivery`). An order (:class:`IssueOrder`,
:class:`FollowUpOrder`) is checked in two steps so that a face can refuse bad input before
it asks for any secret: :meth:`IssueOrder.check` needs nothing, :meth:`IssueOrder.ca_label`
needs the home; the use case checks again, so a caller that skips them loses nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..authority import IssuedCertificate, check_subscriber_names
from ..delivery import (
    DeliveryRecovery,
    NPKIDelivery,
    UndeliveredCertificate,
    recover_deliveries,
    undelivered,
)
from ..fsutil import check_writable_dir
from ..home import Home
from ..keys.npki import NPKIFiles
from ..keys.password import check_password
from ..lifecycle import find_certificate
from ..names import check_holder_name
from ..profiles import (
    FINANCIAL_PROFILES,
    JOINT_PROFILES,
    FinancialKind,
    JointPolicy,
    Profile,
)
from ..rrn import RRN

__all__ = [
    "FollowUpOrder",
    "IssueOrder",
    "IssuedIntoFolder",
    "finish_deliveries",
    "issue_into_folder",
    "profile_of",
    "reissue_into_folder",
    "renew_into_folder",
    "undelivered_certificates",
]


def profile_of(choice: JointPolicy | FinancialKind) -> Profile:
    """The profile of a joint certificate of that policy, or a financial one of that kind."""
    return (JOINT_PROFILES[choice] if isinstance(choice, JointPolicy)
            else FINANCIAL_PROFILES[choice])


@dataclass(frozen=True)
class IssuedIntoFolder:
    """A certificate issued (or renewed, reissued) and delivered into its NPKI folder."""

    issued: IssuedCertificate
    files: tuple[NPKIFiles, ...]
    """What was written: the signing pair, then the key-management pair if there is one."""

    @property
    def folder(self) -> Path:
        return self.files[0].folder


@dataclass(frozen=True)
class IssueOrder:
    """One subscriber certificate to issue into ``<out>/NPKI/<CA org>/USER/<subject>/``."""

    name: str
    """The holder's real name."""
    rrn: RRN | str
    """The holder's resident registration number (for the VID; the store keeps none)."""
    out: Path
    """The base folder of the NPKI tree."""
    profile: JointPolicy | FinancialKind = JointPolicy.GENERAL
    """A joint certificate of this policy, or a financial certificate of this kind."""
    ra: str = "INITECH"
    """Registration authority: ``UNIT[:INSTITUTION[:BRANCH]]``."""
    alias: str = ""
    """Romanised name shown in the CN's ( )."""
    ca: str | None = None
    """Issuing CA label; ``None``: the home's first licensed CA."""
    csr: bytes | None = None
    """Certify the key of this CSR (PEM or DER) instead of generating one."""
    with_km: bool = False
    """Also issue the key-management pair (joint certificates only)."""
    replace: bool = False
    """Replace an NPKI folder of that name instead of refusing."""
    serial_bits: int | None = None
    """Random bits in the serial number; ``None``: the CA style's length."""
    not_before: dt.datetime | None = None
    """Start of validity instead of 00:00:00 KST today (:func:`pki.clock.requested_validity`)."""
    not_after: dt.datetime | None = None
    """End of validity instead of the profile's term."""

    def check(self) -> None:
        """What can be refused without the home: the resident number, the name, the base
        folder. Raises :class:`pki.errors.InvalidRRNError`, :class:`InvalidNameError`,
        :class:`OutputError`, or :class:`ValueError` for a key-management pair with a CSR."""
        if self.with_km and self.csr is not None:
            raise ValueError("a key-management pair makes its own key; it does not go with "
                             "a CSR")
        if isinstance(self.rrn, str):
            RRN.parse(self.rrn)
        check_holder_name(self.name)
        check_writable_dir(self.out)

    def ca_label(self, home: Home) -> str:
        """The issuing CA's label, after checking the names against its style. Raises
        :class:`pki.errors.NotFoundError` or :class:`InvalidNameError`."""
        label = self.ca or home.default_ca_label()
        record = home.store.get_ca(label)
        if not record.is_root:  # (a root is refused by home.authority)
            check_subscriber_names(record.style, name=self.name, alias=self.alias, ra=self.ra)
        return label

    @property
    def needs_password(self) -> bool:
        """Whether a key is generated, so that a password must encrypt it."""
        return self.csr is None


def issue_into_folder(home: Home, order: IssueOrder, *, password: str | None,
                      passphrase: bytes | None) -> IssuedIntoFolder:
    """Issue ``order`` and deliver it: the certificate is recorded and its files are in
    their folder, or neither (a folder in the way: :class:`pki.errors.FolderExistsError`,
    nothing recorded), or it is recorded with its files staged
    (:class:`pki.errors.DeliveryError`, :func:`finish_deliveries` puts them in place).

    ``password`` encrypts the generated key (joint-certificate rules; ``None`` with a CSR);
    ``passphrase`` opens the CA key."""
    order.check()
    label = order.ca_label(home)
    if password is not None:
        check_password(password)
    authority = home.authority(label, passphrase=passphrase)
    delivery = NPKIDelivery(order.out, password=password, replace=order.replace)
    issued = authority.issue(profile_of(order.profile), name=order.name, rrn=order.rrn, ra=order.ra,
                             alias=order.alias, csr=order.csr, with_km=order.with_km,
                             deliver=delivery, serial_bits=order.serial_bits,
                             not_before=order.not_before, not_after=order.not_after)
    return IssuedIntoFolder(issued, tuple(delivery.files))


@dataclass(frozen=True)
class FollowUpOrder:
    """A certificate to renew or reissue, the new one delivered under ``out``."""

    serial: int
    rrn: RRN | str
    """The holder's resident number (the store keeps none; the new VID needs it)."""
    out: Path
    ca: str | None = None
    """The issuing CA, where the serial is ambiguous."""
    replace: bool = False

    def check(self) -> None:
        """The resident number and the base folder, without the home."""
        if isinstance(self.rrn, str):
            RRN.parse(self.rrn)
        check_writable_dir(self.out)

    def ca_label(self, home: Home) -> str:
        """The label of the CA that issued the certificate. Raises
        :class:`pki.errors.CertificateNotFoundError` or :class:`AmbiguousSerialError`."""
        return find_certificate(home.store, self.serial, ca=self.ca).ca


def _follow_up(home: Home, order: FollowUpOrder, *, renew: bool, password: str,
               passphrase: bytes | None) -> IssuedIntoFolder:
    order.check()
    check_password(password)
    label = order.ca_label(home)
    authority = home.authority(label, passphrase=passphrase)
    delivery = NPKIDelivery(order.out, password=password, replace=order.replace)
    operation = authority.renew if renew else authority.reissue
    issued = operation(order.serial, rrn=order.rrn, deliver=delivery)
    return IssuedIntoFolder(issued, tuple(delivery.files))


def renew_into_folder(home: Home, order: FollowUpOrder, *, password: str,
                      passphrase: bytes | None) -> IssuedIntoFolder:
    """Renew the certificate (new key, one term on from its notAfter) and deliver the new
    one, as :func:`issue_into_folder` does."""
    return _follow_up(home, order, renew=True, password=password, passphrase=passphrase)


def reissue_into_folder(home: Home, order: FollowUpOrder, *, password: str,
                        passphrase: bytes | None) -> IssuedIntoFolder:
    """Reissue the certificate (revoked as superseded; a new key to the same notAfter) and
    deliver the new one, as :func:`issue_into_folder` does."""
    return _follow_up(home, order, renew=False, password=password, passphrase=passphrase)


def finish_deliveries(home: Home, *, bases: Sequence[Path] = ()) -> DeliveryRecovery:
    """Finish deliveries a crash interrupted after their commit; remove the staging of
    issuances that never committed (also under each of ``bases``)."""
    return recover_deliveries(home.store, at=home.clock.now(), bases=bases)


def undelivered_certificates(home: Home, *, ca: str | None = None
                             ) -> list[UndeliveredCertificate]:
    """Certificates recorded whose files are not in their NPKI folder (without writing)."""
    return undelivered(home.store, ca=ca)
