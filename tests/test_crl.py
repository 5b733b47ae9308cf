"""Lifecycle rules and CRLs (full and delta), checked against pyca and openssl."""

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from pki import lifecycle
from pki.errors import (
    AlreadyRevokedError,
    CertificateExpiredError,
    CertificateNotFoundError,
    LifecycleError,
    NotSuspendedError,
    PKIError,
    RenewalWindowError,
)
from pki.formats.crlder import encode_crl
from pki.revocation.crl import delta_url, issue_crl
from pki.store import CertStatus, CRLEntry

RRN = "9005171234566"
R = x509.ReasonFlags


@pytest.fixture
def ca_key(home, authority):
    return home.load_ca_key(authority.label, None)


def _issue(authority, n=1):
    return [authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(n)]


def _now(clock):
    return clock.now()


def _revoked_serials(crl):
    return {r.serial_number for r in crl}


# -- the hand-written encoder against pyca ------------------------------------------------


def test_encoder_matches_pycas_builder_byte_for_byte(authority, ca_key, clock):
    cert = authority.certificate
    at = clock.now()
    utc = dt.UTC
    entries = [
        CRLEntry(0x7F01, dt.datetime(2026, 3, 1, tzinfo=utc), None, None),
        CRLEntry(0x80FF, dt.datetime(2026, 3, 2, 10, 11, 12, tzinfo=utc), R.key_compromise,
                 dt.datetime(2026, 2, 27, tzinfo=utc)),
        CRLEntry(0x0123456789ABCDEF0123456789ABCDEF, dt.datetime(2051, 1, 1, tzinfo=utc),
                 R.certificate_hold, None),
        CRLEntry(5, dt.datetime(2026, 3, 3, tzinfo=utc), R.unspecified, None),
        CRLEntry(6, dt.datetime(2026, 3, 4, tzinfo=utc), R.remove_from_crl, None),
        CRLEntry(0xAB, dt.datetime(2026, 3, 5, tzinfo=utc), None, None),  # one byte, high bit
        CRLEntry(0xFF, dt.datetime(2026, 3, 5, tzinfo=utc), None, None),
        CRLEntry(7, dt.datetime(2026, 3, 6, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=9))),
                 R.superseded, None),  # a KST time is written in UTC
    ]
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    extensions = [
        x509.Extension(ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False,
                       x509.AuthorityKeyIdentifier(ski.digest, None, None)),
        x509.Extension(ExtensionOID.CRL_NUMBER, False, x509.CRLNumber(7)),
        x509.Extension(ExtensionOID.DELTA_CRL_INDICATOR, True, x509.DeltaCRLIndicator(6)),
        x509.Extension(ExtensionOID.ISSUING_DISTRIBUTION_POINT, True,
                       x509.IssuingDistributionPoint(
                           [x509.UniformResourceIdentifier("http://x/y.crl")], None, False,
                           False, None, False, False)),
        x509.Extension(ExtensionOID.FRESHEST_CRL, False, x509.FreshestCRL([
            x509.DistributionPoint([x509.UniformResourceIdentifier("http://x/y-delta.crl")],
                                   None, None, None)])),
    ]
    ours, count = encode_crl(issuer=cert.subject, this_update=at,
                             next_update=at + dt.timedelta(days=1), entries=entries,
                             extensions=extensions, key=ca_key)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
               .last_update(at).next_update(at + dt.timedelta(days=1)))
    for e in entries:
        revoked = (x509.RevokedCertificateBuilder().serial_number(e.serial)
                   .revocation_date(e.revoked_at))
        if e.reason not in (None, R.unspecified):
            revoked = revoked.add_extension(x509.CRLReason(e.reason), critical=False)
        if e.invalidity_date:
            revoked = revoked.add_extension(
                x509.InvalidityDate(e.invalidity_date.replace(tzinfo=None)), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    for ext in extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    reference = builder.sign(ca_key, hashes.SHA256())
    assert count == len(entries)
    assert ours == reference.public_bytes(Encoding.DER)


def test_empty_crl_matches_pyca(authority, ca_key, clock):
    at = clock.now()
    ours, count = encode_crl(issuer=authority.certificate.subject, this_update=at,
                             next_update=at + dt.timedelta(hours=1), entries=[], extensions=[],
                             key=ca_key)
    reference = (x509.CertificateRevocationListBuilder().issuer_name(authority.certificate.subject)
                 .last_update(at).next_update(at + dt.timedelta(hours=1))
                 .sign(ca_key, hashes.SHA256()))
    assert (ours, count) == (reference.public_bytes(Encoding.DER), 0)


# -- lifecycle rules ---------------------------------------------------------------------


def test_revoke_records_reason_time_and_audit(authority, home, clock):
    (c,) = _issue(authority)
    invalid_from = clock.now() - dt.timedelta(days=2)
    record = lifecycle.revoke(home.store, c.serial, at=clock.now(), reason=R.key_compromise,
                              invalidity_date=invalid_from)
    assert record.status is CertStatus.REVOKED and record.status.code == 30
    assert (record.reason, record.revoked_at, record.invalidity_date) == (
        R.key_compromise, clock.now(), invalid_from)
    assert home.store.audit_log(serial=c.serial)[-1].action == "certificate.revoked"


def test_revoke_refusals_change_nothing(authority, home, clock):
    (c,) = _issue(authority)
    with pytest.raises(CertificateNotFoundError):
        lifecycle.revoke(home.store, 12345, at=clock.now())
    lifecycle.revoke(home.store, c.serial, at=clock.now())
    before = home.store.audit_log()
    with pytest.raises(AlreadyRevokedError):
        lifecycle.revoke(home.store, c.serial, at=clock.now())
    with pytest.raises(AlreadyRevokedError):
        lifecycle.resume(home.store, c.serial, at=clock.now())
    with pytest.raises(AlreadyRevokedError):
        lifecycle.suspend(home.store, c.serial, at=clock.now())
    with pytest.raises(ValueError):
        lifecycle.revoke(home.store, c.serial, at=clock.now(), reason=R.certificate_hold)
    assert home.store.audit_log() == before


def test_suspend_and_resume(authority, home, clock):
    (c,) = _issue(authority)
    record = lifecycle.suspend(home.store, c.serial, at=clock.now())
    assert record.status is CertStatus.SUSPENDED and record.status.code == 40
    assert record.reason is R.certificate_hold
    with pytest.raises(LifecycleError):
        lifecycle.suspend(home.store, c.serial, at=clock.now())
    clock.advance(dt.timedelta(days=30))
    record = lifecycle.resume(home.store, c.serial, at=clock.now())
    assert record.status is CertStatus.VALID and record.revoked_at is None
    with pytest.raises(NotSuspendedError):
        lifecycle.resume(home.store, c.serial, at=clock.now())


def test_suspending_an_expired_certificate_is_refused(authority, home, clock):
    (c,) = _issue(authority)
    clock.set(c.certificate.not_valid_after_utc + dt.timedelta(seconds=1))
    with pytest.raises(CertificateExpiredError):
        lifecycle.suspend(home.store, c.serial, at=clock.now())
    assert home.store.find_certificates(c.serial)[0].status is CertStatus.VALID


def test_suspension_lapses_into_revocation_at_the_next_crl(authority, home, clock, ca_key):
    a, b = _issue(authority, 2)
    lifecycle.suspend(home.store, a.serial, at=clock.now())
    clock.advance(dt.timedelta(days=100))
    lifecycle.suspend(home.store, b.serial, at=clock.now())
    clock.set(lifecycle.suspension_lapses_at(clock.now() - dt.timedelta(days=100)))
    with pytest.raises(LifecycleError):
        lifecycle.resume(home.store, a.serial, at=clock.now())
    crl = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    assert home.store.find_certificates(a.serial)[0].status is CertStatus.REVOKED
    assert home.store.find_certificates(b.serial)[0].status is CertStatus.SUSPENDED
    parsed = x509.load_der_x509_crl(crl.der)
    assert len(parsed.get_revoked_certificate_by_serial_number(a.serial).extensions) == 0
    hold = parsed.get_revoked_certificate_by_serial_number(b.serial)
    reason = hold.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is R.certificate_hold


def test_six_months_is_calendar_months():
    at = dt.datetime(2026, 8, 31, 12, tzinfo=dt.UTC)
    assert lifecycle.suspension_lapses_at(at) == dt.datetime(2027, 2, 28, 12, tzinfo=dt.UTC)


# -- renewal and reissue -------------------------------------------------------------------


def test_renewal_window_and_term(authority, home, clock):
    (c,) = _issue(authority)
    not_after = c.certificate.not_valid_after_utc
    with pytest.raises(RenewalWindowError) as early:
        authority.renew(c.serial, rrn=RRN)
    assert "opens on" in str(early.value)
    clock.set(not_after - dt.timedelta(days=29))
    new = authority.renew(c.serial, rrn=RRN)
    assert new.certificate.not_valid_after_utc == not_after.replace(year=not_after.year + 1)
    assert new.private_key.public_key() != c.private_key.public_key()
    assert home.store.find_certificates(c.serial)[0].status is CertStatus.VALID  # old stays
    assert home.store.find_certificates(new.serial)[0].replaces == c.serial
    with pytest.raises(LifecycleError):
        authority.renew(c.serial, rrn=RRN)


def test_renewal_after_expiry_points_to_new_issuance(authority, clock):
    (c,) = _issue(authority)
    clock.set(c.certificate.not_valid_after_utc + dt.timedelta(seconds=1))
    with pytest.raises(RenewalWindowError) as late:
        authority.renew(c.serial, rrn=RRN)
    assert "issue a new certificate" in str(late.value)


def test_financial_renewal_runs_three_years(authority, clock):
    c = authority.issue_financial(name="김철수", rrn=RRN)
    not_after = c.certificate.not_valid_after_utc
    clock.set(not_after - dt.timedelta(days=30))
    new = authority.renew(c.serial, rrn=RRN)
    assert new.certificate.not_valid_after_utc.year == not_after.year + 3


def test_reissue_revokes_the_old_and_keeps_not_after(authority, home, clock):
    (c,) = _issue(authority)
    clock.advance(dt.timedelta(days=40))
    new = authority.reissue(c.serial, rrn=RRN)
    assert new.certificate.not_valid_after_utc == c.certificate.not_valid_after_utc
    old = home.store.find_certificates(c.serial)[0]
    assert (old.status, old.reason) == (CertStatus.REVOKED, R.superseded)
    with pytest.raises(AlreadyRevokedError):
        authority.reissue(c.serial, rrn=RRN)


# -- CRLs -----------------------------------------------------------------------------------


def test_full_crl_content(authority, home, clock, ca_key):
    a, b, c, d = _issue(authority, 4)
    lifecycle.revoke(home.store, a.serial, at=clock.now(), reason=R.key_compromise,
                     invalidity_date=clock.now() - dt.timedelta(days=1))
    lifecycle.suspend(home.store, b.serial, at=clock.now())
    lifecycle.revoke(home.store, d.serial, at=clock.now(), reason=R.superseded)
    first = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    second = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    assert second.info.number > first.info.number
    crl = x509.load_der_x509_crl(second.der)
    assert crl.is_signature_valid(authority.certificate.public_key())
    assert _revoked_serials(crl) == {a.serial, b.serial, d.serial}
    entry = crl.get_revoked_certificate_by_serial_number(a.serial)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is \
        R.key_compromise
    assert entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc \
        == clock.now() - dt.timedelta(days=1)
    ext = crl.extensions
    assert ext.get_extension_for_class(x509.CRLNumber).value.crl_number == second.info.number
    idp = ext.get_extension_for_class(x509.IssuingDistributionPoint)
    dp = c.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert idp.critical and idp.value.full_name == dp[0].full_name
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == authority.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    with pytest.raises(x509.ExtensionNotFound):  # deltas are not announced by default
        ext.get_extension_for_class(x509.FreshestCRL)
    announced = issue_crl(authority.record, ca_key, home.store, at=clock.now(),
                          announce_delta=True)
    freshest = x509.load_der_x509_crl(announced.der).extensions.get_extension_for_class(
        x509.FreshestCRL).value
    assert freshest[0].full_name[0].value == delta_url(authority.record.crl_url)


def test_the_roots_crl_covers_all_it_issued(home, clock):
    root = home.store.get_ca("root")
    crl = issue_crl(root, home.load_ca_key("root", None), home.store, at=clock.now())
    with pytest.raises(x509.ExtensionNotFound):  # the root certificate names no CRL DP
        x509.load_der_x509_crl(crl.der).extensions.get_extension_for_class(
            x509.IssuingDistributionPoint)


def test_expired_certificates_leave_the_crl(authority, home, clock, ca_key):
    (c,) = _issue(authority)
    lifecycle.revoke(home.store, c.serial, at=clock.now())
    clock.set(c.certificate.not_valid_after_utc + dt.timedelta(days=1))
    crl = x509.load_der_x509_crl(issue_crl(authority.record, ca_key, home.store,
                                           at=clock.now()).der)
    assert len(crl) == 0


def test_delta_crl_lists_changes_since_its_base(authority, home, clock, ca_key):
    a, b, c = _issue(authority, 3)
    lifecycle.revoke(home.store, a.serial, at=clock.now())
    lifecycle.suspend(home.store, b.serial, at=clock.now())
    base = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    clock.advance(dt.timedelta(hours=2))
    lifecycle.resume(home.store, b.serial, at=clock.now())
    lifecycle.revoke(home.store, c.serial, at=clock.now(), reason=R.cessation_of_operation)
    delta = issue_crl(authority.record, ca_key, home.store, at=clock.now(), delta=True)
    parsed = x509.load_der_x509_crl(delta.der)
    assert delta.info.delta_base == base.info.number
    assert delta.info.number > base.info.number
    indicator = parsed.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical and indicator.value.crl_number == base.info.number
    assert _revoked_serials(parsed) == {b.serial, c.serial}
    removed = parsed.get_revoked_certificate_by_serial_number(b.serial)
    assert removed.extensions.get_extension_for_class(x509.CRLReason).value.reason is \
        R.remove_from_crl
    with pytest.raises(x509.ExtensionNotFound):
        parsed.extensions.get_extension_for_class(x509.FreshestCRL)


def test_delta_needs_a_base(authority, home, clock, ca_key):
    with pytest.raises(PKIError):
        issue_crl(authority.record, ca_key, home.store, at=clock.now(), delta=True)


def test_openssl_crl_checks_the_signature(authority, home, clock, ca_key, tmp_path):
    (c,) = _issue(authority)
    lifecycle.revoke(home.store, c.serial, at=clock.now())
    (der_path,) = [path for crl, path in home.publish_crls(passphrase=None)
                   if crl.info.ca == authority.label]
    (tmp_path / "ca.pem").write_bytes(authority.certificate.public_bytes(Encoding.PEM))
    done = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(der_path), "-noout",
                           "-CAfile", str(tmp_path / "ca.pem")], capture_output=True, text=True)
    assert done.returncode == 0 and "verify OK" in done.stderr + done.stdout
    assert der_path.with_name(der_path.name + ".pem").read_bytes().startswith(
        b"-----BEGIN X509 CRL-----")
    assert der_path.relative_to(home.publish_dir).as_posix() == "crl/yessign.crl"


