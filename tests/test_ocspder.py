"""The hand-written OCSP response encoder gives exactly pyca's bytes, in every shape.

RSA PKCS #1 v1.5 signatures are deterministic, so the whole response (signature included)
is compared. pyca stamps producedAt with the system's clock when it signs: the encoder is
given the producedAt pyca wrote.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.formats import ocspder

WHEN = dt.datetime(2026, 3, 16, 1, 2, 3, tzinfo=dt.UTC)
ALGORITHMS = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
              "sha512": hashes.SHA512()}
STATUSES: list[tuple[ocsp.OCSPCertStatus, x509.ReasonFlags | None]] = [
    (ocsp.OCSPCertStatus.GOOD, None), (ocsp.OCSPCertStatus.UNKNOWN, None),
    (ocsp.OCSPCertStatus.REVOKED, None),
    *((ocsp.OCSPCertStatus.REVOKED, reason) for reason in x509.ReasonFlags),
]


@pytest.fixture(scope="module")
def signer(key_pool):
    key = key_pool.keys(2048, 1)[0]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yessign OCSP Responder")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(77).not_valid_before(WHEN)
            .not_valid_after(WHEN + dt.timedelta(days=90)).sign(key, hashes.SHA256()))
    return cert, key


def _pyca(signer, *, algorithm: str, serial: int, status, reason, this_update, next_update,
          revocation_time, nonce, attach: bool) -> bytes:
    cert, key = signer
    builder = (ocsp.OCSPResponseBuilder()
               .add_response_by_hash(
                   issuer_name_hash=bytes(range(ALGORITHMS[algorithm].digest_size)),
                   issuer_key_hash=bytes(range(1, ALGORITHMS[algorithm].digest_size + 1)),
                   serial_number=serial, algorithm=ALGORITHMS[algorithm], cert_status=status,
                   this_update=this_update, next_update=next_update,
                   revocation_time=revocation_time, revocation_reason=reason)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, cert))
    if attach:
        builder = builder.certificates([cert])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _ours(signer, *, algorithm: str, serial: int, status, reason, this_update, next_update,
          revocation_time, nonce, attach: bool, produced_at: dt.datetime) -> bytes:
    cert, key = signer
    size = ALGORITHMS[algorithm].digest_size
    single = ocspder.single_response(
        ocspder.cert_id(algorithm, bytes(range(size)), bytes(range(1, size + 1)), serial),
        status, this_update=this_update, next_update=next_update,
        revocation_time=revocation_time, reason=reason)
    key_hash = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    tbs = ocspder.response_data(key_hash, produced_at, single, nonce=nonce)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    attached = cert.public_bytes(serialization.Encoding.DER) if attach else b""
    return ocspder.basic_response(tbs, signature, attached)


def assert_same(signer, **options) -> None:
    expected = _pyca(signer, **options)
    produced_at = ocsp.load_der_ocsp_response(expected).produced_at_utc
    assert _ours(signer, produced_at=produced_at, **options) == expected


@pytest.mark.parametrize(("algorithm", "status_reason", "nonce", "attach", "next_update"),
                         list(itertools.product(ALGORITHMS, STATUSES, (None, b"\x01" * 16),
                                                (False, True), (False, True))))
def test_encoder_matches_pyca_in_every_shape(signer, algorithm, status_reason, nonce, attach,
                                             next_update):
    status, reason = status_reason
    revoked = status is ocsp.OCSPCertStatus.REVOKED
    assert_same(signer, algorithm=algorithm, serial=0x1234_5678_9ABC, status=status,
                reason=reason, this_update=WHEN,
                next_update=WHEN + dt.timedelta(hours=1) if next_update else None,
                revocation_time=WHEN - dt.timedelta(days=3) if revoked else None,
                nonce=nonce, attach=attach)


times = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(9999, 1, 1),
                     timezones=st.just(dt.UTC))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serial=st.integers(min_value=0, max_value=2**159 - 1),
       status_reason=st.sampled_from(STATUSES), algorithm=st.sampled_from(sorted(ALGORITHMS)),
       this_update=times, later=st.timedeltas(min_value=dt.timedelta(0),
                                              max_value=dt.timedelta(days=400)),
       revocation_time=times,
       nonce=st.none() | st.binary(min_size=1, max_size=200), attach=st.booleans())
def test_encoder_matches_pyca_over_serials_times_and_nonces(
        signer, serial, status_reason, algorithm, this_update, later, revocation_time, nonce,
        attach):
    status, reason = status_reason
    revoked = status is ocsp.OCSPCertStatus.REVOKED
    next_update = min(this_update + later, dt.datetime(9999, 12, 31, tzinfo=dt.UTC))
    assert_same(signer, algorithm=algorithm, serial=serial, status=status, reason=reason,
                this_update=this_update, next_update=next_update,
                revocation_time=revocation_time if revoked else None, nonce=nonce,
                attach=attach)


@pytest.mark.parametrize("status", [s for s in ocsp.OCSPResponseStatus
                                    if s is not ocsp.OCSPResponseStatus.SUCCESSFUL])
def test_unsuccessful_matches_pyca(status):
    assert ocspder.unsuccessful(status) == ocsp.OCSPResponseBuilder.build_unsuccessful(
        status).public_bytes(serialization.Encoding.DER)


def test_a_revoked_status_needs_its_time():
    with pytest.raises(ValueError):
        ocspder.single_response(ocspder.cert_id("sha1", b"\0" * 20, b"\0" * 20, 1),
                                ocsp.OCSPCertStatus.REVOKED, this_update=WHEN,
                                next_update=None)
