"""Follow-up dates in words (pathway.md 10): why each date, and how outputs list them.

:mod:`fbss_pathway.follow_up` computes the dates; this module says why each one
matters, in clinical words with the interval and the date it runs from, and
gives cards, reports, the terminal and population rows one way to write them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from ..facts import calendar_months
from ..follow_up import Due
from ..recommendation import Reassessment, built
from ..rules_engine.model import Parameter
from ..vocabulary import ReassessItem
from .cache import keep
from .layout import date_words

__all__ = [
    "ITEM_WORDS",
    "kept_reassessments",
    "next_reassessment",
    "reassess_line",
    "reassess_sentence",
    "reassessments",
]

#: Each item in a few words, as a clinician reads it in a list of dates.
ITEM_WORDS: Mapping[ReassessItem, str] = {
    ReassessItem.PSPS_THRESHOLD: "Pain becomes PSPS type 2 (FBSS)",
    ReassessItem.PAIN_SIX_MONTHS: "Six months of pain",
    ReassessItem.EXERCISE_TRIAL_END: "End of the exercise trial",
    ReassessItem.RF_REVIEW: "Radiofrequency review",
    ReassessItem.IMPLANT_REVIEW: "Spinal cord stimulator review",
    ReassessItem.OPIOID_REVIEW: "Opioid review",
    ReassessItem.MOOD_RESCREEN: "Mood re-screen (PHQ-9, GAD-7)",
}


def reassessments(
    dates: Iterable[Due], parameters: Mapping[str, Parameter], assessed: date
) -> tuple[Reassessment, ...]:
    """The follow-up dates as the result holds them: each with why and its interval's source."""
    # Built from the rule set's own data and the vocabulary: constructed, not re-validated.
    return tuple(_reassessment(due, parameters, assessed) for due in dates)


def kept_reassessments(
    version: str, dates: tuple[Due, ...], parameters: Mapping[str, Parameter], assessed: date
) -> tuple[Reassessment, ...]:
    """:func:`reassessments`, kept per rule set version (its parameters), dates and day.

    Results are frozen, and patients assessed on one day share many dates (an opioid
    review three months on, a mood re-screen): one look-up instead of the words.
    """
    key = (version, dates, assessed)
    found = _KEPT.get(key)
    if found is None:
        found = keep(_KEPT, key, reassessments(dates, parameters, assessed), 20_000)
    return found


_KEPT: dict[tuple[str, tuple[Due, ...], date], tuple[Reassessment, ...]] = {}


def _reassessment(due: Due, parameters: Mapping[str, Parameter], assessed: date) -> Reassessment:
    return built(
        Reassessment,
        item=due.item,
        due=due.due,
        why=_why(due, parameters, assessed),
        source=parameters[due.parameter].sources[0],
        overdue=due.overdue,
    )


def _number(parameters: Mapping[str, Parameter], name: str) -> str:
    return f"{parameters[name].value:g}"


def _why(due: Due, parameters: Mapping[str, Parameter], assessed: date) -> str:
    since = date_words(due.since)
    n = _number(parameters, due.parameter)
    months = calendar_months(due.since, due.due)
    match due.item:
        case ReassessItem.PSPS_THRESHOLD:
            return (
                f"{n} months after the last operation ({since}): from this date the pain is "
                "PSPS type 2 (FBSS) and interventional options can be considered"
            )
        case ReassessItem.PAIN_SIX_MONTHS:
            return (
                f"the pain reaches {n} months, the duration spinal cord stimulation asks for "
                "(months of pain recorded at this assessment)"
            )
        case ReassessItem.EXERCISE_TRIAL_END:
            return (
                f"the {n}-week exercise programme, counted from {since}, ends: judge the "
                "conservative trial (pain, function, adherence)"
            )
        case ReassessItem.RF_REVIEW:
            return (
                f"{months} months after radiofrequency denervation on {since}: record the relief "
                "and how long it has lasted"
            )
        case ReassessItem.IMPLANT_REVIEW:
            return (
                f"{months} months after the spinal cord stimulator was implanted on {since}: "
                "review relief, use and the device"
            )
        case ReassessItem.OPIOID_REVIEW:
            after = (
                "this assessment" if due.since == assessed else f"the last opioid review ({since})"
            )
            late = "; overdue" if due.overdue else ""
            return f"{n} months after {after}: review the opioid's benefit, harm and function{late}"
        case ReassessItem.MOOD_RESCREEN:
            late = "; overdue, no scores since" if due.overdue else ""
            return (
                f"{n} weeks after treatment for depression or anxiety started ({since}): score "
                f"PHQ-9 (item 9 included) and GAD-7 again{late}"
            )


def reassess_line(reassessment: Reassessment) -> str:
    """One follow-up date in one line: "1 Dec 2026 · Opioid review (overdue)"."""
    late = " (overdue)" if reassessment.overdue else ""
    return f"{date_words(reassessment.due)} · {ITEM_WORDS[reassessment.item]}{late}"


def reassess_sentence(reassessment: Reassessment) -> str:
    """One follow-up date with why: the line cards and the terminal show (sources: the report)."""
    return f"{reassess_line(reassessment)}: {reassessment.why}"


def next_reassessment(reassess: Iterable[Reassessment]) -> Reassessment | None:
    """The first date to act on: the earliest (an overdue one is the earliest of all)."""
    return min(reassess, key=lambda r: r.due, default=None)
