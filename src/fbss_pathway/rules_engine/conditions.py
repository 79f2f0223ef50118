"""Conditions of rules, as a small tree, and what the library does with it.

The same tree is used in three ways, so they cannot drift apart:

* compiled into durable_rules patterns (:func:`to_patterns`) that decide which
  rules fire;
* negated (:func:`negate`), so that a derived fact is concluded true *or* false
  by the engine and stays unknown when its inputs are unknown;
* evaluated in three-valued (Kleene) logic (:func:`evaluate`), to tell which
  unknown inputs would change a result (the "missing information").

Unknown facts are absent from the engine's fact, and durable_rules evaluates
any comparison with an absent field as false. Pushing negation down to the
comparisons therefore gives Kleene semantics in the engine too: neither a
condition nor its negation matches while an input it needs is unknown.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal, TypeAlias

from ..facts import FactValue

__all__ = [
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "Branch",
    "Compare",
    "Condition",
    "Derived",
    "Known",
    "branches",
    "derived_read",
    "evaluate",
    "facts_read",
    "negate",
    "to_pattern",
    "unknown_facts",
]

Op = Literal["==", "!=", "<", "<=", ">", ">="]
OPERATORS: tuple[Op, ...] = ("==", "!=", "<", "<=", ">", ">=")

_COMPLEMENT: dict[Op, Op] = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}
_PYTHON: dict[Op, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_DURABLE: dict[Op, str] = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


@dataclass(frozen=True, slots=True)
class Compare:
    """``fact op value``, or ``fact op other_fact`` when ``other_fact`` is set.

    ``param`` keeps the name of the parameter the value came from, for display.
    """

    fact: str
    op: Op
    value: FactValue | None = None
    other_fact: str | None = None
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """Whether a fact is recorded (``known=True``) or not assessed (``known=False``)."""

    fact: str
    known: bool


@dataclass(frozen=True, slots=True)
class Derived:
    """A derived fact, concluded by another rule, has the given truth value."""

    name: str
    value: bool


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every item holds; the empty ``AllOf`` always holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one item holds."""

    items: tuple[Condition, ...]


Condition: TypeAlias = Compare | Known | Derived | AllOf | AnyOf
Truth: TypeAlias = bool | None


def negate(condition: Condition) -> Condition:
    """The condition's negation, pushed down to comparisons (De Morgan)."""
    match condition:
        case Compare(op=op):
            return Compare(
                condition.fact,
                _COMPLEMENT[op],
                condition.value,
                condition.other_fact,
                condition.param,
            )
        case Known(fact=fact, known=known):
            return Known(fact, not known)
        case Derived(name=name, value=value):
            return Derived(name, not value)
        case AllOf(items=items):
            return AnyOf(tuple(negate(item) for item in items))
        case AnyOf(items=items):
            return AllOf(tuple(negate(item) for item in items))


def evaluate(
    condition: Condition, facts: Mapping[str, FactValue], derived: Mapping[str, bool]
) -> Truth:
    """Kleene three-valued truth: True, False, or None when unknown inputs decide it."""
    match condition:
        case Compare(fact=fact, op=op, value=value, other_fact=other):
            left = facts.get(fact)
            right = value if other is None else facts.get(other)
            if left is None or right is None:
                return None
            return _PYTHON[op](left, right)
        case Known(fact=fact, known=known):
            return (fact in facts) is known
        case Derived(name=name, value=value):
            found = derived.get(name)
            return None if found is None else found is value
        case AllOf(items=items):
            results = [evaluate(item, facts, derived) for item in items]
            if False in results:
                return False
            return None if None in results else True
        case AnyOf(items=items):
            results = [evaluate(item, facts, derived) for item in items]
            if True in results:
                return True
            return None if None in results else False


def unknown_facts(
    condition: Condition,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    definitions: Mapping[str, Condition],
) -> list[str]:
    """The unknown facts that leave ``condition`` undecided, following derived facts.

    Only the parts of the condition that are themselves undecided are searched,
    so a fact is reported only when knowing it could change the answer. Empty
    when the condition is decided.
    """
    return _undecided(condition, facts, derived, definitions)[1]


