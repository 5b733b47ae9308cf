"""Every parser of outside input rejects garbage with its own typed error, never a crash."""

import contextlib

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
