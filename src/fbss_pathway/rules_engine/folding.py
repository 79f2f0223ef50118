"""Folding derived facts into the rules that read them, so one assert decides a patient.

A rule that reads a derived fact (``conservative_trial_failed``) would wait for
another rule to conclude it and assert it into the engine: a chain of actions
and asserts per patient. Folding replaces each derived-fact test by the fact's
definition (or, for "is false", its negation pushed down to comparisons), so
the rule tests the patient fact alone. Kleene semantics are kept: the engine
concludes a derived fact true exactly when its definition holds and false when
its negation does, and that is what the folded condition tests.

durable_rules refuses a rule whose pattern holds too many ``$and``/``$or``
groups (error 113: each group takes two entries of a 32-entry table), and a
folded rule can grow past that or past :data:`~.limits.MAX_COMPARISONS`. Such
a rule is split into conjunctions over its largest OR (in Kleene logic, as in
Boolean logic, AND distributes over OR), each one durable_rules rule of its
own. A rule that would need more than :data:`MAX_PARTS` parts is not folded:
it keeps reading derived facts from the engine (chaining), and the catalogue
says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from .conditions import AllOf, AnyOf, Compare, Condition, Derived, negate
from .limits import MAX_COMPARISONS, comparisons

__all__ = ["MAX_EXPRESSION_ENTRIES", "MAX_PARTS", "expression_entries", "fits", "fold", "simplify"]

#: Expression-table entries one pattern may use. durable_rules 2.0.28 refuses the
#: 32nd (``MAX_SEQUENCE_EXPRESSIONS`` in its rete.c); a margin is kept.
MAX_EXPRESSION_ENTRIES = 28
#: Durable rules one polarity of a rule may be split into before it is chained instead.
MAX_PARTS = 16


def fold(
    condition: Condition, definitions: Mapping[str, Condition]
) -> tuple[Condition, ...] | None:
    """The condition over the patient fact alone, split into parts the engine accepts.

    The parts' OR is the condition; each fits one durable_rules rule. None when
    it needs more than :data:`MAX_PARTS` (the rule is then compiled as written,
    reading derived facts from the engine).
    """
    parts = _split(simplify(_inline(condition, definitions, {})))
    return None if parts is None else tuple(parts)


def _inline(
    condition: Condition,
    definitions: Mapping[str, Condition],
    done: dict[tuple[str, bool], Condition],
) -> Condition:
    """Each derived-fact test replaced by its definition (or the definition's negation)."""
    match condition:
        case Derived(name=name, value=value):
            key = (name, value)
            if key not in done:  # the loader refuses cycles, so this ends
                definition = definitions[name]
                done[key] = _inline(definition if value else negate(definition), definitions, done)
            return done[key]
        case AllOf(items=items):
            return AllOf(tuple(_inline(item, definitions, done) for item in items))
        case AnyOf(items=items):
            return AnyOf(tuple(_inline(item, definitions, done) for item in items))
        case _:
            return condition


def simplify(condition: Condition) -> Condition:
    """The same condition with nested groups of one kind merged, repeats and 1-item groups gone.

    Only rewrites that hold in Kleene logic: associativity, idempotence.
    """
    if not isinstance(condition, AllOf | AnyOf):
        return condition
    kind = type(condition)
    items: list[Condition] = []
    for item in condition.items:
        item = simplify(item)
        for part in item.items if isinstance(item, kind) else (item,):
            if part not in items:
                items.append(part)
    if len(items) == 1:
        return items[0]
    return kind(tuple(items))


def expression_entries(condition: Condition) -> int:
    """The expression-table entries the patient pattern of a condition takes (an upper bound).

    The pattern is one ``$and`` of the fact-type test and the condition (a top-level
    AND is spread into it); every ``$and``/``$or`` group takes two entries, and a
    comparison of two facts compiles to a group of three tests (counted as three).
    """
    items = condition.items if isinstance(condition, AllOf) else (condition,)
    return 2 + sum(_entries(item) for item in items)


def _entries(condition: Condition) -> int:
    match condition:
        case AllOf(items=items) | AnyOf(items=items):
            return 2 + sum(_entries(item) for item in items)
        case Compare(other_fact=str()):
            return 3
        case _:
            return 0


def fits(condition: Condition) -> bool:
    """Whether one durable_rules rule can hold the condition."""
    return (
        expression_entries(condition) <= MAX_EXPRESSION_ENTRIES
        and comparisons(condition) <= MAX_COMPARISONS
    )


def _split(condition: Condition) -> list[Condition] | None:
    """Parts whose OR is the condition, each fitting one rule; None beyond MAX_PARTS."""
    pending, parts = [condition], []
    while pending:
        current = pending.pop()
        if fits(current):
            parts.append(current)
        elif isinstance(current, AnyOf):
            pending.extend(reversed(current.items))
        elif isinstance(current, AllOf) and (
            alternatives := [item for item in current.items if isinstance(item, AnyOf)]
        ):
            widest = max(alternatives, key=lambda item: (_entries(item), comparisons(item)))
            others = tuple(item for item in current.items if item is not widest)
            pending.extend(simplify(AllOf((*others, option))) for option in reversed(widest.items))
        else:
            return None  # a conjunction too large for one rule, with no OR to split on
        if len(parts) + len(pending) > MAX_PARTS:
            return None
    return parts
