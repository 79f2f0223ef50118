"""What the chart says about the patient *now*, before disagreeing entries are settled.

A chart holds years of entries; the pathway's items are about the assessment
(pathway.md 2, 3.2). Here, before :func:`.statements.resolve` settles each item:

- **Red flags are about now.** A coded or answered red flag counts when it is dated
  no more than :data:`RED_FLAG_RECENCY_MONTHS` calendar months before the assessment
  (or after it). An older or undated "yes" that no later "no" of the same kind clears
  makes the flag **unknown**, never "no" and never a "yes" that holds the patient in
  urgent review for ever; the reading reports it (:class:`StaleRedFlag`, warning
  ``red_flag_code_old``). A "no" older than that says nothing about now either: the flag
  is unknown. A form's answers are dated by its ``red_flags.screened_on`` answer, else by
  ``authored``; a screen date older than the window is not carried into the record (its
  answers were read as unknown, and a recent coded red flag must still count).
- **One PHQ-9, one GAD-7.** The scores read are those of the most recent administration
  (the newest day any PHQ-9 entry, total or item 9, is dated): total, item 9 and date
  always come from the same day, never a total of one day with an item 9 or a date of
  another. The day is the Observation's effective date or the form's ``phq9_date``
  answer (else ``authored``); it is written into ``phq9_date`` unless it is the
  assessment date, which the record means when the date is absent.
- **Nothing dated after the assessment** (a score, a screen date, an evaluation or a
  suicide-risk assessment) is read, as for treatments.

After settling, :func:`coherent` keeps the record from contradicting itself when the
values come from different entries (an item 9 above the total; a pause answer for an
antithrombotic the chart says is not taken).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..explain.words import date_words, item_label
from ..facts import months_begun
from ..record import SuicideRiskAssessment
from .codes import DATE_ITEMS, RED_FLAG_ITEMS
from .statements import Conflict, Statement, When, clears, conflict

__all__ = [
    "RED_FLAG_RECENCY_MONTHS",
    "STALE_RED_FLAG_WARNING",
    "Current",
    "StaleRedFlag",
    "coherent",
    "current",
]

#: A red flag from the chart counts as "yes" (or "no") only while it is dated less than this
#: many whole calendar months before the assessment: the default of the rule set's
#: ``red_flag_recency_months`` parameter (pathway.md 3.2, basis ``site``). The reader takes
#: no rule set, so it uses the default; a site that changes the parameter changes the
#: engine's screen-date rule, not this reading.
RED_FLAG_RECENCY_MONTHS = 3
#: The id of the warning naming a red flag coded too long ago to say anything about now.
STALE_RED_FLAG_WARNING = "red_flag_code_old"
SCREEN_DATE = "red_flags.screened_on"
#: Score items read together, with the item holding their date.
SCORE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("psychosocial.phq9_date", ("psychosocial.phq9", "psychosocial.phq9_item9")),
    ("psychosocial.gad7_date", ("psychosocial.gad7",)),
)
_FORM = "QuestionnaireResponse"


@dataclass(frozen=True, slots=True)
class StaleRedFlag:
    """A red flag the chart asserts only in entries too old (or undated) to be about now."""

    item: str
    since: date | None
    """The earliest date of those entries; None when none is dated."""
    coded: bool
    """From Conditions or Observations (else only from assessment forms)."""
    resources: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    """The kinds of resource that assert it (``Condition``, ``Observation``, ...)."""

    def warning_text(self) -> str:
        """For the clinician: the flag in clinical words, the date and what clears it.

        Only a later "no" of the same kind clears an old "yes" (pathway.md 3.2): a
        screen's answer does not clear a problem-list code, so the warning names the
        kind of entry to update rather than sending the clinician to screen again.
        """
        words = item_label(self.item)
        if self.since is None:
            said = "coded without a date" if self.coded else "answered on an undated form"
        else:
            day = date_words(self.since)
            said = f"coded since {day}" if self.coded else f"answered on a form of {day}"
        kinds = " or ".join(_KIND_WORDS.get(source, source) for source in self.sources)
        clears = f"a later {kinds} says no" if kinds else "re-screened"
        return f"{words}: {said}, confirm whether new (read as unknown until {clears})."


#: A kind of resource as the clinician knows it, in the words of what clears a red flag.
_KIND_WORDS = {
    "Condition": "condition",
    "Observation": "observation",
    "QuestionnaireResponse": "form",
    "ClinicalImpression": "clinical impression",
}


@dataclass(slots=True)
class Current:
    """The statements about now, and what was set aside and why."""

    statements: list[Statement]
    dropped: list[tuple[Statement, str]] = field(default_factory=list)
    stale: list[StaleRedFlag] = field(default_factory=list)
    carried: list[Conflict] = field(default_factory=list)
    """Answers of an older entry kept beside a newer one (a positive PHQ-9 item 9)."""


def recent(day: date, assessed: date) -> bool:
    """Whether a day is within the red-flag window before the assessment (or after it).

    The rules' own measure (``facts.months_begun``): exactly three months old still
    counts, three months and a day does not.
    """
    return day >= assessed or months_begun(day, assessed) <= RED_FLAG_RECENCY_MONTHS


def current(statements: Iterable[Statement], assessed: date) -> Current:
    """The statements that speak about the patient at the assessment (see the module)."""
    result = Current([])
    kept: list[Statement] = []
    for statement in statements:
        dated = _dated_value(statement)
        if dated is not None and dated > assessed:
            result.dropped.append((statement, "dated after the assessment"))
        else:
            kept.append(statement)
    kept = _scores(kept, assessed, result)
    result.statements = _red_flags(kept, assessed, result)
    return result


def _dated_value(statement: Statement) -> date | None:
    if statement.item in DATE_ITEMS and isinstance(statement.value, date):
        return statement.value
    if isinstance(statement.value, SuicideRiskAssessment):
        return statement.value.date
    if statement.item in _SCORE_ITEMS and statement.when is not None:
        return statement.when.day
    return None


_SCORE_ITEMS = frozenset(item for _, members in SCORE_GROUPS for item in members)
_ITEM9 = "psychosocial.phq9_item9"


def _over_24(total: Any) -> bool:
    return isinstance(total, int) and not isinstance(total, bool) and total > 24


def _positive_item9(said: list[Statement], newest: date, result: Current) -> list[Statement]:
    """The most recent positive item 9 of an older PHQ-9, when the newest does not answer it.

    A PHQ-9 is otherwise read whole, from its newest day; but a positive item 9 asks for
    a suicide-risk assessment until one dated on or after that PHQ-9 is on record
    (pathway.md 3.4), and a later PHQ-9 that leaves item 9 unanswered says nothing about
    it. It stands, with the newest PHQ-9's date: an assessment dated between the two asks
    again, the safer reading. Said as a conflict, so that the clinician sees both dates.
    """
    older = [
        s
        for s in said
        if s.item == _ITEM9
        and s.when is not None
        and s.when.day < newest
        and isinstance(s.value, int)
        and not isinstance(s.value, bool)
        and s.value >= 1
    ]
    if not older:
        return []
    latest = max(older, key=lambda s: (s.when.day if s.when else newest, s.entry))
    assert latest.when is not None
    why = (
        f"the most recent PHQ-9 ({date_words(newest)}) leaves item 9 unanswered: the positive "
        f"answer of {date_words(latest.when.day)} stands until a suicide-risk assessment "
        "dated on or after the most recent PHQ-9"
    )
    result.carried.append(conflict(_ITEM9, [latest], why))
    return [latest]


def _scores(statements: list[Statement], assessed: date, result: Current) -> list[Statement]:
    grouped = {date_item for date_item, _ in SCORE_GROUPS} | _SCORE_ITEMS
    out = [s for s in statements if s.item not in grouped]
    for date_item, members in SCORE_GROUPS:
        said = [s for s in statements if s.item in members or s.item == date_item]

        def day(s: Statement, date_item: str = date_item) -> date | None:
            if s.item == date_item:
                return s.value if isinstance(s.value, date) else None
            return s.when.day if s.when is not None else None

        days = [d for s in said if (d := day(s)) is not None]
        if not days:
            out += said  # nothing dated: the undated entries count, as for any item
            continue
        newest = max(days)
        today = [s for s in said if day(s) == newest]
        given = {s.item for s in today}
        # Undated entries of an item the newest day gives are weighed against it (listed
        # when they disagree); older days' entries are superseded.
        out += today + [s for s in said if day(s) is None and s.item in given]
        totals = [s.value for s in today if s.item == "psychosocial.phq9"]
        # A total over 24 holds a positive item 9 of its own (8 items x 3 = 24), and
        # unanswered it asks for the assessment already (MOOD-12): nothing to carry.
        if _ITEM9 in members and _ITEM9 not in given and not any(_over_24(t) for t in totals):
            out += _positive_item9(said, newest, result)
        if date_item not in given and newest != assessed:
            first = min(today, key=lambda s: s.entry)
            out.append(
                Statement(date_item, newest, When(newest), first.source, first.entry, first.label)
            )
    return out


def _red_flags(statements: list[Statement], assessed: date, result: Current) -> list[Statement]:
    by_item: dict[str, list[Statement]] = defaultdict(list)
    out: list[Statement] = []
    for statement in statements:
        if statement.item in RED_FLAG_ITEMS:
            by_item[statement.item].append(statement)
        elif statement.item == SCREEN_DATE and isinstance(statement.value, date):
            if recent(statement.value, assessed):
                out.append(statement)
            else:
                why = f"red-flag screen older than {RED_FLAG_RECENCY_MONTHS} months: not about now"
                result.dropped.append((statement, why))
        else:
            out.append(statement)
    for item in sorted(by_item):
        out += _red_flag(item, by_item[item], assessed, result)
    return out


def _red_flag(item: str, said: list[Statement], assessed: date, result: Current) -> list[Statement]:
    def now(s: Statement) -> bool:
        return s.when is not None and recent(s.when.day, assessed)

    yes = [s for s in said if s.value is True]
    no = [s for s in said if s.value is False]
    standing = [s for s in yes if not any(clears(n, s) for n in no)]
    current_yes = [s for s in standing if now(s)]
    if current_yes:
        # As version 1: a suspicion stands; any "no" beside it is a conflict to list.
        return current_yes + no
    old = f"dated more than {RED_FLAG_RECENCY_MONTHS} months before the assessment, or undated"
    if standing:
        for statement in said:
            why = old
            if statement.value is False and now(statement):
                # A recent "no" of another kind (a screen's answer beside a problem-list
                # code) clears nothing: only a later "no" of the same kind does (3.2).
                why = "'no' of another kind than the older entry it would clear"
            result.dropped.append((statement, f"red flag {why}: read as unknown"))
        days = [s.when.day for s in standing if s.when is not None]
        result.stale.append(
            StaleRedFlag(
                item,
                min(days, default=None),
                any(s.source != _FORM for s in standing),
                tuple(sorted({s.label for s in standing if s.label})),
                tuple(sorted({s.source for s in standing})),
            )
        )
        return []
    current_no = [s for s in no if now(s)]
    for statement in said:
        if statement not in current_no:
            why = "cleared by a later entry" if statement.value else f"'no' {old}"
            result.dropped.append((statement, f"red flag {why}: not about now"))
    return current_no


def coherent(values: dict[str, Any], statements: Iterable[Statement]) -> list[Conflict]:
    """Keep values read from different entries from contradicting each other.

    An item 9 above the PHQ-9 total leaves the total unknown (item 9 is what safety
    reads); a "can be paused" answer when the chart says no antithrombotic is taken is
    left unknown. Each is listed as a conflict naming the entries.
    """
    said = list(statements)
    found: list[Conflict] = []
    total, item9 = values.get("psychosocial.phq9"), values.get("psychosocial.phq9_item9")
    if isinstance(total, int) and isinstance(item9, int) and item9 > total:
        del values["psychosocial.phq9"]
        involved = [s for s in said if s.item in ("psychosocial.phq9", "psychosocial.phq9_item9")]
        why = "total left unknown: PHQ-9 item 9 is larger than the total it is part of"
        found.append(conflict("psychosocial.phq9", involved, why))
    pause = "medicines.antithrombotic_can_pause"
    if values.get("medicines.antithrombotic") is False and pause in values:
        del values[pause]
        involved = [s for s in said if s.item in ("medicines.antithrombotic", pause)]
        why = "left unknown: no anticoagulant or antiplatelet is read as taken"
        found.append(conflict(pause, involved, why))
    return found
