"""Combining the fired rules into a recommendation, and showing its basis.

The engine decides which rules fire. This module only combines their
conclusions by three fixed policies, documented in ``docs/pathway.md``:

* red flags pre-empt: if an ``urgent_review`` rule fires, only urgent rules count;
* one stage: the furthest stage any fired rule concludes (conservative when none
  does), and conclusions of rules that place the patient on another stage are
  superseded;
* one entry per action: rules recommending the same action are merged.

It then adds what a clinician checks the result with: the missing information
and the ladder view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ..facts import FACTS, FactValue
from ..recommendation import (
    Action,
    InputValue,
    MissingInput,
    PathwayWarning,
    Recommendation,
)
from ..rules_engine.conditions import unknown_facts
from ..rules_engine.engine import Firing
from ..rules_engine.model import Rule
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, Stage
from .inputs import input_value
from .ladder import ladder as ladder_view
from .templates import render

__all__ = ["explain"]

_ACTION_ORDER = {code: index for index, code in enumerate(ActionCode)}


def explain(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    firings: list[Firing],
    derived: Mapping[str, bool],
    *,
    ladder: bool = True,
) -> Recommendation:
    """Combine the fired rules into a recommendation with its basis (and the ladder view)."""
    rules = ruleset.rules
    trace = [ruleset.trace_entries[f.rule_index, f.value] for f in firings]
    fired = sorted({f.rule_index for f in firings if rules[f.rule_index].derive is None})

    urgent = [i for i in fired if rules[i].stage is Stage.URGENT_REVIEW]
    if urgent:
        stage, kept = Stage.URGENT_REVIEW, urgent
    else:
        stages = [concluded for i in fired if (concluded := rules[i].stage) is not None]
        stage = max(stages, key=lambda s: s.rank, default=Stage.CONSERVATIVE)
        kept = [i for i in fired if rules[i].stage in (None, stage)]

    actions = _actions(ruleset, facts, kept)
    warnings = [
        PathwayWarning(rule_id=rules[i].id, message=render(text, facts, ruleset.parameters))
        for i in kept
        if (text := rules[i].warning) is not None
    ]
    missing = [] if urgent else _missing(ruleset, facts, derived, set(fired), stage, actions)
    rungs = None
    if ladder:  # the red flags that fired hold back every rung, with their reasons
        red_flags = [
            PathwayWarning(
                rule_id=rules[i].id, message=render(rules[i].reason, facts, ruleset.parameters)
            )
            for i in urgent
        ]
        rungs = ladder_view(ruleset, facts, derived, stage, warnings, red_flags)
    return Recommendation(
        stage=stage,
        stage_basis=tuple(rules[i].id for i in kept if rules[i].stage is stage),
        actions=tuple(actions),
        missing=tuple(missing),
        warnings=tuple(warnings),
        trace=tuple(trace),
        ladder=None if rungs is None else tuple(rungs),
        ruleset_version=ruleset.version,
    )


def _actions(ruleset: RuleSet, facts: Mapping[str, FactValue], kept: list[int]) -> list[Action]:
    contributions: dict[ActionCode, list[tuple[int, _Shown]]] = {}
    first: set[ActionCode] = set()
    for index in kept:
        rule = ruleset.rules[index]
        if not rule.actions:
            continue
        shown = _shown(ruleset, index, facts)
        for code in rule.actions:
            if rule.first:
                first.add(code)
            contributions.setdefault(code, []).append((index, shown))
    order = sorted(contributions, key=lambda code: (code not in first, _ACTION_ORDER[code]))
    return [_action(ruleset, code, contributions[code]) for code in order]


def _action(ruleset: RuleSet, code: ActionCode, parts: list[tuple[int, _Shown]]) -> Action:
    """One action, merged from every rule that recommends it (the first leads)."""
    _, shown = parts[0]
    # The same rules showing the same values give the same action: kept on the first
    # rule's shown values (which keep the others' alive, so identity stays theirs).
    key = (code, *parts[1:])
    found = shown.actions.get(key)
    if found is None:
        found = shown.actions[key] = _merged(ruleset, code, parts)
    return found


def _merged(ruleset: RuleSet, code: ActionCode, parts: list[tuple[int, _Shown]]) -> Action:
    index, shown = parts[0]
    rule = ruleset.rules[index]
    reason, inputs, sources = shown.reason, list(shown.inputs), list(rule.sources)
    also_from = []
    for index, shown in parts[1:]:
        other = ruleset.rules[index]
        also_from.append(other.id)
        if shown.reason not in reason:
            reason += f"; {shown.reason}"
        listed = {i.fact for i in inputs}
        inputs += [i for i in shown.inputs if i.fact not in listed]
        sources += [s for s in other.sources if s not in sources]
    return Action(
        code=code,
        rule_id=rule.id,
        reason=reason,
        inputs=tuple(inputs),
        sources=tuple(sources),
        also_from=tuple(also_from),
        expected_benefit=ruleset.benefits[parts[0][0]],
    )


@dataclass(slots=True, eq=False)
class _Shown:
    """A rule's reason and inputs for given values, and the actions it leads with them.

    Results are immutable (tuples all the way down), so they are shared. Compared
    by identity: the cache gives one object per rule and values.
    """

    reason: str
    inputs: tuple[InputValue, ...]
    actions: dict[tuple[object, ...], Action] = field(default_factory=dict)


#: What a rule shows for given values of the facts it shows: the same for every
#: patient with those values. Bounded: cleared when full.
_SHOWN: dict[tuple[object, ...], _Shown] = {}
_SHOWN_MAX = 20_000


def _shown(ruleset: RuleSet, index: int, facts: Mapping[str, FactValue]) -> _Shown:
    """A rule's reason filled for the patient, and the inputs it shows with their values."""
    specs = ruleset.inputs[index]  # every fact its condition reads or its reason quotes
    values = [facts.get(spec.name) for spec in specs]
    # The types keep True apart from 1 and 3 from 3.0, which show differently.
    key = (ruleset.version, index, *values, *map(type, values))
    found = _SHOWN.get(key)
    if found is None:
        if len(_SHOWN) >= _SHOWN_MAX:
            _SHOWN.clear()
        reason = render(ruleset.rules[index].reason, facts, ruleset.parameters)
        found = _SHOWN[key] = _Shown(reason, tuple(map(input_value, specs, values)))
    return found