def _undecided(
    condition: Condition,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    definitions: Mapping[str, Condition],
) -> tuple[Truth, list[str]]:
    """Kleene truth and, when it is unknown, the unknown facts behind it (one pass)."""
    match condition:
        case Compare(fact=fact, other_fact=other):
            truth = evaluate(condition, facts, derived)
            if truth is not None:
                return truth, []
            return None, [name for name in (fact, other) if name is not None and name not in facts]
        case Known():
            return evaluate(condition, facts, derived), []
        case Derived(name=name, value=value):
            found = derived.get(name)
            if found is not None:
                return found is value, []
            return None, _undecided(definitions[name], facts, derived, definitions)[1]
        case AllOf(items=items) | AnyOf(items=items):
            deciding = isinstance(condition, AnyOf)  # the value that settles it
            unknown: list[str] = []
            undecided = False
            for item in items:
                truth, names = _undecided(item, facts, derived, definitions)
                if truth is deciding:
                    return deciding, []
                if truth is None:
                    undecided = True
                    unknown += names
            return (None, unknown) if undecided else (not deciding, [])


def facts_read(condition: Condition, definitions: Mapping[str, Condition] | None) -> Iterator[str]:
    """Every fact the condition reads, following derived facts to their inputs.

    With ``definitions`` None, only the facts the condition tests itself.
    """
    match condition:
        case Compare(fact=fact, other_fact=other):
            yield fact
            if other is not None:
                yield other
        case Known(fact=fact):
            yield fact
        case Derived(name=name) if definitions is not None:
            yield from facts_read(definitions[name], definitions)
        case AllOf(items=items) | AnyOf(items=items):
            for item in items:
                yield from facts_read(item, definitions)


def derived_read(condition: Condition) -> set[str]:
    """The derived facts a condition tests (not following their definitions)."""
    match condition:
        case Derived(name=name):
            return {name}
        case AllOf(items=items) | AnyOf(items=items):
            return set().union(*(derived_read(item) for item in items))
        case _:
            return set()


def _mentions_derived(condition: Condition) -> bool:
    match condition:
        case Derived():
            return True
        case AllOf(items=items) | AnyOf(items=items):
            return any(_mentions_derived(item) for item in items)
        case _:
            return False


@dataclass(frozen=True, slots=True)
class Branch:
    """One conjunction the engine can match: a test of the patient fact, and derived facts."""

    patient: tuple[Condition, ...]
    derived: tuple[Derived, ...]


def branches(condition: Condition) -> list[Branch]:
    """Split a condition into conjunctions, one durable_rules rule each.

    A derived fact is a separate fact in the engine, joined to the patient fact,
    so it cannot sit inside an OR of the patient's pattern. Parts that mention
    no derived fact stay whole (their ORs run inside one pattern); only ORs over
    derived facts are multiplied out.
    """
    if not _mentions_derived(condition):
        return [Branch((condition,), ())]
    match condition:
        case Derived():
            return [Branch((), (condition,))]
        case AnyOf(items=items):
            return [branch for item in items for branch in branches(item)]
        case AllOf(items=items):
            combined = []
            for parts in product(*(branches(item) for item in items)):
                combined.append(
                    Branch(
                        tuple(c for part in parts for c in part.patient),
                        tuple(d for part in parts for d in part.derived),
                    )
                )
            return combined
        case _:  # pragma: no cover - a leaf that is not Derived mentions none
            raise AssertionError(condition)


def to_pattern(condition: Condition) -> dict[str, Any]:
    """The durable_rules expression for a condition over the patient fact alone."""
    match condition:
        case Compare(fact=fact, op=op, value=value, other_fact=None):
            return {fact: value} if op == "==" else {_DURABLE[op]: {fact: value}}
        case Compare(fact=fact, op=op, other_fact=str(other)):
            # durable_rules 2.0.28 matches a field-to-field comparison under every
            # operator when the right-hand field is absent; require both present.
            right = {"$m": other}
            test = {fact: right} if op == "==" else {_DURABLE[op]: {fact: right}}
            return {"$and": [{"$ex": {fact: 1}}, {"$ex": {other: 1}}, test]}
        case Known(fact=fact, known=known):
            return {"$ex" if known else "$nex": {fact: 1}}
        case AllOf(items=items):
            return {"$and": [to_pattern(item) for item in items]}
        case AnyOf(items=items):
            return {"$or": [to_pattern(item) for item in items]}
        case _:  # pragma: no cover - branches() keeps derived facts out of patterns
            raise AssertionError(f"not a patient-fact condition: {condition!r}")
