"""What the chart says about each item, and how disagreeing entries are settled.

Every Observation, Condition or questionnaire answer that speaks to a record
item becomes a :class:`Statement`. Settling them never depends on the order of
the entries:

- **Red flags are suspicions.** Any statement that the flag is present sets
  it. A "no" clears a "yes" only when it comes from the same kind of source
  (a Condition for a Condition, an Observation for an Observation, ...) and is
  dated strictly later; a "no" of equal or unknown date never outvotes a "yes".
- **Every other item** takes the most recent dated statement; undated
  statements count only when nothing is dated. Statements that tie for most
  recent and disagree leave the item unknown.

Whenever entries disagree and the disagreement is not simply an older value
superseded by a newer one, a :class:`Conflict` names the item and the entries,
so that the clinician sees it (it becomes a warning on the recommendation).
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from ..explain.words import item_label
from .codes import RED_FLAG_ITEMS

__all__ = [
    "Conflict",
    "Statement",
    "When",
    "clears",
    "conflict",
    "period_of",
    "resolve",
    "when_from_first_day",
    "when_of",
]


@dataclass(frozen=True, slots=True, order=True)
class When:
    """When a statement was made: a day, and the instant where the source gives one."""

    day: date
    instant: datetime | None = None

    def later_than(self, other: When) -> bool:
        """Strictly later: a later day, or the same day at a later known instant."""
        if self.day != other.day:
            return self.day > other.day
        if self.instant is None or other.instant is None:
            return False
        return self.instant > other.instant


def when_of(value: Any) -> When | None:
    """The When of a FHIR date, dateTime or instant (typed or text); None when absent."""
    if isinstance(value, datetime):
        instant = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return When(value.date(), instant)
    if isinstance(value, date):
        return When(value)
    if isinstance(value, str) and len(value) >= 10:
        # FHIR's longest dateTime has 35 characters; longer text is read but not remembered.
        return _remembered_when(value) if len(value) <= 40 else _when_of_text(value)
    return None


def _when_of_text(value: str) -> When | None:
    """A date or dateTime given as text."""
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    try:
        return when_of(datetime.fromisoformat(value)) if len(value) > 10 else When(day)
    except ValueError:  # a time Python cannot parse (a leap second): the day still counts
        return When(day)


#: Charts repeat their dates, and a When is immutable: the texts read are remembered.
_remembered_when = lru_cache(maxsize=4096)(_when_of_text)

_YEAR_OR_MONTH = re.compile(r"([0-9]{4})(?:-(0[1-9]|1[0-2]))?")


def period_of(value: Any) -> tuple[date, date] | None:
    """The first and last day of a FHIR date given to the year or month only.

    FHIR's ``date`` and ``dateTime`` allow ``2026`` and ``2026-09``; a full date, a
    dateTime or anything else gives None.
    """
    if not isinstance(value, str) or len(value) not in (4, 7):
        return None
    matched = _YEAR_OR_MONTH.fullmatch(value)
    if matched is None or int(matched[1]) < 1:
        return None
    year = int(matched[1])
    if matched[2] is None:
        return date(year, 1, 1), date(year, 12, 31)
    month = int(matched[2])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def when_from_first_day(value: Any) -> When | None:
    """As :func:`when_of`; a date to the year or month only, as its first day.

    The older reading: what is dated by it counts as recent only when every day the
    date allows is recent (a red flag, pathway.md 3.2; a score's age).
    """
    when = when_of(value)
    if when is None and (period := period_of(value)) is not None:
        return When(period[0])
    return when


class Statement(NamedTuple):
    """One entry's word on one record item.

    A named tuple rather than a frozen dataclass: a chart makes one per entry
    read, and a tuple is built several times faster.
    """

    item: str
    value: Any
    when: When | None
    source: str  # the kind of source: resource type
    entry: int
    label: str = ""  # the resource, as the clinician finds it (Procedure/abc)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Entries that disagree about an item, and what the reading made of it."""

    item: str
    entries: tuple[int, ...]
    resolution: str
    resources: tuple[str, ...] = ()
    """The resources that disagree, as the clinician finds them (``Procedure/abc``)."""

    def warning_text(self) -> str:
        """The conflict in words for the clinician: the item, the resources, the settlement."""
        named = ", ".join(self.resources) or ", ".join(f"entry[{n}]" for n in self.entries)
        return f"Conflicting entries for {item_label(self.item)} ({named}): {self.resolution}."


def resolve(statements: Iterable[Statement]) -> tuple[dict[str, Any], list[Conflict]]:
    """The value of each item (absent: unknown) and the conflicts found, sorted by item."""
    by_item: dict[str, list[Statement]] = defaultdict(list)
    for statement in statements:
        by_item[statement.item].append(statement)
    values: dict[str, Any] = {}
    conflicts: list[Conflict] = []
    for item in sorted(by_item):
        said = by_item[item]
        if len(said) == 1:  # one entry's word: nothing to settle, nothing to conflict
            if said[0].value is not None:
                values[item] = said[0].value
            continue
        settle = _red_flag if item in RED_FLAG_ITEMS else _latest
        value, conflict = settle(item, said)
        if value is not None:
            values[item] = value
        if conflict is not None:
            conflicts.append(conflict)
    return values, conflicts


def conflict(item: str, statements: Iterable[Statement], resolution: str) -> Conflict:
    """A conflict naming the statements' entries and resources (each once, sorted)."""
    said = list(statements)
    return Conflict(
        item,
        tuple(sorted({s.entry for s in said})),
        resolution,
        tuple(sorted({s.label for s in said if s.label})),
    )


def _red_flag(item: str, said: list[Statement]) -> tuple[bool | None, Conflict | None]:
    yes = [s for s in said if s.value is True]
    no = [s for s in said if s.value is False]
    standing = [s for s in yes if not any(clears(n, s) for n in no)]
    if standing:
        if no:
            why = "read as present: a red flag is cleared only by a later 'no' of the same kind"
            return True, conflict(item, said, why)
        return True, None
    return (False if no else None), None


def clears(no: Statement, yes: Statement) -> bool:
    """Whether a "no" clears a red-flag "yes": same kind of source, dated strictly later."""
    return (
        no.source == yes.source
        and no.when is not None
        and yes.when is not None
        and no.when.later_than(yes.when)
    )


def _latest(item: str, said: list[Statement]) -> tuple[Any, Conflict | None]:
    first = said[0].value
    if all(s.value == first and type(s.value) is type(first) for s in said):
        return first, None  # every entry says the same (a form repeating the codes): settled
    newest = _newest([(s.when, s) for s in said if s.when is not None]) or said
    values = {_key(s.value) for s in newest}
    if len(values) > 1:
        return None, conflict(item, newest, "left unknown: equally recent entries disagree")
    value = newest[0].value
    undated_disagreeing = [s for s in said if s.when is None and _key(s.value) not in values]
    if undated_disagreeing:
        why = "the most recent dated entry was read; undated entries disagree"
        return value, conflict(item, [*newest, *undated_disagreeing], why)
    return value, None


def _newest(dated: list[tuple[When, Statement]]) -> list[Statement]:
    """The statements no other is strictly later than (in one pass)."""
    if not dated:
        return []
    top = max(when.day for when, _ in dated)
    today = [(when, s) for when, s in dated if when.day == top]
    latest = max((when.instant for when, _ in today if when.instant is not None), default=None)
    return [s for when, s in today if when.instant is None or when.instant == latest]


def _key(value: Any) -> tuple[str, Any]:
    """Values compare by type too: True is not 1."""
    return (type(value).__name__, value)
