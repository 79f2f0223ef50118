"""Calendar months between days: whole months, a month begun, and months added.

Month thresholds of the pathway (3 months after surgery, scores older than 3
months) fall on calendar dates, so months are counted on the calendar, never
as days divided by a mean month length.
"""

from __future__ import annotations

import calendar
from datetime import date

__all__ = ["add_calendar_months", "calendar_months", "months_begun"]

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