@lru_cache(maxsize=64)
def _could_change(
    ruleset: RuleSet, stage: Stage
) -> tuple[tuple[int, Rule, frozenset[str], frozenset[ActionCode] | None], ...]:
    """The rules that could still change a result on this stage, if they fired.

    Not those concluding derived facts, nor those placing a patient on a lower
    stage. With each: the facts it reads (through derived facts) and, for a rule
    that adds only actions, those actions (it changes nothing when all are there).
    """
    return tuple(
        (
            index,
            rule,
            ruleset.reads[index],
            frozenset(rule.actions) if rule.stage is None and rule.warning is None else None,
        )
        for index, rule in enumerate(ruleset.rules)
        if rule.derive is None and (rule.stage is None or rule.stage.rank >= stage.rank)
    )


def _missing(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    fired: set[int],
    stage: Stage,
    actions: list[Action],
) -> list[MissingInput]:
    """Unknown inputs of rules that are undecided and could change this result."""
    present = {action.code for action in actions}
    needed: dict[str, list[str]] = {}
    for index, rule, reads, adds_only in _could_change(ruleset, stage):
        if index in fired or (adds_only is not None and adds_only <= present):
            continue  # fired, or it would add nothing that is not already there
        if reads.issubset(facts) or ruleset.truths[index](facts, derived) is not None:
            continue  # decided: every fact it reads is known, or decided without them
        for fact in dict.fromkeys(unknown_facts(rule.when, facts, derived, ruleset.definitions)):
            needed.setdefault(fact, []).append(rule.id)
    return [
        MissingInput(field=FACTS[fact].field, fact=fact, needed_by=tuple(rule_ids))
        for fact, rule_ids in sorted(needed.items(), key=lambda item: FACTS[item[0]].field)
    ]
