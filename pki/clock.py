"""Injected time, and the one place that knows Korean (KST) day boundaries."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Protocol

__all__ = [
    "KST",
    "Clock",
    "FixedClock",
    "SystemClock",
    "add_years",
    "kst_day_end",
    "kst_day_start",
    "kst_today",
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
