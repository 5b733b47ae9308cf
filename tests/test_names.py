import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.errors import InvalidNameError
from pki.names import MAX_NAME_LENGTH, build_name, check_holder_name, npki_folder_name


@pytest.mark.parametrize("name", ["", "   ", " 홍길동", "홍길동 ", "a" * (MAX_NAME_LENGTH + 1),
                                  "홍/길동", "홍\\길동", "홍(길동", "홍)길동", "홍\x00", "홍\n동"])
def test_bad_holder_names_are_refused(name):
    with pytest.raises(InvalidNameError):
        check_holder_name(name)


def test_holder_name_is_nfc_normalised():
    decomposed = "\u1112\u1169\u11bc"  # 홍 as conjoining jamo
    assert check_holder_name(decomposed) == "홍"


def test_longest_allowed_name_fits():
    assert check_holder_name("가" * MAX_NAME_LENGTH) == "가" * MAX_NAME_LENGTH


def test_cn_over_64_characters_is_refused():
    with pytest.raises(InvalidNameError):
        build_name(country="kr", organization="yessign", common_name="x" * 65)


def test_npki_folder_name_is_reversed_with_lower_case_types():
    name = build_name(country="kr", organization="yessign", units=("personal4IB", "INITECH"),
                      common_name="홍길동()0011234")
    assert npki_folder_name(name) == "cn=홍길동()0011234,ou=INITECH,ou=personal4IB,o=yessign,c=kr"


def test_npki_folder_name_escapes_separators():
    name = build_name(country="KR", organization="A,B", common_name="x+y")
    assert npki_folder_name(name) == "cn=x\\+y,o=A\\,B,c=KR"


@given(st.text(max_size=40))
def test_name_check_only_raises_its_own_error(text):
    with contextlib.suppress(InvalidNameError):
        assert check_holder_name(text)
