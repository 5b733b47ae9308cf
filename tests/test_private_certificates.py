"""Private certificates (사설인증서), the third family: the profile and the CA part
(issue 15 item 3, first part), modelled on KB's mobile certificate (korean-pki.md section 9):
two years, renewable after one year of use, signing like a joint certificate."""

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from pki import oids
from pki.clock import FixedClock
from pki.errors import ProfileError, RenewalWindowError
from pki.hierarchy import CASettings
from pki.profiles import (
    PRIVATE_PROFILE,
    PRIVATE_STYLE,
    PROFILES,
    SIGNING,
    STYLES,
    Family,
    PolicyClass,
    policy_class,
)
from pki.rrn import synthetic_rrn
from pki.signing import CheckName, Outcome
from pki.testing import TestPKI
from pki.vid import decode_identify_data, vid_matches
from tests.bank_helpers import RRN, T0
from tests.helpers import assert_subscriber_profile, subject_layout
from tests.test_bank_transfers import MILLION, _bank

PROFILE_RRN = synthetic_rrn(dt.date(1990, 5, 17), serial=12345)


def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls).value


@pytest.fixture
def private_ca(home):
    """A bank's own CA of private certificates (the kbprivate style) beside the home's
    licensed CA."""
    home.add_ca(CASettings(label="kbprivate", style=PRIVATE_STYLE), passphrase=None)
    return home.authority("kbprivate")


@pytest.fixture(scope="module")
def pki():
    test_pki = TestPKI(seed="private-certificates", clock=FixedClock(T0))
    yield test_pki
    test_pki.close()


# -- the profile ---------------------------------------------------------------------------


def test_the_private_profile_is_data_of_its_own_family():
    assert PROFILES["private-personal"] is PRIVATE_PROFILE
    assert PRIVATE_PROFILE.family is Family.PRIVATE
    assert PRIVATE_PROFILE.term_years == 2
    assert PRIVATE_PROFILE.renewal_after_years == 1
    assert PRIVATE_PROFILE.key_usage == SIGNING
    assert "private-personal-km" not in PROFILES


def test_only_the_private_style_issues_private_certificates_and_nothing_else():
    assert set(PRIVATE_PROFILE.policy_oids) == {PRIVATE_STYLE}
    others = [p for p in PROFILES.values() if p is not PRIVATE_PROFILE]
    assert all(PRIVATE_STYLE not in p.policy_oids for p in others)
    assert STYLES[PRIVATE_STYLE].ca_unit == "PrivateCA"


def test_a_licensed_ca_refuses_a_private_certificate_and_the_private_ca_a_joint_one(
        authority, private_ca):
    before = len(authority.store.list_certificates())
    with pytest.raises(ProfileError) as licensed:
        authority.issue_private(name="홍길동", rrn=PROFILE_RRN)
    assert licensed.value.profile == "private-personal"
    with pytest.raises(ProfileError) as private:
        private_ca.issue_joint(name="홍길동", rrn=PROFILE_RRN)
    assert private.value.profile == "joint-general"
    assert len(authority.store.list_certificates()) == before


def test_the_policy_is_kpkis_own_test_oid_and_reads_as_private():
    assert oids.PRIVATE_PERSONAL.dotted_string.startswith("2.999.")
    assert set(PRIVATE_PROFILE.policy_oids.values()) == {oids.PRIVATE_PERSONAL}
    assert policy_class(oids.PRIVATE_PERSONAL.dotted_string) is PolicyClass.PRIVATE


def test_a_private_certificate_has_the_joint_structure_and_subject_shape(authority,
                                                                         private_ca):
    private = private_ca.issue_private(name="홍길동", rrn=PROFILE_RRN).certificate
    joint = authority.issue_joint(name="홍길동", rrn=PROFILE_RRN).certificate
    assert_subscriber_profile(private)
    assert subject_layout(private) == subject_layout(joint)
    units = private.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [u.value for u in units] == [PRIVATE_PROFILE.ou_marker, "INITECH"]
    issuer = private.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in issuer] == ["KB Kookmin Bank"]
    usage = _ext(private, x509.KeyUsage)
    assert (usage.digital_signature, usage.content_commitment, usage.key_encipherment,
            usage.key_cert_sign) == (True, True, False, False)
    (policy,) = _ext(private, x509.CertificatePolicies)
    assert policy.policy_identifier == oids.PRIVATE_PERSONAL


def test_a_private_certificate_runs_two_years_on_kst_day_boundaries(private_ca):
    cert = private_ca.issue_private(name="홍길동", rrn=PROFILE_RRN).certificate
    # The clock says 2026-03-15 20:30Z, which is 16 March in Korea.
    assert cert.not_valid_before_utc == dt.datetime(2026, 3, 15, 15, 0, 0, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2028, 3, 16, 14, 59, 59, tzinfo=dt.UTC)


