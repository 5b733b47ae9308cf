"""The device keystore of a private certificate: the key kept on the holder's phone.

A private certificate (KB-style mobile certificate) is unlocked on its device by a 6-digit
simple PIN, or by the phone's biometrics. kpki plays the device with one software keystore
file per device folder, ``private-keystore.json`` (0600, in a 0700 folder, written by temp
file + rename), holding:

- the certificate, the device id and the counters, in clear;
- the private key (PKCS #8) **and R** (the VID's random number: the holder's, as R in an
  NPKI ``signPri.key``; the CA's store never keeps it) sealed together with AES-256-GCM
  under ``scrypt(PIN, salt)`` (the parameters in the file, parsed with bounds), with the
  format and device id as associated data so a sealed entry cannot be moved to another
  device's file; an unlocked key must also be the certificate's. Neither the key nor R is
  ever written in clear; the PIN is never stored;
- optionally the same sealed again under a :class:`BiometricStandIn`'s secret. **Tests
  only**: a real phone keeps that secret in its secure element and releases it after a
  fingerprint; the stand-in keeps it in memory and releases it when ``approves`` is true;
- **a pending enrolment** (:meth:`DeviceKeystore.begin`): a new key and R sealed under the
  PIN *before* their CSR leaves the device, with the request they belong to (the RA
  session, or the renewal) and the public key in clear. :meth:`DeviceKeystore.attach` makes
  it the keystore's certificate once the certificate comes back. A crash anywhere between
  therefore never leaves a certificate whose key exists nowhere: the device still holds the
  pending key and finishes from the RA's answer fetched again (:mod:`pki.private`). The
  current certificate stays usable while an enrolment is pending (a renewal signs with it).

**Wrong PINs.** The keystore counts them in the file (one counter for the current and the
pending entry) and locks at ``max_attempts`` (a setting, 5 by default) wrong PINs in a row;
a locked keystore opens to no PIN (and no biometric): the device must be enrolled again
with a new certificate (:meth:`DeviceKeystore.begin` on a locked keystore drops the locked
entry). Checks hold an exclusive lock (``flock`` on ``.private-keystore.lock``) from
reading the counter to writing it back, so parallel callers are counted exactly. Unlike the
cloud's gate, the attempt is *charged before* the KDF runs and refunded after a right PIN:
the device's holder controls the process, and killing it between a wrong guess and its
charge must not give a free guess (smart cards decrement their retry counter first for the
same reason). A crash mid-check therefore leaves one charge, which the next right PIN
clears.

Software keystores share one limit: whoever copies the file copies its counter too. The
counter stops guessing through kpki, not an attacker holding a copy of the file; the
scrypt cost is what slows that one down.

**One device per person** is the issuer's rule, not the file's: enrolling a second device
issues a new private certificate and revokes the first (reason superseded), so the first
device's keystore still opens but signs with a revoked certificate
(:func:`pki.private.enrol_device`).

The format is ``kpki-device-keystore-v2`` (R and the pending entry); v1 files, written
before R was kept, are not read (nothing had been released): enrol such a device again.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import overload

from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import (
    BiometricDeclinedError,
    DeviceKeystoreError,
    DeviceLockedError,
    DeviceWrongPinError,
    KeyMismatchError,
)
from ..faults import fault_point
from ..fsutil import PRIVATE_DIR_MODE, atomic_write, make_dirs
from .scrypt import ScryptParams

__all__ = ["FILE_NAME", "MAX_ATTEMPTS", "BiometricStandIn", "DeviceKeystore",
           "KeystoreSettings", "KeystoreStatus", "PendingEnrolment", "PendingKey",
           "ScryptParams", "UnlockedKey", "check_simple_pin"]

FILE_NAME = "private-keystore.json"
LOCK_NAME = ".private-keystore.lock"
FORMAT = "kpki-device-keystore-v2"
MAX_ATTEMPTS = 5
_FIELDS = frozenset({"format", "failures", "locked", "current", "pending"})
_CURRENT = frozenset({"device", "serial", "certificate", "kdf", "salt", "nonce", "sealed",
                      "biometric"})
_PENDING = frozenset({"device", "request", "public_key", "kdf", "salt", "nonce", "sealed"})


@dataclass(frozen=True)
class KeystoreSettings:
    max_attempts: int = MAX_ATTEMPTS
    """Wrong PINs in a row that lock the keystore for good."""
    kdf: ScryptParams = field(default_factory=ScryptParams)
    """The KDF cost for keystores written from now on (each file names its own)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 100:
            raise ValueError(f"max_attempts must be 1..100, not {self.max_attempts}")


