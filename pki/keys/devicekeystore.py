"""The device keystore of a private certificate: the key kept on the holder's phone.

A private certificate (KB-style mobile certificate) is unlocked on its device by a 6-digit
simple PIN, or by the phone's biometrics. kpki plays the device with one software keystore
file per device folder, ``private-keystore.json`` (0600, in a 0700 folder, written by temp
file + rename), holding:

- the certificate, the device id and the counters, in clear;
- the private key (PKCS #8) sealed with AES-256-GCM under ``scrypt(PIN, salt)`` (the
  parameters in the file, parsed with bounds), with the format, device id and serial as
  associated data so a sealed key cannot be moved to another device's file. The key is
  never written in clear; the PIN is never stored;
- optionally the key sealed again under a :class:`BiometricStandIn`'s secret. **Tests
  only**: a real phone keeps that secret in its secure element and releases it after a
  fingerprint; the stand-in keeps it in memory and releases it when ``approves`` is true.

**Wrong PINs.** The keystore counts them in the file and locks at ``max_attempts`` (a
setting, 5 by default) wrong PINs in a row; a locked keystore opens to no PIN (and no
biometric): the device must be enrolled again with a new certificate. Checks hold an
exclusive lock (``flock`` on ``.private-keystore.lock``) from reading the counter to
writing it back, so parallel callers are counted exactly. Unlike the cloud's gate, the
attempt is *charged before* the KDF runs and refunded after a right PIN: the device's
holder controls the process, and killing it between a wrong guess and its charge must not
give a free guess (smart cards decrement their retry counter first for the same reason).
A crash mid-check therefore leaves one charge, which the next right PIN clears.

Software keystores share one limit: whoever copies the file copies its counter too. The
counter stops guessing through kpki, not an attacker holding a copy of the file; the
scrypt cost is what slows that one down.

**One device per person** is the issuer's rule, not the file's: enrolling a second device
issues a new private certificate and revokes the first (reason superseded), so the first
device's keystore still opens but signs with a revoked certificate
(:func:`pki.private.enrol_device`).
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

from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import (
    BiometricDeclinedError,
    DeviceKeystoreError,
    DeviceLockedError,
    DeviceWrongPinError,
)
from ..faults import fault_point
from ..fsutil import PRIVATE_DIR_MODE, atomic_write, make_dirs
from .scrypt import ScryptParams

__all__ = ["FILE_NAME", "MAX_ATTEMPTS", "BiometricStandIn", "DeviceKeystore",
           "KeystoreSettings", "KeystoreStatus", "ScryptParams", "UnlockedKey",
           "check_simple_pin"]

FILE_NAME = "private-keystore.json"
LOCK_NAME = ".private-keystore.lock"
FORMAT = "kpki-device-keystore-v1"
MAX_ATTEMPTS = 5


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
class UnlockedKey:
    """What an unlock yields: the key and its certificate. Use it and drop it."""

    private_key: PrivateKeyTypes = field(repr=False)
    certificate: x509.Certificate


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, *, path: str) -> bytes:
    if not isinstance(text, str):
        raise DeviceKeystoreError("not a device keystore", path=path)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise DeviceKeystoreError("not a device keystore", path=path) from None


class DeviceKeystore:
    """The keystore file of one device folder (see the module doc)."""

    def __init__(self, folder: Path, *, settings: KeystoreSettings | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / FILE_NAME
        self.settings = settings or KeystoreSettings()

    # -- writing ---------------------------------------------------------------------------

    def enrol(self, private_key: PrivateKeyTypes, certificate: x509.Certificate, *,
              pin: str, device: str, biometric: BiometricStandIn | None = None) -> None:
        """Seal ``private_key`` under ``pin`` (six digits, checked by the caller's PIN rules)
        into this folder, replacing any keystore there (a new enrolment starts with no
        failures). Raises ``ValueError`` for a PIN that is not six digits,
        :class:`pki.errors.OutputError` if the folder cannot be written."""
        check_simple_pin(pin)
        plain = private_key.private_bytes(serialization.Encoding.DER,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        serial = certificate.serial_number
        associated = self._associated(device, serial)
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        kdf = self.settings.kdf
        sealed = AESGCM(self._kek(pin, salt, kdf)).encrypt(nonce, plain, associated)
        record: dict[str, object] = {
            "format": FORMAT, "device": device, "serial": serial,
            "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "kdf": kdf.text(), "salt": _b64(salt), "nonce": _b64(nonce), "sealed": _b64(sealed),
            "biometric": None, "failures": 0, "locked": False,
        }
        if biometric is not None:
            bio_nonce = secrets.token_bytes(12)
            record["biometric"] = {
                "nonce": _b64(bio_nonce),
                "sealed": _b64(AESGCM(biometric.secret).encrypt(bio_nonce, plain, associated)),
            }
        make_dirs(self.folder, mode=PRIVATE_DIR_MODE)
        with self._locked():
            self._write(record)

    # -- reading ---------------------------------------------------------------------------

    def status(self) -> KeystoreStatus:
        record = self._read()
        return KeystoreStatus(device=str(record["device"]), serial=_int(record, "serial"),
                              failures=_int(record, "failures"), locked=record["locked"] is True,
                              biometric=record["biometric"] is not None)

    def unlock(self, pin: str) -> UnlockedKey:
        """The key, opened with ``pin``. A wrong PIN is counted before this returns:
        :class:`DeviceWrongPinError` (``attempts_left``), or :class:`DeviceLockedError` for
        the one that reaches the limit and for every try after it;
        :class:`DeviceKeystoreError` for a missing or damaged file."""
        check_simple_pin(pin)  # a malformed PIN is refused uncounted: it was never tried
        with self._locked():
            record = self._read()
            serial = _int(record, "serial")
            failures = _int(record, "failures")
            if record["locked"] is True or failures >= self.settings.max_attempts:
                if record["locked"] is not True:  # charges left by killed checks
                    self._write({**record, "locked": True})
                raise DeviceLockedError(path=str(self.path), serial=serial)
            self._write({**record, "failures": failures + 1})  # charged first: module doc
            fault_point("device.keystore.charged")
            kdf = ScryptParams.read(str(record["kdf"]))
            if kdf is None:  # a file asking for a 1 TiB KDF is refused, not run
                raise DeviceKeystoreError(f"unusable KDF parameters {record['kdf']!r}",
                                          path=str(self.path))
            kek = self._kek(pin, _unb64(record["salt"], path=str(self.path)), kdf)
            try:
                plain = self._open(record, kek, "nonce", "sealed")
            except InvalidTag:
                if failures + 1 >= self.settings.max_attempts:
                    self._write({**record, "failures": failures + 1, "locked": True})
                    raise DeviceLockedError(path=str(self.path), serial=serial) from None
                raise DeviceWrongPinError(
                    path=str(self.path),
                    attempts_left=self.settings.max_attempts - failures - 1) from None
            self._write({**record, "failures": 0})
            return self._unlocked(plain, record)

    def unlock_biometric(self, biometric: BiometricStandIn) -> UnlockedKey:
        """The key, released by the **test-only** biometric stand-in. Nothing is counted;
        raises :class:`BiometricDeclinedError` when it declines or was not enrolled here,
        :class:`DeviceLockedError` when wrong PINs locked the keystore."""
        with self._locked():
            record = self._read()
            if (record["locked"] is True
                    or _int(record, "failures") >= self.settings.max_attempts):
                raise DeviceLockedError(path=str(self.path), serial=_int(record, "serial"))
            sealed = record["biometric"]
            if not biometric.approves or not isinstance(sealed, dict):
                raise BiometricDeclinedError("the biometric unlock declined",
                                             path=str(self.path))
            try:
                plain = self._open(sealed | {"device": record["device"],
                                             "serial": record["serial"]},
                                   biometric.secret, "nonce", "sealed")
            except (InvalidTag, ValueError):
                raise BiometricDeclinedError("the biometric unlock declined",
                                             path=str(self.path)) from None
            return self._unlocked(plain, record)

    # -- inside ----------------------------------------------------------------------------

    @staticmethod
    def _associated(device: str, serial: int) -> bytes:
        return f"{FORMAT}|{device}|{serial}".encode()

    @staticmethod
    def _kek(pin: str, salt: bytes, kdf: ScryptParams) -> bytes:
        return Scrypt(salt, 32, kdf.n, kdf.r, kdf.p).derive(pin.encode())

    def _open(self, record: dict[str, object], key: bytes, nonce: str, sealed: str) -> bytes:
        path = str(self.path)
        associated = self._associated(str(record["device"]), _int(record, "serial"))
        return AESGCM(key).decrypt(_unb64(record[nonce], path=path),
                                   _unb64(record[sealed], path=path), associated)

    def _unlocked(self, plain: bytes, record: dict[str, object]) -> UnlockedKey:
        try:
            key = serialization.load_der_private_key(plain, password=None)
            certificate = x509.load_pem_x509_certificate(str(record["certificate"]).encode())
        except (ValueError, UnsupportedAlgorithm):
            raise DeviceKeystoreError("the keystore holds no usable key",
                                      path=str(self.path)) from None
        return UnlockedKey(key, certificate)

    def _read(self) -> dict[str, object]:
        path = str(self.path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise DeviceKeystoreError("no device keystore here: enrol the device",
                                      path=path) from None
        except OSError as exc:
            raise DeviceKeystoreError(f"cannot read the keystore: {exc.strerror}",
                                      path=path) from None
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise DeviceKeystoreError("not a device keystore", path=path) from None
        wanted = {"format", "device", "serial", "certificate", "kdf", "salt", "nonce",
                  "sealed", "biometric", "failures", "locked"}
        if not isinstance(record, dict) or set(record) != wanted or record["format"] != FORMAT:
            raise DeviceKeystoreError("not a device keystore", path=path)
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


def _int(record: dict[str, object], name: str) -> int:
    value = record[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeviceKeystoreError(f"not a device keystore (bad {name})", path=FILE_NAME)
    return value


def check_simple_pin(pin: str) -> None:
    """``ValueError`` unless ``pin`` is a device's simple PIN: six ASCII digits."""
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise ValueError("a simple PIN is 6 digits")
