"""Grades and limits (issue 14 item 4): the Hana table by default, a KB-like table a
setting away, limits per transfer and per KST day, falling back to the media that remain
when one is lost or locked, and a day's sum that never crosses its limit under threads,
processes and crashes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pki.bank.institutions import change_settings, settings_of
from pki.bank.limits import HANA, KB, LimitLedger, Limits, card_media
from pki.bank.media import MediumKind
from pki.clock import KST
from pki.errors import BankNotFoundError, BankRequestError, LimitExceededError, NoMediumError
from pki.store import AuditAction, Institution, open_store, sqlite_url

from .bank_helpers import BankWorld, in_parallel, in_processes, killed_at, make_world

M = 1_000_000


@pytest.fixture
def world(tmp_path: Path) -> BankWorld:
    world = make_world(tmp_path)
    world.cards.issue(world.hana, world.customer.id, seed="card")
    return world


def _table(institution: Institution):
    return settings_of(institution).limits


def _ledger(world: BankWorld, *extra) -> LimitLedger:
    return LimitLedger(world.store, clock=world.clock, table_of=_table,
                       sources=(card_media, *extra))


def _lock_card(world: BankWorld) -> None:
    card = world.store.active_security_card(world.customer.id)
    assert card is not None
    with world.store.transaction() as tx:
        tx.set_card_failures(card.id, 5, locked_at=world.clock.now())


def test_the_default_is_hanas_table() -> None:
    assert HANA.limits_of(MediumKind.SECURITY_CARD) == Limits(10 * M, 10 * M)
    assert HANA.limits_of(MediumKind.MOBILE_OTP) == Limits(10 * M, 50 * M)
    assert HANA.limits_of(MediumKind.HARDWARE_OTP) == Limits(100 * M, 500 * M)
    assert HANA.limits_of(MediumKind.PRIVATE_CERTIFICATE) is None
    assert KB.limits_of(MediumKind.PRIVATE_CERTIFICATE) == Limits(100 * M, 500 * M)


def test_a_transfer_crossing_the_day_limit_by_one_krw_is_refused_and_records_nothing(
        world: BankWorld) -> None:
    ledger = _ledger(world)
    assert ledger.charge(world.hana, world.customer.id, 4 * M).left_today == 6 * M
    charged = ledger.charge(world.hana, world.customer.id, 6 * M - 1)
    assert (charged.medium, charged.used, charged.left_today) == (
        MediumKind.SECURITY_CARD, 10 * M - 1, 1)
    before = len(world.store.audit_log())
    with pytest.raises(LimitExceededError) as info:
        ledger.charge(world.hana, world.customer.id, 2)
    assert (info.value.code, info.value.limit, info.value.used, info.value.amount) == (
        "over_day_limit", 10 * M, 10 * M - 1, 2)
    assert ledger.used_today(world.hana, world.customer.id) == 10 * M - 1
    assert len(world.store.audit_log()) == before
    ledger.charge(world.hana, world.customer.id, 1)  # exactly at the limit


def test_a_transfer_over_the_per_transfer_limit_is_refused(world: BankWorld) -> None:
    otp = lambda lookups, customer: (MediumKind.HARDWARE_OTP,)  # noqa: E731
    ledger = _ledger(world, otp)
    with pytest.raises(LimitExceededError) as info:
        ledger.charge(world.hana, world.customer.id, 100 * M + 1)
    assert (info.value.code, info.value.limit) == ("over_transfer_limit", 100 * M)
    with pytest.raises(LimitExceededError) as card:
        ledger.charge(world.hana, world.customer.id, 10 * M + 1,
                      medium=MediumKind.SECURITY_CARD)
    assert card.value.limit == 10 * M
    assert ledger.charge(world.hana, world.customer.id, 100 * M).medium is (
        MediumKind.HARDWARE_OTP)


def test_the_day_is_the_korean_day(world: BankWorld) -> None:
    ledger = _ledger(world)
    world.clock.set(dt.datetime(2026, 3, 16, 23, 59, 59, tzinfo=KST))  # 14:59:59 UTC
    ledger.charge(world.hana, world.customer.id, 10 * M)
    with pytest.raises(LimitExceededError):
        ledger.charge(world.hana, world.customer.id, 1)
    world.clock.advance(dt.timedelta(seconds=1))  # 00:00 KST, still 16 March in UTC
    assert ledger.charge(world.hana, world.customer.id, 10 * M).day == dt.date(2026, 3, 17)


def test_losing_or_locking_a_medium_falls_back_to_what_remains(world: BankWorld) -> None:
    has_otp = {"now": True}

    def otp(lookups, customer):
        return (MediumKind.HARDWARE_OTP,) if has_otp["now"] else ()

    ledger = _ledger(world, otp)
    assert ledger.limits_for(world.hana, world.customer.id) == (
        MediumKind.HARDWARE_OTP, Limits(100 * M, 500 * M))
    assert ledger.usable_media(world.hana, world.customer.id) == {
        MediumKind.HARDWARE_OTP, MediumKind.SECURITY_CARD}
    has_otp["now"] = False  # the token is reported lost
    assert ledger.limits_for(world.hana, world.customer.id) == (
        MediumKind.SECURITY_CARD, Limits(10 * M, 10 * M))
    with pytest.raises(NoMediumError):  # a lost medium authorises nothing
        ledger.charge(world.hana, world.customer.id, 1, medium=MediumKind.HARDWARE_OTP)
    with pytest.raises(LimitExceededError):
        ledger.charge(world.hana, world.customer.id, 20 * M)
    _lock_card(world)
    with pytest.raises(NoMediumError) as info:
        ledger.limits_for(world.hana, world.customer.id)
    assert info.value.code == "no_medium"
    with pytest.raises(NoMediumError):
        ledger.charge(world.hana, world.customer.id, 1)
    world.cards.reset(world.hana, world.customer.id, operator="branch")
    world.cards.report_lost(world.hana, world.customer.id)
    with pytest.raises(NoMediumError):
        ledger.charge(world.hana, world.customer.id, 1)


def test_a_kb_like_table_counts_a_private_certificate_a_setting_away(world: BankWorld
                                                                     ) -> None:
    certificate = lambda lookups, customer: (MediumKind.PRIVATE_CERTIFICATE,)  # noqa: E731
    ledger = _ledger(world, certificate)
    assert ledger.limits_for(world.hana, world.customer.id)[0] is MediumKind.SECURITY_CARD
    kb_like = change_settings(world.store, world.hana, {"limit_table": "kb"},
                              clock=world.clock)
    assert ledger.limits_for(kb_like, world.customer.id) == (
        MediumKind.PRIVATE_CERTIFICATE, Limits(100 * M, 500 * M))


@pytest.mark.parametrize("amount", [0, -1, 1.0, "1000", True, None])
def test_an_amount_is_a_positive_whole_number_of_krw(world: BankWorld, amount: object) -> None:
    with pytest.raises(BankRequestError) as info:
        _ledger(world).charge(world.hana, world.customer.id, amount)  # type: ignore[arg-type]
    assert info.value.field == "amount"


def test_another_institutions_customer_has_no_limits_here(world: BankWorld) -> None:
    from pki.bank.institutions import add_bank

    kb, _ = add_bank(world.store, "004", at=world.clock.now())
    with pytest.raises(BankNotFoundError):
        _ledger(world).charge(kb, world.customer.id, 1)


# -- concurrency and crashes ----------------------------------------------------------------


def test_twenty_parallel_charges_never_cross_the_day_limit(world: BankWorld) -> None:
    ledgers = []
    for _ in range(20):
        store = open_store(sqlite_url(world.path))
        ledgers.append(LimitLedger(store, clock=world.clock, table_of=_table))
    results = in_parallel(20, lambda i: ledgers[i].charge(world.hana, world.customer.id,
                                                          M + i))
    accepted = [r for r in results if not isinstance(r, LimitExceededError)]
    assert sum(r.amount for r in accepted) <= 10 * M  # type: ignore[attr-defined]
    assert len(accepted) == 9  # 1,000,000 + i KRW each: nine fit, a tenth never does
    refused = [r for r in results if isinstance(r, LimitExceededError)]
    assert all(r.code == "over_day_limit" for r in refused)
    assert _ledger(world).used_today(world.hana, world.customer.id) == sum(
        r.amount for r in accepted)  # type: ignore[attr-defined]
    charged = [e for e in world.store.audit_log()
               if e.action == AuditAction.BANK_LIMIT_CHARGED]
    assert len(charged) == 9


def _charge_in_process(path: str, institution_id: int, customer_id: str, count: int,
                       barrier: object, queue: object) -> None:
    try:
        from pki.clock import FixedClock

        from .bank_helpers import T0

        store = open_store(sqlite_url(path))
        institution = store.institution(institution_id)
        ledger = LimitLedger(store, clock=FixedClock(T0), table_of=_table)
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        accepted = 0
        for _ in range(count):
            try:
                ledger.charge(institution, customer_id, 700_000)  # type: ignore[arg-type]
                accepted += 1
            except LimitExceededError:
                pass
        store.close()
        queue.put(accepted)  # type: ignore[attr-defined]
    except BaseException as exc:
        queue.put(repr(exc))  # type: ignore[attr-defined]


def test_processes_charging_at_once_never_cross_the_day_limit(world: BankWorld) -> None:
    results = in_processes(_charge_in_process, [
        (str(world.path), world.hana.id, world.customer.id, 6) for _ in range(4)])
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 14  # 14 x 700,000 = 9,800,000; a fifteenth would cross 10M
    assert _ledger(world).used_today(world.hana, world.customer.id) == 14 * 700_000


def test_a_crash_before_the_commit_charges_nothing(world: BankWorld) -> None:
    killed_at("bank.limit.charged", f"""
