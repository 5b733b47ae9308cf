"""Putting a private certificate on a device: issue it and seal its key into the device's
keystore (:mod:`pki.keys.devicekeystore`), one device per person.

**One device per person.** A private certificate lives on one phone. Enrolling a second
device *retires the first*: the new device gets a reissued certificate (a new key, the old
notAfter, :meth:`CertificateAuthority.reissue`) and the first device's certificate is
revoked as superseded in the same transaction. The first device's keystore still opens with
its PIN, but what it signs fails every verifier's revocation check. The caller names the
certificate being replaced (``replaces``): the store does not index holders by RRN (it never
keeps R), so the registration authority, which identified the person, knows which one it is.

**Crash-safe enrolment.** The device makes its key *and R* (the VID's random number) and
seals both under the PIN as the keystore's pending enrolment
(:meth:`pki.keys.devicekeystore.DeviceKeystore.begin`) *before* the CSR and R leave it; the
CA puts that R in the certificate's VID. Only then is the certificate asked for, and
:meth:`DeviceEnrolment.finish` attaches it when it comes back. A crash after the RA
committed (the certificate issued, the old one revoked) but before the answer reached the
device leaves the pending key in the keystore: :meth:`DeviceEnrolment.resume` opens it with
the PIN, and the certificate is fetched again from the RA (the session shows it) and
attached. Whatever the crash point, a live certificate's key and R are on the device, or no
certificate was issued. R stays in the keystore with the key (it is the holder's, as R in
an NPKI ``signPri.key``): a renewal or a simple-authentication registration reads it from
there under the PIN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .authority import SUBSCRIBER_KEY_BITS, CertificateAuthority, IssuedCertificate
from .cloud.pin import check_pin
from .devices import check_device_id
from .entropy import Entropy, SystemEntropy
from .errors import KeyMismatchError, ProfileError
from .faults import fault_point
from .fsutil import PRIVATE_DIR_MODE, ensure_writable_dir
from .keys.devicekeystore import BiometricStandIn, DeviceKeystore, PendingKey, check_simple_pin
from .keys.generate import KeyGenerator, RSAKeyGenerator
from .lifecycle import find_certificate
from .profiles import PRIVATE_PROFILE
from .rrn import RRN
from .store import CARecord
from .vid import R_LENGTH

__all__ = ["DeviceEnrolment", "enrol_device", "private_ca_label", "renewal_request"]


def private_ca_label(cas: Sequence[CARecord]) -> str | None:
    """The first CA whose style issues private certificates, or None."""
    return next((r.label for r in cas
                 if not r.is_root and r.style in PRIVATE_PROFILE.policy_oids), None)


def renewal_request(serial: int) -> str:
    """The pending-enrolment name of a renewal of certificate ``serial`` (a session's id
    names an issuance's)."""
    return f"renewal of {serial:X}"


@dataclass
class DeviceEnrolment:
    """The device's side of an issuance at the bank (:mod:`pki.ra.private`): the simple
    PIN chosen and entered twice (the cloud's PIN rules, :func:`pki.cloud.pin.check_pin`),
    the key and R made *on the device* and sealed there under the PIN as a pending
    enrolment for ``request`` (:meth:`begin`) before the CSR and R are sent, and the
    certificate that comes back attached (:meth:`finish`). After a crash, :meth:`resume`
    opens the pending key again (see the module doc). The key never leaves this object but
    into the keystore; drop it after :meth:`finish`."""

    keystore: DeviceKeystore
    pending: PendingKey = field(repr=False)

    @classmethod
    def begin(cls, keystore: DeviceKeystore, *, device: str, pin: str, pin_again: str,
              request: str, birth_date: dt.date | None = None,
              key_generator: KeyGenerator | None = None,
              entropy: Entropy | None = None) -> DeviceEnrolment:
        """Check the PIN (:class:`pki.errors.PinPolicyError`, ``rule``), the device id
        (``ValueError``) and that the keystore's folder can be written
        (:class:`pki.errors.OutputError`), then make the key and R and seal them as the
        keystore's pending enrolment for ``request`` (replacing an earlier pending one)."""
        check_pin(pin, confirm=pin_again, birth_date=birth_date)
        check_device_id(device)
        ensure_writable_dir(keystore.folder, mode=PRIVATE_DIR_MODE)
        key = (key_generator or RSAKeyGenerator()).generate(SUBSCRIBER_KEY_BITS)
        r = (entropy or SystemEntropy()).token_bytes(R_LENGTH)
        keystore.begin(key, r, pin=pin, device=device, request=request)
        return cls(keystore, PendingKey(key, r, request, device))

    @classmethod
    def resume(cls, keystore: DeviceKeystore, *, pin: str, request: str
               ) -> DeviceEnrolment | None:
        """The enrolment pending in ``keystore`` for ``request``, opened with ``pin``
        (counted as an unlock), or None when none is pending for it."""
        pending = keystore.pending()
        if pending is None or pending.request != request:
            return None
        return cls(keystore, keystore.open_pending(pin))

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return self.pending.private_key

    @property
    def r(self) -> bytes:
        """R, which the CA puts in the certificate's VID (sent with the CSR)."""
        return self.pending.r

    @property
    def device(self) -> str:
        return self.pending.device

    def csr(self) -> bytes:
        """The CSR (DER) of the device's key; the CA names the subject, not the CSR."""
        return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
                .sign(self.private_key, hashes.SHA256())
                .public_bytes(serialization.Encoding.DER))

    def finish(self, certificate: x509.Certificate, *,
               biometric: BiometricStandIn | None = None) -> None:
        """Attach ``certificate`` to the pending key. Raises :class:`KeyMismatchError`
        when the certificate is not of this key."""
        if certificate.public_key() != self.private_key.public_key():
            raise KeyMismatchError("the certificate is not of the key made on this device")
        fault_point("private.device.finish")
        self.keystore.attach(certificate, request=self.pending.request,
                             biometric=None if biometric is None
                             else (biometric, self.pending))


