"""The cloud's operations, independent of HTTP (``pki.cloud.api`` puts them on the wire).

Every operation is called on behalf of an institution authenticated by its API key. Errors
are :class:`CloudError` with a stable ``code`` and an HTTP ``status``; nothing changes when
one is raised, except a verified wrong PIN or confirmation code, which is the point of
counting. The rules:

* **Isolation.** An institution acts on a user only if the user registered with it (it
  registered the user, or one of the user's certificates is registered there), and on a
  certificate only where that certificate is registered. Anything else gets exactly the
  answer for a user or certificate that does not exist, so a stranger cannot even learn
  that one exists. Registering a certificate at another institution takes the user's
  phone (that institution's own confirmed registration of the same person) and the PIN.
* **PINs.** Only a verified wrong PIN is charged. A check first reserves a place
  (``CloudSQL.reserve``: granted while failures plus checks in flight stay under five;
  else ``busy``, 429, not charged), then runs the KDF, then in one transaction charges a
  wrong PIN or clears the failures after a right one, and ends the reservation. A crash
  leaves only the reservation, which a later start (or the next busy refusal) sweeps
  (``pki.cloud.boot``); it is never charged. The fifth failure in a row locks the
  certificate for good (revoke and reissue, as the real service works).
* **The vault secret.** A key sealed under another secret is refused (``vault_secret``,
  503) and never charged as a wrong PIN.
* **Renewal on use** records the new certificate and seals its key in one transaction.
  Signatures racing it wait for the store's write lock, then sign with the new
  certificate; the old serial goes on signing with its successor.
* **Confirmation codes.** At most five guesses are ever compared (``CloudSQL.try_code``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import lifecycle
from ..authority import CertificateAuthority, IssuedCertificate
from ..errors import LifecycleError, PKIError, VaultError, WrongPasswordError
from ..faults import fault_point
from ..keys import npki
from ..names import check_holder_name
from ..profiles import Family, FinancialKind
from ..rrn import RRN
from ..signing.cms import PURPOSES, KeySigner, sign
from ..store import CertificateRecord, CertStatus
from ..store.sqlite.legacy_cloud import CloudSQL, CodeOutcome
from .boot import Boot
from .pin import PinPolicyError, check_pin
from .vault import Vault

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_DEVICES",
    "Cloud",
    "CloudError",
    "Institution",
    "add_institution",
]

MAX_ATTEMPTS = 5
MAX_DEVICES = 5
CODE_LIFETIME = dt.timedelta(minutes=3)
CODE_ATTEMPTS = 5
PHONE_CODE_ATTEMPTS = 10
"""Wrong codes an institution may send for one phone in :data:`PHONE_CODE_WINDOW`, over
all its registrations: a 2-digit code is 1 in 100, and without a bound across
registrations a fresh registration would be five fresh guesses."""
PHONE_CODE_WINDOW = dt.timedelta(days=1)
RENEWAL_WINDOW = dt.timedelta(days=31)
MAX_CONTENT_BYTES = 1024 * 1024


class CloudError(PKIError):
    """A refused cloud request: ``code`` is stable, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 400,
                 **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.extra = extra


def _unknown_user() -> CloudError:
    return CloudError("not_found", "unknown user", status=404)


def _unknown_certificate() -> CloudError:
    return CloudError("not_found", "no such certificate in the cloud", status=404)


def _code_limit() -> CloudError:
    return CloudError("code_limit", f"{PHONE_CODE_ATTEMPTS} wrong confirmation codes for this "
                      "phone today: try again tomorrow", status=429)


def _locked(message: str = "the certificate is locked after 5 wrong PINs: revoke and "
                           "reissue it") -> CloudError:
    return CloudError("pin_locked", message, status=423)


