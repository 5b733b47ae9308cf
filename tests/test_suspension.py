"""A suspension lapses into a revocation six calendar months after it began.

Six calendar months in Korea: the same day of the month six months on, by the Korean (KST)
calendar, at the same time of day; a day the target month lacks becomes its last day (31
August lapses on 28 February, or 29 in a leap year).
"""

import datetime as dt

import pytest

from pki import lifecycle
from pki.clock import KST
from pki.errors import LifecycleError
from pki.store import CertStatus


def kst(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=KST).astimezone(dt.UTC)


@pytest.mark.parametrize(("suspended", "lapses"), [
    (kst(2026, 1, 5, 10, 0), kst(2026, 7, 5, 10, 0)),  # the report: not 28 July
    (kst(2026, 1, 1, 0, 0), kst(2026, 7, 1, 0, 0)),
    (kst(2026, 1, 27, 9, 0), kst(2026, 7, 27, 9, 0)),
    (kst(2026, 7, 15, 12, 0), kst(2027, 1, 15, 12, 0)),  # into the next year
    (kst(2026, 3, 31, 18, 0), kst(2026, 9, 30, 18, 0)),  # September has 30 days
    (kst(2026, 12, 31, 8, 0), kst(2027, 6, 30, 8, 0)),
    (kst(2026, 8, 31, 12, 0), kst(2027, 2, 28, 12, 0)),  # February, common year
    (kst(2027, 8, 31, 12, 0), kst(2028, 2, 29, 12, 0)),  # February, leap year
    (kst(2027, 8, 29, 12, 0), kst(2028, 2, 29, 12, 0)),
    (kst(2028, 2, 29, 12, 0), kst(2028, 8, 29, 12, 0)),  # from a leap day
    (kst(2027, 8, 30, 12, 0), kst(2028, 2, 29, 12, 0)),
])
def test_six_calendar_months_same_day_clipped_to_the_months_end(suspended, lapses):
    assert lifecycle.suspension_lapses_at(suspended) == lapses


@pytest.mark.parametrize(("suspended", "lapses"), [
    # 00:30 KST on 31 August is still 30 August in UTC: the Korean date decides
    (kst(2026, 8, 31, 0, 30), kst(2027, 2, 28, 0, 30)),
    # 08:00 KST on 1 March is 28 February in UTC
    (kst(2026, 3, 1, 8, 0), kst(2026, 9, 1, 8, 0)),
    # 23:59:59 KST on the last day of a month
    (kst(2026, 4, 30, 23, 59, 59), kst(2026, 10, 30, 23, 59, 59)),
])
def test_the_korean_date_decides_at_day_boundaries(suspended, lapses):
    assert lifecycle.suspension_lapses_at(suspended) == lapses


def test_the_lapse_is_an_instant_in_utc():
    lapses = lifecycle.suspension_lapses_at(kst(2026, 1, 5, 10, 0))
    assert lapses.utcoffset() == dt.timedelta(0)


def test_resume_is_allowed_until_the_lapse_and_refused_from_it(authority, home, clock):
    a, b = (authority.issue_joint(name="홍길동", rrn="9005171234566") for _ in range(2))
    clock.set(kst(2026, 4, 5, 10, 0))
    for issued in (a, b):
        lifecycle.suspend(home.store, issued.serial, at=clock.now())
    lapses = kst(2026, 10, 5, 10, 0)
    clock.set(lapses - dt.timedelta(seconds=1))
    assert lifecycle.resume(home.store, a.serial, at=clock.now()).status is CertStatus.VALID
    clock.set(lapses)
    with pytest.raises(LifecycleError):
        lifecycle.resume(home.store, b.serial, at=clock.now())


def test_a_suspension_lapses_on_the_right_day_when_crls_are_made(authority, home, clock):
    issued = authority.issue_joint(name="홍길동", rrn="9005171234566")
    clock.set(kst(2026, 5, 5, 10, 0))
    lifecycle.suspend(home.store, issued.serial, at=clock.now())
    clock.set(kst(2026, 11, 4, 10, 0))
    assert lifecycle.lapse_suspensions(home.store, authority.label, at=clock.now()) == []
    clock.set(kst(2026, 11, 5, 9, 59))
    assert lifecycle.lapse_suspensions(home.store, authority.label, at=clock.now()) == []
    clock.set(kst(2026, 11, 5, 10, 0))  # not 28 November, as the bug had it
    assert lifecycle.lapse_suspensions(home.store, authority.label,
                                       at=clock.now()) == [issued.serial]
