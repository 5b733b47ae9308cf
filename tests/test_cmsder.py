"""The fast SignedData encoder gives exactly asn1crypto's bytes, in every shape."""

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass

import pytest
from asn1crypto import cms
from cryptography import x509

from pki.signing.cms import sign, sign_reference


@dataclass(frozen=True)
class DeterministicSigner:
    """Signs with a hash so that two encodings of the same thing are comparable (PSS
    signatures are randomised)."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def sign_raw(self, data: bytes, *, pss: bool) -> bytes:
        return hashlib.sha512(data + bytes([pss])).digest() * 4


def stamp(signature_value: bytes) -> bytes:
    """A stand-in for a time-stamp token: a ContentInfo that depends on the signature value
    it was asked about (its size varies, to cross DER length boundaries)."""
    digest = hashlib.sha256(signature_value).digest()
    return cms.ContentInfo({"content_type": "data",
                            "content": digest * (1 + digest[0] % 12)}).dump()


@pytest.mark.parametrize(("detached", "attrs", "pss", "wrapped", "chain", "stamped"),
                         list(itertools.product([False, True], repeat=6)))
def test_fast_encoder_matches_asn1crypto(authority, detached, attrs, pss, wrapped, chain,
                                         stamped):
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    signer = DeterministicSigner(issued.certificate, issued.chain)
    for when in (dt.datetime(2026, 3, 16, 1, 2, 3, tzinfo=dt.UTC),
                 dt.datetime(2051, 1, 1, tzinfo=dt.UTC)):
        for content in (b"", b"x", "민원".encode("cp949"), bytes(range(256)) * 40):
            options = {"detached": detached, "signed_attributes": attrs, "pss": pss,
                       "content_info": wrapped, "include_chain": chain, "signing_time": when,
                       "timestamper": stamp if stamped else None}
            fast = sign(content, signer, **options)
            assert fast.der == sign_reference(content, signer, **options).der
            if stamped:
                info = cms.ContentInfo.load(fast.der) if wrapped else None
                signed = info["content"] if info is not None else cms.SignedData.load(fast.der)
                signer_info = signed["signer_infos"][0]
                assert fast.timestamp_token == stamp(signer_info["signature"].native)
