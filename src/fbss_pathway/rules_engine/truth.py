"""Three-valued truth of conditions, compiled to functions for the views that need many.

:func:`.conditions.evaluate` states the logic once, as a walk over the
condition tree; the ladder view asks it dozens of times per patient, so this
module compiles each condition into nested closures with the same semantics
(a test holds the two equal). Derived facts are computed on first use from
their compiled definitions, as the engine concludes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from ..facts import FactValue
from .conditions import _PYTHON, AllOf, AnyOf, Compare, Condition, Derived, Known

__all__ = [
    "Derivation",
    "SearchFunction",
    "TruthFunction",
    "compile_search",
    "compile_truth",
    "derived_values",
]

Truth: TypeAlias = bool | None
TruthFunction: TypeAlias = Callable[[Mapping[str, FactValue], Mapping[str, Any]], Truth]
#: (facts, derived facts) -> the truth and, when undecided, the unknown facts behind it.
SearchFunction: TypeAlias = Callable[
    [Mapping[str, FactValue], Mapping[str, Any]], tuple[Truth, list[str]]
]


def compile_truth(condition: Condition) -> TruthFunction:
    """A function of (facts, derived facts) giving the condition's Kleene truth."""
    match condition:
        case Compare(fact=fact, op=op, value=value, other_fact=None):
            compare = _PYTHON[op]

            def against_value(facts: Mapping[str, FactValue], derived: Mapping[str, Any]) -> Truth:
                left = facts.get(fact)
                return None if left is None or value is None else bool(compare(left, value))

            return against_value
        case Compare(fact=fact, op=op, other_fact=str(other)):
            compare = _PYTHON[op]

            def against_fact(facts: Mapping[str, FactValue], derived: Mapping[str, Any]) -> Truth:
                left, right = facts.get(fact), facts.get(other)
                return None if left is None or right is None else bool(compare(left, right))

            return against_fact
        case Known(fact=fact, known=known):
            return lambda facts, derived: (fact in facts) is known
        case Derived(name=name, value=wanted):

            def derived_is(facts: Mapping[str, FactValue], derived: Mapping[str, Any]) -> Truth:
                found = derived.get(name)
                return None if found is None else found is wanted

            return derived_is
        case AllOf(items=items) | AnyOf(items=items):
            parts = tuple(compile_truth(item) for item in items)
            deciding = isinstance(condition, AnyOf)  # the value that settles it

            def combined(facts: Mapping[str, FactValue], derived: Mapping[str, Any]) -> Truth:
                undecided = False
                for part in parts:
                    truth = part(facts, derived)
                    if truth is deciding:
                        return deciding
                    if truth is None:
                        undecided = True
                return None if undecided else not deciding

            return combined
    raise AssertionError(f"not a condition: {condition!r}")  # pragma: no cover


def compile_search(
    condition: Condition,
    definitions: Mapping[str, Condition],
    made: dict[str, SearchFunction] | None = None,
) -> SearchFunction:
    """:func:`.conditions.unknown_facts` compiled: the same answers, without walking the tree.

    The missing information asks it of every undecided rule of a patient not seen
    before; a test holds the two equal. ``made`` shares the derived facts'
    compiled definitions between the rules of one rule set.
    """
    made = {} if made is None else made
    match condition:
        case Compare(fact=fact, op=op, value=value, other_fact=other):
            compare = _PYTHON[op]
            names = (fact,) if other is None else (fact, other)

            def compared(facts: Mapping[str, FactValue], derived: Mapping[str, Any]) -> Any:
                left = facts.get(fact)
                right = value if other is None else facts.get(other)
                if left is None or right is None:
                    return None, [name for name in names if name not in facts]
                return compare(left, right), []

            return compared
        case Known(fact=fact, known=known):
            return lambda facts, derived: ((fact in facts) is known, [])
        case Derived(name=name, value=wanted):
            if name not in made:
                made[name] = compile_search(definitions[name], definitions, made)
            inner = made[name]

            def derived_search(
                facts: Mapping[str, FactValue], derived: Mapping[str, Any]
            ) -> tuple[Truth, list[str]]:
                found = derived.get(name)
                if found is not None:
                    return found is wanted, []
                return None, inner(facts, derived)[1]

            return derived_search
        case AllOf(items=items) | AnyOf(items=items):
            parts = tuple(compile_search(item, definitions, made) for item in items)
            deciding = isinstance(condition, AnyOf)  # the value that settles it

            def searched(
                facts: Mapping[str, FactValue], derived: Mapping[str, Any]
            ) -> tuple[Truth, list[str]]:
                unknown: list[str] = []
                undecided = False
                for part in parts:
                    truth, names = part(facts, derived)
                    if truth is deciding:
                        return deciding, []
                    if truth is None:
                        undecided = True
                        unknown += names
                return (None, unknown) if undecided else (not deciding, [])

            return searched
    raise AssertionError(f"not a condition: {condition!r}")  # pragma: no cover


class Derivation(dict[str, Truth]):
    """Derived facts computed on first use from their compiled definitions.

    Pass it as the derived facts of a truth function: only the derived facts a
    condition reads are computed.
    """

    __slots__ = ("definitions", "facts")

    def __init__(
        self, definitions: Mapping[str, TruthFunction], facts: Mapping[str, FactValue]
    ) -> None:
        super().__init__()
        self.definitions = definitions
        self.facts = facts

    def get(self, name: str, default: Any = None) -> Truth:
        """The derived fact's truth, computed from its definition the first time."""
        if name in self:
            return self[name]
        self[name] = None  # the loader refuses cycles; this only guards
        self[name] = value = self.definitions[name](self.facts, self)
        return value


def derived_values(
    definitions: Mapping[str, Condition], facts: Mapping[str, FactValue]
) -> dict[str, bool]:
    """Every derived fact that three-valued logic decides, as the engine concludes them.

    A derived fact is true when its definition holds and false when its negation
    does; an undecided one is left out, as the engine leaves it unconcluded.
    """
    derivation = Derivation({n: compile_truth(c) for n, c in definitions.items()}, facts)
    for name in definitions:
        derivation.get(name)
    return {name: value for name, value in derivation.items() if value is not None}