@dataclass(frozen=True)
class Institution:
    id: int
    name: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def add_institution(sql: CloudSQL, name: str, *, at: dt.datetime) -> str:
    """Register an institution; returns its API key (shown once, stored only hashed)."""
    if not isinstance(name, str) or not name or len(name) > 64 or not name.isprintable():
        raise CloudError("bad_request", "an institution name is 1-64 printable characters")
    api_key = "kpki_" + secrets.token_urlsafe(24)
    sql.add_institution(name, _hash(api_key), at)
    return api_key


@dataclass(frozen=True)
class _Unlocked:
    """A key opened for one operation: the holder's RRN, the key and its R."""

    holder: RRN
    private_key: rsa.RSAPrivateKey
    r: bytes | None


class Cloud:
    """The cloud keystore over one home's store (one instance per thread).

    ``boot`` names this process in the PIN reservations it makes (``pki.cloud.boot``).
    """

    def __init__(self, authority: CertificateAuthority, sql: CloudSQL, vault: Vault, *,
                 boot: Boot | None = None) -> None:
        self.authority = authority
        self.sql = sql
        self.vault = vault
        self.boot = boot or Boot(None)
        self.clock = authority.clock
        self.store = authority._store

    # institutions ------------------------------------------------------------------------

    def add_institution(self, name: str) -> str:
        return add_institution(self.sql, name, at=self.clock.now())

    def authenticate(self, api_key: str | None) -> Institution:
        if not api_key:
            raise CloudError("unauthorized", "an API key is needed (X-API-Key)", status=401)
        found = self.sql.institution_by_key(_hash(api_key))
        if found is None:
            raise CloudError("unauthorized", "unknown API key", status=401)
        return Institution(*found)

    # users ---------------------------------------------------------------------------------

    def register_user(self, institution: Institution, *, name: str, phone: str,
                      birth_date: str) -> str:
        """Start a registration; a 2-digit code goes to ``phone`` through the channel."""
        try:
            check_holder_name(name)
            born = dt.date.fromisoformat(birth_date)
        except (PKIError, ValueError, TypeError):
            raise CloudError("bad_request", "name and birth_date (YYYY-MM-DD) are needed") \
                from None
        digits = phone.replace("-", "") if isinstance(phone, str) else ""
        if not (digits.isascii() and digits.isdigit() and 9 <= len(digits) <= 11):
            raise CloudError("bad_request", "phone is 9 to 11 digits")
        now = self.clock.now()
        if self.sql.wrong_codes(digits, institution.id,
                                now - PHONE_CODE_WINDOW) >= PHONE_CODE_ATTEMPTS:
            raise _code_limit()
        user_id = "u_" + secrets.token_hex(8)
        code = f"{secrets.randbelow(100):02d}"
        self.sql.add_user(user_id, name, digits, born.isoformat(), now,
                          _hash(user_id + code), now + CODE_LIFETIME,
                          f"[kpki cloud] {institution.name}: confirmation code {code}",
                          institution.id)
        return user_id

    def confirm(self, institution: Institution, user_id: str, code: str) -> None:
        """Confirm a registration with its code; at most five guesses are ever compared."""
        user = self._user_of(institution, user_id)
        if user["institution_id"] != institution.id:
            raise _unknown_user()  # only the registering institution sent a code
        if user["confirmed"]:
            return
        candidate = _hash(user_id + code) if isinstance(code, str) else ""
        now = self.clock.now()
        outcome, left = self.sql.try_code(
            user_id, lambda stored: hmac.compare_digest(stored, candidate), now,
            CODE_ATTEMPTS, phone_limit=PHONE_CODE_ATTEMPTS, since=now - PHONE_CODE_WINDOW)
        if outcome is CodeOutcome.PHONE_LIMIT:
            raise _code_limit()
        if outcome is CodeOutcome.NONE_PENDING:
            raise CloudError("code_invalid", "no confirmation is pending", status=409)
        if outcome is CodeOutcome.EXHAUSTED:
            raise CloudError("code_invalid", "too many wrong codes: register again", status=409)
        if outcome is CodeOutcome.EXPIRED:
            raise CloudError("code_expired", "the confirmation code has expired", status=410)
        if outcome is CodeOutcome.WRONG:
            raise CloudError("code_invalid", "wrong confirmation code", status=400,
                             attempts_left=left)

    def _user_of(self, institution: Institution, user_id: str) -> dict[str, Any]:
        """The user, if it registered with ``institution``; else exactly the answer for a
        user that does not exist."""
        user = self.sql.user(user_id) if isinstance(user_id, str) else None
        if user is None or not self.sql.related(user_id, institution.id):
            raise _unknown_user()
        return user

    # certificates ----------------------------------------------------------------------------

    def issue(self, institution: Institution, user_id: str, *, rrn: str, pin: str,
              pin_confirm: str, kind: str = "personal") -> IssuedCertificate:
        """Issue a financial certificate into the vault under a new PIN: the certificate is
        recorded and its key sealed in one transaction."""
        user = self._user_of(institution, user_id)
        if not user["confirmed"]:
            raise CloudError("not_confirmed", "the registration is not confirmed", status=409)
        try:
            holder = RRN.parse(rrn)
            financial_kind = FinancialKind(kind)
        except (PKIError, ValueError, TypeError):
            raise CloudError("bad_request", "a valid rrn and kind (personal|business) are "
                             "needed") from None
        born = dt.date.fromisoformat(user["birth_date"])
        if holder.birth_date != born:
            raise CloudError("bad_request", "the rrn does not match the registered birth date")
        self._check_new_pin(pin, pin_confirm, born)
        sealer = self.vault.sealer(pin)  # the KDF runs before the store's write lock
        now = self.clock.now()

        def deliver(issued: IssuedCertificate) -> None:
            assert issued.private_key is not None
            sealed = sealer.seal(self._payload(holder, issued.private_key, issued.r),
                                 associated=self._aad(user_id, issued.ca, issued.serial))
            self.sql.put_key_in_transaction(issued.ca, format(issued.serial, "X"), user_id,
                                            sealed, [institution.id], now)
            fault_point("cloud.issue.sealed")

        return self.authority.issue_financial(name=user["name"], rrn=holder,
                                              kind=financial_kind, deliver=deliver)

    def _check_new_pin(self, pin: str, confirm: str, born: dt.date) -> None:
        try:
            check_pin(pin, confirm=confirm, birth_date=born)
        except PinPolicyError as exc:
            raise CloudError("pin_policy", str(exc), rule=exc.rule) from None

    @staticmethod
    def _check_pin_format(pin: str) -> None:
        if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
            raise CloudError("bad_request", "a PIN is 6 digits")

    @staticmethod
    def _aad(user_id: str, ca: str, serial: int) -> bytes:
        return f"kpki-cloud-v1|{user_id}|{ca}|{serial:X}".encode()

    @staticmethod
    def _payload(holder: RRN, private_key: rsa.RSAPrivateKey, r: bytes | None) -> bytes:
        return holder.digits.encode() + npki.encode_private_key_info(private_key, r)

    def _find(self, serial: int) -> tuple[CertificateRecord, dict[str, Any]] | None:
        records = self.store.find_certificates(serial, ca=self.authority.label)
        key = self.sql.key(self.authority.label, format(serial, "X"))
        return None if not records or key is None else (records[0], key)

    def _certificate_of(self, institution: Institution, serial: int
                        ) -> tuple[CertificateRecord, dict[str, Any]]:
        """The certificate and its vault record, if registered at ``institution``; else
        exactly the answer for a certificate that does not exist."""
        found = self._find(serial)
        if found is None or not self.sql.registered(self.authority.label, format(serial, "X"),
                                                    institution.id):
            raise _unknown_certificate()
        return found

    def _unlock(self, serial: int, key: dict[str, Any], pin: str) -> _Unlocked:
        """Open the key with ``pin`` behind the PIN gate (see the module doc)."""
        ca, serial_hex = self.authority.label, format(serial, "X")
        self._check_pin_format(pin)
        reservation = self._reserve(ca, serial_hex)
        fault_point("cloud.pin.reserved")
        verified = charged = False
        try:
            try:
                payload = self.vault.open(key["sealed"], pin,
                                          associated=self._aad(key["user_id"], ca, serial))
            except WrongPasswordError:
                failures, locked = self.sql.charge(reservation, ca, serial_hex,
                                                   self.clock.now(), MAX_ATTEMPTS)
                charged = True
                if locked:
                    raise _locked("wrong PIN; the certificate is now locked: revoke and "
                                  "reissue it") from None
                raise CloudError("wrong_pin", "wrong PIN", status=401,
                                 attempts_left=MAX_ATTEMPTS - failures) from None
            except VaultError:
                raise CloudError("vault_secret", "this key was sealed under another vault "
                                 "secret: the operator must restore it", status=503) from None
            verified = True
            fault_point("cloud.pin.verified")
        finally:
            if not charged:
                self.sql.release(reservation, ca, serial_hex, self.clock.now(),
                                 verified=verified)
        holder = RRN.parse(payload[:13].decode())
        private_key, r = npki._decode_private_key_info(payload[13:])
        return _Unlocked(holder, private_key, r)

    def _reserve(self, ca: str, serial_hex: str) -> int:
        for first in (True, False):
            gate = self.sql.reserve(ca, serial_hex, self.boot.id, self.clock.now(),
                                    MAX_ATTEMPTS)
            if gate is None:
                raise _unknown_certificate()
            if gate.reservation is not None:
                return gate.reservation
            if gate.locked:
                raise _locked()
            if not (first and self.sql.sweep_reservations(self.boot.alive, ca=ca,
                                                          serial=serial_hex)):
                break
        raise CloudError("busy", "too many PIN checks of this certificate are in flight: "
                         "try again", status=429)

    def _check_usable(self, record: CertificateRecord) -> None:
        if record.status is CertStatus.REVOKED:
            raise CloudError("revoked", "the certificate is revoked", status=409)
        if record.status is CertStatus.SUSPENDED:
            raise CloudError("suspended", "the certificate is suspended", status=409)
        if record.is_expired(self.clock.now()):
            raise CloudError("expired", "the certificate has expired", status=409)

    def _successor(self, record: CertificateRecord
                   ) -> tuple[CertificateRecord, dict[str, Any]] | None:
        """The cloud certificate that renewed ``record``, if any."""
        for serial in reversed(self.store.renewals_of(self.authority.label, record.serial)):
            found = self._find(serial)
            if found is not None:
                return found
        return None

    def sign(self, institution: Institution, serial: int, *, pin: str, content: bytes,
             purpose: str, device: str | None = None, detached: bool = False,
             bare: bool = False, pss: bool = False, include_r: bool = False,
             signed_attributes: bool = True) -> dict[str, Any]:
        """Sign ``content`` with the certificate's key, which never leaves the vault. A
        renewed certificate signs with its successor (``renewed_from`` in the result); one
        due for renewal is renewed first, the moment the PIN is there."""
        if purpose not in PURPOSES:
            raise CloudError("bad_request", f"purpose is one of {', '.join(PURPOSES)}")
        if len(content) > MAX_CONTENT_BYTES:
            raise CloudError("too_large", "the content is larger than 1 MiB", status=413)
        self._check_pin_format(pin)
        record, key = self._certificate_of(institution, serial)
        user = self.sql.user(key["user_id"])
        assert user is not None
        if user["designated_only"] and device not in self.sql.devices(user["id"]):
            self._history(user["id"], institution, device, purpose, serial, "refused-device")
            raise CloudError("device_not_designated", "signing is allowed from designated "
                             "devices only", status=403)
        self._check_usable(record)
        renewed_from = None
        for _ in range(16):  # follow renewals made already
            successor = self._successor(record)
            if successor is None:
                break
            record, key = successor
            renewed_from = serial
            self._check_usable(record)
        try:
            unlocked = self._unlock(record.serial, key, pin)
            certificate = record.certificate
            if renewed_from is None and self.clock.now() >= record.not_after - RENEWAL_WINDOW:
                certificate, unlocked = self._renew(record, key, unlocked, pin)
                renewed_from = serial
        except CloudError as exc:
            self._history(user["id"], institution, device, purpose, record.serial, exc.code)
            raise
        signer = KeySigner(certificate, unlocked.private_key, self.authority.chain)
        document = sign(content, signer, detached=detached, content_info=not bare, pss=pss,
                        signed_attributes=signed_attributes, clock=self.clock)
        self._history(user["id"], institution, device, purpose, certificate.serial_number,
                      "signed")
        result: dict[str, Any] = {"signature": document.der, "serial": certificate.serial_number,
                                  "certificate": certificate.public_bytes(
                                      serialization.Encoding.DER)}
        if include_r:
            result["r"] = unlocked.r
        if renewed_from is not None:
            result["renewed_from"] = renewed_from
        return result

    def _renew(self, record: CertificateRecord, key: dict[str, Any], unlocked: _Unlocked,
               pin: str) -> tuple[x509.Certificate, _Unlocked]:
        """Renew in the vault: a new key sealed under the same PIN and registered where the
        old one was, in the transaction that records the new certificate. If a parallel
        signature renewed it first (we waited for its transaction), use its successor."""
        ca, old_hex, now = self.authority.label, format(record.serial, "X"), self.clock.now()
        self.sql.note_renewal(ca, old_hex, now)
        if not self.store.renewals_of(ca, record.serial):
            new_key = self.authority.key_generator.generate(2048)
            sealer = self.vault.sealer(pin)

            def deliver(issued: IssuedCertificate) -> None:
                sealed = sealer.seal(self._payload(unlocked.holder, new_key, issued.r),
                                     associated=self._aad(key["user_id"], ca, issued.serial))
                self.sql.put_key_in_transaction(ca, format(issued.serial, "X"),
                                                key["user_id"], sealed,
                                                self.sql.registrations(ca, old_hex), now,
                                                replaces=old_hex)
                fault_point("cloud.renew.sealed")

            try:
                renewed = self.authority.renew(record.serial, rrn=unlocked.holder,
                                               public_key=new_key.public_key(),
                                               deliver=deliver)
            except LifecycleError as exc:
                if not self.store.renewals_of(ca, record.serial):
                    raise CloudError("refused", str(exc), status=409) from None
            else:
                fault_point("cloud.renew.committed")
                return renewed.certificate, _Unlocked(unlocked.holder, new_key, renewed.r)
        successor = self._successor(record)
        if successor is None:
            raise CloudError("refused", f"certificate {old_hex} was renewed outside the cloud",
                             status=409)
        new_record, new_key_row = successor
        return new_record.certificate, self._unlock(new_record.serial, new_key_row, pin)

    def renew_due(self) -> list[int]:
        """Record a renewal notice for every certificate within a month of expiry; the
        renewal itself happens at the next signature, the only moment the PIN is there."""
        due = []
        now = self.clock.now()
        for record in self.store.list_certificates(ca=self.authority.label,
                                                   status=CertStatus.VALID):
            serial_hex = format(record.serial, "X")
            if (record.profile.startswith(Family.FINANCIAL.value)
                    and record.not_after - RENEWAL_WINDOW <= now <= record.not_after
                    and self.sql.key(self.authority.label, serial_hex)):
                self.sql.note_renewal(self.authority.label, serial_hex, now)
                due.append(record.serial)
        return due

    def change_pin(self, institution: Institution, serial: int, *, old_pin: str, new_pin: str,
                   new_pin_confirm: str) -> None:
        record, key = self._certificate_of(institution, serial)
        user = self.sql.user(key["user_id"])
        assert user is not None
        self._check_usable(record)
        self._check_new_pin(new_pin, new_pin_confirm,
                            dt.date.fromisoformat(user["birth_date"]))
        unlocked = self._unlock(serial, key, old_pin)
        sealed = self.vault.seal(self._payload(unlocked.holder, unlocked.private_key,
                                               unlocked.r), new_pin,
                                 associated=self._aad(key["user_id"], record.ca, serial))
        self.sql.replace_key(record.ca, format(serial, "X"), sealed, self.clock.now(),
                             institution.name)
        self._history(user["id"], institution, None, "08", serial, "pin-changed")

    def register_certificate(self, institution: Institution, serial: int, *, pin: str,
                             user: str | None = None) -> str:
        """The user registers the certificate with ``institution``; returns the owner's
        user id. An institution the owner has not registered with names ``user``: its own
        confirmed registration of the same person (name, phone, birth date), which took
        the code sent to the owner's phone. Then the PIN is checked as for a signature."""
        self._check_pin_format(pin)
        found = self._find(serial)
        if found is None:
            raise _unknown_certificate()
        record, key = found
        owner = self.sql.user(key["user_id"])
        assert owner is not None
        if not self.sql.related(owner["id"], institution.id):
            mine = self.sql.user(user) if isinstance(user, str) else None
            if (mine is None or mine["institution_id"] != institution.id
                    or not mine["confirmed"]
                    or (mine["name"], mine["phone"], mine["birth_date"])
                    != (owner["name"], owner["phone"], owner["birth_date"])):
                raise _unknown_certificate()
        self._check_usable(record)
        self._unlock(serial, key, pin)
        self.sql.register(record.ca, format(serial, "X"), institution.id, self.clock.now(),
                          institution.name)
        self._history(owner["id"], institution, None, "08", serial, "registered")
        return str(owner["id"])

    def revoke(self, institution: Institution, serial: int,
               reason: x509.ReasonFlags = x509.ReasonFlags.unspecified) -> None:
        record, key = self._certificate_of(institution, serial)
        if reason in (x509.ReasonFlags.certificate_hold, x509.ReasonFlags.remove_from_crl):
            raise CloudError("bad_request", f"{reason.value} is not a revocation reason")
        try:
            lifecycle.revoke(self.store, serial, at=self.clock.now(), ca=record.ca,
                             reason=reason)
        except PKIError as exc:
            raise CloudError("revoked", str(exc), status=409) from None
        self._history(key["user_id"], institution, None, "06", serial, "revoked")

    # devices and history -----------------------------------------------------------------

    def devices(self, institution: Institution, user_id: str) -> dict[str, Any]:
        user = self._user_of(institution, user_id)
        return {"devices": self.sql.devices(user_id), "designated_only": user["designated_only"]}

    def add_device(self, institution: Institution, user_id: str, device: str) -> None:
        self._user_of(institution, user_id)
        if not isinstance(device, str) or not 1 <= len(device) <= 64 or not device.isprintable():
            raise CloudError("bad_request", "a device id is 1-64 printable characters")
        if not self.sql.add_device(user_id, device, self.clock.now(), MAX_DEVICES,
                                   institution.name):
            raise CloudError("too_many_devices", f"at most {MAX_DEVICES} designated devices",
                             status=409)

    def remove_device(self, institution: Institution, user_id: str, device: str) -> None:
        self._user_of(institution, user_id)
        self.sql.remove_device(user_id, device, self.clock.now(), institution.name)

    def set_designated_only(self, institution: Institution, user_id: str, on: bool) -> None:
        self._user_of(institution, user_id)
        self.sql.set_designated_only(user_id, bool(on), self.clock.now(), institution.name)

    def history(self, institution: Institution, user_id: str) -> list[dict[str, Any]]:
        self._user_of(institution, user_id)
        return self.sql.history(user_id, 20)

    def messages(self, institution: Institution, phone: str) -> list[dict[str, str]]:
        """The test channel: what was sent to ``phone`` because of ``institution``."""
        return self.sql.messages(phone, institution.id)

    def _history(self, user_id: str, institution: Institution, device: str | None,
                 purpose: str | None, serial: int, outcome: str) -> None:
        self.sql.add_history(user_id, self.clock.now(), institution.name, device, purpose,
                             format(serial, "X"), outcome)
