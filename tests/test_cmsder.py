"""The fast SignedData encoder gives exactly asn1crypto's bytes, in every shape."""

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass

import pytest
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


@pytest.mark.parametrize(("detached", "attrs", "pss", "wrapped", "chain"),
                         list(itertools.product([False, True], repeat=5)))
def test_fast_encoder_matches_asn1crypto(authority, detached, attrs, pss, wrapped, chain):
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    signer = DeterministicSigner(issued.certificate, issued.chain)
    for when in (dt.datetime(2026, 3, 16, 1, 2, 3, tzinfo=dt.UTC),
                 dt.datetime(2051, 1, 1, tzinfo=dt.UTC)):
        for content in (b"", b"x", "민원".encode("cp949"), bytes(range(256)) * 40):
            options = {"detached": detached, "signed_attributes": attrs, "pss": pss,
                       "content_info": wrapped, "include_chain": chain, "signing_time": when}
            assert sign(content, signer, **options).der == \
                sign_reference(content, signer, **options).der
