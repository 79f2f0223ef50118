"""Where the patient stands on the whole ladder: every rung, its criteria, and what holds it.

Nothing here restates a criterion: a rung's criteria are the conditions of the
rules that place a patient on it, as the rule files state them. Criteria shared
by every such rule are the rung's own (``conservative_trial_failed`` for
radiofrequency); what remains of each rule is one way onto the rung (a step:
a block first, radiofrequency after a positive block, a repeat).
Each is evaluated in the same three-valued logic as the missing information,
so an unknown criterion is shown as unknown, never as met or unmet.

A rung above the patient's stage is ``blocked`` when a fired rule defers it
(its ``defers`` key) or a red flag pre-empts; ``undecided`` when unknown
information could open it; otherwise it is closed, and the view asks once more
with the records of the steps below treated as not yet known (those steps are
still to be taken): if it could open then it is ``ahead``, if not it is
``not_indicated``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..facts import FACTS, STEP_RECORDS, FactValue
from ..recommendation import (
    InputValue,
    LadderCriterion,
    LadderRung,
    LadderStep,
    PathwayWarning,
)
from ..rules_engine.conditions import (
    AllOf,
    Condition,
    Derived,
    derived_values,
    evaluate,
    facts_read,
)
from ..ruleset import RuleSet
from ..vocabulary import LADDER, RungStatus, Stage
from .criteria import condition_text
from .inputs import input_value

__all__ = ["ladder"]

Truth = bool | None


@dataclass(frozen=True, slots=True)
class _Criterion:
    condition: Condition
    text: str
    rule_id: str
    reads: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Step:
    rule_id: str
    title: str
    criteria: tuple[_Criterion, ...]


@dataclass(frozen=True, slots=True)
class _Rung:
    stage: Stage
    criteria: tuple[_Criterion, ...]
    steps: tuple[_Step, ...]
    deferred_by: frozenset[str]  # ids of the rules whose warning defers this rung


def ladder(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    stage: Stage,
    warnings: Sequence[PathwayWarning],
    red_flags: Sequence[PathwayWarning],
) -> list[LadderRung]:
    """Every rung of the ladder for this patient, in ladder order.

    Args:
        ruleset: The rule set that decided.
        facts: The patient's facts.
        derived: The derived facts the engine concluded.
        stage: The recommendation's stage.
        warnings: The recommendation's warnings (deferrals among them).
        red_flags: For ``urgent_review``: each red flag that fired, as a warning.
    """
    rungs = _plan(ruleset)
    urgent = stage is Stage.URGENT_REVIEW
    result = []
    for rung in rungs:
        if rung.stage is Stage.URGENT_REVIEW and not urgent:
            continue
        criteria = [_show(c, facts, derived) for c in rung.criteria]
        steps = [_show_step(step, facts, derived) for step in rung.steps]
        blocked_by = [w for w in warnings if w.rule_id in rung.deferred_by]
        if urgent and rung.stage is not Stage.URGENT_REVIEW:
            status, blocked_by = RungStatus.BLOCKED, list(red_flags)
        elif rung.stage is stage:
            status = RungStatus.CURRENT
        elif rung.stage.rank < stage.rank:
            status = RungStatus.PASSED
        elif blocked_by:
            status = RungStatus.BLOCKED
        else:
            status = _above(ruleset, rung, facts, criteria, steps)
        result.append(
            LadderRung(
                stage=rung.stage,
                status=status,
                criteria=criteria,
                steps=steps,
                blocked_by=blocked_by,
            )
        )
    return result


def _above(
    ruleset: RuleSet,
    rung: _Rung,
    facts: Mapping[str, FactValue],
    criteria: list[LadderCriterion],
    steps: list[LadderStep],
) -> RungStatus:
    """The status of a rung above the patient's stage that nothing defers."""
    # Never true here: the stage is the furthest rung any fired rule reaches.
    if _reached([c.met for c in criteria], [s.met for s in steps]) is not False:
        return RungStatus.UNDECIDED
    later = {name for name, rung_of in STEP_RECORDS.items() if rung_of.rank < rung.stage.rank}
    before = {name: value for name, value in facts.items() if name not in later}
    derived = derived_values(ruleset.definitions, before)
    shown = [_show(c, before, derived).met for c in rung.criteria]
    ways = [_show_step(step, before, derived).met for step in rung.steps]
    return RungStatus.NOT_INDICATED if _reached(shown, ways) is False else RungStatus.AHEAD


def _reached(criteria: list[Truth], steps: list[Truth]) -> Truth:
    """Kleene: every criterion and at least one step."""
    if False in criteria or (steps and all(met is False for met in steps)):
        return False
    if None in criteria or (steps and True not in steps):
        return None
    return True


def _show(
    criterion: _Criterion, facts: Mapping[str, FactValue], derived: Mapping[str, bool]
) -> LadderCriterion:
    return LadderCriterion(
        text=criterion.text,
        met=evaluate(criterion.condition, facts, derived),
        rule_id=criterion.rule_id,
        inputs=[_input(name, facts) for name in criterion.reads],
    )


def _show_step(
    step: _Step, facts: Mapping[str, FactValue], derived: Mapping[str, bool]
) -> LadderStep:
    criteria = [_show(c, facts, derived) for c in step.criteria]
    return LadderStep(
        rule_id=step.rule_id,
        title=step.title,
        met=_reached([c.met for c in criteria], []),
        criteria=criteria,
    )


def _input(name: str, facts: Mapping[str, FactValue]) -> InputValue:
    return input_value(FACTS[name], facts.get(name))


@lru_cache(maxsize=16)
def _plan(ruleset: RuleSet) -> tuple[_Rung, ...]:
    """The rungs and their criteria, read once per rule set from its rules."""
    titles = {rule.derive: rule.title for rule in ruleset.rules if rule.derive is not None}
    deriving = {rule.derive: rule.id for rule in ruleset.rules if rule.derive is not None}

    def criterion(condition: Condition, rule_id: str) -> _Criterion:
        reads = tuple(dict.fromkeys(facts_read(condition, ruleset.definitions)))
        if isinstance(condition, Derived):
            rule_id = deriving.get(condition.name, rule_id)
        return _Criterion(condition, condition_text(condition, titles), rule_id, reads)

    rungs = []
    for stage in (*LADDER, Stage.URGENT_REVIEW):
        ways = [
            rule
            for rule in ruleset.rules
            if rule.stage is stage and rule.derive is None and not rule.defers
        ]
        parts = [_conjuncts(rule.when) for rule in ways]
        shared = [c for c in parts[0] if all(c in other for other in parts[1:])] if parts else []
        rungs.append(
            _Rung(
                stage=stage,
                criteria=tuple(criterion(c, ways[0].id) for c in shared),
                steps=tuple(
                    _Step(
                        rule.id,
                        rule.title,
                        tuple(criterion(c, rule.id) for c in own if c not in shared),
                    )
                    for rule, own in zip(ways, parts, strict=True)
                ),
                deferred_by=frozenset(r.id for r in ruleset.rules if stage in r.defers),
            )
        )
    return tuple(rungs)


def _conjuncts(condition: Condition) -> tuple[Condition, ...]:
    return condition.items if isinstance(condition, AllOf) else (condition,)
