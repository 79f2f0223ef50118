"""The missing information: unknown items whose value could change this result.

A rule that did not fire can still change the result when an item it reads is not
recorded: a plain rule could add an action or warning not already there; a verdict
rule could change its option's verdict (outranking the present one) or, at the same
verdict, its next step. For those rules alone the three-valued search names the
unknown facts behind them; answers are kept per rule and values of what they read,
and whole per group of rules (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from ..facts import FACTS, FactValue
from ..recommendation import Action, MissingInput
from ..rules_engine.truth import SearchFunction, compile_search
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, Option
from .cache import keep
from .options import Appraised

__all__ = ["missing_information"]


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


def missing_information(
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
    present = frozenset(action.code for action in actions)
    # A verdict rule could change its option only by outranking the present verdict, or
    # by leading at the same verdict (another next step); precedence 99: none decided.
    standing = tuple(
        99 if a.deciding is None else a.appraisal.verdict.precedence for a in appraised
    )
    # The candidates depend only on which facts are known, what fired, the actions
    # present and each option's standing: the same for many patients (kept, bounded).
    known = frozenset(facts)
    signature = (ruleset.version, known, frozenset(fired), present, standing)
    chosen = _CANDIDATES.get(signature)
    if chosen is None:
        options = tuple(a.appraisal.option for a in appraised)
        by_option = dict(zip(options, standing, strict=True))
        computed = _candidates(ruleset, _FACT_NAMES - known, fired, present, by_option)
        chosen = keep(_CANDIDATES, signature, computed, _UNDECIDED_MAX)
    order, rules, version = _read_order(ruleset), ruleset.rules, ruleset.version
    truths = ruleset.truths
    needed: dict[str, list[str]] = {}
    for index in chosen:
        if truths[index](facts, derived) is not None:
            continue  # decided without the unknown ones (cheaper to ask than to look up)
        # The facts it reads decide it (derived facts are functions of them): the same
        # values leave the same facts unknown, so the answer is kept per rule and values.
        key = (version, index, *map(facts.get, order[index]))
        found = _UNDECIDED.get(key)
        if found is None:
            found = tuple(dict.fromkeys(_searches(ruleset)[index](facts, derived)[1]))
            keep(_UNDECIDED, key, found, _UNDECIDED_MAX)
        for fact in found:
            needed.setdefault(fact, []).append(rules[index].id)
    return [
        _missing_input(fact, tuple(rule_ids))
        for fact, rule_ids in sorted(needed.items(), key=lambda item: FACTS[item[0]].field)
    ]


def _candidates(
    ruleset: RuleSet,
    unknown: frozenset[str],
    fired: set[int],
    present: frozenset[ActionCode],
    standing: Mapping[Option, int],
) -> tuple[int, ...]:
    """The rules left undecided that could change the result, in rule-set order."""
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
    return tuple(sorted(set(candidates)))


#: The candidate rules per known facts, fired rules, actions present and standing. Bounded.
_CANDIDATES: dict[tuple[object, ...], tuple[int, ...]] = {}


@lru_cache(maxsize=8192)
def _missing_input(fact: str, needed_by: tuple[str, ...]) -> MissingInput:
    """One missing item; results are frozen, so the same item is one object."""
    return MissingInput(field=FACTS[fact].field, fact=fact, needed_by=needed_by)


#: The unknown facts that leave a rule undecided, per rule and values of what it reads
#: (empty: decided). Bounded: cleared when full.
_UNDECIDED: dict[tuple[object, ...], tuple[str, ...]] = {}
_UNDECIDED_MAX = 50_000


@lru_cache(maxsize=16)
def _searches(ruleset: RuleSet) -> tuple[SearchFunction, ...]:
    """Each rule's search for the unknown facts behind it, compiled once per rule set."""
    made: dict[str, SearchFunction] = {}
    return tuple(compile_search(rule.when, ruleset.definitions, made) for rule in ruleset.rules)


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