def enrol_device(authority: CertificateAuthority, keystore: DeviceKeystore, *, name: str,
                 rrn: RRN | str, pin: str, device: str, replaces: int | None = None,
                 biometric: BiometricStandIn | None = None) -> IssuedCertificate:
    """Issue ``name``'s private certificate onto ``device`` and seal its key and R under
    ``pin`` (and the test-only ``biometric``) in ``keystore``: the key and R are sealed
    as pending before the certificate is issued (the module doc). With ``replaces``, the
    certificate on the person's earlier device is revoked (superseded) as the new one is
    issued.

    Raises ``ValueError`` for a PIN that is not six digits and :class:`OutputError` for a
    folder that cannot be written (both before anything is issued),
    :class:`ProfileError` when ``replaces`` is not a private certificate, and what
    issuance and reissue raise (:class:`AlreadyRevokedError`, ...)."""
    check_simple_pin(pin)  # before anything is issued
    ensure_writable_dir(keystore.folder, mode=PRIVATE_DIR_MODE)  # before anything is issued
    if replaces is not None:
        old = find_certificate(authority.store, replaces, ca=authority.label)
        if old.profile != PRIVATE_PROFILE.name:
            raise ProfileError(f"certificate {replaces:X} is not a private certificate",
                               profile=old.profile)
    key = authority.key_generator.generate(SUBSCRIBER_KEY_BITS)
    r = authority.entropy.token_bytes(R_LENGTH)
    request = "enrolment" if replaces is None else renewal_request(replaces)
    keystore.begin(key, r, pin=pin, device=device, request=request)
    if replaces is None:
        issued = authority.issue(PRIVATE_PROFILE, name=name, rrn=rrn,
                                  public_key=key.public_key(), r=r)
    else:
        issued = authority.reissue(replaces, rrn=rrn, public_key=key.public_key(), r=r)
    keystore.attach(issued.certificate, request=request, biometric=None if biometric is None
                    else (biometric, PendingKey(key, r, request, device)))
    return replace(issued, private_key=key)
