"""Putting a private certificate on a device: issue it and seal its key into the device's
keystore (:mod:`pki.keys.devicekeystore`), one device per person.

**One device per person.** A private certificate lives on one phone. Enrolling a second
device *retires the first*: the new device gets a reissued certificate (a new key, the old
notAfter, :meth:`CertificateAuthority.reissue`) and the first device's certificate is
revoked as superseded in the same transaction. The first device's keystore still opens with
its PIN, but what it signs fails every verifier's revocation check. The caller names the
certificate being replaced (``replaces``): the store does not index holders by RRN (it never
keeps R), so the registration authority, which identified the person, knows which one it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .authority import SUBSCRIBER_KEY_BITS, CertificateAuthority, IssuedCertificate
from .cloud.pin import check_pin
from .devices import check_device_id
from .errors import KeyMismatchError, ProfileError
from .fsutil import PRIVATE_DIR_MODE, ensure_writable_dir
from .keys.devicekeystore import BiometricStandIn, DeviceKeystore, check_simple_pin
from .keys.generate import KeyGenerator, RSAKeyGenerator
from .lifecycle import find_certificate
from .profiles import PRIVATE_PROFILE
from .rrn import RRN
from .store import CARecord

__all__ = ["DeviceEnrolment", "enrol_device", "private_ca_label"]


def private_ca_label(cas: Sequence[CARecord]) -> str | None:
    """The first CA whose style issues private certificates, or None."""
    return next((r.label for r in cas
                 if not r.is_root and r.style in PRIVATE_PROFILE.policy_oids), None)


@dataclass
class DeviceEnrolment:
    """The device's side of an issuance at the bank (:mod:`pki.ra.private`): the simple
    PIN chosen and entered twice (the cloud's PIN rules, :func:`pki.cloud.pin.check_pin`),
    the key made *on the device*, its CSR sent, and the certificate that comes back sealed
    with the key into the device keystore (:meth:`finish`). The key and the PIN never
    leave this object but into the keystore; drop it after :meth:`finish`."""

    keystore: DeviceKeystore
    device: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    pin: str = field(repr=False)

    @classmethod
    def begin(cls, keystore: DeviceKeystore, *, device: str, pin: str, pin_again: str,
              birth_date: dt.date | None = None,
              key_generator: KeyGenerator | None = None) -> DeviceEnrolment:
        """Check the PIN (:class:`pki.errors.PinPolicyError`, ``rule``), the device id
        (``ValueError``) and that the keystore's folder can be written
        (:class:`pki.errors.OutputError`), then make the key."""
        check_pin(pin, confirm=pin_again, birth_date=birth_date)
        check_device_id(device)
        ensure_writable_dir(keystore.folder, mode=PRIVATE_DIR_MODE)
        key = (key_generator or RSAKeyGenerator()).generate(SUBSCRIBER_KEY_BITS)
        return cls(keystore, device, key, pin)

    def csr(self) -> bytes:
        """The CSR (DER) of the device's key; the CA names the subject, not the CSR."""
        return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
                .sign(self.private_key, hashes.SHA256())
                .public_bytes(serialization.Encoding.DER))

    def finish(self, certificate: x509.Certificate, *,
               biometric: BiometricStandIn | None = None) -> None:
        """Seal the key and ``certificate`` into the keystore under the PIN. Raises
        :class:`KeyMismatchError` when the certificate is not of this key."""
        if certificate.public_key() != self.private_key.public_key():
            raise KeyMismatchError("the certificate is not of the key made on this device")
        self.keystore.enrol(self.private_key, certificate, pin=self.pin, device=self.device,
                            biometric=biometric)


def enrol_device(authority: CertificateAuthority, keystore: DeviceKeystore, *, name: str,
                 rrn: RRN | str, pin: str, device: str, replaces: int | None = None,
                 biometric: BiometricStandIn | None = None) -> IssuedCertificate:
    """Issue ``name``'s private certificate onto ``device`` and seal its key under ``pin``
    (and the test-only ``biometric``) in ``keystore``. With ``replaces``, the certificate
    on the person's earlier device is revoked (superseded) as the new one is issued.

    Raises ``ValueError`` for a PIN that is not six digits and :class:`OutputError` for a
    folder that cannot be written (both before anything is issued),
    :class:`ProfileError` when ``replaces`` is not a private certificate, and what
    issuance and reissue raise (:class:`AlreadyRevokedError`, ...)."""
    check_simple_pin(pin)  # before anything is issued
    ensure_writable_dir(keystore.folder, mode=PRIVATE_DIR_MODE)  # before anything is issued
    if replaces is None:
        issued = authority.issue_private(name=name, rrn=rrn)
    else:
        old = find_certificate(authority.store, replaces, ca=authority.label)
        if old.profile != PRIVATE_PROFILE.name:
            raise ProfileError(f"certificate {replaces:X} is not a private certificate",
                               profile=old.profile)
        issued = authority.reissue(replaces, rrn=rrn)
    key = issued.private_key
    if key is None:  # pragma: no cover - no CSR was given, so kpki generated the key
        raise ProfileError("issuance returned no key", profile=PRIVATE_PROFILE.name)
    keystore.enrol(key, issued.certificate, pin=pin, device=device,
                   biometric=biometric)
    return issued
