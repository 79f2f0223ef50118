"""Calendar months between days: whole months, a month begun, and months added.

Month thresholds of the pathway (3 months after surgery, scores older than 3
months) fall on calendar dates, so months are counted on the calendar, never
as days divided by a mean month length.
"""

from __future__ import annotations

import calendar
import math
from datetime import date, timedelta

__all__ = ["add_calendar_months", "calendar_months", "months_begun", "months_reached"]

#: A fraction of a month still to go is counted in days of the longest month.
_LONGEST_MONTH_DAYS = 31

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    """Days in a month (``calendar.monthrange`` also works out the weekday: slower)."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def calendar_months(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end``: 2 July to 2 October is 3, to 1 October 2.

    A month is complete on the same day of the month; when the later month is
    shorter, on its last day (31 January to 30 April is 3). Counting whole
    months, never rounding, keeps every month threshold on its calendar date.
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    last_day = _days_in_month(end.year, end.month)
    if end.day < start.day and end.day != last_day:
        months -= 1
    return max(months, 0)


def add_calendar_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to that month's last day (30 Nov + 3 = 28 Feb)."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, _days_in_month(year, month + 1)))


def months_begun(start: date, end: date) -> int:
    """Calendar months from ``start`` to ``end``, a month begun counting whole.

    An age limit written "older than N months" is kept by ``months_begun <= N``:
    1 July to 1 October is 3 (exactly three months old, not older), 30 June to
    1 October is 4 (three months and a day). Whole months alone
    (:func:`calendar_months`) cannot tell those apart.
    """
    months = calendar_months(start, end)
    return months + 1 if end > add_calendar_months(start, months) else months


def months_reached(assessed: date, had: float, needed: float) -> date:
    """The day ``had`` months (at ``assessed``) reach ``needed``; never one too early.

    The whole months still to go are calendar months; a fraction left over is added
    as days of the longest month, rounded up, so the date is never one on which the
    months could still be fewer than ``needed`` (docs/pathway.md, safer reading 16).
    """
    to_go = max(needed - had, 0.0)
    whole = math.floor(to_go)
    days = math.ceil(round((to_go - whole) * _LONGEST_MONTH_DAYS, 6))
    return add_calendar_months(assessed, whole) + timedelta(days=days)
