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
    index, shown = parts[0]
    rule = ruleset.rules[index]
    if len(parts) == 1:  # one rule: the same for every patient with these values
        found = shown.actions.get(code)
        if found is None:
            found = shown.actions[code] = Action(
                code=code,
                rule_id=rule.id,
                reason=shown.reason,
                inputs=shown.inputs,
                sources=rule.sources,
                expected_benefit=ruleset.benefits[index],
            )
        return found
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


@dataclass(slots=True)
class _Shown:
    """A rule's reason and inputs for given values, and its actions when it alone gives them.

    Results are immutable (tuples all the way down), so they are shared.
    """

    reason: str
    inputs: tuple[InputValue, ...]
    actions: dict[ActionCode, Action] = field(default_factory=dict)


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


@lru_cache(maxsize=16)
def _recommending(ruleset: RuleSet) -> tuple[tuple[int, Rule, frozenset[str]], ...]:
    """The rules that conclude something other than a derived fact, with the facts they read."""
    return tuple(
        (index, rule, ruleset.reads[index])
        for index, rule in enumerate(ruleset.rules)
        if rule.derive is None
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
    for index, rule, reads in _recommending(ruleset):
        if index in fired or reads.issubset(facts):
            continue  # decided: fired, or every fact it reads is known
        if rule.stage is not None and rule.stage.rank < stage.rank:
            continue  # a lower stage cannot change the stage or the actions shown
        if rule.stage is None and rule.warning is None and set(rule.actions) <= present:
            continue  # it would add nothing that is not already there
        if ruleset.truths[index](facts, derived) is not None:
            continue  # decided although some fact it reads is unknown
        for fact in dict.fromkeys(unknown_facts(rule.when, facts, derived, ruleset.definitions)):
            needed.setdefault(fact, []).append(rule.id)
    return [
        MissingInput(field=FACTS[fact].field, fact=fact, needed_by=tuple(rule_ids))
        for fact, rule_ids in sorted(needed.items(), key=lambda item: FACTS[item[0]].field)
    ]
