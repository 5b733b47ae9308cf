"""Private certificates as a bank issues them (KB's mobile certificate, issue 15 item 3):
step by step on the step engine (:mod:`pki.ra.sessions`), onto the customer's device.

**The flow** :data:`PRIVATE_ISSUE`, opened from the device (:meth:`PrivateIssuance.start`):

1. ``account``: an account number and its 4-digit password
   (:func:`pki.ra.proofs.proven_account`). The account names the customer (an unknown
   number or another bank's: ``not_found``, before any password is compared); a wrong
   password is counted (``wrong_account_password`` with ``attempts_left``) and the one
   that locks it ends the session (``account_locked``); then internet banking must be
   active (``not_enrolled``, ``enrolment_expired``).
2. ``phone``: a confirmed SMS or ARS phone verification of the customer at this bank,
   used once (:func:`pki.ra.proofs.proven_phone`: ``phone_not_found``, ``phone_used``,
   ``phone_not_confirmed``, ``phone_wrong_method``, ``phone_other_person``,
   ``phone_expired`` after the step time).
3. ``issue``: the device's CSR and R. The 6-digit simple PIN is chosen and entered twice
   *on the device* (:class:`pki.private.DeviceEnrolment`, the cloud's PIN rules): the key
   and R are made there and sealed there under the PIN *before* they are sent (a pending
   enrolment, so a crash after this step committed loses nothing: the device attaches the
   certificate :meth:`PrivateIssuance.issued_certificate` gives from the finished session).
   The key and the PIN never leave the device; the RA sees the CSR and R, which the CA
   puts in the VID and the store never keeps. The certificate
   (:data:`pki.profiles.PRIVATE_PROFILE`, from the home's private-style CA) is issued,
   the customer's private medium registered (:func:`pki.bank.private_media.register_in`)
   and the step recorded done in *one* transaction (:class:`pki.ra.sessions.FinishingDelivery`).

**One device per person.** If the customer has a live private certificate registered at
this bank, the new one keeps its notAfter (a reissue onto the new device) and the old one
is revoked as superseded in the issuing transaction; whatever is registered when that
transaction runs is the one revoked, so parallel enrolments of one person leave exactly
one live certificate.

**Renewal** (:meth:`PrivateIssuance.renew`): after a year of use
(:attr:`pki.profiles.Profile.renewal_after_years`, a setting of the profile) the device
signs its new CSR with the registered certificate (CMS, as a transfer); the renewed
certificate runs a term on from the old notAfter, and the old one is revoked (superseded)
as the registration moves, so one certificate stays live. The device seals the new key
and its new R as pending before it asks; after a crash it finds the renewed certificate as
the customer's registered one (:meth:`PrivateIssuance.registered_certificate`). Refusals:
``renewal_window`` (before it opens, with the date; or after notAfter),
``private_certificate_not_registered``, ``signer_not_certificate``, ``csr_invalid``, and
the signature's own codes.

Refusals of a step are :class:`pki.errors.FlowRefusedError` (or the bank's own errors,
with their codes) recorded in the session's history; out of order, repeated, expired and
finished come from the engine (:class:`pki.errors.StepRefusedError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..authority import CertificateAuthority, IssuedCertificate, load_csr
from ..bank.customers import Customers
from ..bank.devices import check_device
from ..bank.institutions import settings_of
from ..bank.private_media import live_registration, register_in
from ..bank.sessions import check_certificate_signature
from ..clock import Clock
from ..errors import (
    AccountLockedError,
    BankNotFoundError,
    BankRequestError,
    CSRError,
    FlowRefusedError,
    RenewalWindowError,
    RequestRefusedError,
    UnsupportedKeyError,
)
from ..faults import fault_point
from ..keys.generate import check_subscriber_key
from ..profiles import KNOWN_RAS, PRIVATE_PROFILE, RegistrationAuthority
from ..signing.verify import Verifier
from ..store import (
    BankCustomer,
    Institution,
    RaSessionRecord,
    RaStepRecord,
    Store,
    StoreTransaction,
)
from ..vid import R_LENGTH
from .proofs import proven_account, proven_phone, use_phone
from .sessions import FinishingDelivery, Flow, StepSessions

__all__ = ["PRIVATE_ISSUE", "PrivateIssuance", "PrivateIssued", "bank_ra"]

PRIVATE_ISSUE = Flow("private-issue", ("account", "phone", "issue"))
"""Issuance of a private certificate onto a device."""

_ENDS = frozenset({AccountLockedError.code})
"""Refusals after which the session cannot go on."""


@dataclass(frozen=True)
class PrivateIssued:
    """A private certificate the bank issued (or renewed) for a device."""

    issued: IssuedCertificate
    session: RaSessionRecord | None
    """The finished session (None for a renewal, which runs no session)."""
    replaced: int | None
    """The serial of the certificate revoked as superseded, if one was live."""

    @property
    def certificate(self) -> x509.Certificate:
        return self.issued.certificate

    @property
    def serial(self) -> int:
        return self.issued.serial


def bank_ra(institution: Institution) -> RegistrationAuthority:
    """The RA a bank's private certificates name: the known unit of its code (``KB`` for
    004), else ``BANK<code>``."""
    code = institution.code or "000"
    known = next((ra for ra in KNOWN_RAS.values() if ra.institution == code), None)
    return known or RegistrationAuthority(f"BANK{code}", code)


class _Registration:
    """The issuance's delivery inside :class:`FinishingDelivery`: the customer's private
    medium registered, the one before revoked (see the module doc)."""

    def __init__(self, institution: Institution, customer: BankCustomer, device: str) -> None:
        self.institution = institution
        self.customer = customer
        self.device = device
        self.replaced: int | None = None

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        self.replaced = register_in(tx, self.institution, self.customer, ca=issued.ca,
                                    serial=issued.serial, device=self.device, at=at)

    def abort(self) -> None:
        self.replaced = None

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        pass


class PrivateIssuance:
    """The private-certificate flows of one store (see the module doc). ``authority``
    gives the private-style CA when a flow issues; ``verifier`` checks a renewal's
    signature."""

    def __init__(self, store: Store, *, clock: Clock, customers: Customers,
                 sessions: StepSessions, authority: Callable[[], CertificateAuthority],
                 verifier: Callable[[], Verifier]) -> None:
        self.store = store
        self.clock = clock
        self.customers = customers
        self.sessions = sessions
        self._authority = authority
        self._verifier = verifier

    # -- the session -----------------------------------------------------------------------

    def start(self, institution: Institution, *, device: str) -> RaSessionRecord:
        """Open an issuance session from ``device`` (:class:`BankRequestError`
        ``device`` for a bad id)."""
        return self.sessions.start(institution, PRIVATE_ISSUE,
                                   data={"device": check_device(device)})

    def get(self, institution: Institution, session_id: object) -> RaSessionRecord:
        record = self.sessions.get(institution, session_id)
        if record.flow != PRIVATE_ISSUE.name:
            raise BankNotFoundError("session")
        return record

    def history(self, institution: Institution, session_id: object
                ) -> tuple[RaStepRecord, ...]:
        return self.sessions.history(institution, self.get(institution, session_id).id)

    # -- the steps ---------------------------------------------------------------------------

    def account(self, institution: Institution, session_id: str, *, number: str,
                password: str) -> RaSessionRecord:
        """Step 1: the account and its password name the customer."""
        self._due(institution, session_id, "account")

        def work(record: RaSessionRecord) -> tuple[dict[str, Any], str]:
            account = proven_account(self.customers, institution, number, password)
            return {"account": account.number}, account.customer_id

        return self._step(institution, session_id, "account", work)

    def phone(self, institution: Institution, session_id: str, *, verification_id: str
              ) -> RaSessionRecord:
        """Step 2: a confirmed phone verification of the customer, used once."""
        self._due(institution, session_id, "phone")
        use: list[Callable[[StoreTransaction], None]] = []

        def work(record: RaSessionRecord) -> tuple[dict[str, Any], str]:
            customer = self._customer(institution, record)
            now = self.clock.now()
            verification = proven_phone(self.store, institution, customer, verification_id,
                                        now=now, lifetime=self._step_time(institution))
            use.append(lambda tx: use_phone(tx, institution, customer, verification.id,
                                            now=now, operation=f"ra-{PRIVATE_ISSUE.name}"))
            return {"phone_verification": verification.id}, customer.id

        def write(tx: StoreTransaction, customer_id: str) -> None:
            use[0](tx)

        return self._step(institution, session_id, "phone", work, write=write)

    def issue(self, institution: Institution, session_id: str, *, csr: bytes, r: bytes
              ) -> PrivateIssued:
        """Step 3: issue from the device's CSR and R (see the module doc). Raises
        :class:`BankRequestError` (``csr``) for a CSR that does not parse or verify, or
        whose key is not RSA of 2048 to 4096 bits, (``r``) for an R that is not
        :data:`pki.vid.R_LENGTH` bytes, recorded as the step's refusal."""
        record = self._due(institution, session_id, "issue")
        try:
            customer = self._customer(institution, record)
            _check_r(r, "r")
            try:
                request = load_csr(csr) if isinstance(csr, bytes) else None
            except CSRError:
                request = None
            if request is None:
                raise BankRequestError("a CSR is DER or PEM whose signature verifies",
                                       field="csr")
            try:
                check_subscriber_key(request.public_key())
            except UnsupportedKeyError as exc:
                raise BankRequestError(f"the CSR's key: {exc}", field="csr") from None
            live = live_registration(self.store, customer)
            not_after = None if live is None else live[1].not_after
            registration = _Registration(institution, customer, str(record.data["device"]))
            delivery = FinishingDelivery(self.sessions, institution, PRIVATE_ISSUE, record.id,
                                         "issue", inner=registration)
            fault_point("ra.private.received")
            issued = self._authority().issue(
                PRIVATE_PROFILE, name=customer.name, rrn=customer.rrn,
                ra=bank_ra(institution), csr=request, not_after=not_after, deliver=delivery,
                r=r)
        except RequestRefusedError as exc:
            self.sessions.refused(institution, record.id, "issue", exc.code)
            raise
        fault_point("ra.private.committed")
        assert delivery.record is not None
        return PrivateIssued(issued, delivery.record, registration.replaced)

    # -- renewal -----------------------------------------------------------------------------

    def renew(self, institution: Institution, customer_id: str, *, signature: bytes,
              r: bytes, new_r: bytes) -> PrivateIssued:
        """Renew the customer's registered private certificate: ``signature`` is an
        attached CMS signature over the new key's CSR (DER) by that certificate, ``r`` its
        key's random number (the VID, read from the device's keystore), ``new_r`` the R
        the device sealed with the new key. Raises :class:`FlowRefusedError` (step
        ``renew``), :class:`BankRequestError` (``new_r``),
        :class:`pki.errors.SignatureRefusedError`, :class:`BankNotFoundError`."""
        _check_r(new_r, "new_r")
        customer = self.customers.get(institution, customer_id)
        live = live_registration(self.store, customer)
        if live is None:
            raise FlowRefusedError("private_certificate_not_registered", "the customer has "
                                   "no live private certificate at this bank", step="renew")
        registered, old = live
        now = self.clock.now()
        signed = check_certificate_signature(self._verifier(), signature, r,
                                             rrn=customer.rrn, at=now)
        if signed.signer is None or signed.signer.serial_number != old.serial or \
                signed.signer.public_bytes(Encoding.DER) != old.der:
            raise FlowRefusedError("signer_not_certificate", "the signature is not by the "
                                   "registered private certificate", step="renew")
        try:
            request = load_csr(signed.text)
            check_subscriber_key(request.public_key())
        except CSRError:
            raise FlowRefusedError("csr_invalid", "the signed content is not a CSR whose "
                                   "signature verifies", step="renew") from None
        except UnsupportedKeyError as exc:
            raise FlowRefusedError("csr_invalid", f"the CSR's key: {exc}",
                                   step="renew") from None
        registration = _Registration(institution, customer, registered.device)
        fault_point("ra.private.received")
        try:
            issued = self._authority().renew(old.serial, rrn=customer.rrn, csr=request,
                                             deliver=registration, r=new_r)
        except RenewalWindowError as exc:
            raise FlowRefusedError("renewal_window", str(exc), step="renew") from None
        fault_point("ra.private.committed")
        return PrivateIssued(issued, None, registration.replaced)

    # -- what a device fetches again after a crash ---------------------------------------------

    def issued_certificate(self, institution: Institution, session_id: object
                           ) -> x509.Certificate | None:
        """The certificate the session's issue step issued, or None before it did: a
        device whose answer was lost attaches it to its pending key (module doc)."""
        record = self.get(institution, session_id)
        serial, ca = record.data.get("serial"), record.data.get("ca")
        if not isinstance(serial, str) or not isinstance(ca, str):
            return None
        found = self.store.find_certificates(int(serial, 16), ca=ca)
        return found[0].certificate if found else None

    def registered_certificate(self, institution: Institution, customer_id: str
                               ) -> x509.Certificate | None:
        """The customer's live registered private certificate at this bank, or None: after
        a renewal whose answer was lost, the renewed one (module doc)."""
        live = live_registration(self.store, self.customers.get(institution, customer_id))
        return None if live is None else live[1].certificate

    # -- inside ------------------------------------------------------------------------------

    def _due(self, institution: Institution, session_id: object, step: str
             ) -> RaSessionRecord:
        record = self.get(institution, session_id)
        return self.sessions.check(institution, PRIVATE_ISSUE, record.id, step)

    def _step(self, institution: Institution, session_id: str, step: str,
              work: Callable[[RaSessionRecord], tuple[dict[str, Any], str]], *,
              write: Callable[[StoreTransaction, str], None] | None = None
              ) -> RaSessionRecord:
        """Do the step's ``work`` (what the session keeps, and the customer), then
        ``write`` and the step done in one transaction; a refusal is recorded."""
        record = self.get(institution, session_id)
        try:
            data, customer_id = work(record)
            with self.store.transaction() as tx:
                if write is not None:
                    write(tx, customer_id)
                return self.sessions.done_in(tx, institution, PRIVATE_ISSUE, record.id, step,
                                             data=data, customer_id=customer_id)
        except RequestRefusedError as exc:
            self.sessions.refused(institution, record.id, step, exc.code,
                                  ends=exc.code in _ENDS)
            raise

    def _customer(self, institution: Institution, record: RaSessionRecord) -> BankCustomer:
        assert record.customer_id is not None  # the account step comes first
        return self.customers.get(institution, record.customer_id)

    @staticmethod
    def _step_time(institution: Institution) -> dt.timedelta:
        return settings_of(institution).ra_step_lifetime


def _check_r(r: object, field: str) -> None:
    if not isinstance(r, bytes) or len(r) != R_LENGTH:
        raise BankRequestError(f"R is {R_LENGTH} bytes (the device makes it with its key)",
                               field=field)
