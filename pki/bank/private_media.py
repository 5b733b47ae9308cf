"""A bank's private certificate as a security medium (KB counts its own mobile certificate
like an OTP: the ``kb`` limit table, :data:`pki.bank.limits.KB`).

**Registration.** A customer has at most one private certificate registered at its bank
(the store's ``bank_private_media``, one row per customer, a certificate in at most one
row). The issuance flow registers the certificate it issues in its own transaction
(:func:`register_in`): whatever certificate was registered before is revoked there
(superseded) and the row follows the new one, so however many enrolments of one person
run at once, exactly one of the person's private certificates at the bank stays live
(:mod:`pki.ra.private`).

**As a medium.** A transfer signed with the customer's private certificate may name it as
its medium (:class:`pki.bank.transfers.PrivateCertificateAnswer`): the signature is the
answer. It is taken only when the transfer's verified signature is by the certificate
registered for this customer at this bank (:func:`check_signer`):

* ``private_certificate_not_registered``: the customer has none registered here, or the
  registered one is revoked or expired (a signature by it is refused before this anyway:
  ``certificate_revoked``, ``certificate_expired``);
* ``private_certificate_mismatch``: the signature is by another certificate (a joint one,
  another bank's private certificate, one this bank replaced) or is no certificate
  signature at all (simple authentication).

The grade and the limits are the institution's table's row for
:attr:`pki.bank.media.MediumKind.PRIVATE_CERTIFICATE` (none in ``hana``: ``no_medium``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..errors import CertificateExpiredError
from ..lifecycle import revoke_in
from ..store import (
    AuditAction,
    BankCustomer,
    CertificateRecord,
    CertStatus,
    Institution,
    PrivateMediumRecord,
    Store,
    StoreTransaction,
)
from .limits import MediaLookups
from .media import MediumKind, MediumOutcome

__all__ = [
    "Lookups",
    "PrivateCertificateMedium",
    "check_signer",
    "live_registration",
    "private_certificate_media",
    "register_in",
]


Lookups = Store | StoreTransaction
"""Where the checks read: the store, or a transaction under its lock."""


def _certificate(lookups: Lookups, ca: str, serial: int) -> CertificateRecord | None:
    reader = getattr(lookups, "get_certificate", None)  # a transaction reads under its lock
    if reader is not None:
        found: CertificateRecord | None = reader(ca, serial)
        return found
    return next(iter(cast(Store, lookups).find_certificates(serial, ca=ca)), None)


def live_registration(lookups: Lookups, customer: BankCustomer
                      ) -> tuple[PrivateMediumRecord, CertificateRecord] | None:
    """The customer's registered private certificate and its record, if it is registered
    at the customer's bank and neither revoked nor suspended."""
    registered = lookups.private_medium(customer.id)
    if registered is None or registered.institution_id != customer.institution_id:
        return None
    record = _certificate(lookups, registered.ca, registered.serial)
    if record is None or record.status is not CertStatus.VALID:
        return None
    return registered, record


def private_certificate_media(lookups: MediaLookups, customer: BankCustomer
                              ) -> Iterable[MediumKind]:
    """The media source (:data:`pki.bank.limits.MediaSource`) of a registered private
    certificate: it is usable while it is live."""
    found = live_registration(cast(Lookups, lookups), customer)
    return (MediumKind.PRIVATE_CERTIFICATE,) if found is not None else ()


def check_signer(lookups: Lookups, customer: BankCustomer,
                 signer: x509.Certificate | None, *, at: dt.datetime) -> str | None:
    """None when ``signer`` (a transfer's verified signer; None for a signature that is
    not a certificate's) is the customer's live registered private certificate at its
    bank; otherwise the refusal's code (see the module doc)."""
    found = live_registration(lookups, customer)
    if found is None or found[1].is_expired(at):
        return "private_certificate_not_registered"
    if signer is None or signer.public_bytes(Encoding.DER) != found[1].der:
        return "private_certificate_mismatch"
    return None


def register_in(tx: StoreTransaction, institution: Institution, customer: BankCustomer, *,
                ca: str, serial: int, device: str, at: dt.datetime) -> int | None:
    """Inside ``tx``: register certificate ``serial`` of ``ca`` as the customer's private
    certificate at ``institution``, revoking (superseded) the one registered before while it
    is live. Returns the serial of the certificate revoked, if any. One audit row."""
    before = tx.private_medium(customer.id)
    revoked = None
    if before is not None and (before.ca, before.serial) != (ca, serial):
        old = tx.get_certificate(before.ca, before.serial)
        if old is not None and old.status is not CertStatus.REVOKED and not old.is_expired(at):
            try:
                revoke_in(tx, before.ca, before.serial, at=at,
                          reason=x509.ReasonFlags.superseded)
                revoked = before.serial
            except CertificateExpiredError:  # pragma: no cover - checked just above
                pass
    tx.put_private_medium(PrivateMediumRecord(
        customer_id=customer.id, institution_id=institution.id, ca=ca, serial=serial,
        device=device, registered_at=at))
    tx.audit(AuditAction.BANK_PRIVATE_MEDIUM_REGISTERED, at=at, ca=ca, serial=serial,
             detail={"institution": institution.name, "customer": customer.id,
                     "device": device,
                     "replaced": None if revoked is None else format(revoked, "X")})
    return revoked


@dataclass(frozen=True)
class PrivateCertificateMedium:
    """The registered private certificate as a :class:`pki.bank.media.Medium`: the
    transfer's signature was its answer (checked by :func:`check_signer` before), so it
    has nothing more to check or count."""

    @property
    def kind(self) -> MediumKind:
        return MediumKind.PRIVATE_CERTIFICATE

    def verify(self, response: str, *, at: dt.datetime | None = None) -> MediumOutcome:
        return MediumOutcome(MediumKind.PRIVATE_CERTIFICATE, True)

    def verify_in(self, tx: StoreTransaction, response: str, *,
                  at: dt.datetime | None = None, audited: bool = True) -> MediumOutcome:
        return MediumOutcome(MediumKind.PRIVATE_CERTIFICATE, True)
