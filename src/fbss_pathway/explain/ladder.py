"""Where the patient stands on the whole ladder: every rung, its criteria, and what holds it.

Nothing here restates a criterion: a rung's criteria are the conditions of the
rules that place a patient on it, as the rule files state them. Criteria shared
by every such rule are the rung's own (``conservative_trial_failed`` for
radiofrequency); what remains of each rule is one way onto the rung (a step:
a block first, radiofrequency after a positive block, a repeat).
Each is evaluated in the same three-valued logic as the missing information,
so an unknown criterion is shown as unknown, never as met or unmet.

Below the patient's stage a rung is ``passed`` when the patient climbed it (a
step of it is on record, or it could have opened before the steps below it)
and ``not_indicated`` when it was skipped. Above the stage a rung is
``blocked`` when a fired rule defers it (its ``defers`` key) or a red flag
pre-empts; ``undecided`` when unknown information could open it; otherwise it
is closed, and the view asks once more with the records of the steps below
treated as not yet known (those steps are still to be taken): if it could open
then it is ``ahead``, if not it is ``not_indicated``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from ..facts import FACTS, STEP_RECORDS, FactValue
from ..recommendation import (
    LadderCriterion,
    LadderRung,
    LadderStep,
    PathwayWarning,
)
from ..rules_engine.conditions import (
    AllOf,
    Condition,
    Derived,
    facts_read,
)
from ..rules_engine.truth import Derivation, TruthFunction, compile_truth
from ..ruleset import RuleSet
from ..vocabulary import LADDER, RungStatus, Stage
from .criteria import condition_text
from .inputs import input_value

__all__ = ["CriterionPlan", "RungPlan", "StepPlan", "ladder", "ladder_plan"]

Truth = bool | None


# Identity, not value, equality: the caches below key on these plan objects (cheaply).
@dataclass(frozen=True, slots=True, eq=False)
class CriterionPlan:
    """A criterion as the rule files state it, ready to evaluate and show."""

    condition: Condition
    truth: TruthFunction
    text: str
    rule_id: str
    reads: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class StepPlan:
    """One way onto a rung: a placing rule and its own criteria."""

    rule_id: str
    title: str
    criteria: tuple[CriterionPlan, ...]


@dataclass(frozen=True, slots=True, eq=False)
class RungPlan:
    """A rung: its shared criteria, its steps, and the rules that can hold it back."""

    stage: Stage
    criteria: tuple[CriterionPlan, ...]
    steps: tuple[StepPlan, ...]
    deferred_by: frozenset[str]  # ids of the rules whose warning defers this rung
    reads: tuple[str, ...]  # every fact its criteria read: what its view depends on


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
    urgent = stage is Stage.URGENT_REVIEW
    view = _View(ruleset, facts, derived)
    result = []
    for rung in ladder_plan(ruleset):
        if rung.stage is Stage.URGENT_REVIEW and not urgent:
            continue
        if urgent and rung.stage is not Stage.URGENT_REVIEW:
            blocked_by = list(red_flags)
        else:
            blocked_by = [w for w in warnings if w.rule_id in rung.deferred_by]
        # A rung's view depends only on the facts it reads (the engine's derived facts
        # are functions of them), the stage and what blocks it. A fact's values all
        # have one type (the record's), so equal values show the same.
        key = (
            rung,
            stage,
            tuple(map(facts.get, rung.reads)),
            tuple((w.rule_id, w.message) for w in blocked_by),
        )
        found = _SHOWN.get(key)
        if found is None:
            found = _remember(key, view.rung(rung, stage, blocked_by))
        result.append(cast(LadderRung, found))
    return result


class _View:
    """One patient's facts, with each criterion evaluated and shown once."""

    def __init__(
        self, ruleset: RuleSet, facts: Mapping[str, FactValue], derived: Mapping[str, bool]
    ) -> None:
        self.ruleset = ruleset
        self.facts = facts
        self.derived = derived
        self.shown: dict[CriterionPlan, LadderCriterion] = {}
        self.before: dict[Stage, Derivation] = {}

    def rung(self, rung: RungPlan, stage: Stage, blocked_by: list[PathwayWarning]) -> LadderRung:
        criteria = [self.criterion(c) for c in rung.criteria]
        steps = [self.step(step) for step in rung.steps]
        if stage is Stage.URGENT_REVIEW and rung.stage is not stage:
            status = RungStatus.BLOCKED
        elif rung.stage is stage:
            status = RungStatus.CURRENT
        elif rung.stage.rank < stage.rank:
            status = self.below(rung)
        elif blocked_by:
            status = RungStatus.BLOCKED
        # Never reached here: the stage is the furthest rung any fired rule reaches.
        elif _reached([c.met for c in criteria], [s.met for s in steps]) is not False:
            status = RungStatus.UNDECIDED
        else:
            status = self.closed(rung)
        return LadderRung(
            stage=rung.stage,
            status=status,
            criteria=tuple(criteria),
            steps=tuple(steps),
            blocked_by=tuple(blocked_by),
        )

    def criterion(self, criterion: CriterionPlan) -> LadderCriterion:
        found = self.shown.get(criterion)
        if found is None:
            met = criterion.truth(self.facts, self.derived)
            values = tuple(map(self.facts.get, criterion.reads))
            key = (criterion, met, values)
            found = _SHOWN.get(key)
            if found is None:
                inputs = tuple(
                    input_value(FACTS[name], value)
                    for name, value in zip(criterion.reads, values, strict=True)
                )
                found = _remember(
                    key,
                    LadderCriterion(
                        text=criterion.text, met=met, rule_id=criterion.rule_id, inputs=inputs
                    ),
                )
            self.shown[criterion] = found
        return found

    def step(self, step: StepPlan) -> LadderStep:
        criteria = tuple(self.criterion(c) for c in step.criteria)
        key = (step, *(id(c) for c in criteria))  # the step holds them: ids stay theirs
        found = _SHOWN.get(key)
        if found is None:
            met = _reached([c.met for c in criteria], [])
            found = _remember(
                key, LadderStep(rule_id=step.rule_id, title=step.title, met=met, criteria=criteria)
            )
        return cast(LadderStep, found)

    def below(self, rung: RungPlan) -> RungStatus:
        """A rung below the stage: ``passed`` if climbed, ``not_indicated`` if skipped.

        Climbed: one of its steps is on record, or it could have opened before the
        steps below it were taken. Conservative care is the base of every stage.
        """
        if rung.stage is Stage.CONSERVATIVE or any(
            _taken(self.facts.get(name)) for name, of in STEP_RECORDS.items() if of is rung.stage
        ):
            return RungStatus.PASSED
        skipped = self.closed(rung) is RungStatus.NOT_INDICATED
        return RungStatus.NOT_INDICATED if skipped else RungStatus.PASSED

    def closed(self, rung: RungPlan) -> RungStatus:
        """A closed rung: ``ahead`` if the steps below it could open it, else ``not_indicated``."""
        derived = self.before.get(rung.stage)
        if derived is None:
            later = {name for name, of in STEP_RECORDS.items() if of.rank < rung.stage.rank}
            facts = {name: value for name, value in self.facts.items() if name not in later}
            derived = Derivation(self.ruleset.definition_truths, facts)
            self.before[rung.stage] = derived
        before = derived.facts
        criteria = [c.truth(before, derived) for c in rung.criteria]
        steps = [
            _reached([c.truth(before, derived) for c in step.criteria], []) for step in rung.steps
        ]
        closed = _reached(criteria, steps) is False
        return RungStatus.NOT_INDICATED if closed else RungStatus.AHEAD


