import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.errors import InvalidRRNError
from pki.rrn import RRN, check_digit, synthetic_rrn


def test_valid_rrn_parses_with_or_without_hyphen():
    rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=42)
    assert RRN.parse(rrn.digits) == rrn
    assert RRN.parse(f"{rrn.digits[:6]}-{rrn.digits[6:]}") == rrn
    assert rrn.birth_date == dt.date(1990, 5, 17)


@pytest.mark.parametrize("text", ["", "123", "12345678901234", "900517-123456", "9005171a34567",
                                  "９００５１７１２３４５６７", "900517 1234567"])
def test_rrn_must_be_13_digits(text):
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(text)
    assert info.value.rule == "format"


@pytest.mark.parametrize("first12", ["900230123456", "901301123456", "900100123456",
                                     "010229323456"])
def test_rrn_must_hold_a_real_date(first12):
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(first12 + str(check_digit(first12)))
    assert info.value.rule == "date"


def test_rrn_check_digit_is_enforced():
    rrn = synthetic_rrn(dt.date(1985, 1, 2))
    wrong = rrn.digits[:12] + str((int(rrn.digits[12]) + 1) % 10)
    with pytest.raises(InvalidRRNError) as info:
        RRN.parse(wrong)
    assert info.value.rule == "check-digit"


def test_known_check_digit():
    # 8·2+0·3+0·4+1·5+0·6+1·7+1·8+2·9+3·2+4·3+5·4+6·5 = 122; (11 - 122 % 11) % 10 = 0.
    assert check_digit("800101123456") == 0
    # 9·2+0·3+0·4+5·5+1·6+7·7+1·8+2·9+3·2+4·3+5·4+6·5 = 192; (11 - 192 % 11) % 10 = 6.
    assert check_digit("900517123456") == 6


def test_rrn_is_masked_in_str_and_repr():
    rrn = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)
    assert rrn.digits[7:] not in str(rrn)
    assert rrn.digits[7:] not in repr(rrn)
    assert str(rrn) == "900517-1******"


def test_century_digit_decides_birth_year():
    assert synthetic_rrn(dt.date(2003, 4, 5)).birth_date == dt.date(2003, 4, 5)
    assert synthetic_rrn(dt.date(2003, 4, 5), female=True).digits[6] == "4"
    assert synthetic_rrn(dt.date(1970, 4, 5), foreigner=True).digits[6] == "5"


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
       st.booleans(), st.integers(0, 99999))
def test_synthetic_rrns_always_validate(day, female, serial):
    rrn = synthetic_rrn(day, female=female, serial=serial)
    assert RRN.parse(rrn.digits) == rrn
    assert rrn.birth_date == day


@given(st.text(max_size=20))
def test_rrn_parser_only_raises_its_own_error(text):
    with contextlib.suppress(InvalidRRNError):
        RRN.parse(text)
