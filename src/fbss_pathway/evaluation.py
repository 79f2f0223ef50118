"""Evaluating one patient: validate, read facts, run the rules, explain the result.

The engine decides which rules fire; :mod:`.explain` combines their
conclusions into the recommendation and shows its basis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from .errors import NotARecordError
from .explain import explain
from .explain.follow_up import kept_reassessments
from .facts import FactValue, calendar_months, extract_facts
from .follow_up import follow_up_dates
from .mme import current_opioids, dose_items
from .recommendation import OperationSummary, PatientContext, Recommendation, built
from .record import PatientRecord
from .ruleset import RuleSet, default_ruleset

__all__ = ["evaluate", "validate_record"]


def evaluate(
    record: PatientRecord | Mapping[str, Any],
    *,
    ruleset: RuleSet | None = None,
    ladder: bool = True,
) -> Recommendation:
    """Recommend the pathway stage and actions for one patient, with their basis.

    Args:
        record: A :class:`PatientRecord`, or a mapping that is validated into one.
        ruleset: A rule set from :func:`load_ruleset`; the packaged rules by default.
        ladder: Add the ladder view (:attr:`Recommendation.ladder`). Callers that
            need only the decision (cards, population screens) pass False: the
            view costs about as much as the rest of the evaluation.

    Raises:
        pydantic.ValidationError: the mapping is not a valid record (the error
            names each field and never echoes the patient's values).
        EvaluationError: the rule engine failed; no partial answer is returned.
        NotARecordError: ``record`` or ``ruleset`` is of the wrong type (a
            ``TypeError`` and a ``FbssPathwayError``).
    """
    if not isinstance(record, PatientRecord):
        if not isinstance(record, Mapping):
            raise NotARecordError(
                f"record must be a PatientRecord or a mapping, not {type(record).__name__}"
            )
        record = validate_record(record)
    if ruleset is None:
        ruleset = default_ruleset()
    elif not isinstance(ruleset, RuleSet):
        raise NotARecordError(
            f"ruleset must come from load_ruleset(), not {type(ruleset).__name__}"
        )
    facts = extract_facts(record, ruleset.parameter_values, mme=ruleset.mme)
    firings, derived = ruleset.compiled.run(facts)
    # Follow-up dates are plain date arithmetic on the record (pathway.md 10), not rules.
    dates = follow_up_dates(record, facts, ruleset.parameters)
    reassess = (
        kept_reassessments(ruleset.version, dates, ruleset.parameters, record.assessment_date)
        if dates
        else ()
    )
    return explain(
        ruleset,
        facts,
        firings,
        derived,
        ladder=ladder,
        patient=patient_context(record),
        reassess=reassess,
        opioid_doses=opioid_doses(record, facts, ruleset),
    )


def opioid_doses(
    record: PatientRecord, facts: Mapping[str, FactValue], ruleset: RuleSet
) -> tuple[str, ...]:
    """What the record's current opioids lack for MME a day, when it is unknown and counts.

    The missing information then names it (a dose, a patch's micrograms an hour,
    or the MME itself where no factor converts the ingredient), never a dose the
    clinician has already recorded.
    """
    if facts.get("mme_threshold_applies") is not True or "mme_per_day" in facts:
        return ()
    return dose_items(current_opioids(record.medicines, record.assessment_date), ruleset.mme)


def patient_context(record: PatientRecord) -> PatientContext:
    """The assessment date, age and operations that date a result and let it be checked.

    Built from a validated record, so constructed without validating again (it
    was 15 of a decision's ~500 us).
    """
    assessed = record.assessment_date
    # Most recent first; the same for any order of the record's list.
    operations = sorted(
        record.operations, key=lambda o: (o.date, o.kind.value, o.levels or []), reverse=True
    )
    return built(
        PatientContext,
        assessment_date=assessed,
        age_years=record.age_years,
        operations=tuple(
            built(
                OperationSummary,
                date=operation.date,
                kind=operation.kind.value,
                levels=tuple(operation.levels or ()),
                months_since=calendar_months(operation.date, assessed),
            )
            for operation in operations
        ),
    )


def validate_record(data: Mapping[str, Any]) -> PatientRecord:
    """A mapping validated into a record; a value nested too deeply is a ValidationError too.

    pydantic builds some of its messages from the value's ``repr``, which for a
    value nested deeply enough raises ``RecursionError`` (a thousand deep on
    CPython 3.11, further on 3.13 and 3.14, where shallower values get the
    field's own error); that becomes a ``ValidationError`` (naming no value),
    like every other invalid input.
    """
    try:
        return PatientRecord.model_validate(data)
    except RecursionError:
        pass
    raise ValidationError.from_exception_data(
        PatientRecord.__name__,
        [
            {
                "type": PydanticCustomError(
                    "nested_too_deeply", "a value is nested too deeply to be part of a record"
                ),
                "loc": (),
                "input": None,
            }
        ],
    )