# -- CRLs from outside: malformed ones are typed kpki errors --------------------------------


def test_a_crl_of_an_unknown_version_is_a_revocation_data_error(authority, home, clock, ca_key):
    from pki.errors import RevocationDataError
    from pki.signing.verify import CRLIndex

    der = issue_crl(authority.record, ca_key, home.store, at=clock.now()).der
    version = der.index(bytes.fromhex("020101"))
    assert version < 12  # the TBS's first field
    bad = der[:version] + bytes.fromhex("020105") + der[version + 3:]
    with pytest.raises(RevocationDataError):
        CRLIndex.load(bad)


def test_an_entry_with_an_unsupported_reason_is_a_revocation_data_error(authority, ca_key,
                                                                      clock):
    from pki.errors import RevocationDataError
    from pki.signing.verify import CRLIndex

    at = clock.now()
    der, _ = encode_crl(issuer=authority.certificate.subject, this_update=at,
                        next_update=at + dt.timedelta(days=1),
                        entries=[CRLEntry(0x7F01, dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                                          R.key_compromise, None)],
                        extensions=[], key=ca_key)
    reason = bytes.fromhex("0603551d1504030a0101")  # crlReason keyCompromise
    assert der.count(reason) == 1
    bad = der.replace(reason, reason[:-1] + b"\x07")  # 7 is unassigned in RFC 5280
    index = CRLIndex.load(bad)
    with pytest.raises(RevocationDataError):
        index.lookup(0x7F01)
