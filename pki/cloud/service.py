"""The cloud's operations, independent of HTTP (``pki.web.cloud`` puts them on the wire).

Every operation is called on behalf of an institution authenticated by its API key.
Refusals are :class:`pki.errors.RequestRefusedError` subclasses carrying their data and a
stable ``code`` (what the API answers and a user's history records; the HTTP status is the
web layer's business). Nothing changes when one is raised, except a verified wrong PIN or
confirmation code, which is the point of counting. Every change is one unit of work of the
store with its audit rows: an issuance records the certificate, its sealed key, its
registration and their audit rows in one commit, or nothing. The rules:

* **Isolation.** An institution acts on a user only if the user registered with it (it
  registered the user, or one of the user's certificates is registered there), and on a
  certificate only where that certificate is registered. Anything else gets exactly the
  answer for a user or certificate that does not exist, so a stranger cannot even learn
  that one exists. Registering a certificate at another institution takes the user's
  phone (that institution's own confirmed registration of the same person) and the PIN.
* **Registration** (users, confirmation codes and their limits) is :mod:`pki.registration`.
* **PINs** go through the gate of :mod:`pki.cloud.pin`: only a verified wrong PIN is
  charged, at most five checks of one key are in flight, the fifth failure in a row locks
  the certificate for good (revoke and reissue, as the real service works), a crash
  charges nothing, a key sealed under another vault secret is never a wrong PIN. Where
  the issuing institution resets PINs, the key also has a recovery copy, and
  :meth:`Cloud.reset_pin` sets a new PIN (clearing a lock) once the RA has proved the
  person again (:mod:`pki.ra.financial`).
* **Renewal on use** records the new certificate and seals its key in one transaction.
  Signatures racing it wait for the store's write lock, then sign with the new
  certificate; the old serial goes on signing with its successor.
* **Purposes** are the SDK's codes (:class:`pki.purposes.Purpose`); the cloud's own
  management (a new PIN, a registration elsewhere, a revocation) is recorded under 08,
  managing authentication means (인증수단관리).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import lifecycle
from ..authority import CertificateAuthority, IssuedCertificate
from ..clock import KST
from ..delivery import Delivery
from ..devices import MAX_DEVICES, DeviceState, check_device_id, check_room
from ..errors import (
    CertificateUnusableError,
    CloudError,
    CloudNotFoundError,
    CloudRequestError,
    ContentTooLargeError,
    DeviceNotDesignatedError,
    LifecycleError,
    NoRecoveryCopyError,
    NotConfirmedError,
    PinChangedError,
    PKIError,
    RequestRefusedError,
    SealedUnderOtherSecretError,
    SsnMismatchError,
    UnauthorizedError,
    UnknownUserError,
    VaultError,
)
from ..faults import fault_point
from ..keys import npki
from ..profiles import FINANCIAL_PROFILES, FinancialKind
from ..purposes import Purpose
from ..registration import Registrar
from ..rrn import RRN
from ..signing.cms import KeySigner, sign
from ..store import (
    AuditAction,
    CertificateRecord,
    CertStatus,
    CloudUser,
    HistoryEntry,
    Institution,
    Message,
    RevocationReason,
    Store,
    StoreTransaction,
    VaultRecord,
)
from ..vid import identify_data_of, vid_matches
from .boot import Boot
from .pin import MAX_ATTEMPTS, PinGate, check_pin, check_pin_format, sweep_pin_checks
from .vault import Sealer, Vault, secret_check, vault_secret_for

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_DEVICES",
    "Cloud",
    "CloudError",
    "CloudSignature",
    "Devices",
    "Institution",
    "add_institution",
    "authenticate",
    "start_cloud",
]

RENEWAL_WINDOW = dt.timedelta(days=31)
MAX_CONTENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CloudSignature:
    """A signature made in the cloud."""

    signature: bytes
    """The CMS SignedData (or ContentInfo), DER."""
    certificate: x509.Certificate
    """The certificate that signed: the one asked for, or its successor."""
    r: bytes | None = field(default=None, repr=False)
    """R of that certificate, when asked for (``include_r``)."""
    renewed_from: int | None = None
    """The serial asked for, when a renewal made or found its successor."""

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


@dataclass(frozen=True)
class Devices:
    """A user's designated devices."""

    devices: tuple[str, ...]
    designated_only: bool
    """Signing is allowed from these devices only."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def add_institution(store: Store, name: str, *, at: dt.datetime, code: str | None = None,
                    settings: Mapping[str, Any] | None = None) -> str:
    """Register an institution; returns its API key (shown once, stored only hashed). A
    bank also has its 3-digit ``code`` and its ``settings``, checked by
    :func:`pki.bank.institutions.add_bank`, which calls this."""
    if not isinstance(name, str) or not name or len(name) > 64 or not name.isprintable():
        raise CloudRequestError("an institution name is 1-64 printable characters",
                                field="name")
    api_key = "kpki_" + secrets.token_urlsafe(24)
    detail: dict[str, Any] = {"institution": name}
    if code is not None:
        detail["code"] = code
    with store.transaction() as tx:
        tx.add_institution(name, _hash(api_key), at=at, code=code, settings=settings)
        tx.audit(AuditAction.CLOUD_INSTITUTION_ADDED, at=at, detail=detail)
    return api_key


def authenticate(store: Store, api_key: str | None) -> Institution:
    """The institution whose API key is ``api_key`` (the cloud's and the bank's APIs
    both ask); :class:`UnauthorizedError` for none or an unknown one."""
    if not api_key:
        raise UnauthorizedError("an API key is needed (X-API-Key)")
    found = store.institution_by_key_hash(_hash(api_key))
    if found is None:
        raise UnauthorizedError("unknown API key")
    return found


def start_cloud(store: Store, *, secret_path: Path, create_secret: bool, boot: Boot,
                at: dt.datetime) -> bytes:
    """What a process does before it serves the cloud of ``store``: find the vault secret
    (:func:`pki.cloud.vault.vault_secret_for`: :class:`pki.errors.VaultError` when keys
    are sealed and it is missing or another), give keys sealed before kpki kept check
    values the present secret's, and forget the PIN checks in flight of processes that
    are gone (never charged). Returns the secret."""
    secret = vault_secret_for(secret_path, store.secret_checks(), create=create_secret)
    with store.transaction() as tx:
        adopted = tx.adopt_secret_check(secret_check(secret))
        if adopted:
            tx.audit(AuditAction.CLOUD_VAULT_CHECK_ADOPTED, at=at, detail={"keys": adopted})
    sweep_pin_checks(store, boot)
    boot.sweep_files()
    return secret


def _aad(user_id: str, ca: str, serial: int) -> bytes:
    return f"kpki-cloud-v1|{user_id}|{ca}|{serial:X}".encode()


def _payload(holder: RRN, private_key: rsa.RSAPrivateKey, r: bytes | None) -> bytes:
    return holder.digits.encode() + npki.encode_private_key_info(private_key, r)


@dataclass(frozen=True)
class _Unlocked:
    """A key opened for one operation: the holder's RRN, the key and its R."""

    holder: RRN
    private_key: rsa.RSAPrivateKey
    r: bytes | None


