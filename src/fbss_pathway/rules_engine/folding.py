"""Derived facts as fields of the patient fact, so one assert decides a patient.

A rule that reads a derived fact (``conservative_trial_failed``) would wait for
another rule to conclude it and assert it into the engine: a chain of actions
and asserts per patient. Instead the caller computes every derived fact before
the engine runs, from the same definitions and in Kleene logic (undecided stays
absent), and asserts it as a field of the patient fact (:data:`DERIVED_FIELD`);
a derived-fact test becomes one comparison on that field, true exactly when the
definition holds ("is false": exactly when its negation does). Until issue 21
the definitions were copied (folded) into every rule that read them, which
made patterns large and split rules: 161 engine rules against 144 now, and
about a third fewer firings (docs/performance.md).

durable_rules refuses a rule whose pattern holds too many ``$and``/``$or``
groups (error 113: each group takes two entries of a 32-entry table), or past
:data:`~.limits.MAX_COMPARISONS`. Such a rule is split into conjunctions over
its largest OR (in Kleene logic, as in Boolean logic, AND distributes over OR),
each one durable_rules rule of its own. A rule that would need more than
:data:`MAX_PARTS` parts is compiled as written (reading derived facts asserted
into the engine), and the catalogue says so.
"""

from __future__ import annotations

from .conditions import AllOf, AnyOf, Compare, Condition, Derived
from .limits import MAX_COMPARISONS, comparisons

__all__ = [
    "DERIVED_FIELD",
    "MAX_EXPRESSION_ENTRIES",
    "MAX_PARTS",
    "as_fields",
    "expression_entries",
    "fits",
    "simplify",
]

#: The patient fact's field that carries a derived fact's value on the evaluation path.
DERIVED_FIELD = "__derived_{}"

#: Expression-table entries one pattern may use. durable_rules 2.0.28 refuses the
#: 32nd (``MAX_SEQUENCE_EXPRESSIONS`` in its rete.c); a margin is kept.
MAX_EXPRESSION_ENTRIES = 28
#: Durable rules one polarity of a rule may be split into before it is chained instead.
MAX_PARTS = 16


def as_fields(condition: Condition) -> tuple[Condition, ...] | None:
    """The condition with each derived-fact test read from a field of the patient fact.

    The caller computes every derived fact before the engine runs (three-valued,
    from the same definitions) and asserts it beside the facts (``DERIVED_FIELD``,
    absent while undecided). A test of "is true" is then one comparison that holds
    exactly when the definition holds, "is false" exactly when its negation does:
    the meaning of folding, without copying definitions into every rule that reads
    them (smaller patterns, fewer split rules). Split like :func:`fold`.
    """
    parts = _split(simplify(_fields(condition)))
    return None if parts is None else tuple(parts)


def _fields(condition: Condition) -> Condition:
    match condition:
        case Derived(name=name, value=value):
            return Compare(fact=DERIVED_FIELD.format(name), op="==", value=value)
        case AllOf(items=items):
            return AllOf(tuple(_fields(item) for item in items))
        case AnyOf(items=items):
            return AnyOf(tuple(_fields(item) for item in items))
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
