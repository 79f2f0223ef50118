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
from functools import lru_cache

from ..facts import FACTS, FactValue
from ..recommendation import (
    Action,
    MissingInput,
    OptionAppraisal,
    PathwayWarning,
    Recommendation,
)
from ..rules_engine.conditions import unknown_facts
from ..rules_engine.engine import Firing
from ..rules_engine.model import Rule
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, Option, RedFlagTier, Stage, Verdict
from .headline import headline
from .ladder import ladder as ladder_view
from .options import Appraised, appraise, options_exhausted, stage_of
from .shown import Shown
from .shown import shown as rule_shown
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
        _warning(rules[i].id, render(text, facts, ruleset.parameters), rules[i].warning_key)
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
    # Every part is built here from the rule set's own data and already valid (tuples of
    # frozen models, vocabulary enums): constructed, not validated a second time.
    return Recommendation.model_construct(
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


@lru_cache(maxsize=4096)
def _warning(rule_id: str, message: str, key: str | None) -> PathwayWarning:
    """A warning; results are frozen, so the same warning is one object."""
    return PathwayWarning(rule_id=rule_id, message=message, key=key)


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
    contributions: dict[ActionCode, list[tuple[int, Shown]]] = {}
    for index in kept:
        rule = ruleset.rules[index]
        shown = rule_shown(ruleset, index, facts) if rule.actions else None
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
        for code, index in zip(item.listed_steps, item.step_rules, strict=True):
            if code.option is None and code in merged:
                continue  # what unblocks a held option, recommended by its own rule already
            shown = rule_shown(ruleset, index, facts)
            merged[code] = _step_action(ruleset, index, code, shown, item.appraisal)

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
    ruleset: RuleSet, index: int, code: ActionCode, shown: Shown, appraisal: OptionAppraisal
) -> Action:
    """An option's next step as an action, with the verdict rule's reason and basis.

    Kept on the rule's shown values (one object per rule and values), as merged actions are.
    """
    discuss = appraisal.verdict is Verdict.MAY_BE_APPROPRIATE
    key = ("step", code, appraisal.option, discuss)
    found = shown.actions.get(key)
    if found is None:
        found = shown.actions[key] = Action(
            code=code,
            rule_id=ruleset.rules[index].id,
            reason=shown.reason,
            inputs=shown.inputs,
            sources=ruleset.rules[index].sources,
            basis=ruleset.basis[index],
            option=appraisal.option,
            discuss_at_mdt=discuss,
        )
    return found


def _action(ruleset: RuleSet, code: ActionCode, parts: list[tuple[int, Shown]]) -> Action:
    """One action, merged from every rule that recommends it (the first leads)."""
    _, shown = parts[0]
    # The same rules showing the same values give the same action: kept on the first
    # rule's shown values (which keep the others' alive, so identity stays theirs).
    key = (code, *parts[1:])
    found = shown.actions.get(key)
    if found is None:
        found = shown.actions[key] = _merged(ruleset, code, parts)
    return found


def _merged(ruleset: RuleSet, code: ActionCode, parts: list[tuple[int, Shown]]) -> Action:
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


_FACT_NAMES = frozenset(FACTS)


