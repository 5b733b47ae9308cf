"""Issue 18's full CRL: lines encoded from the store's text, read from a covering index, the
CRL assembled in one buffer, the published number read without reading the entries."""

import datetime as dt
import io
import sqlite3

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from pki import lifecycle
from pki.formats.crlder import encode_crl, encode_entry, read_crl_number, stored_entries_der
from pki.revocation.crl import issue_crl, write_crl
from pki.store import CRLEntry
from pki.store.sqlite.common import hex_serial, ts

RRN = "9005171234566"
R = x509.ReasonFlags
UTC = dt.UTC

serials = st.one_of(st.integers(1, 2**63 - 1), st.integers(1, 2**159 - 1),
                    st.sampled_from([1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 2**159 - 1]))
times = st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(9999, 12, 31),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))
reasons = st.sampled_from([None, *R])
entries = st.builds(CRLEntry, serials, times, reasons, st.one_of(st.none(), times))


def _stored(entry: CRLEntry) -> tuple[str, str, str | None, str | None]:
    """``entry`` as the store keeps it."""
    return (hex_serial(entry.serial), ts(entry.revoked_at),
            None if entry.reason is None else entry.reason.value,
            None if entry.invalidity_date is None else ts(entry.invalidity_date))


@settings(max_examples=400, deadline=None)
@given(st.lists(entries, max_size=8))
def test_stored_lines_encode_as_the_typed_encoder_does(lines):
    assert list(stored_entries_der(map(_stored, lines))) == [encode_entry(e) for e in lines]


def test_a_time_not_as_the_store_writes_it_is_still_encoded():
    entry = CRLEntry(5, dt.datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC), R.superseded, None)
    [line] = stored_entries_der([("5", "2026-03-01T01:02:03+00:00", "superseded", None)])
    assert line == encode_entry(entry)


@pytest.fixture
def ca_key(home, authority):
    return home.load_ca_key(authority.label, None)


def _crl(authority, ca_key, lines, *, encoded):
    at = dt.datetime(2026, 3, 4, tzinfo=UTC)
    return encode_crl(
        issuer=authority.certificate.subject, this_update=at, next_update=at + dt.timedelta(1),
        **({"encoded_entries": stored_entries_der(map(_stored, lines))} if encoded
           else {"entries": lines}),
        extensions=[x509.Extension(x509.oid.ExtensionOID.CRL_NUMBER, False,
                                   x509.CRLNumber(7))], key=ca_key)


@pytest.mark.parametrize("count", [0, 1, 3, 200, 5000])
def test_a_crl_of_stored_lines_is_the_crl_of_typed_entries(authority, ca_key, count):
    lines = [CRLEntry(n * 7919 + 1, dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(
        seconds=n), [None, R.key_compromise, R.certificate_hold][n % 3], None)
        for n in range(count)]
    typed, typed_count = _crl(authority, ca_key, lines, encoded=False)
    stored, stored_count = _crl(authority, ca_key, lines, encoded=True)
    assert stored == typed and typed_count == stored_count == count
    crl = x509.load_der_x509_crl(stored)
    assert crl.is_signature_valid(authority.certificate.public_key())
    assert [e.serial_number for e in crl] == [e.serial for e in lines]


def test_the_crl_is_pycas_crl_of_the_same_lines(authority, ca_key):
    # The buffer's front room (headers written once the lengths are known) holds lengths
    # of one to three octets: 0, 100 and 2,000 entries take each size.
    for count in (0, 2, 2000):
        lines = [CRLEntry(n + 1, dt.datetime(2026, 3, 1, tzinfo=UTC), R.superseded, None)
                 for n in range(count)]
        ours, _ = _crl(authority, ca_key, lines, encoded=True)
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(authority.certificate.subject)
                   .last_update(dt.datetime(2026, 3, 4, tzinfo=UTC))
                   .next_update(dt.datetime(2026, 3, 5, tzinfo=UTC))
                   .add_extension(x509.CRLNumber(7), critical=False))
        for e in lines:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(e.serial)
                .revocation_date(e.revoked_at)
                .add_extension(x509.CRLReason(R.superseded), critical=False).build())
        theirs = builder.sign(ca_key, hashes.SHA256())
        assert ours == theirs.public_bytes(Encoding.DER)


# -- the published CRL's number --------------------------------------------------------------


