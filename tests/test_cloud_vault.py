"""The vault and the PIN rules."""

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.cloud.pin import PinPolicyError, check_pin
from pki.cloud.vault import KDFParams, Vault
from pki.errors import WrongPasswordError

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


def test_without_the_vault_secret_no_pin_opens_the_key():
    """The database alone (salt, nonce, ciphertext) gives nothing to search: every one of
    the million PINs fails without the secret (on a reduced KDF)."""
    tiny = KDFParams(n=2, r=1, p=1)  # the search itself, minus the per-guess cost
    sealed = Vault(b"the real secret, not in the db!!", kdf=tiny).seal(
        b"private key", "135790", associated=AAD)
    thief = Vault(b"\x00" * 32, kdf=tiny)  # an attacker without the secret
    opened = 0
    for pin in range(1_000_000):
        try:
            thief.open(sealed, f"{pin:06d}", associated=AAD)
            opened += 1
        except WrongPasswordError:
            pass
    assert opened == 0  # not even the right PIN, 135790, opens it
