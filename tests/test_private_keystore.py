"""The device keystore of a private certificate (issue 15 item 3): the key held on the
device in a software keystore file under a key derived from the 6-digit simple PIN, never
as a plain key file; wrong PINs counted on the device, locking after five for good; a
biometric stand-in for tests (:mod:`pki.keys.devicekeystore`)."""

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.clock import FixedClock
from pki.errors import (
    AlreadyRevokedError,
    BiometricDeclinedError,
    DeviceKeystoreError,
    DeviceLockedError,
    DeviceWrongPinError,
    OutputError,
    ProfileError,
    WrongPasswordError,
)
from pki.keys.devicekeystore import (
    FILE_NAME,
    BiometricStandIn,
    DeviceKeystore,
    KeystoreSettings,
    ScryptParams,
)
from pki.private import enrol_device
from pki.profiles import PRIVATE_PROFILE
from pki.store import CertStatus
from pki.testing import TestPKI
from tests.bank_helpers import T0
from tests.parallel import in_parallel

PIN = "390417"
WRONG = "390418"
FAST = KeystoreSettings(kdf=ScryptParams(n=2**10, r=8, p=1))
"""A cheap KDF so tests can try many PINs (each file names its own parameters)."""


@pytest.fixture(scope="module")
def private():
    test_pki = TestPKI(seed="private-keystore", clock=FixedClock(T0))
    yield test_pki.private()
    test_pki.close()


@pytest.fixture
def keystore(tmp_path, private):
    store = DeviceKeystore(tmp_path / "phone", settings=FAST)
    store.enrol(private.key, private.cert, pin=PIN, device="phone-1", r=private.r)
    return store


def _pkcs8(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_the_right_pin_opens_the_key_and_its_certificate(keystore, private):
    unlocked = keystore.unlock(PIN)
    assert _pkcs8(unlocked.private_key) == _pkcs8(private.key)
    assert unlocked.certificate == private.cert
    assert keystore.status().serial == private.serial


def test_a_wrong_pin_is_refused_and_counted(keystore):
    with pytest.raises(DeviceWrongPinError) as caught:
        keystore.unlock(WRONG)
    assert isinstance(caught.value, WrongPasswordError)
    assert caught.value.attempts_left == 4
    assert keystore.status().failures == 1


def test_a_right_pin_clears_the_failures(keystore):
    for _ in range(3):
        with pytest.raises(DeviceWrongPinError):
            keystore.unlock(WRONG)
    keystore.unlock(PIN)
    assert keystore.status().failures == 0


def test_a_malformed_pin_is_refused_uncounted(keystore):
    for pin in ("12345", "1234567", "12345a", "١٢٣٤٥٦"):
        with pytest.raises(ValueError):
            keystore.unlock(pin)
    assert keystore.status().failures == 0


def test_five_wrong_pins_lock_it_and_the_right_pin_cannot_clear_it(keystore):
    left = []
    for _ in range(4):
        with pytest.raises(DeviceWrongPinError) as caught:
            keystore.unlock(WRONG)
        left.append(caught.value.attempts_left)
    assert left == [4, 3, 2, 1]
    with pytest.raises(DeviceLockedError):
        keystore.unlock(WRONG)
    with pytest.raises(DeviceLockedError):
        keystore.unlock(PIN)
    assert keystore.status().locked


def test_the_limit_is_a_setting(tmp_path, private):
    store = DeviceKeystore(tmp_path / "phone",
                           settings=KeystoreSettings(max_attempts=2, kdf=FAST.kdf))
    store.enrol(private.key, private.cert, pin=PIN, device="phone-1", r=private.r)
    with pytest.raises(DeviceWrongPinError):
        store.unlock(WRONG)
    with pytest.raises(DeviceLockedError):
        store.unlock(WRONG)


def test_parallel_wrong_pins_lock_after_exactly_five(keystore):
    def attempt(_i: int) -> object:
        try:
            keystore.unlock(WRONG)
        except (DeviceWrongPinError, DeviceLockedError) as exc:
            return exc
        return None

    results = in_parallel(12, attempt)
    wrong = [r for r in results if isinstance(r, DeviceWrongPinError)]
    locked = [r for r in results if isinstance(r, DeviceLockedError)]
    assert sorted(r.attempts_left for r in wrong) == [1, 2, 3, 4]
    assert len(locked) == 8
    status = keystore.status()
    assert (status.failures, status.locked) == (5, True)


def test_parallel_right_and_wrong_pins_are_each_counted_once(keystore):
    results = in_parallel(8, lambda i: _try(keystore, PIN if i % 2 else WRONG))
    assert (results.count("ok"), results.count("wrong")) == (4, 4)
    assert keystore.status().failures <= 4  # the wrong ones after the last right one
    assert not keystore.status().locked


def _try(store: DeviceKeystore, pin: str) -> str:
    try:
        store.unlock(pin)
    except DeviceWrongPinError:
        return "wrong"
    return "ok"


def test_the_file_is_0600_in_a_0700_folder_with_no_plain_key(keystore, private):
    path = keystore.folder / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keystore.folder.stat().st_mode) == 0o700
    data = path.read_bytes()
    plain = _pkcs8(private.key)
    pem = private.key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    assert plain not in data
    assert base64.b64encode(plain) not in data
    assert pem not in data and b"PRIVATE KEY" not in data
    assert PIN.encode() not in data
    assert [p.name for p in keystore.folder.iterdir() if not p.name.startswith(".")] == [
        FILE_NAME]


