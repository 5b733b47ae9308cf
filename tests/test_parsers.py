"""Every parser of outside input rejects garbage with its own typed error, never a crash."""

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pki.authority import load_csr
from pki.errors import CSRError, PKIError
from pki.keys.atrest import decrypt_private_key

PEM_CSR = b"-----BEGIN CERTIFICATE REQUEST-----\n"


@settings(max_examples=200)
@given(st.one_of(st.binary(max_size=600),
                 st.binary(max_size=300).map(lambda b: PEM_CSR + b),
                 st.binary(max_size=300).map(lambda b: b"\x30\x82\x01\x00" + b)))
def test_csr_parser_only_raises_csr_error(data):
    with contextlib.suppress(CSRError):
        load_csr(data)


@settings(max_examples=100)
@given(st.binary(max_size=400), st.one_of(st.none(), st.binary(min_size=1, max_size=20)))
def test_key_file_parser_only_raises_pki_errors(data, passphrase):
    for blob in (data, b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + data
                 + b"\n-----END ENCRYPTED PRIVATE KEY-----\n"):
        with contextlib.suppress(PKIError):
            decrypt_private_key(blob, passphrase)


# Random exploration on top of the exhaustive, deterministic edits in tests/test_mutation.py
# (CI runs these derandomised; they add variety, the exhaustive set is what CI relies on).

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _splice(original: bytes, data) -> bytes:  # type: ignore[no-untyped-def]
    pos = data.draw(st.integers(0, len(original) - 1))
    junk = data.draw(st.binary(min_size=0, max_size=6))
    cut = data.draw(st.integers(0, 6))
    return original[:pos] + junk + original[pos + cut:]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_crl_loader_only_raises_revocation_data_error(data):
    from pki.errors import RevocationDataError
    from pki.signing.status import CRLIndex

    original = (FIXTURES / "crl" / "yessign-full.crl").read_bytes()
    blob = (data.draw(st.binary(max_size=400)) if data.draw(st.booleans())
            else _splice(original, data))
    try:
        index = CRLIndex.load(blob)
    except RevocationDataError:
        return
    for entry in list(index.crl)[:4]:
        with contextlib.suppress(RevocationDataError):
            index.lookup(entry.serial_number)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_ocsp_response_check_only_raises_unavailable(data):
    import datetime as dt
    import json

    from cryptography import x509

    from pki.signing.status import RevocationUnavailable, check_ocsp_response

    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    folder = FIXTURES / manifest["certificates"]["joint"]["folder"]
    cert = x509.load_der_x509_certificate((folder / "signCert.der").read_bytes())
    ca = x509.load_pem_x509_certificate((FIXTURES / "yessign-ca.pem").read_bytes())
    original = (FIXTURES / "ocsp" / "good.resp").read_bytes()
    with contextlib.suppress(RevocationUnavailable):
        check_ocsp_response(_splice(original, data), cert, ca,
                            at=dt.datetime.fromisoformat(manifest["now"]))


@pytest.fixture(scope="module")
def stamped():
    from pki.testing import TestPKI

    pki = TestPKI(seed="stamped parser")
    yield pki, pki.sign(pki.joint(), b"document", timestamp=True)
    pki.close()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_damaged_time_stamp_token_gives_a_result(stamped, data):
    from pki.signing import CannotEvaluateError

    pki, signature = stamped
    # Damage lands in the token, which sits at the end of the SignerInfo.
    pos = data.draw(st.integers(len(signature) - 2000, len(signature) - 1))
    damaged = bytearray(signature)
    damaged[pos] ^= data.draw(st.integers(1, 255))
    try:
        result = pki.verifier().verify(bytes(damaged))
    except CannotEvaluateError:
        return
    assert result.summary()
