"""Follow-up dates (pathway.md 10): when each thing should be looked at again.

Plain Python on the record and the facts already read from it, with the
intervals from the rule set's parameters: no rule engine, so that an evaluation
without the ladder stays cheap. Each date is a calendar date: months are added
with :func:`~fbss_pathway.facts.add_calendar_months` (the day clamped to a
shorter month's end: 30 November + 3 months is 28 February), weeks as days, and
no rounding may move a date before the threshold it stands for.

Which dates a result carries:

* every future date: due after the assessment (a review due on the assessment
  day is this assessment; the PSPS threshold and six months of pain only while
  not yet reached);
* where the record holds the date of the last review, a date due on or before
  the assessment too, flagged ``overdue`` once it has passed: the opioid review
  (``medicines.last_opioid_review``) and the mood re-screen (the PHQ-9 and GAD-7
  dates tell whether it was done);
* one date per item: the next one.

A rule directory without an item's interval gives no date of that kind (a site
may leave an item out); this module never falls back on a number of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from .facts import FactValue, add_calendar_months, months_reached
from .record import PatientRecord, Treatment, TreatmentKind
from .rules_engine.model import Parameter
from .vocabulary import ReassessItem

__all__ = [
    "IMPLANT_SCHEDULE",
    "INTERVALS",
    "PARAMETERS",
    "RF_SCHEDULE",
    "Due",
    "exercise_trial_end",
    "follow_up_dates",
]

#: The reviews after radiofrequency, in order (parameters, months after it).
RF_SCHEDULE = ("rf_review_first_months", "rf_review_second_months")
#: The reviews after an SCS implant, in order; then one every ``implant_review_yearly_months``.
IMPLANT_SCHEDULE = (
    "implant_review_first_months",
    "implant_review_second_months",
    "implant_review_third_months",
    "implant_review_fourth_months",
)
_YEARLY = "implant_review_yearly_months"

_PSPS = "fbss_min_months_after_surgery"
_PAIN = "scs_min_pain_months"
_EXERCISE = "adequate_exercise_weeks"
_OPIOID = "opioid_review_months"
_MOOD = "mood_rescreen_weeks"

#: The parameter whose interval sets each item's date (for a schedule, its first).
INTERVALS: Mapping[ReassessItem, str] = {
    ReassessItem.PSPS_THRESHOLD: _PSPS,
    ReassessItem.PAIN_SIX_MONTHS: _PAIN,
    ReassessItem.EXERCISE_TRIAL_END: _EXERCISE,
    ReassessItem.RF_REVIEW: RF_SCHEDULE[0],
    ReassessItem.IMPLANT_REVIEW: IMPLANT_SCHEDULE[0],
    ReassessItem.OPIOID_REVIEW: _OPIOID,
    ReassessItem.MOOD_RESCREEN: _MOOD,
}
#: Ties on one day in vocabulary order (enum members hash slowly: kept as strings).
_ORDER = {item.value: index for index, item in enumerate(ReassessItem)}

#: Every parameter the follow-up dates read (a rule set may leave any of them out).
PARAMETERS = frozenset({*INTERVALS.values(), *RF_SCHEDULE, *IMPLANT_SCHEDULE, _YEARLY})


@dataclass(frozen=True, slots=True)
class Due:
    """One follow-up date, before it is put into words.

    Attributes:
        item: What it is for.
        due: The date.
        parameter: The parameter whose interval gave it (its sources are the date's).
        since: The date the interval runs from (the operation, the treatment, the
            last review, the assessment).
        overdue: The date has passed and the record shows no review since.
    """

    item: ReassessItem
    due: date
    parameter: str
    since: date
    overdue: bool = False


def follow_up_dates(
    record: PatientRecord,
    facts: Mapping[str, FactValue],
    parameters: Mapping[str, Parameter],
) -> tuple[Due, ...]:
    """The follow-up dates of a record, earliest first (ties in vocabulary order)."""
    found = [
        due
        for due in (
            _psps_threshold(record, parameters),
            _pain_six_months(record, parameters),
            _exercise(record, parameters),
            _after_rf(record, parameters),
            _after_implant(record, parameters),
            _opioid_review(record, facts, parameters),
            _mood_rescreen(record, parameters),
        )
        if due is not None
    ]
    if len(found) < 2:
        return tuple(found)
    return tuple(sorted(found, key=lambda due: (due.due, _ORDER[due.item.value])))


def _number(parameters: Mapping[str, Parameter], name: str) -> float | None:
    """A parameter's number; None when the site leaves it out (a word is no interval)."""
    parameter = parameters.get(name)
    value = None if parameter is None else parameter.value
    return value if isinstance(value, int | float) else None


def _months(parameters: Mapping[str, Parameter], name: str) -> int | None:
    """A whole number of months from a parameter (None when the site leaves it out).

    A fractional parameter is rounded up, never down: the date then never falls
    before the threshold it stands for.
    """
    value = _number(parameters, name)
    return None if value is None else math.ceil(value)


def _last_operation(record: PatientRecord) -> date:
    operations = record.operations
    return operations[0].date if len(operations) == 1 else max(o.date for o in operations)


def _psps_threshold(record: PatientRecord, parameters: Mapping[str, Parameter]) -> Due | None:
    """The day pain after the last operation becomes PSPS type 2, while not yet reached."""
    name = _PSPS
    months = _months(parameters, name)
    if months is None:
        return None
    operated = _last_operation(record)
    due = add_calendar_months(operated, months)
    return (
        Due(ReassessItem.PSPS_THRESHOLD, due, name, operated)
        if due > record.assessment_date
        else None
    )


def _pain_six_months(record: PatientRecord, parameters: Mapping[str, Parameter]) -> Due | None:
    """The day the months of pain reach the SCS threshold, while not yet reached.

    The record gives the months of pain at the assessment. The whole months still
    to go are calendar months; a fraction left over is added as days of the longest
    month, rounded up, so the date is never one on which the pain could still be
    shorter than the threshold.
    """
    name = _PAIN
    needed = _number(parameters, name)
    had = record.pain.duration_months
    if needed is None or had is None or had >= needed:
        return None
    assessed = record.assessment_date
    due = months_reached(assessed, had, needed)
    return Due(ReassessItem.PAIN_SIX_MONTHS, due, name, assessed)


def exercise_trial_end(record: PatientRecord, weeks: float) -> tuple[date, date] | None:
    """The end of the exercise trial under way, and the day it counts from; None if none is.

    The trial is the most recent exercise programme (as the facts select it), with
    its start date: only the part after the last operation counts (pathway.md
    5.1), so it ends ``weeks`` after the later of its start and the operation,
    and is under way until then. Its recorded length does not end it earlier:
    weeks recorded so far cannot tell a programme stopped from one going on, and
    a date for a stopped one costs a look, while a date missed costs the trial's
    judgement. But a programme whose recorded weeks ended before the last
    operation is over: nothing of it counts (the facts' 0 weeks since the
    operation), and no trial end is made from the operation's date. Kept in one
    function: which programme counts is the conservative trial's rule, and may
    change with it.
    """
    programme = _latest(record, TreatmentKind.EXERCISE_THERAPY)
    if programme is None or programme.start_date is None:
        return None
    started, operated, recorded = programme.start_date, _last_operation(record), None
    if started < operated and programme.duration_weeks is not None:
        recorded = started + timedelta(days=math.ceil(programme.duration_weeks * 7))
    if recorded is not None and recorded <= operated:
        return None  # over before the operation: no exercise since it
    counts_from = max(started, operated)
    end = counts_from + timedelta(days=math.ceil(weeks * 7))
    return (end, counts_from) if end > record.assessment_date else None


def _exercise(record: PatientRecord, parameters: Mapping[str, Parameter]) -> Due | None:
    name = _EXERCISE
    weeks = _number(parameters, name)
    if weeks is None:
        return None
    found = exercise_trial_end(record, weeks)
    if found is None:
        return None
    end, counts_from = found
    return Due(ReassessItem.EXERCISE_TRIAL_END, end, name, counts_from)


def _latest(record: PatientRecord, kind: TreatmentKind) -> Treatment | None:
    """The most recent dated treatment of a kind (the first listed of one day)."""
    latest, latest_start = None, None
    for treatment in record.treatments:  # a plain loop: called for every patient
        started = treatment.start_date
        if (
            treatment.kind is kind
            and started is not None
            and (latest_start is None or started > latest_start)
        ):
            latest, latest_start = treatment, started
    return latest


def _latest_start(record: PatientRecord, kind: TreatmentKind) -> date | None:
    """The start of the most recent treatment of a kind (undated ones give no date)."""
    latest = _latest(record, kind)
    return None if latest is None else latest.start_date


def _next_review(
    item: ReassessItem,
    done: date,
    schedule: tuple[str, ...],
    parameters: Mapping[str, Parameter],
    assessed: date,
    yearly: str | None = None,
) -> Due | None:
    """The first review of a schedule due after the assessment (one due that day is this one)."""
    for name in schedule:
        months = _months(parameters, name)
        if months is None:
            continue
        due = add_calendar_months(done, months)
        if due > assessed:
            return Due(item, due, name, done)
    step = None if yearly is None else _months(parameters, yearly)
    last = None if not schedule else _months(parameters, schedule[-1])
    if step is None or step <= 0 or last is None or yearly is None:
        return None
    # Months from the procedure to the assessment decide how many steps to take, so a
    # stimulator implanted decades ago costs one addition, not one per year.
    elapsed = (assessed.year - done.year) * 12 + assessed.month - done.month
    count = max(1, -(-(elapsed - last) // step))
    due = add_calendar_months(done, last + count * step)
    while due <= assessed:
        count += 1
        due = add_calendar_months(done, last + count * step)
    return Due(item, due, yearly, done)


def _after_rf(record: PatientRecord, parameters: Mapping[str, Parameter]) -> Due | None:
    done = _latest_start(record, TreatmentKind.RADIOFREQUENCY_DENERVATION)
    if done is None:
        return None
    return _next_review(
        ReassessItem.RF_REVIEW, done, RF_SCHEDULE, parameters, record.assessment_date
    )


def _after_implant(record: PatientRecord, parameters: Mapping[str, Parameter]) -> Due | None:
    done = _latest_start(record, TreatmentKind.SCS_IMPLANT)
    if done is None:
        return None
    return _next_review(
        ReassessItem.IMPLANT_REVIEW,
        done,
        IMPLANT_SCHEDULE,
        parameters,
        record.assessment_date,
        yearly=_YEARLY,
    )


def _opioid_review(
    record: PatientRecord, facts: Mapping[str, FactValue], parameters: Mapping[str, Parameter]
) -> Due | None:
    """The next opioid review while an opioid is current (the fact ``opioid_in_use``).

    From the last review on record (overdue when its date has passed), else from
    this assessment.
    """
    name = _OPIOID
    months = _months(parameters, name)
    if months is None or facts.get("opioid_in_use") is not True:
        return None
    assessed = record.assessment_date
    since = record.medicines.last_opioid_review or assessed
    due = add_calendar_months(since, months)
    return Due(ReassessItem.OPIOID_REVIEW, due, name, since, overdue=due < assessed)


def _mood_rescreen(record: PatientRecord, parameters: Mapping[str, Parameter]) -> Due | None:
    """PHQ-9 and GAD-7 again after mood treatment starts; none without a start date.

    Done when every score on record is dated on or after the due date (an undated
    score counts as scored at the assessment). Past and not done: overdue.
    """
    name = _MOOD
    weeks = _number(parameters, name)
    mood = record.psychosocial
    started = mood.mood_treatment_start
    if weeks is None or started is None:
        return None
    due = started + timedelta(days=math.ceil(weeks * 7))
    assessed = record.assessment_date
    scored = [
        when or assessed
        for score, when in ((mood.phq9, mood.phq9_date), (mood.gad7, mood.gad7_date))
        if score is not None
    ]
    if scored and min(scored) >= due:
        return None
    return Due(ReassessItem.MOOD_RESCREEN, due, name, started, overdue=due < assessed)
