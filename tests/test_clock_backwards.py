"""The clock going backwards: recorded times never go back per CA, CRLs never go back.

A system clock can jump back (NTP correction, a VM restored from a snapshot). The store then
gives a later event at least the time of the previous one of the same CA, so a revocation is
never recorded before the issuance it revokes; and the publisher refuses a CRL whose
thisUpdate would be older than the last CRL's (a client would take it for a stale one).
"""

import datetime as dt
import sqlite3

import pytest
from click.testing import CliRunner
from cryptography import x509

from pki import lifecycle
from pki.cli.main import cli
from pki.errors import ClockBehindError
from pki.revocation.crl import issue_crl
from pki.store.sqlite import SQLiteStore, create_at_version
from tests.test_cli import assert_one_line_error

RRN = "9005171234566"
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def ca_key(home, authority):
    return home.load_ca_key(authority.label, None)


def _times(home, ca):
    return [e.at for e in home.store.audit_log(ca=ca)]


def test_a_revocation_is_never_recorded_before_the_issuance(authority, home, clock):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    issued_at = home.store.find_certificates(issued.serial)[0].issued_at
    clock.set(issued_at - dt.timedelta(days=1))
    record = lifecycle.revoke(home.store, issued.serial, at=clock.now())
    assert record.revoked_at is not None and record.revoked_at >= issued_at
    assert record.status_changed_at is not None and record.status_changed_at >= issued_at
    times = _times(home, authority.label)
    assert times == sorted(times)


def test_suspend_and_resume_never_go_back(authority, home, clock):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    clock.advance(HOUR)
    suspended = lifecycle.suspend(home.store, issued.serial, at=clock.now())
    clock.advance(-3 * HOUR)
    resumed = lifecycle.resume(home.store, issued.serial, at=clock.now())
    assert suspended.revoked_at is not None
    assert resumed.status_changed_at is not None
    assert resumed.status_changed_at >= suspended.revoked_at
    times = _times(home, authority.label)
    assert times == sorted(times)


def test_issuance_after_the_clock_went_back_gets_the_previous_time(authority, home, clock):
    first = authority.issue_joint(name="홍길동", rrn=RRN)
    first_at = home.store.find_certificates(first.serial)[0].issued_at
    clock.advance(-2 * HOUR)
    second = authority.issue_joint(name="홍길동", rrn=RRN)
    assert home.store.find_certificates(second.serial)[0].issued_at == first_at


def test_reissue_after_the_clock_went_back_revokes_no_earlier_than_issuance(authority, home,
                                                                             clock):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    issued_at = home.store.find_certificates(issued.serial)[0].issued_at
    clock.advance(-5 * HOUR)
    authority.reissue(issued.serial, rrn=RRN)
    old = home.store.find_certificates(issued.serial)[0]
    assert old.revoked_at is not None and old.revoked_at >= issued_at


def test_a_lapsed_suspension_keeps_its_suspension_time(authority, home, clock, ca_key):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    suspended = lifecycle.suspend(home.store, issued.serial, at=clock.now())
    clock.set(lifecycle.suspension_lapses_at(clock.now()) + HOUR)
    issue_crl(authority.record, ca_key, home.store, at=clock.now())
    record = home.store.find_certificates(issued.serial)[0]
    assert record.status.value == "revoked" and record.revoked_at == suspended.revoked_at


def test_times_are_per_ca(home, authority, clock):
    clock.advance(2 * HOUR)
    authority.issue_joint(name="홍길동", rrn=RRN)
    clock.advance(-HOUR)  # back for yessign, still ahead of the root's last event
    with home.store.transaction() as tx:
        tx.audit("test.event", at=clock.now(), ca="root")
    assert home.store.audit_log(ca="root")[-1].at == clock.now()


def test_a_crl_older_than_the_last_one_is_refused(authority, home, clock, ca_key):
    last = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    clock.advance(-HOUR)
    with pytest.raises(ClockBehindError) as caught:
        issue_crl(authority.record, ca_key, home.store, at=clock.now())
    assert caught.value.ca == authority.label
    assert caught.value.last == last.info.this_update
    assert caught.value.at == clock.now()
    assert home.store.last_crl(authority.label) == last.info  # nothing recorded
    for delta in (False, True):  # a delta is no exception
        with pytest.raises(ClockBehindError):
            issue_crl(authority.record, ca_key, home.store, at=clock.now(), delta=delta)
    clock.advance(HOUR)  # the same second as the last CRL is not older
    assert issue_crl(authority.record, ca_key, home.store,
                     at=clock.now()).info.number == last.info.number + 1