@dataclass(frozen=True)
class BiometricStandIn:
    """**Test-only** stand-in for a phone's biometric unlock: ``secret`` plays the key a
    secure element would release after a fingerprint; ``approves`` decides whether it does.
    Never use it to protect a real key: the secret is plain memory."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    approves: bool = True

    def declined(self) -> BiometricStandIn:
        """The same finger, refused (the user looked away)."""
        return replace(self, approves=False)


@dataclass(frozen=True)
class KeystoreStatus:
    device: str
    serial: int
    failures: int
    locked: bool
    biometric: bool
    """Whether a biometric unlock was enrolled."""


@dataclass(frozen=True)
class PendingEnrolment:
    """A key sealed on the device whose certificate has not come back yet (what the file
    shows without the PIN)."""

    device: str
    request: str
    """What it was sent for: the RA session's id, or a renewal's name (:mod:`pki.private`)."""
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class UnlockedKey:
    """What an unlock yields: the key, its certificate and R. Use it and drop it."""

    private_key: PrivateKeyTypes = field(repr=False)
    certificate: x509.Certificate
    r: bytes = field(repr=False)


@dataclass(frozen=True)
class PendingKey:
    """A pending enrolment opened with the PIN: the key and R it was sealed with."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    r: bytes = field(repr=False)
    request: str
    device: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, *, path: str) -> bytes:
    if not isinstance(text, str):
        raise DeviceKeystoreError("not a device keystore", path=path)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise DeviceKeystoreError("not a device keystore", path=path) from None


def _plain(private_key: PrivateKeyTypes, r: bytes) -> bytes:
    """What is sealed: the key (PKCS #8, DER) and R, as a small JSON object."""
    der = private_key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return json.dumps({"key": _b64(der), "r": _b64(r)}).encode()


