"""Combining the fired rules into a recommendation, and showing its basis.

The engine decides which rules fire. This module combines their conclusions
by fixed policies, documented in ``docs/pathway.md``:

* the options' verdicts and the stage they summarise (:mod:`.options`);
* red flags pre-empt: with one, the result holds only the tier actions and the
  safety actions and warnings of pathway.md 3.4 and 5.2;
* one entry per action: rules recommending the same action are merged, and the
  next step of each option whose verdict lists it is an action of its own;
* actions in the order of pathway.md 3.6: the safety actions, then the step of
  the option that sets the stage, then the other options' steps, then the rest;
* a rule with ``with_steps`` counts only beside one of those steps.

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
    OptionAppraisal,
    PathwayWarning,
    Recommendation,
)
from ..rules_engine.conditions import unknown_facts
from ..rules_engine.engine import Firing
from ..rules_engine.model import Rule
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, RedFlagTier, Stage, Verdict
from .headline import headline
from .inputs import input_value
from .ladder import ladder as ladder_view
from .options import Appraised, appraise, options_exhausted, stage_of
from .templates import render

__all__ = ["URGENT_WARNINGS", "explain"]

_ACTION_ORDER = {code: index for index, code in enumerate(ActionCode)}

#: Warnings a red flag does not silence (pathway.md 3.1): suicide risk and opioid safety.
URGENT_WARNINGS = frozenset(
    {
        "suicide_risk_medicines",
        "mme_caution",
        "mme_high",
        "naloxone",
        "opioid_benzodiazepine",
        "opioid_gabapentinoid",
    }
)


#: Actions a red flag does not silence: suicide risk and severe mood (pathway.md 3.1, 3.4).
_KEPT_UNDER_URGENT = frozenset(
    {
        ActionCode.SUICIDE_RISK_ASSESSMENT,
        ActionCode.MENTAL_HEALTH_CRISIS_CARE,
        ActionCode.MENTAL_HEALTH_REFERRAL,
    }
)


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
    red_flags = [i for i in fired if rules[i].tier is not None]
    tiers = tuple(tier for tier in RedFlagTier if any(rules[i].tier is tier for i in red_flags))
    appraised = appraise(ruleset, facts, derived, fired, red_flags)
    stage, setting = stage_of(appraised, derived, tiers)
    if stage is Stage.SPECIALIST_REVIEW:
        appraised = options_exhausted(appraised)

    plain = [i for i in fired if rules[i].verdict is None]
    steps = {code for a in appraised for code in a.listed_steps}
    kept = [i for i in plain if _counts(rules[i], steps, bool(red_flags))]
    actions = _actions(ruleset, facts, kept, appraised, setting, urgent=bool(red_flags))
    warnings = [
        PathwayWarning(
            rule_id=rules[i].id,
            message=render(text, facts, ruleset.parameters),
            key=rules[i].warning_key,
        )
        for i in kept
        if (text := rules[i].warning) is not None
        and (not red_flags or rules[i].warning_key in URGENT_WARNINGS)
    ]
    options = tuple(a.appraisal for a in appraised)
    missing = [] if red_flags else _missing(ruleset, facts, derived, set(fired), appraised, actions)
    rungs = None
    if ladder:
        rungs = ladder_view(ruleset, facts, derived, stage, options, red_flags)
    if red_flags:
        basis = tuple(rules[i].id for i in red_flags)
    else:
        basis = tuple(a.appraisal.rule_id for a in setting if a.appraisal.rule_id)
    return Recommendation(
        stage=stage,
        stage_basis=basis,
        headline=headline(ruleset, stage, tiers, [rules[i] for i in red_flags], setting, actions),
        options=options,
        red_flag_tiers=tiers,
        actions=tuple(actions),
        missing=tuple(missing),
        warnings=tuple(warnings),
        trace=tuple(trace),
        ladder=None if rungs is None else tuple(rungs),
        ruleset_version=ruleset.version,
    )


def _counts(rule: Rule, steps: set[ActionCode], urgent: bool) -> bool:
    """Whether a plain rule's conclusions belong in this result."""
    if rule.with_steps and not steps.intersection(rule.with_steps):
        return False
    if urgent:
        return rule.tier is not None or (
            all(code.safety for code in rule.actions)
            and (bool(rule.actions) or rule.warning_key in URGENT_WARNINGS)
        )
    return True


