"""Simple authentication (issue 15 item 4) assembled for a home: what ``kpki simpleauth``,
``/simpleauth/v1`` in ``kpki serve`` and :class:`pki.testing.TestPKI` call.

**The secrets.** The CI is phone verification's (:class:`pki.usecases.banking.Banking`'s
phone channel, keyed under the home's vault secret), so a person has the same CI from
every provider and from phone verification; the apps' device tokens are keyed under
another secret derived from the same vault secret (:func:`pki.usecases.banking.bank_secret`).

**An app on a device** (:func:`register_app`): the device folder's private certificate
(enrolled first with :func:`pki.private.enrol_device` when the folder has none: one
device per person) signs the registration proof with the PIN, the provider registers it,
the device keeps the token.
"""

from __future__ import annotations

import hashlib
import hmac

from ..authority import CertificateAuthority
from ..errors import NotFoundError
from ..home import Home
from ..keys.devicekeystore import BiometricStandIn, DeviceKeystore
from ..private import enrol_device
from ..rrn import RRN
from ..signing.verify import Verifier
from ..simpleauth import AppRegistration, DeviceApp, SimpleAuth, SimpleAuthSettings
from ..store import Institution, Store
from .banking import Banking, bank_secret

__all__ = ["institution_named", "register_app", "simple_auth_of_home"]

_LABEL = b"kpki-simpleauth-v1"


def simple_auth_of_home(home: Home, *, settings: SimpleAuthSettings | None = None,
                        create_secret: bool = True) -> SimpleAuth:
    """Simple authentication over ``home``'s store, on its clock and entropy, its apps'
    signatures verified against the home's roots and revocation records. Raises
    :class:`pki.errors.VaultError` for a missing or unusable vault secret."""
    secret = bank_secret(home, create=create_secret)
    banking = Banking(home.store, clock=home.clock, secret=secret, entropy=home.entropy)
    return SimpleAuth(home.store, clock=home.clock, ci=banking.phone.ci,
                      secret=hmac.new(secret, _LABEL, hashlib.sha256).digest(),
                      verifier=lambda: Verifier.for_home(home), entropy=home.entropy,
                      settings=settings)


def register_app(service: SimpleAuth, keystore: DeviceKeystore, code: int | str, *, name: str,
                 rrn: RRN | str, phone: str, pin: str | None = None,
                 biometric: BiometricStandIn | None = None,
                 authority: CertificateAuthority | None = None,
                 device: str | None = None) -> AppRegistration:
    """Register the device of ``keystore`` at provider ``code`` for ``name``: with
    ``authority``, a private certificate is first enrolled onto a folder that has none
    (``pin`` seals it, ``device`` names the phone); then the device signs the registration
    proof (``pin`` or ``biometric``), the provider registers it and the device keeps the
    token. Raises what enrolment, the keystore and :meth:`SimpleAuth.register` raise."""
    if authority is not None and not keystore.path.exists():
        if pin is None:
            raise ValueError("a new device is enrolled with its PIN")
        enrol_device(authority, keystore, name=name, rrn=rrn, pin=pin,
                     device=device or f"phone-{keystore.folder.name}", biometric=biometric)
    app = DeviceApp(keystore.folder, keystore=keystore, clock=service.clock)
    proof = app.registration_proof(code, name=name, phone=phone, pin=pin,
                                   biometric=None if pin is not None else biometric)
    registered = service.register(code, name=name, rrn=rrn, phone=phone, proof=proof.cms,
                                  r=proof.r)
    app.save_token(code, registered.token)
    return registered


def institution_named(store: Store, name: str) -> Institution:
    """The institution called ``name`` (a relying party); :class:`NotFoundError` if none."""
    for found in store.institutions():
        if found.name == name:
            return found
    raise NotFoundError(f"no institution named {name!r}: 'kpki cloud institution add' adds "
                        "one")
