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

from .authority import CertificateAuthority, IssuedCertificate
from .errors import ProfileError
from .fsutil import PRIVATE_DIR_MODE, ensure_writable_dir
from .keys.devicekeystore import BiometricStandIn, DeviceKeystore, check_simple_pin
from .lifecycle import find_certificate
from .profiles import PRIVATE_PROFILE
from .rrn import RRN

__all__ = ["enrol_device"]


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
