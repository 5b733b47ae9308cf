"""Hand-written DER for the fixed-shape structures on the issuance hot path.

Why this exists: asn1crypto needs about 0.9 ms to build and dump one IdentifyData, more than
the RSA-2048 signature of the whole certificate, which would make the VID the most expensive
part of issuing a certificate. IdentifyData (with one VID) and HashContent have a fixed
shape in which only the real name, the RRN, R and the digest vary, so they are written here
directly. ``tests/test_der.py`` checks every encoder byte for byte against the asn1crypto
specs in :mod:`pki.vid` (which remain the only *decoders*).
"""

from __future__ import annotations

import functools

__all__ = ["hash_content", "header", "identify_data_with_vid", "tlv"]


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element with a single-byte tag."""
    n = len(content)
    if n < 0x80:  # the short form, most elements here
        return bytes((tag, n)) + content
    return bytes((tag,)) + _length(n) + content


def header(tag: int, length: int) -> bytes:
    """The tag and length octets of an element whose content is ``length`` bytes."""
    return bytes((tag,)) + _length(length)


_SEQUENCE = 0x30
_UTF8_STRING = 0x0C
_PRINTABLE_STRING = 0x13
_BIT_STRING = 0x03
_OCTET_STRING = 0x04
_CONTEXT_0 = 0xA0

# OBJECT IDENTIFIER 1.2.410.200004.10.1.1.1 (vid), complete with tag and length.
_VID_OID = bytes.fromhex("060a2a831a8c9a440a010101")


def hash_content(idn: str, random_num: bytes) -> bytes:
    """``HashContent ::= SEQUENCE { idn PrintableString, randomNum BIT STRING }``."""
    return tlv(_SEQUENCE, tlv(_PRINTABLE_STRING, idn.encode("ascii"))
               + tlv(_BIT_STRING, b"\x00" + random_num))


def identify_data_with_vid(real_name: str, hash_algorithm_der: bytes, virtual_id: bytes) -> bytes:
    """IdentifyData with realName and one UserInfo carrying a VID.

    ``hash_algorithm_der`` is the complete AlgorithmIdentifier (SHA-256 without parameters in
    today's certificates).
    """
    return tlv(_SEQUENCE, tlv(_UTF8_STRING, real_name.encode("utf-8"))
               + _user_infos_head(hash_algorithm_der, len(virtual_id)) + virtual_id)


def _user_infos(hash_algorithm_der: bytes, virtual_id: bytes) -> bytes:
    """``SEQUENCE OF UserInfo`` with one UserInfo carrying ``virtual_id``."""
    vid = tlv(_SEQUENCE, hash_algorithm_der + tlv(_CONTEXT_0, tlv(_OCTET_STRING, virtual_id)))
    return tlv(_SEQUENCE, tlv(_SEQUENCE, _VID_OID + vid))


@functools.lru_cache(maxsize=16)
def _user_infos_head(hash_algorithm_der: bytes, vid_length: int) -> bytes:
    """:func:`_user_infos` up to its VID, which it ends with: its tags and lengths depend
    only on the algorithm and the VID's length, so they are made once for each."""
    whole = _user_infos(hash_algorithm_der, bytes(vid_length))
    return whole[:len(whole) - vid_length]
