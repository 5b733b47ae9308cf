"""A relying party of simple authentication written with pyca/cryptography and the standard
library only: no kpki import (tests/test_simpleauth_api.py checks that), so the result's
format is what an outside relying party can check.

pyca/cryptography has no CMS verifier, so a small DER walker reads the SignedData: the
encapsulated content, the signed attributes (their messageDigest) and the signature. The
certificate chain is checked link by link up to the root the relying party trusts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
MESSAGE_DIGEST = bytes.fromhex("06092a864886f70d010904")


def _tlv(data: bytes, at: int = 0) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the TLV at ``at``."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    return tag, at, at + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, value start, value end, TLV start) of each element between start and end."""
    found = []
    while start < end:
        tag, value, stop = _tlv(data, start)
        found.append((tag, value, stop, start))
        start = stop
    return found


@dataclass(frozen=True)
class Checked:
    content: dict
    signer: x509.Certificate


def check_result(result: dict, *, root: x509.Certificate, nonce: str) -> Checked:
    """Check a collected result as an outside relying party: the CMS signature over its
    content by the first certificate of the chain, the chain link by link up to ``root``,
    each certificate valid now, and the content approving with ``nonce`` and the result's
    CI. Raises ``AssertionError`` (or pyca's ``InvalidSignature``) on any failure."""
    der = base64.b64decode(result["cms"])
    chain = [x509.load_der_x509_certificate(base64.b64decode(c))
             for c in result["certificate_chain"]]
    _, start, end = _tlv(der)
    info = _children(der, start, end)
    assert der[info[0][3]:info[0][2]] == SIGNED_DATA
    _, sd_start, sd_end = _tlv(der, info[1][1])  # [0] EXPLICIT -> SignedData
    parts = _children(der, sd_start, sd_end)
    encap = _children(der, parts[2][1], parts[2][2])
    _, octets, octets_end = _tlv(der, encap[1][1])  # [0] EXPLICIT -> OCTET STRING
    content = der[octets:octets_end]
    certificates = [x509.load_der_x509_certificate(der[s:e])
                    for _, _, e, s in _children(der, parts[3][1], parts[3][2])]
    signer_info = _children(der, parts[-1][1], parts[-1][2])[0]
    fields = _children(der, signer_info[1], signer_info[2])
    attributes = next(f for f in fields if f[0] == 0xA0)
    signature = next(f for f in fields if f[0] == 0x04)
    signed = b"\x31" + der[attributes[3] + 1:attributes[2]]
    digest = None
    for _, a_start, a_end, _ in _children(der, attributes[1], attributes[2]):
        kind, values = _children(der, a_start, a_end)
        if der[kind[3]:kind[2]] == MESSAGE_DIGEST:
            _, d_start, d_end = _tlv(der, values[1])
            digest = der[d_start:d_end]
    assert digest == hashlib.sha256(content).digest(), "the content is not what was signed"

    signer = chain[0]
    assert signer in certificates, "the CMS is not signed by the chain's first certificate"
    public_key = signer.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(der[signature[1]:signature[2]], signed, padding.PKCS1v15(),
                      hashes.SHA256())

    now = dt.datetime.now(dt.UTC)
    for child, parent in zip(chain, [*chain[1:]], strict=False):
        child.verify_directly_issued_by(parent)
    assert chain[-1] == root, "the chain does not end at the root this relying party trusts"
    for cert in chain:
        assert cert.not_valid_before_utc <= now <= cert.not_valid_after_utc

    approval = json.loads(content)
    assert approval["nonce"] == nonce and approval["decision"] == "approve"
    assert approval["request"] == result["request_id"] and approval["ci"] == result["ci"]
    return Checked(approval, signer)
