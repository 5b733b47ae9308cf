"""The person's side of simple authentication: the provider's app on the phone.

kpki plays the phone with a device folder (:mod:`pki.keys.devicekeystore`): the private
certificate's key sealed under the 6-digit PIN, and beside it ``simpleauth-apps.json``
(0600, temp file + rename) holding the device token each provider gave at registration.
:class:`DeviceApp` makes what the app sends: the registration proof and an approval, each
a CMS SignedData (:func:`pki.signing.sign`: attached, with signed attributes, in a
ContentInfo) made *on the device* with the key the PIN (or the test-only biometric
stand-in) opened. Wrong PINs are the keystore's to count: 5 lock it for good, and a locked
app can only report ``pin_locked`` to the provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import Clock, SystemClock
from ..errors import DeviceKeystoreError, SimpleAuthAppError
from ..fsutil import atomic_write
from ..keys.devicekeystore import BiometricStandIn, DeviceKeystore, UnlockedKey
from ..signing.cms import KeySigner, sign
from .content import Approval, Registration
from .providers import provider
from .service import PendingRequest

__all__ = ["APPS_FILE", "DeviceApp", "RegistrationProof"]

APPS_FILE = "simpleauth-apps.json"
_FORMAT = "kpki-simpleauth-apps-v1"


@dataclass(frozen=True)
class RegistrationProof:
    """What the app sends to register: ``cms``, the signed registration, and ``r``, the
    certificate's R from the keystore, with which the provider checks the RRN against the
    certificate's VID (:meth:`pki.simpleauth.SimpleAuth.register`). R travels beside the
    CMS, in the registration request, and never inside it: the CMS carries the certificate,
    and R with the certificate lets anyone who holds them test RRN guesses, so a CMS with R
    in it would be that pair for as long as anyone kept it."""

    cms: bytes
    r: bytes = field(repr=False)


class DeviceApp:
    """The simple-authentication apps of one device folder (see the module doc)."""

    def __init__(self, folder: Path, *, keystore: DeviceKeystore | None = None,
                 clock: Clock | None = None) -> None:
        self.folder = Path(folder)
        self.keystore = keystore or DeviceKeystore(self.folder)
        self.clock: Clock = clock or SystemClock()
        self.path = self.folder / APPS_FILE

    # -- the device tokens ----------------------------------------------------------------

    def tokens(self) -> dict[int, str]:
        """The device token of each provider this device is registered at."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise DeviceKeystoreError(f"cannot read the apps file: {exc.strerror}",
                                      path=str(self.path)) from None
        try:
            data = json.loads(raw)
            apps = data["apps"] if data.get("format") == _FORMAT else None
            if not isinstance(apps, dict):
                raise ValueError
            return {int(code): str(token) for code, token in apps.items()}
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
            raise DeviceKeystoreError("not a simple-authentication apps file",
                                      path=str(self.path)) from None

    def token(self, code: int | str) -> str:
        """The device token for provider ``code``; :class:`SimpleAuthAppError` when this
        device has no app there."""
        found = self.tokens().get(provider(code).code)
        if found is None:
            raise SimpleAuthAppError
        return found

    def save_token(self, code: int | str, token: str) -> None:
        """Keep the token provider ``code`` gave (0600; replaces an earlier one)."""
        apps = {str(k): v for k, v in self.tokens().items()}
        apps[str(provider(code).code)] = token
        atomic_write(self.path, json.dumps({"format": _FORMAT, "apps": apps},
                                           indent=1).encode() + b"\n", mode=0o600)

    def ci(self, code: int | str) -> str:
        """The person's CI, as the provider's token names it."""
        import base64

        person = self.token(code).split(".")[1]
        return base64.urlsafe_b64decode(person + "=" * (-len(person) % 4)).decode()

    # -- what the app signs ---------------------------------------------------------------

    def registration_proof(self, code: int | str, *, name: str, phone: str,
                           pin: str | None = None,
                           biometric: BiometricStandIn | None = None) -> RegistrationProof:
        """The proof that registers this device's certificate at provider ``code`` for
        ``name`` at ``phone`` (the phone as the provider keeps it: digits only), signed
        with the key ``pin`` (or ``biometric``) opens, and the R kept with it. Raises what
        the keystore raises (:class:`pki.errors.DeviceWrongPinError`,
        :class:`pki.errors.DeviceLockedError`)."""
        from ..registration import normalize_phone

        content = Registration(provider(code).code, name, normalize_phone(phone),
                               self.clock.now()).content()
        unlocked = self._unlock(pin=pin, biometric=biometric)
        return RegistrationProof(self._sign(content, unlocked), unlocked.r)

    def approval(self, request: PendingRequest, *, pin: str | None = None,
                 biometric: BiometricStandIn | None = None) -> bytes:
        """The person approves ``request``: the approval signed with the key ``pin`` (or
        ``biometric``) opens (the keystore counts wrong PINs)."""
        content = Approval(request=request.id, provider=request.provider,
                           nonce=request.nonce, ci=self.ci(request.provider),
                           approved_at=self.clock.now()).content()
        return self._sign(content, self._unlock(pin=pin, biometric=biometric))

    def _unlock(self, *, pin: str | None, biometric: BiometricStandIn | None
                ) -> UnlockedKey:
        if (pin is None) == (biometric is None):
            raise ValueError("approve with the PIN or the biometric stand-in (one of them)")
        unlocked: UnlockedKey
        if pin is not None:
            unlocked = self.keystore.unlock(pin)
        else:
            assert biometric is not None
            unlocked = self.keystore.unlock_biometric(biometric)
        return unlocked

    def _sign(self, content: bytes, unlocked: UnlockedKey) -> bytes:
        key = unlocked.private_key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DeviceKeystoreError("the keystore holds no RSA key", path=str(self.path))
        signer = KeySigner(unlocked.certificate, key)
        return sign(content, signer, clock=self.clock).der
