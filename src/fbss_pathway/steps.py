"""Whether the pathway supports a step now, and if not, which criteria fail.

Used when a clinician orders a step of the ladder (the CDS Hooks ``order-sign``
guardrail): the order is compared with what the pathway recommends for the
patient today. The criteria come from the rules that recommend the step (never
restated here), judged in the same three-valued logic as the missing
information: a criterion is *unmet* when the record says it is not met, and
*unknown* when an item it needs is not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .catalogue import describe_condition
from .explain import explain
from .facts import extract_facts
from .recommendation import Recommendation
from .record import PatientRecord
from .rules_engine.conditions import AllOf, Condition, Derived, evaluate
from .ruleset import RuleSet, default_ruleset
from .vocabulary import ActionCode

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
    """

    step: Step
    supported: bool
    recommendation: Recommendation
    unmet: tuple[str, ...]
    unknown: tuple[str, ...]
    rule_id: str | None = None
    rule_title: str | None = None


def check_step(record: PatientRecord, step: Step, *, ruleset: RuleSet | None = None) -> StepCheck:
    """Whether the pathway supports ``step`` for the patient now, and why not."""
    ruleset = ruleset or default_ruleset()
    facts = extract_facts(record)
    firings, derived = ruleset.compiled.run(facts)
    recommendation = explain(ruleset, facts, firings, derived, ladder=False)
    wanted = STEP_ACTIONS[step]
    if wanted & set(recommendation.action_codes()):
        return StepCheck(step, True, recommendation, (), ())
    titles = {rule.derive: rule.title for rule in ruleset.rules if rule.derive is not None}
    closest: tuple[int, int, tuple[str, ...], tuple[str, ...], str, str] | None = None
    for order, rule in enumerate(ruleset.rules):
        if not wanted & set(rule.actions):
            continue
        unmet: list[str] = []
        unknown: list[str] = []
        for criterion in _criteria(rule.when):
            truth = evaluate(criterion, facts, derived)
            if truth is not True:
                text = _describe(criterion, titles, ruleset)
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
        return StepCheck(step, False, recommendation, (), ())
    _, _, unmet_found, unknown_found, rule_id, title = closest
    return StepCheck(step, False, recommendation, unmet_found, unknown_found, rule_id, title)


def _criteria(condition: Condition) -> tuple[Condition, ...]:
    """The separate criteria of a rule: the parts of a top-level ``all``."""
    return condition.items if isinstance(condition, AllOf) else (condition,)


def _describe(criterion: Condition, titles: Mapping[str, str], ruleset: RuleSet) -> str:
    if isinstance(criterion, Derived):
        title = titles.get(criterion.name, criterion.name.replace("_", " "))
        return title if criterion.value else f"not: {title}"
    return describe_condition(criterion, ruleset.parameters)
