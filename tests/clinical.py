"""The pathway's criteria computed straight from a record, independently of the rule files.

Property tests compare the library's answers with these. They read only the
thresholds from the loaded rule set's parameters, so a site that changes a
threshold changes it in one place. The shared strategy records at most one
treatment of each kind, which keeps "the" treatment of a kind unambiguous.
"""

from __future__ import annotations

import calendar
from datetime import date

from fbss_pathway import PatientRecord, load_ruleset
from fbss_pathway.record import Adherence, Treatment, TreatmentKind

_PARAMETERS = load_ruleset().parameters


def threshold(name: str) -> float:
    value = _PARAMETERS[name].value
    assert not isinstance(value, str), f"{name} is a word parameter"
    return value


def only(record: PatientRecord, kind: TreatmentKind) -> Treatment | None:
    found = [t for t in record.treatments if t.kind is kind]
    assert len(found) <= 1, "the shared strategy records each kind at most once"
    return found[0] if found else None


_RED_FLAGS = (
    "cauda_equina_signs",
    "progressive_motor_deficit",
    "suspected_infection",
    "suspected_structural_failure",
    "suspected_malignancy",
)


def red_flag_screen_current(record: PatientRecord) -> bool:
    """The screen is not older than the recency limit (pathway.md 3.2)."""
    screened = record.red_flags.screened_on or record.assessment_date
    limit = int(threshold("red_flag_recency_months"))
    return _plus_months(screened, limit) >= record.assessment_date


def red_flag(record: PatientRecord) -> bool:
    """A red flag recorded "yes" on a current screen."""
    flags = record.red_flags
    return red_flag_screen_current(record) and any(
        getattr(flags, name) is True for name in _RED_FLAGS
    )


def red_flag_unknown(record: PatientRecord) -> bool:
    """Some red flag is not known (unrecorded, or the screen is too old)."""
    flags = record.red_flags
    return not red_flag_screen_current(record) or any(
        getattr(flags, name) is None for name in _RED_FLAGS
    )


def _plus_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, or that month's last day when shorter."""
    years, month = divmod(day.month - 1 + months, 12)
    year = day.year + years
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def months_since_last_operation(record: PatientRecord) -> int:
    """Calendar months, counted one at a time (pathway section 1)."""
    last = max(operation.date for operation in record.operations)
    months = 0
    while _plus_months(last, months + 1) <= record.assessment_date:
        months += 1
    return months


def fbss_established(record: PatientRecord) -> bool:
    return months_since_last_operation(record) >= threshold("fbss_min_months_after_surgery")


def weeks_after_last_operation(exercise: Treatment, record: PatientRecord) -> float | None:
    """Days of the programme between the last operation and the assessment, in weeks."""
    if exercise.start_date is None or exercise.duration_weeks is None:
        return None
    last = max(operation.date for operation in record.operations)
    first = max(exercise.start_date, last)
    end = min(
        exercise.start_date.toordinal() + exercise.duration_weeks * 7,
        record.assessment_date.toordinal(),
    )
    return max(0.0, (end - first.toordinal()) / 7)


def adequate_trial(record: PatientRecord) -> bool:
    """Pathway.md 5.1: >= 12 weeks after the last operation, adherence known and not poor."""
    exercise = only(record, TreatmentKind.EXERCISE_THERAPY)
    if exercise is None:
        return False
    weeks = weeks_after_last_operation(exercise, record)
    return (
        weeks is not None
        and weeks >= threshold("adequate_exercise_weeks")
        and exercise.adherence in (Adherence.GOOD, Adherence.PARTIAL)
    )


def _at_least(value: float | None, name: str) -> bool:
    return value is not None and value >= threshold(name)


def trial_failed(record: PatientRecord) -> bool:
    pain = record.pain
    worst_high = (
        _at_least(pain.back_nrs, "pain_threshold_nrs")
        or _at_least(pain.leg_nrs, "pain_threshold_nrs")
        or _at_least(record.oswestry_disability_index, "odi_failed_trial")
    )
    return fbss_established(record) and adequate_trial(record) and worst_high


def facet_suspected(record: PatientRecord) -> bool:
    f = record.findings
    return f.facet_arthropathy is True or f.adjacent_segment_degeneration is True


def facet_ruled_out_or_absent(record: PatientRecord) -> bool:
    """Known not to be pending: low back pain, no facet finding, a negative block or failed RF."""
    f = record.findings
    block = only(record, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    rf = only(record, TreatmentKind.RADIOFREQUENCY_DENERVATION)
    low_back = record.pain.back_nrs is not None and record.pain.back_nrs < threshold(
        "pain_threshold_nrs"
    )
    no_finding = f.facet_arthropathy is False and f.adjacent_segment_degeneration is False
    negative_block = (
        block is not None
        and block.relief_percent is not None
        and block.relief_percent < threshold("block_positive_relief_percent")
        and block.start_date is not None  # read only within the window (pathway.md 6)
        and _plus_months(block.start_date, int(threshold("block_max_age_months")))
        >= record.assessment_date
    )
    # A short-lived response (>= 50 % for under 6 months) is discussed, never failed
    # (pathway.md 6): only relief below 50 % rules radiofrequency out.
    rf_failed = (
        rf is not None
        and rf.relief_percent is not None
        and rf.relief_percent < threshold("rf_success_relief_percent")
    )
    return low_back or no_finding or negative_block or rf_failed


def scs_on_record(record: PatientRecord) -> bool:
    kinds = {t.kind for t in record.treatments}
    return bool(kinds & {TreatmentKind.SCS_TRIAL, TreatmentKind.SCS_IMPLANT})


def scores_current(record: PatientRecord) -> bool:
    """PHQ-9 and GAD-7 (where recorded) are not older than the limit before SCS."""
    mood = record.psychosocial
    limit = int(threshold("scores_max_age_months"))
    for score, scored in ((mood.phq9, mood.phq9_date), (mood.gad7, mood.gad7_date)):
        day = scored or record.assessment_date
        if score is not None and _plus_months(day, limit) < record.assessment_date:
            return False
    return True