def test_the_sealed_key_cannot_be_moved_to_another_device(tmp_path, private):
    first = DeviceKeystore(tmp_path / "a", settings=FAST)
    first.enrol(private.key, private.cert, pin=PIN, device="phone-1", r=private.r)
    record = json.loads((first.folder / FILE_NAME).read_text())
    record["current"]["device"] = "phone-2"
    (first.folder / FILE_NAME).write_text(json.dumps(record))
    with pytest.raises(DeviceWrongPinError):
        first.unlock(PIN)


@pytest.mark.parametrize("kdf", ["scrypt:1099511627776:8:1", "scrypt:512:8:1",
                                 "scrypt:1025:8:1", "scrypt:x:8:1", "argon2:1024:8:1"])
def test_kdf_parameters_out_of_bounds_are_refused_not_run(keystore, kdf):
    path = keystore.folder / FILE_NAME
    record = json.loads(path.read_text())
    record["current"]["kdf"] = kdf
    path.write_text(json.dumps(record))
    with pytest.raises(DeviceKeystoreError):
        keystore.unlock(PIN)


@pytest.mark.parametrize("content", [b"", b"{}", b"not json", b"[1]"])
def test_a_damaged_file_is_a_keystore_error(keystore, content):
    (keystore.folder / FILE_NAME).write_bytes(content)
    with pytest.raises(DeviceKeystoreError):
        keystore.unlock(PIN)


def test_no_keystore_is_a_keystore_error(tmp_path):
    with pytest.raises(DeviceKeystoreError):
        DeviceKeystore(tmp_path / "none", settings=FAST).unlock(PIN)


def test_the_biometric_stand_in_unlocks_without_the_pin_and_counts_nothing(tmp_path,
                                                                            private):
    finger = BiometricStandIn()
    store = DeviceKeystore(tmp_path / "phone", settings=FAST)
    store.enrol(private.key, private.cert, pin=PIN, device="phone-1", r=private.r, biometric=finger)
    assert _pkcs8(store.unlock_biometric(finger).private_key) == _pkcs8(private.key)
    with pytest.raises(BiometricDeclinedError):
        store.unlock_biometric(finger.declined())
    with pytest.raises(BiometricDeclinedError):
        store.unlock_biometric(BiometricStandIn())  # another finger
    assert store.status().failures == 0
    for _ in range(5):
        with pytest.raises((DeviceWrongPinError, DeviceLockedError)):
            store.unlock(WRONG)
    with pytest.raises(DeviceLockedError):
        store.unlock_biometric(finger)


def test_without_a_biometric_enrolment_the_stand_in_declines(keystore):
    with pytest.raises(BiometricDeclinedError):
        keystore.unlock_biometric(BiometricStandIn())


def test_a_new_enrolment_replaces_the_keystore_and_its_failures(keystore, private):
    with pytest.raises(DeviceWrongPinError):
        keystore.unlock(WRONG)
    keystore.enrol(private.key, private.cert, pin="771903", device="phone-1", r=private.r)
    assert keystore.status().failures == 0
    keystore.unlock("771903")
    with pytest.raises(DeviceWrongPinError):
        keystore.unlock(PIN)


_CRASH = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pki.keys.devicekeystore import DeviceKeystore, KeystoreSettings, ScryptParams
    store = DeviceKeystore(Path(sys.argv[1]),
                           settings=KeystoreSettings(kdf=ScryptParams(n=2**10, r=8, p=1)))
    store.unlock(sys.argv[2])
