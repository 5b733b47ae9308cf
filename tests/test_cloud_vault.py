"""The vault and the PIN rules."""

import contextlib
import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.cloud.pin import PinPolicyError, check_pin
from pki.cloud.vault import KDFParams, Vault
from pki.errors import VaultError, WrongPasswordError

FAST = KDFParams(n=2**4, r=8, p=1)  # tests only: the real cost is ~0.1 s a guess
AAD = b"user-1|yessign|ABCDEF"


@pytest.mark.parametrize(("pin", "rule"), [
    ("12345", "format"), ("1234567", "format"), ("12a456", "format"), ("１２３４５６", "format"),
    ("111111", "repeated"), ("123456", "sequence"), ("456789", "sequence"),
    ("987654", "sequence"), ("543210", "sequence"), ("900301", "birth-date"),
])
def test_pin_rules(pin, rule):
    with pytest.raises(PinPolicyError) as info:
        check_pin(pin, birth_date=dt.date(1990, 3, 1))
    assert info.value.rule == rule


def test_pin_must_be_entered_twice_alike():
    with pytest.raises(PinPolicyError) as info:
        check_pin("135790", confirm="135791")
    assert info.value.rule == "mismatch"
    assert check_pin("135790", confirm="135790") == "135790"


@given(st.text(max_size=8))
def test_pin_checker_only_raises_its_own_error(text):
    with contextlib.suppress(PinPolicyError):
        check_pin(text)


def test_seal_and_open():
    vault = Vault(b"s" * 32, kdf=FAST)
    sealed = vault.seal(b"private key", "135790", associated=AAD)
    assert vault.open(sealed, "135790", associated=AAD) == b"private key"
    with pytest.raises(WrongPasswordError):
        vault.open(sealed, "135791", associated=AAD)


def test_ciphertext_is_bound_to_its_record():
    vault = Vault(b"s" * 32, kdf=FAST)
    sealed = vault.seal(b"private key", "135790", associated=AAD)
    with pytest.raises(WrongPasswordError):
        vault.open(sealed, "135790", associated=b"user-2|yessign|ABCDEF")


@pytest.mark.parametrize("kdf", ["scrypt:x:8:1", "scrypt:16", "pbkdf2:16:8:1",
                                 "scrypt:1099511627776:8:1", "scrypt:24:8:1"])
def test_unusable_stored_kdf_parameters_are_a_vault_error(kdf):
    vault = Vault(b"s" * 32, kdf=FAST)
    sealed = dataclasses.replace(vault.seal(b"key", "135790", associated=AAD), kdf=kdf)
    with pytest.raises(VaultError):
        vault.open(sealed, "135790", associated=AAD)


_TINY = KDFParams(n=2, r=1, p=1)  # the search itself, minus the per-guess cost
_REAL_SECRET = b"the real secret, not in the db!!"


def _pins_opened(sealed, start: int, stop: int) -> int:
    """How many PINs of ``start .. stop - 1`` open ``sealed`` for an attacker without the
    vault secret (a module-level function, so a process pool can run it)."""
    thief = Vault(b"\x00" * 32, kdf=_TINY)
    opened = 0
    for pin in range(start, stop):
        try:
            thief.open(sealed, f"{pin:06d}", associated=AAD)
            opened += 1
        except WrongPasswordError:
            pass
    return opened