import datetime as dt
from pki.bank.institutions import settings_of
from pki.bank.limits import LimitLedger
from pki.clock import FixedClock
from pki.store import open_store, sqlite_url
store = open_store(sqlite_url({str(world.path)!r}))
ledger = LimitLedger(store, clock=FixedClock(dt.datetime.fromisoformat(
    {world.clock.now().isoformat()!r})), table_of=lambda i: settings_of(i).limits)
ledger.charge(store.institution({world.hana.id}), {world.customer.id!r}, 5_000_000)
""")
    assert _ledger(world).used_today(world.hana, world.customer.id) == 0
    assert not [e for e in world.store.audit_log()
                if e.action == AuditAction.BANK_LIMIT_CHARGED]
    _ledger(world).charge(world.hana, world.customer.id, 10 * M)


def test_by_default_an_otp_token_counts_and_its_loss_falls_back_to_the_card(
        world: BankWorld) -> None:
    """The ledger's default sources are the card and the OTP centre's tokens."""
    from pki.bank.otp import OtpCentre

    centre = OtpCentre(world.store, world.clock, secret=bytes(range(32)))
    token = centre.issue_hardware(world.customer, seed=b"12345678901234567890")
    ledger = LimitLedger(world.store, clock=world.clock, table_of=_table)
    assert ledger.limits_for(world.hana, world.customer.id) == (
        MediumKind.HARDWARE_OTP, Limits(100 * M, 500 * M))
    assert ledger.charge(world.hana, world.customer.id, 100 * M).medium is (
        MediumKind.HARDWARE_OTP)
    centre.report_lost(world.customer, token.serial)
    with pytest.raises(NoMediumError):
        ledger.charge(world.hana, world.customer.id, 1, medium=MediumKind.HARDWARE_OTP)
    assert ledger.limits_for(world.hana, world.customer.id)[0] is MediumKind.SECURITY_CARD


def test_a_store_from_before_the_day_totals_keeps_its_days_charges(tmp_path: Path) -> None:
    # Schema 18 summed the ledger's rows; 19 keeps each day's total, filled from them.
    import sqlite3

    from pki.store.sqlite import SQLiteStore, create_at_version

    path = tmp_path / "v18.db"
    create_at_version(str(path), 18)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO institutions (id, name, api_key_hash, created_at, code) "
                 "VALUES (1, 'Hana', 'h', '2026-03-16T00:00:00Z', '081')")
    for customer in ("c_1", "c_2"):
        conn.execute("INSERT INTO bank_customers (id, institution_id, name, rrn, phone, "
                     "carrier, line_type, created_at) VALUES (?, 1, 'n', ?, '01012345678', "
                     "'SKT', 'postpaid', '2026-03-16T00:00:00Z')", (customer, customer))
    for customer, day, amount in (("c_1", "2026-03-16", 700), ("c_1", "2026-03-16", 300),
                                  ("c_1", "2026-03-17", 50), ("c_2", "2026-03-16", 9)):
        conn.execute("INSERT INTO bank_limit_use (customer_id, day, amount, at) "
                     "VALUES (?, ?, ?, '2026-03-16T00:00:00Z')", (customer, day, amount))
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        march16, march17 = dt.date(2026, 3, 16), dt.date(2026, 3, 17)
        assert [store.limit_used("c_1", march16), store.limit_used("c_1", march17),
                store.limit_used("c_2", march16), store.limit_used("c_2", march17)] == [
                    1000, 50, 9, 0]
        with store.transaction() as tx:
            tx.add_limit_use("c_1", march16, 5)
        assert store.limit_used("c_1", march16) == 1005
    finally:
        store.close()