""")


def _killed_unlock(folder, pin: str) -> int:
    env = {**os.environ, "KPKI_FAULT": "device.keystore.charged"}
    done = subprocess.run([sys.executable, "-c", _CRASH, str(folder), pin], env=env,
                          capture_output=True, check=False)
    return done.returncode


def test_a_kill_mid_check_leaves_the_guess_charged_and_the_file_whole(keystore, private):
    """Killing the process between a guess and its verdict gives no free guess: the charge
    was written first; the file stays a whole keystore (temp file + rename)."""
    assert _killed_unlock(keystore.folder, WRONG) == -9
    status = keystore.status()
    assert status.failures == 1
    assert [p.name for p in keystore.folder.iterdir() if p.name.endswith(".tmp")] == []
    for _ in range(4):
        assert _killed_unlock(keystore.folder, WRONG) == -9
    with pytest.raises(DeviceLockedError):
        keystore.unlock(PIN)


def test_a_kill_mid_check_of_the_right_pin_is_cleared_by_the_next_right_pin(keystore):
    assert _killed_unlock(keystore.folder, PIN) == -9
    assert keystore.status().failures == 1
    keystore.unlock(PIN)
    assert keystore.status().failures == 0


# -- one device per person ------------------------------------------------------------------


def test_a_second_device_retires_the_first(tmp_path):
    """Enrolling a second device reissues the certificate onto it and revokes the first
    (superseded): the first phone still opens its key, but its certificate is revoked."""
    test_pki = TestPKI(seed="private-devices", clock=FixedClock(T0))
    try:
        authority, rrn = test_pki.private_authority, test_pki.rrn()
        first_phone = DeviceKeystore(tmp_path / "phone-1", settings=FAST)
        first = enrol_device(authority, first_phone, name="김사설", rrn=rrn, pin=PIN,
                             device="phone-1")
        second_phone = DeviceKeystore(tmp_path / "phone-2", settings=FAST)
        second = enrol_device(authority, second_phone, name="김사설", rrn=rrn, pin="771903",
                              device="phone-2", replaces=first.serial)
        records = {r.serial: r for r in authority.store.find_certificates(first.serial)}
        assert records[first.serial].status is CertStatus.REVOKED
        assert records[first.serial].reason is x509.ReasonFlags.superseded
        assert authority.store.find_certificates(second.serial)[0].status is CertStatus.VALID
        assert second.profile is PRIVATE_PROFILE
        assert first_phone.unlock(PIN).certificate.serial_number == first.serial
        assert second_phone.unlock("771903").certificate.serial_number == second.serial
        with pytest.raises(AlreadyRevokedError):
            enrol_device(authority, DeviceKeystore(tmp_path / "phone-3", settings=FAST),
                         name="김사설", rrn=rrn, pin=PIN, device="phone-3",
                         replaces=first.serial)
    finally:
        test_pki.close()


def test_only_a_private_certificate_can_be_moved_to_a_device(tmp_path):
    test_pki = TestPKI(seed="private-devices-joint", clock=FixedClock(T0))
    try:
        joint = test_pki.joint("김공동")
        with pytest.raises(ProfileError):
            enrol_device(test_pki.authority, DeviceKeystore(tmp_path / "p", settings=FAST),
                         name="김공동", rrn=joint.rrn, pin=PIN, device="p",
                         replaces=joint.serial)
        assert test_pki.authority.store.find_certificates(joint.serial)[0].status is (
            CertStatus.VALID)
    finally:
        test_pki.close()


def test_a_bad_pin_or_folder_issues_nothing(tmp_path):
    test_pki = TestPKI(seed="private-devices-nothing", clock=FixedClock(T0))
    try:
        store = test_pki.authority.store
        before = len(store.list_certificates())
        with pytest.raises(ValueError):
            enrol_device(test_pki.private_authority,
                         DeviceKeystore(tmp_path / "p", settings=FAST),
                         name="김사설", rrn=test_pki.rrn(), pin="12345", device="p")
        (tmp_path / "file").write_text("")
        with pytest.raises(OutputError):
            enrol_device(test_pki.private_authority,
                         DeviceKeystore(tmp_path / "file" / "p", settings=FAST),
                         name="김사설", rrn=test_pki.rrn(), pin=PIN, device="p")
        assert len(store.list_certificates()) == before
    finally:
        test_pki.close()


def test_a_pending_key_and_its_r_are_sealed_before_any_certificate(tmp_path, private,
                                                                  key_pool):
    from pki.errors import KeyMismatchError

    store = DeviceKeystore(tmp_path / "phone", settings=FAST)
    store.begin(private.key, private.r, pin=PIN, device="phone-1", request="ra_s1")
    data = (store.folder / FILE_NAME).read_bytes()
    assert _pkcs8(private.key) not in data and base64.b64encode(_pkcs8(private.key)) not in data
    assert private.r not in data and private.r.hex().encode() not in data
    assert base64.b64encode(private.r) not in data
    pending = store.pending()
    assert pending is not None and pending.request == "ra_s1"
    with pytest.raises(DeviceWrongPinError):
        store.open_pending(WRONG)  # counted like an unlock
    opened = store.open_pending(PIN)
    assert (_pkcs8(opened.private_key), opened.r) == (_pkcs8(private.key), private.r)
    other = DeviceKeystore(tmp_path / "other", settings=FAST)
    other.begin(key_pool.generate(2048), private.r, pin=PIN, device="phone-2", request="x")
    with pytest.raises(KeyMismatchError):
        other.attach(private.cert, request="x")  # another key's certificate
    with pytest.raises(DeviceKeystoreError):
        store.attach(private.cert, request="ra_other")
    store.attach(private.cert, request="ra_s1")
    unlocked = store.unlock(PIN)
    assert unlocked.certificate == private.cert and unlocked.r == private.r
    assert store.pending() is None and store.status().failures == 0


def test_the_current_certificate_stays_usable_while_a_renewal_is_pending(keystore, private):
    keystore.begin(private.key, b"\x01" * 20, pin=PIN, device="phone-1", request="renewal")
    assert keystore.unlock(PIN).r == private.r
    assert keystore.open_pending(PIN).r == b"\x01" * 20
