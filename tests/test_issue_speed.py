"""Issue 18's issuance: the statements a commit-per-certificate issuance runs, and the
certificates the one-call builder makes, byte for byte as pyca's chained builder makes them."""

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from pki.authority import IssueRequest, _common_name
from pki.profiles import DEFAULT_RA, PROFILES, STYLES, RegistrationAuthority

RRN = "9005171234566"


def _statements(home):
    """The statements the store's connection runs, as a list to read (SQLite only)."""
    conn = getattr(home.store, "_conn", None)
    if conn is None or not hasattr(conn, "set_trace_callback"):
        pytest.skip("an SQLite store")
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return seen


def test_an_issuance_in_the_same_second_writes_one_row_in_one_transaction(home, authority,
                                                                           key_pool):
    key = key_pool.keys(2048, 1)[0].public_key()
    for _ in range(4):  # the CN sequence blocks of 1, 2 (and the time) are taken
        authority.issue_joint(name="홍길동", rrn=RRN, public_key=key)
    seen = _statements(home)
    issued = authority.issue_joint(name="홍길동", rrn=RRN, public_key=key)
    # The trace gives a statement's text again for each trigger program it runs (the
    # certificate.issued audit row): counted once.
    words = [" ".join(s.split()[:3]) for n, s in enumerate(seen) if not n or s != seen[n - 1]]
    # No UPDATE of the CA's row: its latest time is read, and is the issuance's already.
    assert words == ["BEGIN IMMEDIATE", "SELECT last_event_at FROM",
                     "INSERT INTO certificates", "COMMIT"], words
    [stored] = home.store.find_certificates(issued.serial)
    assert stored.issued_at == authority.clock.now().replace(microsecond=0)
    [event] = [e for e in home.store.audit_log(serial=issued.serial)]
    assert event.action == "certificate.issued"


def test_an_issuance_at_a_later_time_moves_the_cas_time_on(home, authority, clock, key_pool):
    key = key_pool.keys(2048, 1)[0].public_key()
    authority.issue_joint(name="홍길동", rrn=RRN, public_key=key)
    clock.advance(dt.timedelta(seconds=3))
    seen = _statements(home)
    issued = authority.issue_joint(name="홍길동", rrn=RRN, public_key=key)
    assert any(s.startswith("UPDATE cas SET last_event_at") for s in seen)
    assert home.store.find_certificates(issued.serial)[0].issued_at == clock.now().replace(
        microsecond=0)


def _pyca_chain(issued, authority):
    """The same certificate from pyca's builder, one call at a time."""
    cert = issued.certificate
    ca = authority.certificate
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(ca.subject)
               .public_key(cert.public_key()).serial_number(cert.serial_number)
               .not_valid_before(cert.not_valid_before_utc)
               .not_valid_after(cert.not_valid_after_utc)
               .add_extension(x509.AuthorityKeyIdentifier(
                   ski.digest, [x509.DirectoryName(ca.issuer)], ca.serial_number),
                   critical=False))
    for oid in (ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.KEY_USAGE,
                ExtensionOID.CERTIFICATE_POLICIES, ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                ExtensionOID.CRL_DISTRIBUTION_POINTS,
                ExtensionOID.AUTHORITY_INFORMATION_ACCESS):
        try:
            ext = cert.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            continue
        value = ext.value
        if oid == ExtensionOID.CERTIFICATE_POLICIES:  # its BMPString notice, as issued:
            value = x509.UnrecognizedExtension(oid, _raw_extension(cert, oid))  # pyca
        builder = builder.add_extension(value, critical=ext.critical)  # would write UTF8
    return builder


def _raw_extension(cert, oid):
    from asn1crypto import x509 as asn1_x509

    return next(e["extn_value"].contents for e in asn1_x509.Certificate.load(
        cert.public_bytes(Encoding.DER))["tbs_certificate"]["extensions"]
        if e["extn_id"].dotted == oid.dotted_string)


@pytest.mark.parametrize("profile", ["joint-general", "joint-banking", "financial-personal",
                                     "financial-business"])
def test_issued_certificates_are_what_pycas_chained_builder_makes(home, authority, profile,
                                                                  key_pool):
    key = key_pool.keys(2048, 1)[0].public_key()
    request = IssueRequest(PROFILES[profile], name="홍길동", rrn=RRN, public_key=key,
                           with_km=profile.startswith("joint"),
                           km_public_key=key if profile.startswith("joint") else None)
    [one] = authority.issue_many([request])
    two = authority.issue(request.profile, name="홍길동", rrn=RRN, public_key=key)
    ca_key = home.load_ca_key(authority.label, None)
    for issued in [one, two, *([one.key_management] if one.key_management else [])]:
        assert issued is not None
        assert next(e.oid for e in issued.certificate.extensions) == \
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER
        again = _pyca_chain(issued, authority).sign(ca_key, hashes.SHA256())
        assert again.public_bytes(Encoding.DER) == issued.certificate.public_bytes(
            Encoding.DER)


def test_a_sharded_cas_certificates_are_what_pycas_chained_builder_makes(home, authority,
                                                                         key_pool):
    home.set_crl_shards(authority.label, 4)
    sharded = home.authority(authority.label)
    key = key_pool.keys(2048, 1)[0].public_key()
    issued = sharded.issue_joint(name="홍길동", rrn=RRN, public_key=key)
    point = issued.certificate.extensions.get_extension_for_class(
        x509.CRLDistributionPoints).value[0].full_name[0].value
    assert point.endswith(f"/{issued.serial % 4}.crl")
    again = _pyca_chain(issued, sharded).sign(home.load_ca_key(sharded.label, None),
                                              hashes.SHA256())
    assert again.public_bytes(Encoding.DER) == issued.certificate.public_bytes(Encoding.DER)


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("day", [dt.date(2026, 3, 16), dt.date(1999, 12, 31),
                                 dt.date(2050, 1, 2)])
def test_the_cn_is_the_template_formatted_with_the_day(style, day):
    ra = RegistrationAuthority.parse(DEFAULT_RA) if isinstance(DEFAULT_RA, str) else DEFAULT_RA
    template = STYLES[style].cn_template
    for _ in range(2):  # the day's formats are kept after the first
        assert _common_name(STYLES[style], name="홍길동", alias="HONG", ra=ra, day=day,
                            seq=42) == template.format(
            name="홍길동", alias="HONG", institution=ra.institution, branch=ra.branch,
            date=day, seq=42)