def _taken(value: FactValue | None) -> bool:
    """Whether a step record says the step was taken (done, with an outcome, or a result)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value != "not_done"
    return value is not None


def _reached(criteria: list[Truth], steps: list[Truth]) -> Truth:
    """Kleene: every criterion and at least one step (no steps: the criteria alone)."""
    if False in criteria or (steps and all(met is False for met in steps)):
        return False
    if None in criteria or (steps and True not in steps):
        return None
    return True


#: Results are frozen, so a rung, step or criterion shown the same way is the same
#: object. Bounded: cleared when full (the values criteria quote vary).
_SHOWN: dict[tuple[object, ...], Any] = {}
_SHOWN_MAX = 50_000


def _remember(key: tuple[object, ...], shown: Any) -> Any:
    if len(_SHOWN) >= _SHOWN_MAX:
        _SHOWN.clear()
    _SHOWN[key] = shown
    return shown


@lru_cache(maxsize=16)
def ladder_plan(ruleset: RuleSet) -> tuple[RungPlan, ...]:
    """The rungs and their criteria, read once per rule set from its rules."""
    titles = {rule.derive: rule.title for rule in ruleset.rules if rule.derive is not None}
    deriving = {rule.derive: rule.id for rule in ruleset.rules if rule.derive is not None}

    made: dict[tuple[Condition, str], CriterionPlan] = {}

    def criterion(condition: Condition, rule_id: str) -> CriterionPlan:
        if isinstance(condition, Derived):
            rule_id = deriving.get(condition.name, rule_id)
        found = made.get((condition, rule_id))
        if found is None:
            reads = tuple(dict.fromkeys(facts_read(condition, ruleset.definitions)))
            text = condition_text(condition, titles)
            found = made[condition, rule_id] = CriterionPlan(
                condition, compile_truth(condition), text, rule_id, reads
            )
        return found  # one object per criterion: a patient's view evaluates it once

    rungs = []
    for stage in (*LADDER, Stage.URGENT_REVIEW):
        ways = [
            rule
            for rule in ruleset.rules
            if rule.stage is stage and rule.derive is None and not rule.defers
        ]
        parts = [_conjuncts(rule.when) for rule in ways]
        shared = [c for c in parts[0] if all(c in other for other in parts[1:])] if parts else []
        criteria = tuple(criterion(c, ways[0].id) for c in shared)
        steps = tuple(
            StepPlan(
                rule.id, rule.title, tuple(criterion(c, rule.id) for c in own if c not in shared)
            )
            for rule, own in zip(ways, parts, strict=True)
        )
        own_records = [name for name, of in STEP_RECORDS.items() if of is stage]
        reads = [name for c in criteria for name in c.reads]
        reads += [name for step in steps for c in step.criteria for name in c.reads]
        rungs.append(
            RungPlan(
                stage=stage,
                criteria=criteria,
                steps=steps,
                deferred_by=frozenset(r.id for r in ruleset.rules if stage in r.defers),
                # Its step records too: whether it was climbed reads them (``below``).
                reads=tuple(dict.fromkeys([*reads, *own_records])),
            )
        )
    return tuple(rungs)


def _conjuncts(condition: Condition) -> tuple[Condition, ...]:
    return condition.items if isinstance(condition, AllOf) else (condition,)