def test_without_the_vault_secret_no_pin_opens_the_key():
    """The database alone (salt, nonce, ciphertext) gives nothing to search: every one of
    the million PINs fails without the secret (on a reduced KDF; the million are split over
    the machine's cores)."""
    import concurrent.futures
    import multiprocessing
    import os

    sealed = Vault(_REAL_SECRET, kdf=_TINY).seal(b"private key", "135790", associated=AAD)
    sealed = dataclasses.replace(sealed, secret_check=None)  # a thief ignores the check
    workers = max(1, min(4, os.cpu_count() or 1))
    bounds = [1_000_000 * i // workers for i in range(workers + 1)]
    with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        counts = list(pool.map(_pins_opened, [sealed] * workers, bounds[:-1], bounds[1:]))
    assert bounds[0] == 0 and bounds[-1] == 1_000_000
    assert sum(counts) == 0  # not even the right PIN, 135790, opens it
    # and the search does find the PIN when it has the secret (the test could fail)
    assert Vault(_REAL_SECRET, kdf=_TINY).open(sealed, "135790", associated=AAD) \
        == b"private key"


# -- a lost or wrong vault secret (issue 10, item 4) ------------------------------------------


def _home_with_a_sealed_key(tmp_path, key_pool):
    """A file home whose vault holds one key, under the secret in <home>/cloud/vault.secret."""
    import re

    from pki.home import Home

    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    with Home.open(path, key_generator=key_pool) as home:
        cloud = home.cloud_factory(passphrase=None, kdf=FAST)()
        bank = cloud.authenticate(cloud.add_institution("bank"))
        user = cloud.register_user(bank, name="홍길동", phone="01012345678",
                                   birth_date="1990-05-17")
        text = cloud.messages(bank, "01012345678")[-1].text
        cloud.confirm(bank, user, re.search(r"code (\d\d)", text).group(1))
        serial = cloud.issue(bank, user, rrn="9005171234566", pin="135790",
                             pin_confirm="135790").serial
    return path, bank, serial


@pytest.fixture
def no_secret_env(monkeypatch):
    monkeypatch.delenv("KPKI_VAULT_SECRET", raising=False)


def test_the_cloud_does_not_start_when_the_secret_is_lost(tmp_path, key_pool, no_secret_env):
    from pki.cloud.vault import VaultError
    from pki.home import Home

    path, _, _ = _home_with_a_sealed_key(tmp_path, key_pool)
    secret_file = path / "cloud" / "vault.secret"
    secret_file.unlink()
    with Home.open(path) as home, pytest.raises(VaultError) as info:
        home.cloud_factory(passphrase=None)
    assert info.value.sealed_keys == 1
    assert not secret_file.exists()  # no new secret made over existing records


def test_the_cloud_does_not_start_under_another_secret(tmp_path, key_pool, no_secret_env,
                                                       monkeypatch):
    from pki.cloud.vault import VaultError
    from pki.home import Home

    path, _, _ = _home_with_a_sealed_key(tmp_path, key_pool)
    monkeypatch.setenv("KPKI_VAULT_SECRET", "cd" * 32)
    with Home.open(path) as home, pytest.raises(VaultError) as info:
        home.cloud_factory(passphrase=None)
    assert info.value.sealed_keys == 1


def test_kpki_serve_refuses_to_start_without_the_secret(tmp_path, key_pool, no_secret_env):
    import subprocess
    import sys
    from pathlib import Path

    path, _, _ = _home_with_a_sealed_key(tmp_path, key_pool)
    (path / "cloud" / "vault.secret").unlink()
    done = subprocess.run([str(Path(sys.executable).parent / "kpki"), "--home", str(path),
                           "serve", "--port", "0"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "vault secret" in done.stderr and "--no-cloud" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (path / "cloud" / "vault.secret").exists()


def test_a_wrong_secret_is_never_charged_as_a_wrong_pin(tmp_path, key_pool, no_secret_env):
    """Even a cloud built around the start-up check cannot charge the PIN for a secret that
    does not match: the check value beside the record tells the two apart."""
    from pki.cloud.service import Cloud
    from pki.errors import SealedUnderOtherSecretError
    from pki.home import Home

    path, bank, serial = _home_with_a_sealed_key(tmp_path, key_pool)
    with Home.open(path, key_generator=key_pool) as home:
        right = home.cloud_factory(passphrase=None, kdf=FAST)()
        wrong = Cloud(right.authority, Vault(b"w" * 32, kdf=FAST))
        for _ in range(6):
            with pytest.raises(SealedUnderOtherSecretError) as info:
                wrong.sign(bank, serial, pin="135790", content=b"x", purpose="02")
            assert (info.value.code, info.value.serial) == ("vault_secret", serial)
        record = right.store.vault_record(right.authority.label, serial)
        assert (record.failures, record.locked) == (0, False)
        assert right.sign(bank, serial, pin="135790", content=b"x", purpose="02")
