"""pki.formats.der's hand-written encoders give exactly the bytes of the asn1crypto specs."""

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pki.formats import der
from pki.rrn import synthetic_rrn
from pki.vid import (
    VIDError,
    compute_vid,
    decode_identify_data,
    encode_identify_data,
    encode_identify_data_reference,
    hash_content_reference,
)

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=120)
rrns = st.builds(lambda d, s: synthetic_rrn(d, serial=s),
                 st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)), st.integers(0, 99999))
r_values = st.binary(min_size=20, max_size=20)


@given(names, rrns, r_values, st.sampled_from(["sha256", "sha1"]))
def test_identify_data_matches_asn1crypto(name, rrn, r, hash_name):
    fast = encode_identify_data(name, rrn=rrn, r=r, hash_name=hash_name)
    assert fast == encode_identify_data_reference(name, rrn=rrn, r=r, hash_name=hash_name)
    decoded = decode_identify_data(fast)
    assert decoded.real_name == name
    assert decoded.vid == compute_vid(rrn, r, hash_name=hash_name)


@given(rrns, r_values)
def test_hash_content_matches_asn1crypto(rrn, r):
    assert der.hash_content(rrn.digits, r) == hash_content_reference(rrn.digits, r)


@given(st.integers(0, 70000))
def test_long_lengths(n):
    element = der.tlv(0x04, b"\x00" * n)
    from asn1crypto import core

    assert element == core.OctetString(b"\x00" * n).dump()


@given(st.binary(max_size=200))
def test_identify_data_decoder_only_raises_its_own_error(data):
    with contextlib.suppress(VIDError):
        decode_identify_data(data)


@pytest.mark.parametrize("length", [0, 1, 20, 32, 64, 200])
def test_identify_data_is_its_fixed_head_then_the_vid_for_every_vid_length(length):
    # the head is made once per algorithm and VID length; an empty VID kept no head at all
    algorithm = bytes.fromhex("300d06096086480165030402010500")  # sha256, NULL params
    vid = bytes(range(length % 256))[:length] if length <= 256 else bytes(length)
    assert der._user_infos_head(algorithm, length) + vid == der._user_infos(algorithm, vid)