def _actions(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    kept: list[int],
    appraised: list[Appraised],
    setting: tuple[Appraised, ...],
    *,
    urgent: bool,
) -> list[Action]:
    contributions: dict[ActionCode, list[tuple[int, _Shown]]] = {}
    for index in kept:
        rule = ruleset.rules[index]
        shown = _shown(ruleset, index, facts) if rule.actions else None
        for code in rule.actions:
            if urgent and code not in _KEPT_UNDER_URGENT and rule.tier is None:
                continue
            assert shown is not None
            contributions.setdefault(code, []).append((index, shown))
    merged = {code: _action(ruleset, code, parts) for code, parts in contributions.items()}
    first_steps = {code for a in setting for code in a.listed_steps}
    to_discuss = {
        code
        for a in appraised
        if a.appraisal.verdict is Verdict.MAY_BE_APPROPRIATE
        for code in a.listed_steps
    }
    for item in appraised:
        if item.step_rule is None:
            continue
        shown = _shown(ruleset, item.step_rule, facts)
        appraisal = item.appraisal
        for code in item.listed_steps:
            merged[code] = _step_action(ruleset, item.step_rule, code, shown, appraisal)

    def order(code: ActionCode) -> tuple[int, int]:
        if code.safety:
            group = 0
        elif code in first_steps:
            group = 1
        elif code.option is not None and code not in to_discuss:
            group = 2
        elif code.option is not None:
            group = 3
        else:
            group = 4
        return group, _ACTION_ORDER[code]

    return [merged[code] for code in sorted(merged, key=order)]


def _step_action(
    ruleset: RuleSet, index: int, code: ActionCode, shown: _Shown, appraisal: OptionAppraisal
) -> Action:
    """An option's next step as an action, with the verdict rule's reason and basis."""
    return Action(
        code=code,
        rule_id=ruleset.rules[index].id,
        reason=shown.reason,
        inputs=shown.inputs,
        sources=ruleset.rules[index].sources,
        basis=ruleset.basis[index],
        option=appraisal.option,
        discuss_at_mdt=appraisal.verdict is Verdict.MAY_BE_APPROPRIATE,
    )


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
        basis=tuple(dict.fromkeys(kind for index, _ in parts for kind in ruleset.basis[index])),
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


@lru_cache(maxsize=16)
def _plain_rules(
    ruleset: RuleSet,
) -> tuple[tuple[int, Rule, frozenset[str], frozenset[ActionCode] | None], ...]:
    """The rules that conclude actions or warnings, with the facts each reads.

    For a rule that adds only actions, those actions (it changes nothing when all
    are there already).
    """
    return tuple(
        (
            index,
            rule,
            ruleset.reads[index],
            frozenset(rule.actions) if rule.warning is None else None,
        )
        for index, rule in enumerate(ruleset.rules)
        if rule.derive is None and rule.verdict is None
    )


def _missing(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    fired: set[int],
    appraised: list[Appraised],
    actions: list[Action],
) -> list[MissingInput]:
    """Unknown inputs of undecided rules that could change this result.

    A plain rule could add its actions or warning; a verdict rule could change its
    option's verdict when its own verdict would outrank the present one.
    """
    present = {action.code for action in actions}
    needed: dict[str, list[str]] = {}

    def undecided(index: int, rule: Rule, reads: frozenset[str]) -> None:
        if reads.issubset(facts) or ruleset.truths[index](facts, derived) is not None:
            return  # decided: every fact it reads is known, or decided without them
        for fact in dict.fromkeys(unknown_facts(rule.when, facts, derived, ruleset.definitions)):
            needed.setdefault(fact, []).append(rule.id)

    for index, rule, reads, adds_only in _plain_rules(ruleset):
        if index in fired or (adds_only is not None and adds_only <= present):
            continue
        undecided(index, rule, reads)
    current = {a.appraisal.option: a for a in appraised}
    for index in _verdict_rules(ruleset):
        rule = ruleset.rules[index]
        if index in fired:
            continue
        assert rule.verdict is not None
        if not any(
            current[option].deciding is None
            or rule.verdict.precedence < current[option].appraisal.verdict.precedence
            for option in rule.options
        ):
            continue
        undecided(index, rule, ruleset.reads[index])
    return [
        MissingInput(field=FACTS[fact].field, fact=fact, needed_by=tuple(rule_ids))
        for fact, rule_ids in sorted(needed.items(), key=lambda item: FACTS[item[0]].field)
    ]


@lru_cache(maxsize=16)
def _verdict_rules(ruleset: RuleSet) -> tuple[int, ...]:
    return tuple(i for i, rule in enumerate(ruleset.rules) if rule.verdict is not None)
