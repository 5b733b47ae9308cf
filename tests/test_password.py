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
    # Letters means Latin letters, digits 0-9 (issue 11): Hangul counts as neither.
    ("비밀번호는열자리이상1!", "letters"), ("비밀번호는열자리이상!!", "letters"),
    ("abcdefghij\u0661\u0662!", "digits"),  # Arabic-Indic digits are not 0-9
])
def test_each_rule_is_named(password, rule):
    with pytest.raises(PasswordPolicyError) as info:
        check_password(password)
    assert info.value.rule == rule


@pytest.mark.parametrize("password", ["Test-pass-1234!", "WTuA8Ev0lWXVFSiI!",
                                      "비밀번호abc12345!", "한글도OK1234!"])
def test_good_passwords_pass(password):
    assert check_password(password) == password


@given(st.text(max_size=30))
def test_checker_only_raises_its_own_error(text):
    with contextlib.suppress(PasswordPolicyError):
        check_password(text)


def test_a_pfx_password_is_portable_only_in_ascii():
    from pki.keys.password import is_portable_pfx_password

    assert is_portable_pfx_password("Test-pass-1234!")
    assert not is_portable_pfx_password("비밀번호abc12345!")
