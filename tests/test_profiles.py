"""Joint and financial certificate profiles (korean-pki.md sections 1, 3, 5)."""

import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from pki import oids
from pki.clock import FixedClock
from pki.errors import (
    CSRError,
    InvalidNameError,
    InvalidRRNError,
    ProfileError,
    UnsupportedKeyError,
)
from pki.home import CASettings
from pki.profiles import PROFILES, FinancialKind, JointPolicy, Profile, get_profile
from pki.rrn import synthetic_rrn
from pki.vid import decode_identify_data, vid_matches
from tests.helpers import (
    assert_subscriber_profile,
    extension_layout,
    policy_notice_type,
    subject_layout,
)

RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls).value


def _policy(cert):
    return _ext(cert, x509.CertificatePolicies)[0].policy_identifier


def _identify(cert):
    (other,) = _ext(cert, x509.SubjectAlternativeName).get_values_for_type(x509.OtherName)
    return decode_identify_data(other.value)


# -- the real certificate as the reference ------------------------------------------


def test_joint_certificate_has_the_structure_of_a_real_yessign_certificate(authority,
                                                                            real_cert_der):
    real = x509.load_der_x509_certificate(real_cert_der)
    ours = authority.issue_joint(name="홍길동", rrn=RRN, policy=JointPolicy.BANKING).certificate
    assert extension_layout(ours) == extension_layout(real)
    assert subject_layout(ours) == subject_layout(real)
    assert policy_notice_type(ours) == policy_notice_type(real) == "bmp_string"
    assert _policy(ours) == _policy(real)
    real_san = _ext(real, x509.SubjectAlternativeName)[0].value
    our_san = _ext(ours, x509.SubjectAlternativeName)[0].value
    # The VID's hash AlgorithmIdentifier: SHA-256 with no NULL parameters, as in the real one.
    sha256_no_params = bytes.fromhex("300b0609608648016503040201")
    assert sha256_no_params in real_san and sha256_no_params in our_san
    assert ours.signature_algorithm_oid == real.signature_algorithm_oid
    real_aki = _ext(real, x509.AuthorityKeyIdentifier)
    our_aki = _ext(ours, x509.AuthorityKeyIdentifier)
    assert (real_aki.authority_cert_issuer is None) == (our_aki.authority_cert_issuer is None)
    assert (real_aki.authority_cert_serial_number is None) == (
        our_aki.authority_cert_serial_number is None)


# -- the profile rules ---------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_has_the_subscriber_structure(home, authority, profile):
    if authority.style.name not in PROFILES[profile].policy_oids:  # a bank's private CA
        home.add_ca(CASettings(label="kbprivate", style="kbprivate"), passphrase=None)
        authority = home.authority("kbprivate")
    issued = authority.issue(PROFILES[profile], name="홍길동", rrn=RRN)
    assert_subscriber_profile(issued.certificate)


def test_extension_order_and_criticality(authority):
    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    assert extension_layout(cert) == [
        ("2.5.29.35", False), ("2.5.29.14", False), ("2.5.29.15", True), ("2.5.29.32", True),
        ("2.5.29.17", False), ("2.5.29.31", False), ("1.3.6.1.5.5.7.1.1", False)]


def test_no_basic_constraints_or_eku_on_subscribers(authority):
    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    oids_present = {e.oid for e in cert.extensions}
    assert ExtensionOID.BASIC_CONSTRAINTS not in oids_present
    assert ExtensionOID.EXTENDED_KEY_USAGE not in oids_present


def test_key_usage_is_digital_signature_and_non_repudiation(authority):
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    assert bytes.fromhex("0603551d0f0101ff0404030206c0") in cert.public_bytes(
        Encoding.DER)


def test_subject_order_and_string_types(authority):
    cert = authority.issue_joint(name="홍길동", rrn=RRN, ra="NACF").certificate
    assert subject_layout(cert) == [
        ("2.5.4.6", "PrintableString"), ("2.5.4.10", "UTF8String"), ("2.5.4.11", "UTF8String"),
        ("2.5.4.11", "UTF8String"), ("2.5.4.3", "UTF8String")]
    values = [a.value for a in cert.subject]
    assert values[:4] == ["kr", "yessign", "personal4IB", "NACF"]


def test_yessign_cn_shape_and_per_ca_sequence(authority):
    first = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    second = authority.issue_joint(name="홍길동", rrn=RRN, alias="GILDONG.HONG",
                                   ra="NACF:011:12345").certificate
    cn1 = first.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    cn2 = second.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    # 0 + institution (3) + branch (5) + issue day YYMMDD (KST) + 9-digit sequence.
    assert cn1 == "홍길동()009104120260316000000001"
    assert cn2 == "홍길동(GILDONG.HONG)001112345260316000000002"
    assert re.fullmatch(r".*\(.*\)\d{24}", cn2)


