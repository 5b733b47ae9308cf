import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.errors import PasswordPolicyError
from pki.keys.password import check_password


@pytest.mark.parametrize(("password", "rule"), [
    ("Ab1!", "length"), ("abc1!efgh", "length"), ("abcdefghij!", "digits"),
    ("1234567890!", "letters"), ("abcdefg123", "special"), ("abc 1234567", "special"),
    ("abc\x001234567!", "characters"),
])
def test_each_rule_is_named(password, rule):
    with pytest.raises(PasswordPolicyError) as info:
        check_password(password)
    assert info.value.rule == rule


@pytest.mark.parametrize("password", ["Test-pass-1234!", "WTuA8Ev0lWXVFSiI!", "비밀번호12345!"])
def test_good_passwords_pass(password):
    assert check_password(password) == password


@given(st.text(max_size=30))
def test_checker_only_raises_its_own_error(text):
    with contextlib.suppress(PasswordPolicyError):
        check_password(text)
