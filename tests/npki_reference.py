"""An independent reading of korean-pki.md section 4, for checking kpki's writer.

Written from the spec, deliberately sharing no code with pki.keys.npki: generic DER
walking with asn1crypto's parser, hashlib for SHA-1 and PBKDF2, pyca only for the SEED
block cipher. Returns the PrivateKeyInfo plaintext.
"""

from __future__ import annotations

import hashlib

from asn1crypto import parser
from cryptography.hazmat.decrepit.ciphers.algorithms import SEED
from cryptography.hazmat.primitives.ciphers import Cipher, modes


def _children(der: bytes) -> list[tuple[int, int, bytes, bytes]]:
    """(class, tag, contents, whole element) of each element inside a constructed one."""
    contents = parser.parse(der)[4]
    out, pos = [], 0
    while pos < len(contents):
        n = parser.peek(contents[pos:])
        element = contents[pos:pos + n]
        cls, _, tag, _, inner, _ = parser.parse(element)
        out.append((cls, tag, inner, element))
        pos += n
    return out


def _oid(contents: bytes) -> str:
    parts, value, first = [], 0, True
    for byte in contents:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if first:
                parts += [min(value // 40, 2), value - 40 * min(value // 40, 2)]
                first = False
            else:
                parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def decrypt_signpri(data: bytes, password: str) -> bytes:
    algorithm, encrypted = _children(data)
    alg_children = _children(algorithm[3])
    oid = _oid(alg_children[0][2])
    pw = password.encode("utf-8")
    if oid in ("1.2.410.200004.1.15", "1.2.410.200004.1.4"):
        salt, count = _children(alg_children[1][3])
        t = hashlib.sha1(pw + salt[2]).digest()
        for _ in range(int.from_bytes(count[2], "big") - 1):
            t = hashlib.sha1(t).digest()
        key = t[:16]
        iv = (hashlib.sha1(t[16:20]).digest()[:16] if oid == "1.2.410.200004.1.15"
              else b"0123456789012345")
    elif oid == "1.2.840.113549.1.5.13":
        kdf, scheme = _children(alg_children[1][3])
        kdf_params = _children(_children(kdf[3])[1][3])
        salt, count = kdf_params[0][2], int.from_bytes(kdf_params[1][2], "big")
        key = hashlib.pbkdf2_hmac("sha1", pw, salt, count, 16)
        iv = _children(scheme[3])[1][2]
    else:
        raise ValueError(oid)
    decryptor = Cipher(SEED(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(encrypted[2]) + decryptor.finalize()
    pad = padded[-1]
    assert 1 <= pad <= 16 and padded.endswith(bytes([pad]) * pad)
    return padded[:-pad]


def random_num(private_key_info: bytes) -> bytes | None:
    for cls, tag, _inner, element in _children(private_key_info):
        if cls == 2 and tag == 0:
            attribute = _children(element)[0]
            parts = _children(attribute[3])
            if _oid(parts[0][2]) == "1.2.410.200004.10.1.1.3":
                bit_string = _children(parts[1][3])[0][2]
                assert bit_string[0] == 0
                return bit_string[1:]
    return None