def test_signkorea_style_cn_and_policy(home, clock):
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    ca = home.authority("signkorea")
    cert = ca.issue_joint(name="김재훈", rrn=RRN).certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "김재훈-0000001"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "SignKorea"
    assert _policy(cert) == oids.SIGNKOREA_PERSONAL


def test_style_without_a_profile_policy_refuses_it(home):
    home.add_ca(CASettings(label="signkorea", style="signkorea"), passphrase=None)
    ca = home.authority("signkorea")
    with pytest.raises(ProfileError):
        ca.issue_joint(name="김재훈", rrn=RRN, policy=JointPolicy.BANKING)
    with pytest.raises(ProfileError):
        ca.issue_financial(name="김재훈", rrn=RRN)
    assert home.store.list_certificates() == []


@pytest.mark.parametrize(("call", "expected"), [
    (lambda ca: ca.issue_joint(name="홍길동", rrn=RRN), oids.YESSIGN_GENERAL),
    (lambda ca: ca.issue_joint(name="홍길동", rrn=RRN, policy=JointPolicy.BANKING),
     oids.YESSIGN_BANKING),
    (lambda ca: ca.issue_financial(name="홍길동", rrn=RRN), oids.FINANCIAL_PERSONAL),
    (lambda ca: ca.issue_financial(name="홍길동", rrn=RRN, kind=FinancialKind.BUSINESS),
     oids.FINANCIAL_BUSINESS_3Y),
])
def test_policy_is_selectable(authority, call, expected):
    assert _policy(call(authority).certificate) == expected


def test_ou_marker_follows_the_family(authority):
    joint = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    fin = authority.issue_financial(name="홍길동", rrn=RRN).certificate
    ou = NameOID.ORGANIZATIONAL_UNIT_NAME
    assert joint.subject.get_attributes_for_oid(ou)[0].value == "personal4IB"
    assert fin.subject.get_attributes_for_oid(ou)[0].value == "personalF"


def test_joint_runs_one_year_on_kst_day_boundaries(authority):
    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    # The clock says 2026-03-15 20:30Z, which is 16 March in Korea.
    assert cert.not_valid_before_utc == dt.datetime(2026, 3, 15, 15, 0, 0, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2027, 3, 16, 14, 59, 59, tzinfo=dt.UTC)


def test_financial_runs_three_years(authority):
    cert = authority.issue_financial(name="홍길동", rrn=RRN).certificate
    assert cert.not_valid_after_utc == dt.datetime(2029, 3, 16, 14, 59, 59, tzinfo=dt.UTC)


def test_leap_day_issue_ends_on_28_february(authority, clock: FixedClock):
    clock.set(dt.datetime(2028, 2, 29, 1, 0, tzinfo=dt.UTC))
    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    assert cert.not_valid_after_utc == dt.datetime(2029, 2, 28, 14, 59, 59, tzinfo=dt.UTC)


def test_notice_and_cps_url(authority):
    policy = _ext(authority.issue_joint(name="홍길동", rrn=RRN).certificate,
                  x509.CertificatePolicies)[0]
    notice, cps = policy.policy_qualifiers
    assert notice.explicit_text == "이 인증서는 시험용 인증서입니다"
    assert cps == authority.record.cps_url


def test_crl_and_ocsp_urls_come_from_the_ca(home):
    home.add_ca(CASettings(label="other", style="yessign", crl_url="http://crl.test/x.crl",
                           ocsp_url="http://ocsp.test:4612"), passphrase=None)
    cert = home.authority("other").issue_joint(name="홍길동", rrn=RRN).certificate
    dp = _ext(cert, x509.CRLDistributionPoints)[0].full_name[0].value
    aia = _ext(cert, x509.AuthorityInformationAccess)[0].access_location.value
    assert (dp, aia) == ("http://crl.test/x.crl", "http://ocsp.test:4612")


def test_vid_is_computed_from_rrn_and_a_fresh_r(authority):
    a = authority.issue_joint(name="홍길동", rrn=RRN)
    b = authority.issue_joint(name="홍길동", rrn=RRN)
    assert len(a.r) == 20 and a.r != b.r
    data = _identify(a.certificate)
    assert data.real_name == "홍길동" and data.hash_name == "sha256"
    assert vid_matches(data, RRN, a.r)
    assert not vid_matches(data, RRN, b.r)
    assert not vid_matches(data, synthetic_rrn(dt.date(1990, 5, 17), serial=1), a.r)