@dataclass(frozen=True)
class _IntoVault:
    """A :class:`pki.delivery.Delivery` that seals the issued key into the vault inside
    the issuing transaction: certificate, sealed key, registrations and audit rows commit
    together or not at all.

    Fault points (:mod:`pki.faults`), ``<step>`` being ``cloud.issue`` or ``cloud.renew``:
    ``<step>.staged`` (the certificate written in the transaction, no key yet),
    ``<step>.sealed`` (both written, not committed), ``<step>.committed`` (after the
    commit).

    ``recovery``: the vault that seals a recovery copy of the key beside it
    (:meth:`Vault.seal_recovery`): for an issuance where the institution resets PINs, and
    for a renewal of a key that had one."""

    sealer: Sealer
    _: KW_ONLY
    user_id: str
    holder: RRN
    step: str
    institutions: Sequence[int] = ()
    private_key: rsa.RSAPrivateKey | None = None
    renews: int | None = None
    recovery: Vault | None = None

    def stage(self, store: Store, tx: StoreTransaction, issued: IssuedCertificate, *,
              at: dt.datetime) -> None:
        fault_point(f"{self.step}.staged")
        key = self.private_key or issued.private_key
        if key is None:
            raise ValueError("the vault keeps keys it generated")
        institutions = self.institutions
        if self.renews is not None:  # registered where the old one was, noticed
            institutions = tx.registrations(issued.ca, self.renews)
            if tx.note_renewal(issued.ca, self.renews, at=at):
                tx.audit(AuditAction.CLOUD_RENEWAL_NOTICED, at=at, ca=issued.ca, serial=self.renews)
        payload = _payload(self.holder, key, issued.r)
        associated = _aad(self.user_id, issued.ca, issued.serial)
        tx.put_vault_record(VaultRecord(ca=issued.ca, serial=issued.serial,
                                        user_id=self.user_id,
                                        sealed=self.sealer.seal(payload,
                                                                associated=associated)))
        if self.recovery is not None and (self.renews is None or tx.recovery_copy(
                issued.ca, self.renews) is not None):
            tx.put_recovery_copy(issued.ca, issued.serial,
                                 self.recovery.seal_recovery(payload, associated=associated),
                                 at=at)
        for institution in institutions:
            tx.register_certificate(issued.ca, issued.serial, institution, at=at)
        tx.audit(AuditAction.CLOUD_KEY_SEALED, at=at, ca=issued.ca, serial=issued.serial,
                 detail={"user": self.user_id,
                         "replaces": None if self.renews is None else f"{self.renews:X}"})
        fault_point(f"{self.step}.sealed")

    def abort(self) -> None:
        """Nothing outside the transaction to undo."""

    def publish(self, store: Store, *, at: dt.datetime) -> None:
        """Nothing to put in place after the commit."""
        fault_point(f"{self.step}.committed")