def test_a_crl_is_never_dated_before_a_revocation_it_lists(authority, home, clock, ca_key):
    issue_crl(authority.record, ca_key, home.store, at=clock.now())
    clock.advance(2 * HOUR)
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    revoked = lifecycle.revoke(home.store, issued.serial, at=clock.now())
    clock.advance(-HOUR)  # back, but still after the last CRL
    crl = issue_crl(authority.record, ca_key, home.store, at=clock.now())
    assert revoked.revoked_at is not None
    assert crl.info.this_update >= revoked.revoked_at
    parsed = x509.load_der_x509_crl(crl.der)
    assert parsed.last_update_utc == crl.info.this_update
    entry = parsed.get_revoked_certificate_by_serial_number(issued.serial)
    assert entry is not None and entry.revocation_date_utc <= parsed.last_update_utc


def test_crl_publish_on_a_clock_gone_back_is_a_one_line_error(home, clock, monkeypatch):
    home.publish_crls(passphrase=None)
    home.close()
    monkeypatch.setattr("pki.home.SystemClock.now", lambda self: clock.now() - HOUR)
    result = CliRunner().invoke(cli, ["--home", str(home.path), "crl", "publish"],
                                catch_exceptions=False)
    assert_one_line_error(result)
    assert "clock" in result.stderr


def _back_to_version(path, version, tmp_path):
    """Make the store file at ``path`` what schema ``version`` had, its rows kept: drop
    the tables and columns a file made at that version (``create_at_version``) lacks."""
    reference = tmp_path / f"v{version}.db"
    create_at_version(str(reference), version)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("ATTACH ? AS old", (str(reference),))

        def tables(schema):
            return {name for (name,) in conn.execute(
                f"SELECT name FROM {schema}.sqlite_master "
                "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}

        def indexes(schema):  # SQLite drops no column an index covers
            return {name for (name,) in conn.execute(
                f"SELECT name FROM {schema}.sqlite_master "
                "WHERE type = 'index' AND sql IS NOT NULL")}

        for index in indexes("main") - indexes("old"):
            conn.execute(f"DROP INDEX main.{index}")
        for table in tables("main") - tables("old"):
            conn.execute(f"DROP TABLE main.{table}")
        for table in tables("old") - tables("main"):  # a later migration dropped it
            for (sql,) in conn.execute("SELECT sql FROM old.sqlite_master WHERE tbl_name = ? "
                                       "AND sql IS NOT NULL ORDER BY type DESC",
                                       (table,)).fetchall():
                conn.execute(sql)  # the table, then its indexes
        for index in indexes("old") - indexes("main"):  # a later migration dropped it
            conn.execute(conn.execute("SELECT sql FROM old.sqlite_master WHERE name = ?",
                                      (index,)).fetchone()[0])
        for table in tables("old"):
            kept = {row[1] for row in conn.execute(f"PRAGMA old.table_info({table})")}
            for row in conn.execute(f"PRAGMA main.table_info({table})").fetchall():
                if row[1] not in kept:
                    conn.execute(f"ALTER TABLE main.{table} DROP COLUMN {row[1]}")
        conn.execute("DETACH old")
        conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()


@pytest.mark.sqlite_only("takes an SQLite file back to schema 4 (PostgreSQL starts at 16)")
def test_migration_seeds_the_times_from_history(authority, home, clock, ca_key, tmp_path):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    crl = issue_crl(authority.record, ca_key, home.store, at=clock.now() + HOUR)
    path = home.store.path
    home.close()
    _back_to_version(path, 4, tmp_path)  # before migration 5; opening migrates it again
    store = SQLiteStore(path)
    try:
        with pytest.raises(ClockBehindError):
            issue_crl(authority.record, ca_key, store, at=clock.now())
        record = lifecycle.revoke(store, issued.serial, at=clock.now() - HOUR)
        assert record.revoked_at == crl.info.this_update
    finally:
        store.close()


def test_a_test_pki_lets_its_clock_travel_on_purpose():
    from pki.testing import TestPKI

    pki = TestPKI(seed="time travel")
    cert = pki.joint()
    pki.clock.advance(dt.timedelta(days=400))
    pki.crl()
    pki.clock.advance(dt.timedelta(days=-400))  # a kpki_time marker ends
    assert pki.crl().last_update_utc == pki.clock.now()
    revoked = pki.revoke(cert)
    assert revoked is not None
    record = pki.home.store.find_certificates(cert.serial)[0]
    assert record.revoked_at == pki.clock.now()
