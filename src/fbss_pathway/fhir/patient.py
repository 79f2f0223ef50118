"""The patient's own facts from the chart: the birth date, and the age it gives.

A birth date is a fact about the person; an age Observation is a measurement
made on a day, often years ago (a chart imported from 1989 says 17). So the
birth date decides the age; an age Observation is read only without one, and
then aged by the whole years since it was made. An age Observation that
disagrees with the birth date is a conflict the clinician sees, never a silent
change of scope ("under 18" for a 54-year-old, or the reverse).
"""

from __future__ import annotations

from datetime import date

from .resources import Chart
from .statements import Conflict, Statement, conflict

__all__ = ["age_of", "born_on", "years_between"]


def years_between(start: date, end: date) -> int:
    """Whole years from ``start`` to ``end`` (an age on ``end`` for a birth on ``start``)."""
    before_birthday = (end.month, end.day) < (start.month, start.day)
    return end.year - start.year - before_birthday


def born_on(birth_dates: dict[date, list[str]], chart: Chart) -> date | None:
    """The birth date; Patient entries that give different ones leave it unknown (a conflict)."""
    if len(birth_dates) == 1:
        return next(iter(birth_dates))
    if birth_dates:
        labels = tuple(sorted({label for found in birth_dates.values() for label in found}))
        why = "left unknown: the Patient entries give different birth dates"
        chart.conflicts.append(Conflict("birth date", (), why, labels))
    return None


def age_of(
    chart: Chart, assessed: date, birth_date: date | None, conflicts: list[Conflict]
) -> int | None:
    """The age on the assessment date: from the birth date, else from an age Observation."""
    if birth_date is not None:
        disagreeing = [s for s in chart.ages if s.value != _expected(birth_date, s, assessed)]
        if disagreeing:
            why = "read from the birth date: an age observation disagrees with it"
            conflicts.append(conflict("age_years", disagreeing, why))
        return years_between(birth_date, assessed)
    if not chart.ages:
        return None
    dated = [s for s in chart.ages if s.when is not None]
    if dated:
        newest = max(dated, key=lambda s: (s.when, s.value))
        assert newest.when is not None
        return int(newest.value) + max(years_between(newest.when.day, assessed), 0)
    values = {s.value for s in chart.ages}
    if len(values) > 1:
        why = "left unknown: undated age observations disagree"
        conflicts.append(conflict("age_years", chart.ages, why))
        return None
    return int(values.pop())


def _expected(birth_date: date, statement: Statement, assessed: date) -> int:
    day = statement.when.day if statement.when is not None else assessed
    return years_between(birth_date, day)
