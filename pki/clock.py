"""Injected time, and the one place that knows Korean (KST) day boundaries."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Protocol

__all__ = [
    "EARLIEST",
    "KST",
    "LATEST",
    "Clock",
    "FixedClock",
    "OffsetClock",
    "SystemClock",
    "add_years",
    "kst_day_end",
    "kst_day_start",
    "kst_today",
    "parse_time",
    "requested_validity",
    "validity_for",
]

KST = dt.timezone(dt.timedelta(hours=9), "KST")


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)


class FixedClock:
    """A clock that stands still until moved; for tests and reproducible fixtures."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta


class OffsetClock:
    """A clock that reads ``at`` when made and then moves on with ``base`` (the real clock
    unless given): ``kpki --at`` for a long-running process, which must see time pass
    (CRLs due, OCSP signers renewed) on a calendar moved to another day."""

    def __init__(self, at: dt.datetime, *, base: Clock | None = None) -> None:
        if at.tzinfo is None:
            raise ValueError("OffsetClock needs an aware datetime")
        self._base: Clock = base or SystemClock()
        self.offset = at.astimezone(dt.UTC) - self._base.now()

    def now(self) -> dt.datetime:
        return (self._base.now() + self.offset).replace(microsecond=0)


_RELATIVE = re.compile(r"([+-])(\d{1,6})([dh])")
EARLIEST = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
"""The earliest time :func:`parse_time` reads: the first an X.509 time states (UTCTime)."""
LATEST = dt.datetime(9998, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
"""The latest time :func:`parse_time` reads: a clock set there still runs on for a year
before the calendar of :mod:`datetime` ends."""


def parse_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime; one without an offset is
    KST (a date alone is 00:00:00 KST that day). ``Z`` and ``+HH:MM`` offsets are kept.
    With ``now``, also ``+Nd``/``-Nd`` (days) and ``+Nh``/``-Nh`` (hours) from ``now``.

    Raises :class:`ValueError` for anything else (with the text in the message), and for
    a time before :data:`EARLIEST` or after :data:`LATEST`."""
    try:
        parsed = _parse_time(text, now=now)
    except OverflowError:
        parsed = None
    if parsed is None or not EARLIEST <= parsed <= LATEST:
        raise ValueError(f"{text!r} is out of range: a time is between "
                         f"{EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return parsed


def _parse_time(text: str, *, now: dt.datetime | None) -> dt.datetime:
    cleaned = text.strip()
    relative = _RELATIVE.fullmatch(cleaned)
    if relative is not None and now is not None:
        sign, number, unit = relative.groups()
        delta = dt.timedelta(**{"days" if unit == "d" else "hours": int(number)})
        return (now + delta if sign == "+" else now - delta).astimezone(dt.UTC).replace(
            microsecond=0)
    try:
        if len(cleaned) == 10:
            return kst_day_start(dt.date.fromisoformat(cleaned))
        parsed = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        relative_too = " or +Nd/-Nd/+Nh/-Nh from now" if now is not None else ""
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time{relative_too} "
                         "(e.g. 2027-10-23 or 2027-10-23T09:00:00+09:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return parsed.astimezone(dt.UTC).replace(microsecond=0)


def requested_validity(now: dt.datetime, *, not_before: dt.datetime | None = None,
                       not_after: dt.datetime | None = None, days: int | None = None,
                       exact: bool = False
                       ) -> tuple[dt.datetime | None, dt.datetime | None]:
    """notBefore and notAfter for an issuance asked for with these values (None: the
    profile decides), aligned as Korean CAs align them unless ``exact``: notBefore at
    00:00:00 KST of its day, notAfter at 23:59:59 KST of its day. ``days`` ends validity
    that many days after notBefore (given, else today), at 23:59:59 KST of that day (so
    ``days=0`` is valid to the end of the day); exactly that long with ``exact``, which
    also makes a missing notBefore ``now`` itself.

    Raises :class:`ValueError` when ``days`` and ``not_after`` are both given or ``days`` is
    negative."""
    if days is not None and not_after is not None:
        raise ValueError("give days or not_after, not both")
    if days is not None and days < 0:
        raise ValueError("days cannot be negative")
    start = not_before
    if exact:
        if start is None and (days is not None or not_after is not None):
            start = now
    elif start is not None:
        start = kst_day_start(kst_today(start))
    end = not_after
    if days is not None:
        base = start if start is not None else now
        end = (base + dt.timedelta(days=days) if exact
               else kst_day_end(kst_today(base) + dt.timedelta(days=days)))
    elif end is not None and not exact:
        end = kst_day_end(kst_today(end))
    return start, end


def kst_today(now: dt.datetime) -> dt.date:
    """The calendar date in Korea at the instant ``now``."""
    return now.astimezone(KST).date()


def kst_day_start(day: dt.date) -> dt.datetime:
    """00:00:00 KST on ``day``, as UTC (15:00:00Z the day before)."""
    return dt.datetime.combine(day, dt.time(0, 0, 0), KST).astimezone(dt.UTC)


def kst_day_end(day: dt.date) -> dt.datetime:
    """23:59:59 KST on ``day``, as UTC (14:59:59Z the same day)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), KST).astimezone(dt.UTC)


@functools.lru_cache(maxsize=64)
def validity_for(day: dt.date, years: int) -> tuple[dt.datetime, dt.datetime]:
    """notBefore and notAfter of a certificate issued on ``day`` (KST) for ``years``:
    00:00:00 KST that day to 23:59:59 KST the same day ``years`` later."""
    return kst_day_start(day), kst_day_end(add_years(day, years))


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` moved by whole years; 29 February becomes 28 February in common years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
