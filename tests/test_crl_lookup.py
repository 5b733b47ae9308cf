"""A CRL answers the same whichever way it is read (issue 18's one-shot verification).

:class:`pki.signing.status.CRLIndex` answers its first look-up by a scan inside pyca, and
later ones from a table of every entry; its signature check reads the to-be-signed bytes
as they came instead of pyca's encoding them again. Neither may be kinder than reading
every entry and asking pyca: the verdicts are compared here, entry by entry and
signature by signature.
"""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

from pki.errors import RevocationDataError
from pki.signing.status import CRLIndex, _Entry

R = x509.ReasonFlags
AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kpki lookup test CA")])

# (serial, revoked at, reason, invalidity date); the first and the last serial, a hold, a
# serial listed twice (the first entry counts, both ways)
LISTED = [
    (0x10, AT, R.key_compromise, None),
    (0x2A, AT + dt.timedelta(hours=1), R.certificate_hold, None),
    (0x31, AT, R.superseded, AT - dt.timedelta(days=2)),
    (0x44, AT, None, None),
    (0x44, AT + dt.timedelta(days=1), R.affiliation_changed, None),
    (0x7F01, AT + dt.timedelta(days=3), R.cessation_of_operation, None),
]
ASKED = [0x10, 0x2A, 0x31, 0x44, 0x7F01, 0x01, 0x20, 0x7F02, 0xFFFFFFFF]


def _certificate(key, name: x509.Name = NAME) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(AT - dt.timedelta(days=1))
            .not_valid_after(AT + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))


def _crl(key, entries=LISTED, **sign_options) -> bytes:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(NAME).last_update(AT)
               .next_update(AT + dt.timedelta(days=1)))
    for serial, when, reason, invalid in entries:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        if invalid is not None:
            entry = entry.add_extension(x509.InvalidityDate(invalid), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, hashes.SHA256(), **sign_options).public_bytes(
        serialization.Encoding.DER)


def _full_parse(der: bytes, serial: int) -> _Entry | None:
    """The answer from reading every entry: the first that lists ``serial``."""
    for revoked in x509.load_der_x509_crl(der):
        if revoked.serial_number == serial:
            reason = invalid = None
            for ext in revoked.extensions:
                if isinstance(ext.value, x509.CRLReason):
                    reason = ext.value.reason
                elif isinstance(ext.value, x509.InvalidityDate):
                    invalid = ext.value.invalidity_date_utc
            return _Entry(revoked.revocation_date_utc, reason, invalid)
    return None


@pytest.fixture(scope="module")
def ca_key(key_pool):
    return key_pool.generate(2048)


@pytest.mark.parametrize("serial", ASKED, ids=[f"{s:X}" for s in ASKED])
def test_a_first_lookup_and_the_table_answer_as_a_full_parse(ca_key, serial) -> None:
    der = _crl(ca_key)
    expected = _full_parse(der, serial)
    assert CRLIndex.load(der).lookup(serial) == expected  # the scan inside pyca
    tabled = CRLIndex.load(der)
    tabled.lookup(0x999999)  # the first look-up: every later one reads the table
    assert tabled.lookup(serial) == expected
    assert tabled.lookup(serial) == expected


def test_the_answers_cover_every_kind_of_entry(ca_key) -> None:
    der = _crl(ca_key)
    index = CRLIndex.load(der)
    assert index.lookup(0x2A).reason is R.certificate_hold
    assert index.lookup(0x31).invalidity_date == AT - dt.timedelta(days=2)
    assert index.lookup(0x44) == _Entry(AT, None, None)  # the first of the two entries
    assert index.lookup(0x20) is None
    assert len(index) == len(LISTED)


def _signature_cases(ca_key, other_key):
    der = _crl(ca_key)
    ca, other = _certificate(ca_key), _certificate(other_key)
    sha256_rsa = bytes.fromhex("300d06092a864886f70d01010b0500")
    sha512_rsa = bytes.fromhex("300d06092a864886f70d01010d0500")
    assert der.count(sha256_rsa) == 2  # inside the to-be-signed part, and outside
    outer = der.rindex(sha256_rsa)
    date = der.index(b"260301000000Z")
    yield "signed", der, ca
    yield "another issuer's key", der, other
    yield "an entry changed", der[:date] + b"25" + der[date + 2:], ca
    yield "the signature changed", der[:-1] + bytes([der[-1] ^ 1]), ca
    yield "outer algorithm not the inner one", (
        der[:outer] + sha512_rsa + der[outer + len(sha256_rsa):]), ca
    yield "both algorithms changed", der.replace(sha256_rsa, sha512_rsa), ca
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    yield "RSASSA-PSS", _crl(ca_key, rsa_padding=pss), ca
    yield "RSASSA-PSS, another key", _crl(ca_key, rsa_padding=pss), other
    ec_key = ec.generate_private_key(ec.SECP256R1())
    yield "ECDSA", _crl(ec_key), _certificate(ec_key)
    yield "ECDSA, an RSA issuer", _crl(ec_key), ca


def _pyca_verdict(data: bytes, issuer: x509.Certificate) -> bool | None:
    """pyca's verdict on ``data`` (DER or PEM), None when it does not load it."""
    try:
        crl = (x509.load_pem_x509_crl(data) if data.startswith(b"-----")
               else x509.load_der_x509_crl(data))
    except ValueError:
        return None
    return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]


def _kpki_verdict(data: bytes, issuer: x509.Certificate) -> bool | None:
    try:
        index = CRLIndex.load(data)
    except RevocationDataError:
        return None
    return index.signed_by(issuer)


def test_the_signature_check_decides_as_pyca(ca_key, key_pool) -> None:
    cases = list(_signature_cases(ca_key, key_pool.generate(2048)))
    verdicts = {}
    for what, der, issuer in cases:
        verdicts[what] = _kpki_verdict(der, issuer)
        assert verdicts[what] is _pyca_verdict(der, issuer), what
        pem = b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(der) + b"-----END X509 CRL-----\n"
        assert _kpki_verdict(pem, issuer) is _pyca_verdict(pem, issuer), f"{what} (PEM)"
    assert [w for w, v in verdicts.items() if v] == ["signed", "RSASSA-PSS", "ECDSA"]
    assert verdicts["outer algorithm not the inner one"] is None  # refused as it is read
