import contextlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pki.errors import InvalidNameError
from pki.names import (
    MAX_CN_BYTES,
    MAX_NAME_LENGTH,
    build_name,
    check_common_name,
    check_folder_name,
    check_holder_name,
    npki_folder_name,
)


@pytest.mark.parametrize("name", ["", "   ", " 홍길동", "홍길동 ", "a" * (MAX_NAME_LENGTH + 1),
                                  "홍/길동", "홍\\길동", "홍(길동", "홍)길동", "홍\x00", "홍\n동"])
def test_bad_holder_names_are_refused(name):
    with pytest.raises(InvalidNameError):
        check_holder_name(name)


def test_holder_name_is_nfc_normalised():
    decomposed = "\u1112\u1169\u11bc"  # 홍 as conjoining jamo
    assert check_holder_name(decomposed) == "홍"


def test_name_check_allows_max_length_characters():
    # Whether such a name fits a CA's CN is the authority's check (test_delivery.py).
    assert check_holder_name("가" * MAX_NAME_LENGTH) == "가" * MAX_NAME_LENGTH


def test_cn_over_64_characters_is_refused():
    with pytest.raises(InvalidNameError):
        build_name(country="kr", organization="yessign", common_name="x" * 65)


def test_cn_limit_counts_utf8_bytes_as_pyca_does():
    assert check_common_name("가" * 21) == "가" * 21  # 63 bytes
    with pytest.raises(InvalidNameError, match="66 bytes"):
        check_common_name("가" * 22)
    with pytest.raises(InvalidNameError):
        build_name(country="kr", organization="yessign", common_name="가" * 22)
    assert MAX_CN_BYTES == 64


@pytest.mark.parametrize("char", list(',+=;"<>#'))
def test_characters_a_folder_name_would_escape_are_refused(char):
    with pytest.raises(InvalidNameError, match="not allowed"):
        check_holder_name(f"홍{char}길동")


@given(st.text(min_size=1, max_size=20))
def test_every_accepted_name_has_a_folder(text):
    """One rule: what the name check accepts, the NPKI folder writer accepts."""
    try:
        name = check_holder_name(text)
    except InvalidNameError:
        return
    common_name = f"{name}()009104120260316000000001"
    assume(len(common_name.encode()) <= MAX_CN_BYTES)
    subject = build_name(country="kr", organization="yessign", units=("personal4IB", "INITECH"),
                         common_name=common_name)
    assert check_folder_name(npki_folder_name(subject))


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "x" * 256])
def test_folder_names_refused(name):
    with pytest.raises(InvalidNameError):
        check_folder_name(name)


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