@lru_cache(maxsize=16)
def _plain_rules(
    ruleset: RuleSet,
) -> tuple[tuple[int, frozenset[str], frozenset[ActionCode] | None], ...]:
    """The rules that conclude actions or warnings, with the facts each reads.

    For a rule that adds only actions, those actions (it changes nothing when all
    are there already).
    """
    return tuple(
        (
            index,
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
    unknown = _FACT_NAMES - facts.keys()
    # A verdict rule could change its option only by outranking the present verdict, or
    # by leading at the same verdict (another next step); precedence 99: none decided.
    standing = {
        a.appraisal.option: 99 if a.deciding is None else a.appraisal.verdict.precedence
        for a in appraised
    }
    candidates = [
        index
        for index, reads, adds_only in _plain_rules(ruleset)
        if not (reads.isdisjoint(unknown) or index in fired)
        and (adds_only is None or not adds_only <= present)
    ]
    for option, ranked in _verdict_rules(ruleset):
        limit = standing[option]
        for precedence, index, reads in ranked:  # strongest claims first
            if precedence > limit:  # equal: another rule of that verdict may lead instead
                break
            if not (reads.isdisjoint(unknown) or index in fired):
                candidates.append(index)
    chosen = tuple(sorted(set(candidates)))
    # The same candidate rules with the same values of what they read leave the same
    # items missing: one key for the whole answer (fewer look-ups than per rule).
    whole = (ruleset.version, chosen, *map(facts.get, _union_order(ruleset, chosen)))
    kept = _MISSING.get(whole)
    if kept is not None:
        return list(kept)
    order, rules, version = _read_order(ruleset), ruleset.rules, ruleset.version
    needed: dict[str, list[str]] = {}
    for index in chosen:
        # The facts it reads decide it (derived facts are functions of them): the same
        # values leave the same facts unknown, so the answer is kept per rule and values.
        key = (version, index, *map(facts.get, order[index]))
        found = _UNDECIDED.get(key)
        if found is None:
            rule = rules[index]
            if ruleset.truths[index](facts, derived) is not None:
                found = ()  # decided without the unknown ones
            else:
                found = tuple(
                    dict.fromkeys(unknown_facts(rule.when, facts, derived, ruleset.definitions))
                )
            if len(_UNDECIDED) >= _UNDECIDED_MAX:
                _UNDECIDED.clear()
            _UNDECIDED[key] = found
        for fact in found:
            needed.setdefault(fact, []).append(rules[index].id)
    answer = tuple(
        _missing_input(fact, tuple(rule_ids))
        for fact, rule_ids in sorted(needed.items(), key=lambda item: FACTS[item[0]].field)
    )
    if len(_MISSING) >= _UNDECIDED_MAX:
        _MISSING.clear()
    _MISSING[whole] = answer
    return list(answer)


#: Whole answers of the missing information, per candidate rules and values. Bounded.
_MISSING: dict[tuple[object, ...], tuple[MissingInput, ...]] = {}
_UNION: dict[tuple[str, tuple[int, ...]], tuple[str, ...]] = {}


def _union_order(ruleset: RuleSet, chosen: tuple[int, ...]) -> tuple[str, ...]:
    """The facts a group of rules reads (through derived facts), in a fixed order."""
    key = (ruleset.version, chosen)
    found = _UNION.get(key)
    if found is None:
        if len(_UNION) >= 10_000:
            _UNION.clear()
        found = _UNION[key] = tuple(sorted(set().union(*(ruleset.reads[i] for i in chosen))))
    return found


@lru_cache(maxsize=8192)
def _missing_input(fact: str, needed_by: tuple[str, ...]) -> MissingInput:
    """One missing item; results are frozen, so the same item is one object."""
    return MissingInput(field=FACTS[fact].field, fact=fact, needed_by=needed_by)


#: The unknown facts that leave a rule undecided, per rule and values of what it reads
#: (empty: decided). Bounded: cleared when full.
_UNDECIDED: dict[tuple[object, ...], tuple[str, ...]] = {}
_UNDECIDED_MAX = 50_000


@lru_cache(maxsize=16)
def _read_order(ruleset: RuleSet) -> tuple[tuple[str, ...], ...]:
    """Each rule's facts (through derived facts) in a fixed order, for keys."""
    return tuple(tuple(sorted(reads)) for reads in ruleset.reads)


@lru_cache(maxsize=16)
def _verdict_rules(
    ruleset: RuleSet,
) -> tuple[tuple[Option, tuple[tuple[int, int, frozenset[str]], ...]], ...]:
    """Each option's verdict rules, strongest claim first, with the facts each reads."""
    return tuple(
        (
            option,
            tuple(
                sorted(
                    (rule.verdict.precedence, i, ruleset.reads[i])
                    for i, rule in enumerate(ruleset.rules)
                    if rule.verdict is not None and option in rule.options
                )
            ),
        )
        for option in Option
    )
