"""What an evaluation returns: the recommendation and the basis for every part of it.

A clinician must be able to check each action without trusting the software:
every action carries the rule that produced it, a sentence about this patient,
the record fields it read with their values, and its sources.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .vocabulary import (
    ActionCode,
    Option,
    ReassessItem,
    RedFlagTier,
    RungStatus,
    ScsAdvice,
    Stage,
    Verdict,
)

__all__ = [
    "Action",
    "ExpectedBenefit",
    "InputValue",
    "LadderCriterion",
    "LadderRung",
    "LadderStep",
    "MissingInput",
    "OperationSummary",
    "OptionAppraisal",
    "PathwayWarning",
    "PatientContext",
    "Reassessment",
    "Recommendation",
    "TraceEntry",
]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_R = TypeVar("_R", bound=_Result)
_new = object.__new__
_set = object.__setattr__


def built(model: type[_R], /, **values: Any) -> _R:
    """A result from parts already valid: what ``model.model_construct`` gives, faster.

    The explanation builds every part of a result from the rule set's own data
    and parts already built (frozen models, vocabulary enums), so it constructs
    instead of validating again; pydantic's ``model_construct`` walks every
    field's aliases first, about four times the cost here, and a new patient's
    result is several dozen constructions (docs/performance.md). The result
    models have no aliases, validators or private attributes (a test holds the
    two constructions equal for every result model). Fields not given take
    their defaults and are left out of ``model_fields_set``, as there.
    """
    names, defaults = _layout(model)
    given = set(values)
    if len(values) != len(names) or tuple(values) != names:  # the fields' own order
        values = {name: values[name] if name in values else defaults[name] for name in names}
    result = _new(model)
    _set(result, "__dict__", values)
    _set(result, "__pydantic_fields_set__", given)
    _set(result, "__pydantic_extra__", None)
    _set(result, "__pydantic_private__", None)
    return result


@cache
def _layout(model: type[_Result]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """A result model's field names in order, and the defaults of those that have one."""
    fields = model.model_fields
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in fields.items()
        if not field.is_required()
    }
    return tuple(fields), defaults


class InputValue(_Result):
    """A record field a rule read, and its value (None: not recorded)."""

    field: str
    fact: str
    value: bool | int | float | str | None


class ExpectedBenefit(_Result):
    """Share of patients expected to improve after one more operation."""

    low_percent: float
    high_percent: float


class Action(_Result):
    """A recommended action and why.

    When several rules recommend the same action it appears once: ``rule_id`` is
    the first of them in rule-set order, ``also_from`` the others, and ``reason``
    joins their reasons.
    """

    code: ActionCode
    rule_id: str
    reason: str
    inputs: tuple[InputValue, ...]
    sources: tuple[str, ...]
    also_from: tuple[str, ...] = Field(default=())
    expected_benefit: ExpectedBenefit | None = None
    basis: tuple[str, ...] = Field(
        default=(), description="Kinds of basis: guideline, consensus, trial, site."
    )
    option: Option | None = Field(
        default=None, description="The option whose next step this is, if it is one."
    )
    discuss_at_mdt: bool = Field(
        default=False, description="The option may be appropriate: discuss at the MDT first."
    )


class MissingInput(_Result):
    """An unknown record field that would change the result if it were known."""

    field: str
    fact: str
    needed_by: tuple[str, ...] = Field(description="Ids of the rules it leaves undecided.")


class PathwayWarning(_Result):
    """Something the clinician must know: a deferral, a caution, an early assessment.

    ``key`` is the warning's stable key from the vocabulary (``suicide_risk_medicines``,
    ``cardiac_device_check``, ...) where it has one.
    """

    rule_id: str
    message: str
    key: str | None = None


class TraceEntry(_Result):
    """One rule that fired (or derived fact concluded), in reading order, and what it concluded."""

    rule_id: str
    concluded: str


class LadderCriterion(_Result):
    """One criterion of a rung, as a rule file states it, and whether this patient meets it.

    ``met`` is None when unknown information decides it: never shown as met or unmet.
    """

    text: str = Field(description="The criterion in clinical words.")
    met: bool | None
    rule_id: str = Field(description="The rule that states it (for a derived fact, its rule).")
    inputs: tuple[InputValue, ...]


class LadderStep(_Result):
    """One way onto a rung: a rule that places the patient there, with its own criteria."""

    rule_id: str
    title: str
    met: bool | None
    criteria: tuple[LadderCriterion, ...] = Field(
        description="Its criteria beyond the rung's shared ones."
    )


class LadderRung(_Result):
    """Where the patient stands on one rung of the ladder.

    The rung is reached when every one of its ``criteria`` is met and at least
    one of its ``steps`` is. ``blocked_by`` holds the deferrals, contraindications
    or red flags that hold this rung back.
    """

    stage: Stage
    status: RungStatus
    criteria: tuple[LadderCriterion, ...] = Field(description="Shared by every way onto the rung.")
    steps: tuple[LadderStep, ...]
    blocked_by: tuple[PathwayWarning, ...] = Field(default=())