def test_aki_names_the_issuers_issuer_and_ca_serial(authority, home):
    cert = authority.issue_joint(name="홍길동", rrn=RRN).certificate
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    ca_cert = authority.certificate
    assert aki.key_identifier == _ext(ca_cert, x509.SubjectKeyIdentifier).digest
    assert aki.authority_cert_issuer == [x509.DirectoryName(ca_cert.issuer)]
    assert aki.authority_cert_serial_number == ca_cert.serial_number


def test_serials_are_random_positive_and_fit_a_signed_64_bit_integer(authority):
    serials = [authority.issue_joint(name="홍길동", rrn=RRN).serial for _ in range(20)]
    assert len(set(serials)) == 20
    assert all(0 < s < 2**63 for s in serials)
    assert max(s.bit_length() for s in serials) > 48


def test_generated_key_is_returned_and_matches(authority):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    assert issued.private_key is not None
    assert issued.private_key.public_key() == issued.certificate.public_key()


def test_public_key_issuance_generates_nothing(authority, key_pool):
    key = key_pool.keys(2048, 6)[5]
    issued = authority.issue_joint(name="홍길동", rrn=RRN, public_key=key.public_key())
    assert issued.private_key is None
    assert issued.certificate.public_key() == key.public_key()


def _csr(key, *, name="x"):
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .sign(key, hashes.SHA256()))


def test_csr_issuance_certifies_the_csr_key(authority, key_pool):
    from cryptography.hazmat.primitives.serialization import Encoding

    key = key_pool.keys(2048, 6)[4]
    for data in (_csr(key).public_bytes(Encoding.PEM), _csr(key).public_bytes(Encoding.DER)):
        issued = authority.issue_joint(name="홍길동", rrn=RRN, csr=data)
        assert issued.private_key is None
        assert issued.certificate.public_key() == key.public_key()


def test_csr_with_bad_signature_is_refused(authority, key_pool, home):
    from cryptography.hazmat.primitives.serialization import Encoding

    der = bytearray(_csr(key_pool.keys(2048, 6)[4]).public_bytes(Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    with pytest.raises(CSRError):
        authority.issue_joint(name="홍길동", rrn=RRN, csr=bytes(der))
    assert home.store.list_certificates() == []


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE REQUEST-----\nAA\n"
                                  b"-----END CERTIFICATE REQUEST-----\n", b"\x30\x03\x02\x01\x00"])
def test_malformed_csr_is_refused(authority, data):
    with pytest.raises(CSRError):
        authority.issue_joint(name="홍길동", rrn=RRN, csr=data)


def test_non_rsa_keys_are_refused(authority):
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(UnsupportedKeyError):
        authority.issue_joint(name="홍길동", rrn=RRN, public_key=key.public_key())
    with pytest.raises(UnsupportedKeyError):
        authority.issue_joint(name="홍길동", rrn=RRN, csr=_csr(key))


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"name": "홍길동", "rrn": "9005171234567"}, InvalidRRNError),
    ({"name": "", "rrn": RRN}, InvalidNameError),
    ({"name": "가" * 31, "rrn": RRN}, InvalidNameError),
    ({"name": "홍길동", "rrn": RRN, "ra": "NOT A UNIT"}, ProfileError),
    ({"name": "홍길동", "rrn": RRN, "ra": "NACF:1"}, ProfileError),
])
def test_bad_input_is_refused_before_anything_is_written(authority, home, kwargs, error):
    with pytest.raises(error):
        authority.issue_joint(**kwargs)
    assert home.store.list_certificates() == []
    assert [e.action for e in home.store.audit_log()] == ["ca.created", "ca.created"]


def test_adding_a_profile_is_adding_data(authority):
    km_like = Profile("joint-test-encipherment", PROFILES["joint-general"].family, 2,
                      "personal4IB", {"yessign": oids.YESSIGN_GENERAL},
                      key_usage=x509.KeyUsage(False, False, True, False, False, False, False,
                                              False, False))
    cert = authority.issue(km_like, name="홍길동", rrn=RRN).certificate
    assert _ext(cert, x509.KeyUsage).key_encipherment
    assert cert.not_valid_after_utc.year == 2028


def test_certificate_may_not_outlive_its_ca(authority, clock: FixedClock):
    clock.set(authority.certificate.not_valid_after_utc - dt.timedelta(days=200))
    with pytest.raises(ProfileError):
        authority.issue_joint(name="홍길동", rrn=RRN)


def test_unknown_profile_names_the_known_ones():
    assert get_profile("joint-general") is PROFILES["joint-general"]
    with pytest.raises(ProfileError, match=r"unknown profile 'nope'.*joint-general"):
        get_profile("nope")