class _Counting(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.read_bytes += len(out)
        return out


def test_the_published_number_is_read_without_the_entries(authority, ca_key):
    lines = [CRLEntry(n + 1, dt.datetime(2026, 3, 1, tzinfo=UTC), None, None)
             for n in range(20000)]
    der, _ = _crl(authority, ca_key, lines, encoded=True)
    fh = _Counting(der)
    assert read_crl_number(fh) == 7
    assert len(der) > 200_000 and fh.read_bytes < 2000


def test_the_published_number_matches_pyca_on_kpkis_crls(authority, home, clock, ca_key):
    a, b = (authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(2))
    assert read_crl_number(io.BytesIO(issue_crl(authority.record, ca_key, home.store,
                                                at=clock.now()).der)) is not None
    lifecycle.revoke(home.store, a.serial, at=clock.now(), reason=R.key_compromise)
    lifecycle.suspend(home.store, b.serial, at=clock.now())
    for delta in (False, True):
        crl = issue_crl(authority.record, ca_key, home.store, at=clock.now(), delta=delta)
        assert read_crl_number(io.BytesIO(crl.der)) == crl.info.number
    root = home.store.get_ca("root")
    crl = issue_crl(root, home.load_ca_key("root", None), home.store, at=clock.now())
    assert read_crl_number(io.BytesIO(crl.der)) == crl.info.number


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_anything_else_has_no_published_number(data):
    assert read_crl_number(io.BytesIO(data)) is None


def test_a_cut_crl_has_no_published_number(authority, ca_key):
    der, _ = _crl(authority, ca_key, [CRLEntry(9, dt.datetime(2026, 3, 1, tzinfo=UTC), None,
                                               None)], encoded=True)
    tail = der.index(bytes.fromhex("0603551d14"))  # the CRL number's OID, near the end
    for cut in (0, 1, 5, tail - 3, tail + 4):
        assert read_crl_number(io.BytesIO(der[:cut])) is None


def test_a_newer_file_is_not_overwritten(authority, home, clock, ca_key, tmp_path):
    first = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    second = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    assert write_crl(second, tmp_path, authority.record.crl_url) is not None
    assert write_crl(first, tmp_path, authority.record.crl_url) is None
    published = tmp_path.joinpath(*authority.record.crl_url.split("/")[3:])
    assert published.read_bytes() == second.der
    pem = published.with_name(published.name + ".pem").read_bytes()
    assert x509.load_pem_x509_crl(pem).public_bytes(
        Encoding.DER) == second.der
    assert all(len(line) <= 64 for line in pem.splitlines())


# -- what the full CRL lists, and how the store finds it --------------------------------------


def test_the_full_crl_lists_exactly_the_revoked_and_held(authority, home, clock, ca_key):
    issued = [authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(7)]
    now = clock.now()
    lifecycle.revoke(home.store, issued[0].serial, at=now, reason=R.key_compromise,
                     invalidity_date=now - dt.timedelta(days=2))
    lifecycle.revoke(home.store, issued[1].serial, at=now, reason=R.unspecified)
    lifecycle.suspend(home.store, issued[2].serial, at=now)
    lifecycle.suspend(home.store, issued[3].serial, at=now)
    lifecycle.resume(home.store, issued[3].serial, at=now)  # back to valid: off the list
    clock.advance(dt.timedelta(minutes=5))
    lifecycle.revoke(home.store, issued[4].serial, at=clock.now(), reason=R.superseded)
    crl = x509.load_der_x509_crl(issue_crl(authority.record, ca_key, home.store,
                                           at=clock.now()).der)
    listed = {}
    for entry in crl:
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        listed[entry.serial_number] = (reason, entry.revocation_date_utc)
    assert listed == {
        issued[0].serial: (R.key_compromise, now),
        issued[1].serial: (None, now),
        issued[2].serial: (R.certificate_hold, now),
        issued[4].serial: (R.superseded, clock.now()),
    }
    assert [e.serial_number for e in crl] == [issued[i].serial for i in (0, 1, 2, 4)]
    stored = {e.serial: e for e in home.store.crl_entries(authority.label, at=clock.now())}
    assert list(home.store.crl_entries_der(authority.label, at=clock.now())) == [
        encode_entry(stored[issued[i].serial]) for i in (0, 1, 2, 4)]


def _plan(home, sql, params):
    conn = sqlite3.connect(home.store.path)
    try:
        return " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    finally:
        conn.close()


@pytest.mark.parametrize("shard", [None, 3])
def test_the_crl_is_read_from_a_covering_index_without_a_sort(home, authority, clock,
                                                               monkeypatch, shard):
    if home.store.path == ":memory:" or not home.store.path.endswith(".db"):
        pytest.skip("an SQLite file store")
    seen = []
    store = type(home.store)
    real = store._stream

    def spy(self, sql, params):
        seen.append((sql, params))
        return real(self, sql, params)

    monkeypatch.setattr(store, "_stream", spy)
    list(home.store.crl_entries_der(authority.label, at=clock.now(), shard=shard))
    [(sql, params)] = seen
    plan = _plan(home, sql, params)
    assert "COVERING INDEX certificates_crl_lines" in plan
    assert "TEMP B-TREE" not in plan


@pytest.mark.parametrize("shard", [None, 1])
def test_a_large_crl_is_kept_whole_and_never_over_a_newer_one(home, authority, monkeypatch,
                                                              shard):
    # Pieces of 64 bytes: SQLite's blob path runs on CRLs a test can make (PostgreSQL
    # binds the bytes as before).
    monkeypatch.setattr("pki.store.sqlite.certificates._BLOB_PIECE", 64)
    if shard is not None:
        home.set_crl_shards(authority.label, 2)
    store = home.store
    older, newer = bytes(range(256)) * 7 + b"x", b"\x30" + bytes(1000)
    for number, der, written in ((5, older, True), (7, newer, True), (6, older, False),
                                 (7, older, False)):
        with store.transaction() as tx:
            assert tx.put_published_crl(authority.label, number, False, der,
                                        shard=shard) is written
        kept = store.published_crl(authority.label, shard=shard)
        assert kept is not None
        assert (kept.number, kept.der) == ((5, older) if number == 5 else (7, newer))
    if shard is None:  # the delta CRL's row beside the full one's
        with store.transaction() as tx:
            assert tx.put_published_crl(authority.label, 8, True, older)
        assert store.published_crl(authority.label, True).der == older
        assert store.published_crl(authority.label).der == newer
