"""A rule's criteria for one patient: each part of its condition, met, unmet or unknown.

An option's verdict shows the criteria of the rule that decided it, as the rule
file states them (one per part of its ``all``), each evaluated in three-valued
logic with the inputs it read: a clinician checks the verdict against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ..facts import FACTS, FactValue
from ..recommendation import LadderCriterion, built
from ..rules_engine.conditions import AllOf, Condition, Derived, facts_read
from ..rules_engine.truth import TruthFunction, compile_truth
from ..ruleset import RuleSet
from .cache import keep
from .criteria import condition_text
from .inputs import input_value

__all__ = ["CriterionPlan", "criterion_plans", "rule_criteria", "shown_criterion"]


# Identity, not value, equality: the caches key on these plan objects (cheaply).
@dataclass(frozen=True, slots=True, eq=False)
class CriterionPlan:
    """A criterion as the rule files state it, ready to evaluate and show."""

    condition: Condition
    truth: TruthFunction
    text: str
    rule_id: str
    reads: tuple[str, ...]


@lru_cache(maxsize=16)
def criterion_plans(ruleset: RuleSet) -> tuple[tuple[CriterionPlan, ...], ...]:
    """Each rule's criteria (the parts of its condition), read once per rule set."""
    titles = {rule.derive: rule.title for rule in ruleset.rules if rule.derive is not None}
    deriving = {rule.derive: rule.id for rule in ruleset.rules if rule.derive is not None}
    made: dict[tuple[Condition, str], CriterionPlan] = {}

    def plan(condition: Condition, rule_id: str) -> CriterionPlan:
        if isinstance(condition, Derived):
            rule_id = deriving.get(condition.name, rule_id)
        found = made.get((condition, rule_id))
        if found is None:
            reads = tuple(dict.fromkeys(facts_read(condition, ruleset.definitions)))
            found = made[condition, rule_id] = CriterionPlan(
                condition,
                compile_truth(condition),
                condition_text(condition, titles),
                rule_id,
                reads,
            )
        return found

    return tuple(
        tuple(plan(part, rule.id) for part in conjuncts(rule.when)) for rule in ruleset.rules
    )


def conjuncts(condition: Condition) -> tuple[Condition, ...]:
    """The parts of an ``all`` (a single condition is its own only part)."""
    if isinstance(condition, AllOf):
        return condition.items
    return (condition,)


def rule_criteria(
    ruleset: RuleSet,
    index: int,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
) -> tuple[LadderCriterion, ...]:
    """The criteria of one rule for this patient."""
    return tuple(shown_criterion(plan, facts, derived) for plan in criterion_plans(ruleset)[index])


def shown_criterion(
    plan: CriterionPlan, facts: Mapping[str, FactValue], derived: Mapping[str, bool]
) -> LadderCriterion:
    """A criterion evaluated and shown; the same values give the same (frozen) object."""
    met = plan.truth(facts, derived)
    values = tuple(map(facts.get, plan.reads))
    key = (plan, met, values, tuple(map(type, values)))
    found = _SHOWN.get(key)
    if found is None:
        inputs = tuple(
            input_value(FACTS[name], value) for name, value in zip(plan.reads, values, strict=True)
        )
        # Built from the rule set's own words and shown inputs: constructed, not re-validated.
        criterion = built(
            LadderCriterion, text=plan.text, met=met, rule_id=plan.rule_id, inputs=inputs
        )
        found = keep(_SHOWN, key, criterion, _SHOWN_MAX)
    return found


_SHOWN: dict[tuple[object, ...], LadderCriterion] = {}
_SHOWN_MAX = 50_000
