"""The cloud's operations, independent of HTTP (``pki.cloud.api`` puts them on the wire).

Every operation is called on behalf of an institution authenticated by its API key. Errors
are :class:`CloudError` with a stable ``code`` and an HTTP ``status``; nothing changes when
one is raised, except a counted PIN attempt, which is the point of counting.

PIN attempts are counted *before* the PIN is checked, in one transaction
(``CloudSQL.gate``), so any number of parallel wrong guesses is stopped at five; a right
PIN resets the count; the fifth wrong one locks the certificate for good (revoke and
reissue, as the real service works).
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
from ..errors import PKIError, WrongPasswordError
from ..keys import npki
from ..names import check_holder_name
from ..profiles import Family, FinancialKind
from ..rrn import RRN
from ..signing.cms import PURPOSES, KeySigner, sign
from ..store import CertStatus
from ..store.cloudsql import CloudSQL
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


class Cloud:
    """The cloud keystore over one home's store (one instance per thread)."""

    def __init__(self, authority: CertificateAuthority, sql: CloudSQL, vault: Vault) -> None:
        self.authority = authority
        self.sql = sql
        self.vault = vault
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
        user_id = "u_" + secrets.token_hex(8)
        code = f"{secrets.randbelow(100):02d}"
        now = self.clock.now()
        self.sql.add_user(user_id, name, digits, born.isoformat(), now,
                          _hash(user_id + code), now + CODE_LIFETIME,
                          f"[kpki cloud] {institution.name}: confirmation code {code}")
        return user_id

    def confirm(self, institution: Institution, user_id: str, code: str) -> None:
        user = self._user(user_id)
        if user["confirmed"]:
            return
        stored = self.sql.code(user_id)
        if stored is None:
            raise CloudError("code_invalid", "no confirmation is pending", status=409)
        code_hash, expires, attempts = stored
        if attempts >= CODE_ATTEMPTS:
            raise CloudError("code_invalid", "too many wrong codes: register again", status=409)
        if self.clock.now() > dt.datetime.fromisoformat(expires):
            raise CloudError("code_expired", "the confirmation code has expired", status=410)
        if not isinstance(code, str) or not hmac.compare_digest(code_hash,
                                                                _hash(user_id + code)):
            self.sql.code_attempt(user_id)
            raise CloudError("code_invalid", "wrong confirmation code", status=400)
        self.sql.confirm_user(user_id, self.clock.now())

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.sql.user(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise CloudError("not_found", "unknown user", status=404)
        return user

    # certificates ----------------------------------------------------------------------------

    def issue(self, institution: Institution, user_id: str, *, rrn: str, pin: str,
              pin_confirm: str, kind: str = "personal") -> IssuedCertificate:
        """Issue a financial certificate into the vault under a new PIN."""
        user = self._user(user_id)
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
        issued = self.authority.issue_financial(name=user["name"], rrn=holder,
                                                kind=financial_kind)
        self._store_key(issued, user_id, holder, pin, institution.id)
        return issued

    def _check_new_pin(self, pin: str, confirm: str, born: dt.date) -> None:
        try:
            check_pin(pin, confirm=confirm, birth_date=born)
        except PinPolicyError as exc:
            raise CloudError("pin_policy", str(exc), rule=exc.rule) from None

    @staticmethod
    def _aad(user_id: str, ca: str, serial: int) -> bytes:
        return f"kpki-cloud-v1|{user_id}|{ca}|{serial:X}".encode()

    def _store_key(self, issued: IssuedCertificate, user_id: str, holder: RRN, pin: str,
                   institution_id: int | None) -> None:
        assert issued.private_key is not None
        payload = holder.digits.encode() + npki.encode_private_key_info(issued.private_key,
                                                                        issued.r)
        sealed = self.vault.seal(payload, pin,
                                 associated=self._aad(user_id, issued.ca, issued.serial))
        self.sql.put_key(issued.ca, format(issued.serial, "X"), user_id, sealed,
                         institution_id, self.clock.now())

    def _certificate(self, serial: int) -> tuple[Any, dict[str, Any]]:
        records = self.store.find_certificates(serial, ca=self.authority.label)
        key = self.sql.key(self.authority.label, format(serial, "X"))
        if not records or key is None:
            raise CloudError("not_found", "no such certificate in the cloud", status=404)
        return records[0], key

    def _unlock(self, serial: int, key: dict[str, Any], pin: str
                ) -> tuple[RRN, rsa.RSAPrivateKey, bytes | None]:
        ca, serial_hex = self.authority.label, format(serial, "X")
        if not isinstance(pin, str) or len(pin) != 6 or not pin.isdigit():
            raise CloudError("bad_request", "a PIN is 6 digits")
        if key["locked"]:
            raise CloudError("pin_locked", "the certificate is locked after 5 wrong PINs: "
                             "revoke and reissue it", status=423)
        attempt = self.sql.gate(ca, serial_hex, MAX_ATTEMPTS)
        if attempt is None:
            self.sql.attempt_failed(ca, serial_hex, MAX_ATTEMPTS, self.clock.now())
            raise CloudError("pin_locked", "the certificate is locked after 5 wrong PINs: "
                             "revoke and reissue it", status=423)
        try:
            payload = self.vault.open(key["sealed"], pin,
                                      associated=self._aad(key["user_id"], ca, serial))
        except WrongPasswordError:
            self.sql.attempt_failed(ca, serial_hex, MAX_ATTEMPTS, self.clock.now())
            left = MAX_ATTEMPTS - attempt
            if left <= 0:
                raise CloudError("pin_locked", "wrong PIN; the certificate is now locked",
                                 status=423) from None
            raise CloudError("wrong_pin", "wrong PIN", status=401, attempts_left=left) \
                from None
        self.sql.attempt_succeeded(ca, serial_hex)
        holder = RRN.parse(payload[:13].decode())
        private_key, r = npki._decode_private_key_info(payload[13:])
        return holder, private_key, r

    def _check_usable(self, record: Any) -> None:
        if record.status is CertStatus.REVOKED:
            raise CloudError("revoked", "the certificate is revoked", status=409)
        if record.status is CertStatus.SUSPENDED:
            raise CloudError("suspended", "the certificate is suspended", status=409)
        if record.is_expired(self.clock.now()):
            raise CloudError("expired", "the certificate has expired", status=409)

    def sign(self, institution: Institution, serial: int, *, pin: str, content: bytes,
             purpose: str, device: str | None = None, detached: bool = False,
             bare: bool = False, pss: bool = False, include_r: bool = False,
             signed_attributes: bool = True) -> dict[str, Any]:
        """Sign ``content`` with the certificate's key, which never leaves the vault."""
        if purpose not in PURPOSES:
            raise CloudError("bad_request", f"purpose is one of {', '.join(PURPOSES)}")
        if len(content) > MAX_CONTENT_BYTES:
            raise CloudError("too_large", "the content is larger than 1 MiB", status=413)
        record, key = self._certificate(serial)
        user = self._user(key["user_id"])
        if not self.sql.registered(self.authority.label, format(serial, "X"), institution.id):
            raise CloudError("not_registered", "the user has not registered this certificate "
                             "with your institution", status=403)
        if user["designated_only"] and device not in self.sql.devices(user["id"]):
            self._history(user["id"], institution, device, purpose, serial, "refused-device")
            raise CloudError("device_not_designated", "signing is allowed from designated "
                             "devices only", status=403)
        self._check_usable(record)
        try:
            holder, private_key, r = self._unlock(serial, key, pin)
        except CloudError as exc:
            self._history(user["id"], institution, device, purpose, serial, exc.code)
            raise
        certificate = record.certificate
        renewed = None
        if self.clock.now() >= record.not_after - RENEWAL_WINDOW:
            self.sql.note_renewal(self.authority.label, format(serial, "X"), self.clock.now())
            renewed = self._renew(record, key["user_id"], holder, pin)
            assert renewed.private_key is not None
            certificate, private_key, r = (renewed.certificate, renewed.private_key,
                                           renewed.r)
        signer = KeySigner(certificate, private_key, self.authority.chain)
        document = sign(content, signer, detached=detached, content_info=not bare, pss=pss,
                        signed_attributes=signed_attributes, clock=self.clock)
        self._history(user["id"], institution, device, purpose, certificate.serial_number,
                      "signed")
        result: dict[str, Any] = {"signature": document.der, "serial": certificate.serial_number,
                                  "certificate": certificate.public_bytes(
                                      serialization.Encoding.DER)}
        if include_r:
            result["r"] = r
        if renewed is not None:
            result["renewed_from"] = serial
        return result

    def _renew(self, record: Any, user_id: str, holder: RRN, pin: str) -> IssuedCertificate:
        """Renew in the vault: new key under the same PIN, the same registrations."""
        new_key = self.authority.key_generator.generate(2048)
        renewed = self.authority.renew(record.serial, rrn=holder,
                                       public_key=new_key.public_key())
        renewed = IssuedCertificate(renewed.certificate, new_key, renewed.r, renewed.profile,
                                    renewed.ca, renewed.chain)
        old_hex = format(record.serial, "X")
        self._store_key(renewed, user_id, holder, pin, institution_id=None)
        for institution_id in self.sql.registrations(self.authority.label, old_hex):
            self.sql.register(self.authority.label, format(renewed.serial, "X"),
                              institution_id, self.clock.now())
        return renewed

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
        record, key = self._certificate(serial)
        user = self._user(key["user_id"])
        self._check_usable(record)
        self._check_new_pin(new_pin, new_pin_confirm,
                            dt.date.fromisoformat(user["birth_date"]))
        holder, private_key, r = self._unlock(serial, key, old_pin)
        payload = holder.digits.encode() + npki.encode_private_key_info(private_key, r)
        sealed = self.vault.seal(payload, new_pin,
                                 associated=self._aad(key["user_id"], record.ca, serial))
        self.sql.replace_key(record.ca, format(serial, "X"), sealed)
        self._history(user["id"], institution, None, "08", serial, "pin-changed")

    def register_certificate(self, institution: Institution, serial: int, *, pin: str) -> None:
        """The user registers the certificate with ``institution`` (PIN required)."""
        record, key = self._certificate(serial)
        self._check_usable(record)
        self._unlock(serial, key, pin)
        self.sql.register(record.ca, format(serial, "X"), institution.id, self.clock.now())
        self._history(key["user_id"], institution, None, "08", serial, "registered")

    def revoke(self, institution: Institution, serial: int,
               reason: x509.ReasonFlags = x509.ReasonFlags.unspecified) -> None:
        record, key = self._certificate(serial)
        if not self.sql.registered(record.ca, format(serial, "X"), institution.id):
            raise CloudError("not_registered", "not registered with your institution",
                             status=403)
        try:
            lifecycle.revoke(self.store, serial, at=self.clock.now(), ca=record.ca,
                             reason=reason)
        except PKIError as exc:
            raise CloudError("revoked", str(exc), status=409) from None
        self._history(key["user_id"], institution, None, "06", serial, "revoked")

    # devices and history -----------------------------------------------------------------

    def devices(self, user_id: str) -> dict[str, Any]:
        user = self._user(user_id)
        return {"devices": self.sql.devices(user_id), "designated_only": user["designated_only"]}

    def add_device(self, user_id: str, device: str) -> None:
        self._user(user_id)
        if not isinstance(device, str) or not 1 <= len(device) <= 64 or not device.isprintable():
            raise CloudError("bad_request", "a device id is 1-64 printable characters")
        if not self.sql.add_device(user_id, device, self.clock.now(), MAX_DEVICES):
            raise CloudError("too_many_devices", f"at most {MAX_DEVICES} designated devices",
                             status=409)

    def remove_device(self, user_id: str, device: str) -> None:
        self._user(user_id)
        self.sql.remove_device(user_id, device)

    def set_designated_only(self, user_id: str, on: bool) -> None:
        self._user(user_id)
        self.sql.set_designated_only(user_id, bool(on))

    def history(self, user_id: str) -> list[dict[str, Any]]:
        self._user(user_id)
        return self.sql.history(user_id, 20)

    def _history(self, user_id: str, institution: Institution, device: str | None,
                 purpose: str | None, serial: int, outcome: str) -> None:
        self.sql.add_history(user_id, self.clock.now(), institution.name, device, purpose,
                             format(serial, "X"), outcome)
