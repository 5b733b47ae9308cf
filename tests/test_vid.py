"""The VID check as the docs call it: the RRN as an RRN or as the string a user typed."""

import datetime as dt

import pytest

from pki.errors import InvalidRRNError
from pki.rrn import synthetic_rrn
from pki.vid import compute_vid, decode_identify_data, encode_identify_data, vid_matches

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)
R = bytes(range(20))
DATA = decode_identify_data(encode_identify_data("홍길동", rrn=RRN, r=R))


@pytest.mark.parametrize("text", [RRN.digits, f"{RRN.digits[:6]}-{RRN.digits[6:]}"])
def test_vid_matches_takes_the_rrn_as_a_string(text):
    assert vid_matches(DATA, text, R)
    assert compute_vid(text, R) == compute_vid(RRN, R)


def test_vid_matches_with_another_rrn_string_is_false():
    assert not vid_matches(DATA, synthetic_rrn(dt.date(1990, 5, 17), serial=1).digits, R)


def test_vid_matches_with_a_malformed_rrn_string_raises_the_rrn_error():
    with pytest.raises(InvalidRRNError):
        vid_matches(DATA, "900517-123", R)


@pytest.mark.parametrize("value", [9005171234566, b"9005171234566", None])
def test_vid_matches_with_neither_rrn_nor_str_is_a_type_error(value):
    with pytest.raises(TypeError, match="RRN"):
        vid_matches(DATA, value, R)