class DeviceKeystore:
    """The keystore file of one device folder (see the module doc)."""

    def __init__(self, folder: Path, *, settings: KeystoreSettings | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / FILE_NAME
        self.settings = settings or KeystoreSettings()

    # -- writing ---------------------------------------------------------------------------

    def begin(self, private_key: rsa.RSAPrivateKey, r: bytes, *, pin: str, device: str,
              request: str) -> None:
        """Seal a new ``private_key`` and its ``r`` under ``pin`` as this folder's pending
        enrolment for ``request``, replacing any pending one (a locked keystore's entry
        goes too: it can never open again). The current certificate stays. Raises
        ``ValueError`` for a PIN that is not six digits,
        :class:`pki.errors.OutputError` if the folder cannot be written."""
        check_simple_pin(pin)
        if not isinstance(r, bytes) or not r:
            raise ValueError("R is bytes")
        pending: dict[str, object] = {
            "device": device, "request": request,
            "public_key": private_key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
            **self._seal(_plain(private_key, r), pin, device)}
        make_dirs(self.folder, mode=PRIVATE_DIR_MODE)
        with self._locked():
            record = self._read(missing_ok=True)
            if record is None or self._is_locked(record):
                record = {"format": FORMAT, "failures": 0, "locked": False,
                          "current": None, "pending": None}
            self._write({**record, "pending": pending})
        fault_point("device.keystore.pending")

    def attach(self, certificate: x509.Certificate, *, request: str | None = None,
               biometric: tuple[BiometricStandIn, PendingKey] | None = None) -> None:
        """Make the pending enrolment the keystore's certificate: ``certificate`` must be
        of the pending key (and for ``request``, when given). The sealed entry moves as it
        is (no PIN needed); the counter starts again. ``biometric`` (the test-only
        stand-in and the pending key, which the caller still holds) seals it for the
        finger too.
        Raises :class:`pki.errors.KeyMismatchError` for another key's certificate,
        :class:`DeviceKeystoreError` when nothing (or another request) is pending."""
        with self._locked():
            record = self._need(self._read())
            pending = record["pending"]
            if not isinstance(pending, dict) or (request is not None
                                                 and pending["request"] != request):
                raise DeviceKeystoreError("no enrolment pending here for that request",
                                          path=str(self.path))
            if certificate.public_key() != self._public_key(pending):
                raise KeyMismatchError("the certificate is not of the key pending on "
                                       "this device")
            current: dict[str, object] = {
                "device": pending["device"], "serial": certificate.serial_number,
                "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
                "kdf": pending["kdf"], "salt": pending["salt"], "nonce": pending["nonce"],
                "sealed": pending["sealed"], "biometric": None}
            if biometric is not None:
                finger, opened = biometric
                if opened.private_key.public_key() != certificate.public_key():
                    raise KeyMismatchError("the biometric copy is not of this certificate")
                bio_nonce = secrets.token_bytes(12)
                current["biometric"] = {
                    "nonce": _b64(bio_nonce),
                    "sealed": _b64(AESGCM(finger.secret).encrypt(
                        bio_nonce, _plain(opened.private_key, opened.r),
                        self._associated(str(pending["device"]))))}
            self._write({"format": FORMAT, "failures": 0, "locked": False,
                         "current": current, "pending": None})

    def enrol(self, private_key: rsa.RSAPrivateKey, certificate: x509.Certificate, *,
              pin: str, device: str, r: bytes,
              biometric: BiometricStandIn | None = None) -> None:
        """Seal ``private_key`` and ``r`` under ``pin`` with ``certificate`` into this
        folder at once (:meth:`begin` then :meth:`attach`), replacing what was there."""
        request = f"certificate {certificate.serial_number:X}"
        self.begin(private_key, r, pin=pin, device=device, request=request)
        self.attach(certificate, request=request, biometric=None if biometric is None
                    else (biometric, PendingKey(private_key, r, request, device)))

    # -- reading ---------------------------------------------------------------------------

    def status(self) -> KeystoreStatus:
        record = self._read()
        current = self._current(record)
        return KeystoreStatus(device=str(current["device"]), serial=_int(current, "serial"),
                              failures=_int(record, "failures"),
                              locked=self._is_locked(record),
                              biometric=current["biometric"] is not None)

    def pending(self) -> PendingEnrolment | None:
        """The pending enrolment, if there is one (no PIN needed: nothing secret)."""
        record = self._read(missing_ok=True)
        if record is None or not isinstance(record["pending"], dict):
            return None
        pending = record["pending"]
        return PendingEnrolment(str(pending["device"]), str(pending["request"]),
                                self._public_key(pending))

    def unlock(self, pin: str) -> UnlockedKey:
        """The key, its certificate and R, opened with ``pin``. A wrong PIN is counted
        before this returns: :class:`DeviceWrongPinError` (``attempts_left``), or
        :class:`DeviceLockedError` for the one that reaches the limit and for every try
        after it; :class:`DeviceKeystoreError` for a missing or damaged file."""
        plain, record = self._unlock(pin, "current")
        return self._unlocked(plain, self._current(record))

    def open_pending(self, pin: str) -> PendingKey:
        """The pending key and R, opened with ``pin`` (counted as :meth:`unlock` counts);
        :class:`DeviceKeystoreError` when nothing is pending."""
        plain, record = self._unlock(pin, "pending")
        pending = record["pending"]
        assert isinstance(pending, dict)
        key, r = self._key_and_r(plain)
        if not isinstance(key, rsa.RSAPrivateKey) or key.public_key() != self._public_key(
                pending):
            raise DeviceKeystoreError("the pending entry holds no usable key",
                                      path=str(self.path))
        return PendingKey(key, r, str(pending["request"]), str(pending["device"]))

    def unlock_biometric(self, biometric: BiometricStandIn) -> UnlockedKey:
        """The key, released by the **test-only** biometric stand-in. Nothing is counted;
        raises :class:`BiometricDeclinedError` when it declines or was not enrolled here,
        :class:`DeviceLockedError` when wrong PINs locked the keystore."""
        with self._locked():
            record = self._read()
            current = self._current(record)
            if self._is_locked(record):
                raise DeviceLockedError(path=str(self.path), serial=_int(current, "serial"))
            sealed = current["biometric"]
            if not biometric.approves or not isinstance(sealed, dict):
                raise BiometricDeclinedError("the biometric unlock declined",
                                             path=str(self.path))
            try:
                plain = self._open(sealed | {"device": current["device"]}, biometric.secret)
            except (InvalidTag, ValueError):
                raise BiometricDeclinedError("the biometric unlock declined",
                                             path=str(self.path)) from None
            return self._unlocked(plain, current)

    # -- inside ----------------------------------------------------------------------------

    def _unlock(self, pin: str, entry: str) -> tuple[bytes, dict[str, object]]:
        """Open ``entry`` (current or pending) with ``pin``, counting (the module doc)."""
        check_simple_pin(pin)  # a malformed PIN is refused uncounted: it was never tried
        with self._locked():
            record = self._read()
            sealed = record[entry]
            if not isinstance(sealed, dict):
                raise DeviceKeystoreError(
                    "no enrolment pending here" if entry == "pending"
                    else "no certificate on this device yet: finish its enrolment",
                    path=str(self.path))
            serial = _serial(record)
            failures = _int(record, "failures")
            if self._is_locked(record):
                if record["locked"] is not True:  # charges left by killed checks
                    self._write({**record, "locked": True})
                raise DeviceLockedError(path=str(self.path), serial=serial)
            self._write({**record, "failures": failures + 1})  # charged first: module doc
            fault_point("device.keystore.charged")
            kdf = ScryptParams.read(str(sealed["kdf"]))
            if kdf is None:  # a file asking for a 1 TiB KDF is refused, not run
                raise DeviceKeystoreError(f"unusable KDF parameters {sealed['kdf']!r}",
                                          path=str(self.path))
            kek = self._kek(pin, _unb64(sealed["salt"], path=str(self.path)), kdf)
            try:
                plain = self._open(sealed, kek)
            except InvalidTag:
                if failures + 1 >= self.settings.max_attempts:
                    self._write({**record, "failures": failures + 1, "locked": True})
                    raise DeviceLockedError(path=str(self.path), serial=serial) from None
                raise DeviceWrongPinError(
                    path=str(self.path),
                    attempts_left=self.settings.max_attempts - failures - 1) from None
            self._write({**record, "failures": 0})
            return plain, record

    def _seal(self, plain: bytes, pin: str, device: str) -> dict[str, object]:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        kdf = self.settings.kdf
        sealed = AESGCM(self._kek(pin, salt, kdf)).encrypt(nonce, plain,
                                                           self._associated(device))
        return {"kdf": kdf.text(), "salt": _b64(salt), "nonce": _b64(nonce),
                "sealed": _b64(sealed)}

    def _is_locked(self, record: dict[str, object]) -> bool:
        return (record["locked"] is True
                or _int(record, "failures") >= self.settings.max_attempts)

    @staticmethod
    def _associated(device: str) -> bytes:
        return f"{FORMAT}|{device}".encode()

    @staticmethod
    def _kek(pin: str, salt: bytes, kdf: ScryptParams) -> bytes:
        return Scrypt(salt, 32, kdf.n, kdf.r, kdf.p).derive(pin.encode())

    def _open(self, entry: dict[str, object], key: bytes) -> bytes:
        path = str(self.path)
        return AESGCM(key).decrypt(_unb64(entry["nonce"], path=path),
                                   _unb64(entry["sealed"], path=path),
                                   self._associated(str(entry["device"])))

    def _public_key(self, pending: dict[str, object]) -> rsa.RSAPublicKey:
        try:
            key = serialization.load_pem_public_key(str(pending["public_key"]).encode())
        except (ValueError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, rsa.RSAPublicKey):
            raise DeviceKeystoreError("not a device keystore (bad public_key)",
                                      path=str(self.path))
        return key

    def _key_and_r(self, plain: bytes) -> tuple[PrivateKeyTypes, bytes]:
        path = str(self.path)
        try:
            inside = json.loads(plain)
            key = serialization.load_der_private_key(_unb64(inside["key"], path=path),
                                                     password=None)
            r = _unb64(inside["r"], path=path)
        except (ValueError, UnsupportedAlgorithm, KeyError, TypeError):
            raise DeviceKeystoreError("the keystore holds no usable key",
                                      path=path) from None
        return key, r

    def _unlocked(self, plain: bytes, current: dict[str, object]) -> UnlockedKey:
        key, r = self._key_and_r(plain)
        try:
            certificate = x509.load_pem_x509_certificate(str(current["certificate"]).encode())
        except ValueError:
            certificate = None
        if certificate is None or certificate.public_key() != key.public_key():
            raise DeviceKeystoreError("the keystore holds no usable key",
                                      path=str(self.path))
        return UnlockedKey(key, certificate, r)

    def _current(self, record: dict[str, object]) -> dict[str, object]:
        current = record["current"]
        if not isinstance(current, dict):
            raise DeviceKeystoreError("no certificate on this device yet: finish its "
                                      "enrolment", path=str(self.path))
        return current

    def _need(self, record: dict[str, object] | None) -> dict[str, object]:
        if record is None:  # pragma: no cover - _read raises first
            raise DeviceKeystoreError("no device keystore here: enrol the device",
                                      path=str(self.path))
        return record

    @overload
    def _read(self) -> dict[str, object]: ...

    @overload
    def _read(self, *, missing_ok: bool) -> dict[str, object] | None: ...

    def _read(self, *, missing_ok: bool = False) -> dict[str, object] | None:
        path = str(self.path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return None
            raise DeviceKeystoreError("no device keystore here: enrol the device",
                                      path=path) from None
        except OSError as exc:
            raise DeviceKeystoreError(f"cannot read the keystore: {exc.strerror}",
                                      path=path) from None
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise DeviceKeystoreError("not a device keystore", path=path) from None
        if (missing_ok and isinstance(record, dict) and record.get("format") != FORMAT
                and str(record.get("format", "")).startswith("kpki-device-keystore-")):
            return None  # an earlier format: a new enrolment replaces it (module doc)
        if (not isinstance(record, dict) or set(record) != _FIELDS
                or record["format"] != FORMAT
                or not _entry_ok(record["current"], _CURRENT)
                or not _entry_ok(record["pending"], _PENDING)):
            raise DeviceKeystoreError("not a device keystore (enrol the device again if "
                                      "it was written before R was kept)", path=path)
        _int(record, "failures")
        return record

    def _write(self, record: dict[str, object]) -> None:
        atomic_write(self.path, json.dumps(record, indent=1).encode() + b"\n", mode=0o600)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise DeviceKeystoreError("no device keystore here: enrol the device",
                                      path=str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _entry_ok(entry: object, fields: frozenset[str]) -> bool:
    return entry is None or (isinstance(entry, dict) and set(entry) == fields)


def _serial(record: dict[str, object]) -> int:
    current = record["current"]
    return _int(current, "serial") if isinstance(current, dict) else 0


def _int(record: dict[str, object], name: str) -> int:
    value = record[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeviceKeystoreError(f"not a device keystore (bad {name})", path=FILE_NAME)
    return value


def check_simple_pin(pin: str) -> None:
    """``ValueError`` unless ``pin`` is a device's simple PIN: six ASCII digits."""
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise ValueError("a simple PIN is 6 digits")