def test_the_vid_matches_the_holders_rrn_and_no_other(pki):
    cert = pki.private("홍길동", rrn=RRN)
    (other,) = _ext(cert.cert, x509.SubjectAlternativeName).get_values_for_type(
        x509.OtherName)
    data = decode_identify_data(other.value)
    assert data.real_name == "홍길동"
    assert vid_matches(data, RRN, cert.r)
    assert not vid_matches(data, "850101-2345678", cert.r)


# -- verified ------------------------------------------------------------------------------


def test_openssl_verify_accepts_the_chain_under_the_private_policy(pki, tmp_path):
    cert = pki.private("홍길동", rrn=RRN)
    ca, root = cert.chain
    for name, c in (("root", root), ("ca", ca), ("leaf", cert.cert)):
        (tmp_path / f"{name}.pem").write_bytes(c.public_bytes(Encoding.PEM))
    at = str(int(T0.timestamp()))
    base = ["openssl", "verify", "-attime", at, "-CAfile", tmp_path / "root.pem",
            "-untrusted", tmp_path / "ca.pem", "-policy_check", "-explicit_policy"]
    ok = subprocess.run([*base, "-policy", oids.PRIVATE_PERSONAL.dotted_string,
                         tmp_path / "leaf.pem"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().endswith(": OK")
    # A relying party that wants a joint certificate does not take it for one.
    refused = subprocess.run([*base, "-policy", oids.YESSIGN_GENERAL.dotted_string,
                              tmp_path / "leaf.pem"], capture_output=True)
    assert refused.returncode != 0


def test_kpkis_verifier_accepts_it_with_the_vid_and_refuses_it_revoked(pki):
    cert = pki.private("홍길동", rrn=RRN)
    signature = pki.sign(cert, b"hello")
    result = pki.verifier().verify(signature, rrn=RRN, r=cert.r)
    assert result.ok, result.summary()
    assert result.check(CheckName.CHAIN).outcome is Outcome.PASSED
    assert result.check(CheckName.REVOCATION).outcome is Outcome.PASSED
    assert result.check(CheckName.VID).outcome is Outcome.PASSED
    pki.revoke(cert)
    refused = pki.verifier().verify(signature, rrn=RRN, r=cert.r)
    assert not refused.ok
    assert refused.check(CheckName.REVOCATION).outcome is Outcome.FAILED


# -- renewal: after one year of use --------------------------------------------------------


def test_renewal_opens_after_one_year_of_use_not_30_days_before_the_end(private_ca,
                                                                        clock: FixedClock):
    issued = private_ca.issue_private(name="홍길동", rrn=PROFILE_RRN)
    not_before = issued.certificate.not_valid_before_utc
    clock.set(not_before + dt.timedelta(days=364))
    with pytest.raises(RenewalWindowError) as refused:
        private_ca.renew(issued.serial, rrn=PROFILE_RRN)
    assert refused.value.opens_at == dt.datetime(2027, 3, 15, 15, 0, tzinfo=dt.UTC)
    clock.set(dt.datetime(2027, 3, 15, 15, 0, tzinfo=dt.UTC))
    renewed = private_ca.renew(issued.serial, rrn=PROFILE_RRN)
    assert renewed.profile is PRIVATE_PROFILE


def test_the_renewal_rule_is_a_setting_of_the_profile():
    rule = PRIVATE_PROFILE.renewal_opens_at(
        not_before=dt.datetime(2026, 3, 15, 15, 0, tzinfo=dt.UTC),
        not_after=dt.datetime(2028, 3, 16, 14, 59, 59, tzinfo=dt.UTC))
    assert rule == dt.datetime(2027, 3, 15, 15, 0, tzinfo=dt.UTC)
    joint = PROFILES["joint-general"].renewal_opens_at(
        not_before=dt.datetime(2026, 3, 15, 15, 0, tzinfo=dt.UTC),
        not_after=dt.datetime(2027, 3, 16, 14, 59, 59, tzinfo=dt.UTC))
    assert joint == dt.datetime(2027, 2, 14, 14, 59, 59, tzinfo=dt.UTC)


# -- the bank accepts it -------------------------------------------------------------------


@pytest.mark.parametrize("table", ["hana", "kb"])
def test_a_transfer_signed_with_a_private_certificate_is_accepted(tmp_path, pki, table):
    bank = _bank(tmp_path, pki, limit_table=table)
    result = bank.send(MILLION, cert=pki.private("홍길동", rrn=RRN))
    assert (result.accepted, result.code) == (True, None)
    assert bank.balance() == 49 * MILLION
