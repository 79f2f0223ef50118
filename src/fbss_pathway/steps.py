"""Whether the pathway supports a step now, and if not, which criteria fail.

Used when a clinician orders a step of the ladder (the CDS Hooks ``order-sign``
guardrail): the order is compared with what the pathway recommends for the
patient today, from the verdicts. The step is supported when it is among the
recommended actions (its option appropriate, or may be appropriate); a
re-operation also when the surgeon's opinion on record advises it. If not,
the check gives its option's verdict and reasons (a red flag, a safety hold, a
deferral, a failed criterion), and the criteria of the closest rule that would
open the step, judged in the same three-valued logic as the missing
information: a criterion is *unmet* when the record says it is not met, and
*unknown* when an item it needs is not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .evaluation import opioid_doses
from .explain import explain
from .explain.criteria import patient_criterion
from .facts import extract_facts
from .recommendation import Action, Recommendation
from .record import PatientRecord, SurgicalOpinion
from .rules_engine.conditions import AllOf, Condition, evaluate
from .ruleset import RuleSet, default_ruleset
from .vocabulary import ActionCode, Option, Verdict

__all__ = ["Step", "StepCheck", "check_step"]


class Step(StrEnum):
    """A step of the ladder that can be ordered."""

    MEDIAL_BRANCH_BLOCK = "medial_branch_block"
    RADIOFREQUENCY_DENERVATION = "radiofrequency_denervation"
    SCS_TRIAL = "scs_trial"
    SCS_IMPLANT = "scs_implant"
    REOPERATION = "reoperation"


#: The actions by which the pathway recommends each step.
STEP_ACTIONS: Mapping[Step, frozenset[ActionCode]] = {
    Step.MEDIAL_BRANCH_BLOCK: frozenset({ActionCode.MEDIAL_BRANCH_BLOCK}),
    Step.RADIOFREQUENCY_DENERVATION: frozenset(
        {ActionCode.RADIOFREQUENCY_DENERVATION, ActionCode.REPEAT_RADIOFREQUENCY}
    ),
    Step.SCS_TRIAL: frozenset({ActionCode.SCS_TRIAL}),
    Step.SCS_IMPLANT: frozenset({ActionCode.SCS_IMPLANT}),
    Step.REOPERATION: frozenset({ActionCode.SURGICAL_OPINION}),
}

#: The option each step belongs to.
STEP_OPTIONS: Mapping[Step, Option] = {
    Step.MEDIAL_BRANCH_BLOCK: Option.FACET_INTERVENTION,
    Step.RADIOFREQUENCY_DENERVATION: Option.FACET_INTERVENTION,
    Step.SCS_TRIAL: Option.SPINAL_CORD_STIMULATION,
    Step.SCS_IMPLANT: Option.SPINAL_CORD_STIMULATION,
    Step.REOPERATION: Option.SURGICAL_OPINION,
}
_OPENING = (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE)


@dataclass(frozen=True, slots=True)
class StepCheck:
    """The pathway's view of an ordered step.

    Attributes:
        step: The step ordered.
        supported: Whether the pathway recommends it now.
        recommendation: What the pathway recommends for the patient (its stage,
            actions and warnings: a red flag or a deferral shows there).
        unmet: Criteria of the closest rule for the step that the record says
            are not met.
        unknown: Criteria of that rule that unrecorded items leave open.
        rule_id: That rule (the one recommending the step that is nearest to
            being met), when the step is not supported.
        rule_title: Its title.
        option: The option the step belongs to.
        verdict: That option's verdict for the patient.
        reasons: The reasons of that verdict (the deciding rule's first).
        caution: For a re-operation, the share of patients improving after one more.
    """

    step: Step
    supported: bool
    recommendation: Recommendation
    unmet: tuple[str, ...]
    unknown: tuple[str, ...]
    rule_id: str | None = None
    rule_title: str | None = None
    option: Option | None = None
    verdict: Verdict | None = None
    reasons: tuple[str, ...] = ()
    caution: Action | None = None


def check_step(record: PatientRecord, step: Step, *, ruleset: RuleSet | None = None) -> StepCheck:
    """Whether the pathway supports ``step`` for the patient now, and why not."""
    ruleset = ruleset or default_ruleset()
    facts = extract_facts(record, ruleset.parameter_values, mme=ruleset.mme)
    firings, derived = ruleset.compiled.run(facts)
    recommendation = explain(
        ruleset,
        facts,
        firings,
        derived,
        ladder=False,
        opioid_doses=opioid_doses(record, facts, ruleset),
    )
    wanted = STEP_ACTIONS[step]
    appraisal = recommendation.option(STEP_OPTIONS[step])
    judged = _Judged(appraisal.option, appraisal.verdict, appraisal.reasons)
    if wanted & set(recommendation.action_codes()):
        return judged.check(step, True, recommendation)
    if step is Step.REOPERATION and _advised(record, appraisal.verdict):
        # The surgeon's opinion, which comes first (pathway.md 8), advises the operation.
        caution = _caution(record, step, ruleset)
        return judged.check(step, True, recommendation, caution=caution)
    titles = {rule.derive: rule.title for rule in ruleset.rules if rule.derive is not None}
    closest: tuple[int, int, tuple[str, ...], tuple[str, ...], str, str] | None = None
    for order, rule in enumerate(ruleset.rules):
        if rule.verdict not in _OPENING or not wanted & set(rule.steps):
            continue
        unmet: list[str] = []
        unknown: list[str] = []
        for criterion in _criteria(rule.when):
            truth = evaluate(criterion, facts, derived)
            if truth is not True:
                text = patient_criterion(criterion, facts, derived, titles)
                (unmet if truth is False else unknown).append(text)
        candidate = (
            len(unmet) + len(unknown),
            order,
            tuple(unmet),
            tuple(unknown),
            rule.id,
            rule.title,
        )
        if closest is None or candidate[:2] < closest[:2]:
            closest = candidate
    if closest is None:  # a rule set without a rule for the step
        return judged.check(step, False, recommendation, caution=_caution(record, step, ruleset))
    _, _, unmet_found, unknown_found, rule_id, title = closest
    return judged.check(
        step,
        False,
        recommendation,
        unmet=unmet_found,
        unknown=unknown_found,
        rule_id=rule_id,
        rule_title=title,
        caution=_caution(record, step, ruleset),
    )


@dataclass(frozen=True, slots=True)
class _Judged:
    option: Option
    verdict: Verdict
    reasons: tuple[str, ...]

    def check(
        self,
        step: Step,
        supported: bool,
        recommendation: Recommendation,
        *,
        unmet: tuple[str, ...] = (),
        unknown: tuple[str, ...] = (),
        rule_id: str | None = None,
        rule_title: str | None = None,
        caution: Action | None = None,
    ) -> StepCheck:
        return StepCheck(
            step,
            supported,
            recommendation,
            unmet,
            unknown,
            rule_id,
            rule_title,
            self.option,
            self.verdict,
            self.reasons,
            caution,
        )


def _advised(record: PatientRecord, verdict: Verdict) -> bool:
    """Whether the surgical opinion on record advises an operation and stands (in place).

    Under a red flag the option is held, not in place: the emergency or urgent
    assessment decides then.
    """
    advised = record.surgical_opinion is SurgicalOpinion.OPERATION_ADVISED
    return advised and verdict is Verdict.IN_PLACE


def _caution(record: PatientRecord, step: Step, ruleset: RuleSet) -> Action | None:
    """For an ordered re-operation: the falling benefit of one more, as the rules give it.

    An order for a re-operation puts surgery in question (pathway.md 8): the
    rules' caution is the one they give when a re-operation is advised.
    """
    if step is not Step.REOPERATION:
        return None
    advised = record.model_copy(update={"surgical_opinion": SurgicalOpinion.OPERATION_ADVISED})
    facts = extract_facts(advised, ruleset.parameter_values, mme=ruleset.mme)
    firings, derived = ruleset.compiled.run(facts)
    found = explain(ruleset, facts, firings, derived, ladder=False).actions
    return next((a for a in found if a.code is ActionCode.REOPERATION_CAUTION), None)


def _criteria(condition: Condition) -> tuple[Condition, ...]:
    """The separate criteria of a rule: the parts of a top-level ``all``."""
    return condition.items if isinstance(condition, AllOf) else (condition,)