def _purpose(value: Purpose | str) -> Purpose:
    if isinstance(value, Purpose):
        return value
    try:
        return Purpose.parse(value)
    except ValueError as exc:
        raise CloudRequestError(str(exc), field="purpose") from None


class Cloud:
    """The cloud keystore over one home's store (one instance per thread).

    ``boot`` names this process in the PIN reservations it makes (``pki.cloud.boot``);
    ``registrar`` registers users (:class:`pki.registration.Registrar` over the same store
    by default).
    """

    def __init__(self, authority: CertificateAuthority, vault: Vault, *,
                 boot: Boot | None = None, registrar: Registrar | None = None) -> None:
        self.authority = authority
        self.store: Store = authority.store
        self.vault = vault
        self.boot = boot or Boot(None)
        self.clock = authority.clock
        self.registrar = registrar or Registrar(self.store, clock=self.clock)
        self.gate = PinGate(self.store, self.clock, self.boot)

    # institutions ------------------------------------------------------------------------

    def add_institution(self, name: str) -> str:
        return add_institution(self.store, name, at=self.clock.now())

    def authenticate(self, api_key: str | None) -> Institution:
        return authenticate(self.store, api_key)

    # users ---------------------------------------------------------------------------------

    def register_user(self, institution: Institution, *, name: str, phone: str,
                      birth_date: str) -> str:
        """Start a registration (:meth:`pki.registration.Registrar.register`); returns the
        user id."""
        return self.registrar.register(institution, name=name, phone=phone,
                                       birth_date=birth_date).id

    def confirm(self, institution: Institution, user_id: str, code: str) -> None:
        """Confirm a registration with its code (:meth:`pki.registration.Registrar.confirm`)."""
        self.registrar.confirm(institution, user_id, code)

    def messages(self, institution: Institution, phone: str) -> tuple[Message, ...]:
        """The test channel: what was sent to ``phone`` because of ``institution``."""
        return self.registrar.messages(institution, phone)

    def _user_of(self, institution: Institution, user_id: str) -> CloudUser:
        """The user, if it registered with ``institution``; else exactly the answer for a
        user that does not exist."""
        user = self.store.cloud_user(user_id) if isinstance(user_id, str) else None
        if user is None or not self.store.related(user.id, institution.id):
            raise UnknownUserError()
        return user

    # certificates ----------------------------------------------------------------------------

    def issue(self, institution: Institution, user_id: str, *, rrn: str, pin: str,
              pin_confirm: str, kind: FinancialKind | str = FinancialKind.PERSONAL,
              joined: Callable[[Delivery], Delivery] | None = None,
              recovery: bool = False) -> IssuedCertificate:
        """Issue a financial certificate into the vault under a new PIN: the certificate,
        its sealed key, its registration at ``institution`` and their audit rows are one
        transaction. ``recovery``: keep a recovery copy of the key too (the institution
        resets PINs: :meth:`reset_pin`; :mod:`pki.cloud.vault` says what it costs).
        ``joined`` wraps the vault's delivery in one of the caller's that writes its own
        rows in that transaction (an issuance flow's last step,
        :class:`pki.ra.sessions.FinishingDelivery`) or vetoes the issuance by raising."""
        user = self._user_of(institution, user_id)
        if not user.confirmed:
            raise NotConfirmedError(user.id)
        try:
            holder = RRN.parse(rrn)
            financial_kind = FinancialKind(kind)
        except (PKIError, ValueError, TypeError):
            raise CloudRequestError("a valid rrn and kind (personal|business) are needed",
                                    field="rrn") from None
        if holder.birth_date != user.birth_date:
            raise CloudRequestError("the rrn does not match the registered birth date",
                                    field="rrn")
        check_pin(pin, confirm=pin_confirm, birth_date=user.birth_date)
        sealer = self.vault.sealer(pin)  # the KDF runs before the store's write lock
        delivery: Delivery = _IntoVault(sealer, user_id=user.id, holder=holder,
                                        institutions=(institution.id,), step="cloud.issue",
                                        recovery=self.vault if recovery else None)
        return self.authority.issue_financial(
            name=user.name, rrn=holder, kind=financial_kind,
            deliver=delivery if joined is None else joined(delivery))

    def _find(self, serial: int) -> tuple[CertificateRecord, VaultRecord] | None:
        records = self.store.find_certificates(serial, ca=self.authority.label)
        vault = self.store.vault_record(self.authority.label, serial)
        return None if not records or vault is None else (records[0], vault)

    def _certificate_of(self, institution: Institution, serial: int
                        ) -> tuple[CertificateRecord, VaultRecord]:
        """The certificate and its vault record, if registered at ``institution``; else
        exactly the answer for a certificate that does not exist."""
        found = self._find(serial)
        if found is None or not self.store.is_registered(self.authority.label, serial,
                                                         institution.id):
            raise CloudNotFoundError()
        return found

    def _unlock(self, vault: VaultRecord, pin: str) -> _Unlocked:
        """Open the key with ``pin`` behind the PIN gate (:mod:`pki.cloud.pin`)."""
        check_pin_format(pin)
        payload = self.gate.open(vault, lambda: self.vault.open(
            vault.sealed, pin, associated=_aad(vault.user_id, vault.ca, vault.serial)))
        holder = RRN.parse(payload[:13].decode())
        private_key, r = npki.decode_private_key_info(payload[13:])
        return _Unlocked(holder, private_key, r)

    def _check_usable(self, record: CertificateRecord) -> None:
        if record.status is CertStatus.REVOKED:
            raise CertificateUnusableError(serial=record.serial, state="revoked")
        if record.status is CertStatus.SUSPENDED:
            raise CertificateUnusableError(serial=record.serial, state="suspended")
        if record.is_expired(self.clock.now()):
            raise CertificateUnusableError(serial=record.serial, state="expired")

    def _successor(self, record: CertificateRecord
                   ) -> tuple[CertificateRecord, VaultRecord] | None:
        """The cloud certificate that renewed ``record``, if any."""
        for serial in reversed(self.store.renewals_of(self.authority.label, record.serial)):
            found = self._find(serial)
            if found is not None:
                return found
        return None

    def sign(self, institution: Institution, serial: int, *, pin: str, content: bytes,
             purpose: Purpose | str, device: str | None = None, detached: bool = False,
             bare: bool = False, pss: bool = False, include_r: bool = False,
             signed_attributes: bool = True) -> CloudSignature:
        """Sign ``content`` with the certificate's key, which never leaves the vault. A
        renewed certificate signs with its successor (``renewed_from`` in the result); one
        due for renewal is renewed first, the moment the PIN is there."""
        (made,) = self.sign_all(institution, serial, pin=pin, contents=(content,),
                                purpose=purpose, device=device, detached=detached, bare=bare,
                                pss=pss, include_r=include_r,
                                signed_attributes=signed_attributes)
        return made

    def sign_all(self, institution: Institution, serial: int, *, pin: str,
                 contents: Sequence[bytes], purpose: Purpose | str,
                 device: str | None = None, detached: bool = False, bare: bool = False,
                 pss: bool = False, include_r: bool = False,
                 signed_attributes: bool = True,
                 holder: RRN | None = None) -> tuple[CloudSignature, ...]:
        """:meth:`sign` each of ``contents`` (one or more) with the key opened once: one
        PIN check, one KDF run, whatever their number. ``holder``, when given, is the RRN
        a caller says is the holder's (the SDK's ``ssn``): checked against the
        certificate's VID under its R once the key is open and before anything is signed
        or renewed; a mismatch is :class:`SsnMismatchError`, recorded as that refusal."""
        purpose = _purpose(purpose)
        if not contents:
            raise CloudRequestError("nothing to sign: give at least one content",
                                    field="content")
        if any(len(content) > MAX_CONTENT_BYTES for content in contents):
            raise ContentTooLargeError(limit=MAX_CONTENT_BYTES)
        check_pin_format(pin)
        record, vault = self._certificate_of(institution, serial)
        user = self.store.cloud_user(vault.user_id)
        assert user is not None
        if not DeviceState(tuple(self.store.devices(user.id)), user.designated_only
                           ).allows(device):  # the rules of pki.devices
            self._history(user.id, institution, device, purpose, serial, "refused-device")
            raise DeviceNotDesignatedError(device=device)
        self._check_usable(record)
        renewed_from = None
        for _ in range(16):  # follow renewals made already
            successor = self._successor(record)
            if successor is None:
                break
            record, vault = successor
            renewed_from = serial
            self._check_usable(record)
        try:
            unlocked = self._unlock(vault, pin)
            certificate = record.certificate
            if holder is not None:
                data = identify_data_of(certificate)
                if data is None or unlocked.r is None or not vid_matches(data, holder,
                                                                          unlocked.r):
                    raise SsnMismatchError()
            if renewed_from is None and self.clock.now() >= record.not_after - RENEWAL_WINDOW:
                certificate, unlocked = self._renew(record, vault, unlocked, pin)
                renewed_from = serial
        except (RequestRefusedError, LifecycleError) as exc:
            outcome = exc.code if isinstance(exc, RequestRefusedError) else "refused"
            self._history(user.id, institution, device, purpose, record.serial, outcome)
            raise
        signer = KeySigner(certificate, unlocked.private_key, self.authority.chain)
        made = []
        for content in contents:
            document = sign(content, signer, detached=detached, content_info=not bare,
                            pss=pss, signed_attributes=signed_attributes, clock=self.clock)
            self._history(user.id, institution, device, purpose,
                          certificate.serial_number, "signed")
            made.append(CloudSignature(document.der, certificate,
                                       unlocked.r if include_r else None, renewed_from))
        return tuple(made)

    def _renew(self, record: CertificateRecord, vault: VaultRecord, unlocked: _Unlocked,
               pin: str) -> tuple[x509.Certificate, _Unlocked]:
        """Renew in the vault: a new key sealed under the same PIN and registered where the
        old one was, in the transaction that records the new certificate. If a parallel
        signature renewed it first (we waited for its transaction), use its successor."""
        ca = self.authority.label
        if not self.store.renewals_of(ca, record.serial):
            new_key = self.authority.key_generator.generate(2048)
            delivery = _IntoVault(self.vault.sealer(pin), user_id=vault.user_id,
                                  holder=unlocked.holder, private_key=new_key,
                                  renews=record.serial, step="cloud.renew",
                                  recovery=self.vault)
            try:
                renewed = self.authority.renew(record.serial, rrn=unlocked.holder,
                                               public_key=new_key.public_key(),
                                               deliver=delivery)
            except LifecycleError:
                if not self.store.renewals_of(ca, record.serial):
                    raise
            else:
                return renewed.certificate, _Unlocked(unlocked.holder, new_key, renewed.r)
        successor = self._successor(record)
        if successor is None:
            raise LifecycleError(f"certificate {record.serial:X} was renewed outside the "
                                 "cloud", serial=record.serial)
        new_record, new_vault = successor
        return new_record.certificate, self._unlock(new_vault, pin)

    def renew_due(self, *, institution: Institution | None = None) -> list[int]:
        """Record a renewal notice for every certificate within a month of expiry
        (:data:`RENEWAL_WINDOW`, 31 days) and send it to the holder's phone through the
        registrar's channel (the test channel shows it to the institution the holder
        registered with), once per certificate: the notice and its message are one
        transaction. The renewal itself happens at the next signature, the only moment
        the PIN is there. A scheduler (``kpki cloud renew-due``) or a test calls this on
        its clock. ``institution``: only the certificates registered there (what that
        institution's scheduler asks for; another's certificates are not its business)."""
        due = []
        now = self.clock.now()
        label = self.authority.label
        for profile in FINANCIAL_PROFILES.values():
            for record in self.store.list_certificates(ca=label, status=CertStatus.VALID,
                                                       profile=profile.name):
                if not record.not_after - RENEWAL_WINDOW <= now <= record.not_after:
                    continue
                if institution is not None and not self.store.is_registered(
                        label, record.serial, institution.id):
                    continue
                vault = self.store.vault_record(label, record.serial)
                if vault is not None:
                    with self.store.transaction() as tx:
                        if tx.note_renewal(label, record.serial, at=now):
                            tx.audit(AuditAction.CLOUD_RENEWAL_NOTICED, at=now, ca=label,
                                     serial=record.serial)
                            self._send_renewal_notice(tx, vault.user_id, record, now)
                    due.append(record.serial)
        return due

    def _send_renewal_notice(self, tx: StoreTransaction, user_id: str,
                             record: CertificateRecord, now: dt.datetime) -> None:
        user = tx.cloud_user(user_id)
        if user is None:
            return
        institution = (None if user.institution_id is None
                       else tx.institution(user.institution_id))
        name = institution.name if institution is not None else "kpki"
        expires = record.not_after.astimezone(KST).date().isoformat()
        self.registrar.channel.send(tx, Message(
            phone=user.phone, text=f"[{self.registrar.sender}] {name}: your financial "
                                   f"certificate {record.serial:X} expires on {expires}: "
                                   "it renews at its next use", at=now,
            institution_id=user.institution_id))

    def change_pin(self, institution: Institution, serial: int, *, old_pin: str, new_pin: str,
                   new_pin_confirm: str) -> None:
        record, vault = self._certificate_of(institution, serial)
        user = self.store.cloud_user(vault.user_id)
        assert user is not None
        self._check_usable(record)
        check_pin(new_pin, confirm=new_pin_confirm, birth_date=user.birth_date)
        unlocked = self._unlock(vault, old_pin)
        sealed = self.vault.seal(_payload(unlocked.holder, unlocked.private_key, unlocked.r),
                                 new_pin, associated=_aad(vault.user_id, record.ca, serial))
        now = self.clock.now()
        with self.store.transaction() as tx:
            current = tx.vault_record(record.ca, serial)
            if current is None or current.sealed != vault.sealed:  # changed meanwhile
                raise PinChangedError(serial=serial)
            tx.reseal(record.ca, serial, sealed)
            tx.audit(AuditAction.CLOUD_PIN_CHANGED, at=now, ca=record.ca, serial=serial,
                     detail={"institution": institution.name})
            tx.add_history(user.id, HistoryEntry(now, institution.name, None,
                                                 Purpose.AUTH_MANAGEMENT, serial,
                                                 "pin-changed"))

    def reset_pin(self, institution: Institution, serial: int, *, pin: str, pin_confirm: str,
                  within: Callable[[StoreTransaction], None] | None = None,
                  detail: Mapping[str, Any] | None = None) -> None:
        """Set a new PIN without the old one, from the key's recovery copy
        (:meth:`pki.cloud.vault.Vault.open_recovery`): the key re-sealed under ``pin``
        (the copy kept), its PIN failures and lock cleared, the same certificate kept, with
        an ``ra.pin.reset`` audit row (``detail`` added to it) and the holder's history,
        in one transaction; ``within`` runs in it (an issuance flow's last step, which has
        proved the person: this method does not). Raises :class:`CloudNotFoundError` (not
        registered at ``institution``), :class:`CertificateUnusableError`,
        :class:`PinPolicyError`, :class:`NoRecoveryCopyError` (issued where PINs are not
        reset: revoke and reissue) or :class:`SealedUnderOtherSecretError`.

        Fault point ``cloud.pin_reset.resealed``: the new sealed key and the cleared
        count written in the transaction, not committed."""
        record, vault = self._certificate_of(institution, serial)
        user = self.store.cloud_user(vault.user_id)
        assert user is not None
        self._check_usable(record)
        check_pin(pin, confirm=pin_confirm, birth_date=user.birth_date)
        copy = self.store.recovery_copy(record.ca, serial)
        if copy is None:
            raise NoRecoveryCopyError(serial=serial)
        associated = _aad(vault.user_id, record.ca, serial)
        try:
            payload = self.vault.open_recovery(copy, associated=associated)
        except VaultError:
            raise SealedUnderOtherSecretError(serial=serial) from None
        sealer = self.vault.sealer(pin)  # the KDF runs before the store's write lock
        now = self.clock.now()
        with self.store.transaction() as tx:
            before = tx.vault_record(record.ca, serial)
            assert before is not None
            tx.reseal(record.ca, serial, sealer.seal(payload, associated=associated))
            tx.set_pin_failures(record.ca, serial, 0, locked_at=None)
            tx.audit(AuditAction.RA_PIN_RESET, at=now, ca=record.ca, serial=serial,
                     detail={**(detail or {}), "institution": institution.name,
                             "failures": before.failures, "unlocked": before.locked})
            tx.add_history(user.id, HistoryEntry(now, institution.name, None,
                                                 Purpose.AUTH_MANAGEMENT, serial,
                                                 "pin-reset"))
            if within is not None:
                within(tx)
            fault_point("cloud.pin_reset.resealed")

    def register_certificate(self, institution: Institution, serial: int, *, pin: str,
                             user: str | None = None,
                             within: Callable[[StoreTransaction], None] | None = None) -> str:
        """The user registers the certificate with ``institution``; returns the owner's
        user id. An institution the owner has not registered with names ``user``: its own
        confirmed registration of the same person (name, phone, birth date), which took
        the code sent to the owner's phone. Then the PIN is checked as for a signature.
        ``within`` runs in the registration's transaction (an issuance flow's last step),
        after it: what it writes commits with the registration, and what it raises undoes
        it."""
        check_pin_format(pin)
        found = self._find(serial)
        if found is None:
            raise CloudNotFoundError()
        record, vault = found
        owner = self.store.cloud_user(vault.user_id)
        assert owner is not None
        if not self.store.related(owner.id, institution.id):
            mine = self.store.cloud_user(user) if isinstance(user, str) else None
            if (mine is None or mine.institution_id != institution.id or not mine.confirmed
                    or (mine.name, mine.phone, mine.birth_date)
                    != (owner.name, owner.phone, owner.birth_date)):
                raise CloudNotFoundError()
        self._check_usable(record)
        self._unlock(vault, pin)
        now = self.clock.now()
        with self.store.transaction() as tx:
            if tx.register_certificate(record.ca, serial, institution.id, at=now):
                tx.audit(AuditAction.CLOUD_REGISTERED, at=now, ca=record.ca, serial=serial,
                         detail={"institution": institution.name})
            tx.add_history(owner.id, HistoryEntry(now, institution.name, None,
                                                  Purpose.AUTH_MANAGEMENT, serial,
                                                  "registered"))
            if within is not None:
                within(tx)
        return owner.id

    def revoke(self, institution: Institution, serial: int,
               reason: RevocationReason = RevocationReason.UNSPECIFIED) -> None:
        """Revoke the certificate for ``reason`` (the vocabulary of ``kpki cert revoke``);
        recorded under purpose 08 (managing authentication means) in the owner's history,
        in the revocation's transaction. Raises :class:`pki.errors.AlreadyRevokedError` or
        :class:`pki.errors.CertificateExpiredError` as :func:`pki.lifecycle.revoke`."""
        record, vault = self._certificate_of(institution, serial)
        if not isinstance(reason, RevocationReason):
            raise CloudRequestError("reason is a RevocationReason", field="reason")
        now = self.clock.now()
        with self.store.transaction() as tx:
            lifecycle.revoke_in(tx, record.ca, serial, at=now, reason=reason.flag)
            tx.add_history(vault.user_id, HistoryEntry(now, institution.name, None,
                                                       Purpose.AUTH_MANAGEMENT, serial,
                                                       "revoked"))

    # devices and history -----------------------------------------------------------------

    def devices(self, institution: Institution, user_id: str) -> Devices:
        user = self._user_of(institution, user_id)
        return Devices(tuple(self.store.devices(user.id)), user.designated_only)

    def change_devices(self, institution: Institution, user_id: str, *,
                       add: str | None = None, remove: str | None = None,
                       designated_only: bool | None = None) -> Devices:
        """Turn designated-only on or off, add a device, remove one: what is asked, in
        one transaction, or nothing (a malformed device id, :class:`TooManyDevicesError`
        past :data:`MAX_DEVICES`: the cap of :mod:`pki.devices`). Returns the devices as
        they are then. (The bank's rule that the last device under designated-only is a
        branch's to remove is not the cloud's: it has no branch.)"""
        self._user_of(institution, user_id)
        if add is not None:
            try:
                check_device_id(add)
            except ValueError as exc:
                raise CloudRequestError(str(exc), field="device") from None
        now = self.clock.now()
        detail = {"user": user_id, "institution": institution.name}
        with self.store.transaction() as tx:
            if designated_only is not None:
                tx.set_designated_only(user_id, bool(designated_only))
                tx.audit(AuditAction.CLOUD_DEVICES_DESIGNATED_ONLY, at=now,
                         detail={**detail, "on": bool(designated_only)})
            devices = tx.devices(user_id)
            if add is not None and check_room(devices, add, limit=MAX_DEVICES):
                tx.add_device(user_id, add, at=now)
                tx.audit(AuditAction.CLOUD_DEVICE_ADDED, at=now, detail=detail)
            if remove is not None and tx.remove_device(user_id, remove):
                tx.audit(AuditAction.CLOUD_DEVICE_REMOVED, at=now, detail=detail)
            user = tx.cloud_user(user_id)
            assert user is not None
            return Devices(tuple(tx.devices(user_id)), user.designated_only)

    def add_device(self, institution: Institution, user_id: str, device: str) -> None:
        self.change_devices(institution, user_id, add=device)

    def history(self, institution: Institution, user_id: str) -> tuple[HistoryEntry, ...]:
        """The user's last twenty events, newest first."""
        self._user_of(institution, user_id)
        return tuple(self.store.history(user_id, 20))

    def _history(self, user_id: str, institution: Institution, device: str | None,
                 purpose: Purpose | None, serial: int, outcome: str) -> None:
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.add_history(user_id, HistoryEntry(now, institution.name, device, purpose,
                                                 serial, outcome))