class OptionAppraisal(_Result):
    """One treatment option appraised for this patient, with its verdict and basis.

    The verdict is decided by the option's verdict rules: when several fire, the
    strongest claim decides (``Verdict`` order); the others are kept in
    ``also_from`` and their reasons in ``reasons``. ``rule_id`` is empty when no
    rule decided (verdict ``unknown``; ``missing`` names what would decide it).
    """

    option: Option
    verdict: Verdict
    next_step: ActionCode | None = Field(
        description="What to do next for this option (for not_yet: what must come first)."
    )
    rule_id: str
    reasons: tuple[str, ...] = Field(description="The deciding rule's reason first.")
    criteria: tuple[LadderCriterion, ...] = Field(
        description="The deciding rule's criteria: met, unmet, or unknown (None)."
    )
    inputs: tuple[InputValue, ...]
    sources: tuple[str, ...]
    basis: tuple[str, ...]
    also_from: tuple[str, ...] = Field(default=())
    counts_for_stage: bool = Field(
        default=False, description="It places the patient on its rung of the ladder."
    )
    advice_level: ScsAdvice | None = Field(
        default=None,
        description="Spinal cord stimulation only: the advice level (pathway.md 7.1, 7.2).",
    )


class Reassessment(_Result):
    """A date on which something should be looked at again (pathway.md 10)."""

    item: ReassessItem
    due: date
    why: str = Field(description="Why, in clinical words.")
    source: str = Field(description="The source key of the interval.")
    overdue: bool = Field(
        default=False, description="The date has passed (a review on record is late)."
    )


class OperationSummary(_Result):
    """One spine operation as a clinician checks the time criteria against it."""

    date: date
    kind: str = Field(description="Kind of operation (record vocabulary).")
    levels: tuple[str, ...] = ()
    months_since: int = Field(description="Whole calendar months from it to the assessment.")


class PatientContext(_Result):
    """What a printed result must show to be checked and dated (pathway.md 11, 12).

    Only what the time criteria read: the assessment date, the age and the
    operations, never an identifier of the patient.
    """

    assessment_date: date
    age_years: int | None
    operations: tuple[OperationSummary, ...] = Field(description="Most recent first.")


class Recommendation(_Result):
    """The pathway's recommendation for one patient; the clinician decides.

    Attributes:
        stage: The one stage the patient is placed on: the summary of the options'
            verdicts by the rule of pathway.md section 4 (``urgent_review`` with a red flag).
        stage_basis: The rules behind the stage: the red flags, or the verdicts of the
            options that place the patient on its rung (empty for conservative by default).
        headline: The stage in one line and what holds it, with the recommended next step.
        options: Every option appraised, in vocabulary order.
        red_flag_tiers: The red-flag tiers present (emergency first), empty without one.
        actions: The recommended actions, most urgent first.
        missing: Unknown inputs that would change the result.
        warnings: Deferrals, cautions and other notes for the clinician.
        trace: Every rule that fired, derived facts first (each after those it reads), then
            the other rules in rule-set order (docs/engine.md, "The order of the trace").
        ladder: Where the patient stands on each rung, in ladder order (with
            ``urgent_review`` last when a red flag pre-empts); None when the
            caller did not ask for it (``evaluate(..., ladder=False)``).
        ruleset_version: Content hash of the rule files that produced this.
        patient: The assessment date, age and operations the time criteria read.
        reassess: Follow-up dates, earliest first (pathway.md 10).
        mme_per_day: Morphine milligram equivalents a day of the current opioids.
    """

    stage: Stage
    stage_basis: tuple[str, ...]
    headline: str
    options: tuple[OptionAppraisal, ...]
    red_flag_tiers: tuple[RedFlagTier, ...]
    actions: tuple[Action, ...]
    missing: tuple[MissingInput, ...]
    warnings: tuple[PathwayWarning, ...]
    trace: tuple[TraceEntry, ...]
    ladder: tuple[LadderRung, ...] | None = None
    ruleset_version: str
    reassess: tuple[Reassessment, ...] = Field(
        default=(), description="Follow-up dates, earliest first (pathway.md 10)."
    )
    patient: PatientContext | None = Field(
        default=None,
        description="Assessment date, age and operations: what dates and checks the result.",
    )
    mme_per_day: float | None = Field(
        default=None,
        description=(
            "Morphine milligram equivalents a day of the current opioids; None with no "
            "current opioid or when a dose is unknown (then listed as missing)."
        ),
    )

    def action_codes(self) -> list[ActionCode]:
        """The action codes, in order: the short answer."""
        return [action.code for action in self.actions]

    def option(self, option: Option | str) -> OptionAppraisal:
        """The appraisal of one option."""
        for appraisal in self.options:
            if appraisal.option == option:
                return appraisal
        raise KeyError(option)

    def verdicts(self) -> dict[Option, Verdict]:
        """Each option's verdict: the side-by-side view in one mapping."""
        return {appraisal.option: appraisal.verdict for appraisal in self.options}
