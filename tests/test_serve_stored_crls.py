"""``kpki serve`` starts at once on a large home (issue 16 item 4): a publisher that starts
serves the CRLs the store keeps and rebuilds one only when none is kept, it is stale, or the
announcement of delta CRLs changed while no publisher ran. Measured in bench/millions.py."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from pki import lifecycle
from pki.clock import FixedClock
from pki.home import Home
from pki.progress import Progress, counted
from pki.revocation.crl import issue_crl

RRN = "9005171234566"


def _numbers(home: Home) -> dict[str, int]:
    return {r.label: home.store.published_crl(r.label).number  # type: ignore[union-attr]
            for r in home.store.list_cas()}


@pytest.fixture
def published(home: Home) -> Home:
    """A home whose publisher ran once and stopped."""
    home.publisher().round()
    return home


def _restarted(home: Home, clock: FixedClock) -> Home:
    """The same home as a process started afterwards opens it."""
    return Home.open(home.path, passphrase=None, clock=clock)


def test_a_starting_publisher_keeps_the_current_crls(published: Home,
                                                     clock: FixedClock) -> None:
    before = _numbers(published)
    with _restarted(published, clock) as again:
        done = again.publisher().round()
        assert not done.crls
        assert _numbers(again) == before


def test_a_starting_publisher_rebuilds_stale_crls(published: Home, clock: FixedClock) -> None:
    clock.advance(dt.timedelta(hours=12, minutes=1))  # past half of the full CRL's day
    with _restarted(published, clock) as again:
        assert sorted(again.publisher().round().labels) == ["root", "yessign"]


def test_a_starting_publisher_publishes_a_change_made_while_stopped(
        published: Home, clock: FixedClock) -> None:
    serial = published.authority().issue_joint(name="홍길동", rrn=RRN).serial
    lifecycle.revoke(published.store, serial, at=clock.now())
    with _restarted(published, clock) as again:
        assert again.publisher().round().labels == ["yessign"]


def test_a_starting_publisher_follows_the_announcement_changed_while_stopped(
        published: Home, clock: FixedClock) -> None:
    published.set_delta_crls(True)
    with _restarted(published, clock) as again:
        assert sorted(again.publisher().round().labels) == ["root", "yessign"]
        crl = x509.load_der_x509_crl(again.store.published_crl("yessign").der)  # type: ignore[union-attr]
        crl.extensions.get_extension_for_class(x509.FreshestCRL)
    with _restarted(published, clock) as third:
        assert not third.publisher().round().crls


def test_a_crl_recorded_but_never_kept_is_rebuilt(published: Home, clock: FixedClock) -> None:
    """A publisher stopped between recording a CRL and keeping its bytes."""
    record = published.store.get_ca("yessign")
    issue_crl(record, published.publisher().ca_key("yessign"), published.store,
              at=clock.now())
    with _restarted(published, clock) as again:
        assert again.publisher().round().labels == ["yessign"]


def test_a_crl_kept_by_an_older_kpki_is_judged_by_its_bytes(published: Home,
                                                            clock: FixedClock) -> None:
    """No setting beside the bytes (an older kpki published them): read from the CRL."""
    with published.store.transaction() as tx:
        for record in published.store.list_cas():
            tx.set_meta(f"delta_crls.{record.label}", "")
    with _restarted(published, clock) as again:
        assert not again.publisher().round().crls


def test_a_publisher_that_takes_over_starts_with_a_full_round(published: Home,
                                                              clock: FixedClock) -> None:
    class Lease:
        held = False

        def hold(self) -> bool:
            return self.held

    lease = Lease()
    with _restarted(published, clock) as again:
        publisher = again.publisher()
        assert not publisher.leads(lease)  # another process publishes
        lease.held = True
        assert publisher.leads(lease)  # ... and died: taken over
        assert sorted(publisher.round().labels) == ["root", "yessign"]
        assert not publisher.round().crls


def test_building_a_crl_reports_its_progress(published: Home) -> None:
    reports: list[Progress] = []
    publisher = published.publisher()
    publisher.progress = reports.append
    publisher.round(force=True)
    finished = [r for r in reports if r.finished]
    assert [r.task for r in finished] == ["CRL of root", "delta CRL of root",
                                          "CRL of yessign", "delta CRL of yessign"]
    assert all(r.done == 0 for r in finished)  # nothing revoked


def test_counted_reports_every_n_items_and_at_the_end() -> None:
    reports: list[Progress] = []
    assert list(counted(range(5), reports.append, "task", total=5, every=2)) == [0, 1, 2, 3, 4]
    assert reports == [Progress("task", 2, 5), Progress("task", 4, 5),
                       Progress("task", 5, 5, finished=True)]
    assert list(counted(range(3), None, "task")) == [0, 1, 2]
