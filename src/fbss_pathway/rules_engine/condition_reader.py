"""Reading the ``when`` of a rule: condition tables into the condition tree, every problem kept.

A mixin of the rule-file reader (:mod:`.reader`): it checks keys, operators,
facts, parameters and values, derived-fact references and the documented
limits on shapes, and records an issue naming the key for each problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from ..facts import FACTS
from .conditions import OPERATORS, AllOf, AnyOf, Compare, Condition, Derived, Known
from .limits import MAX_COMPARISONS, MAX_NESTING, number_problem
from .model import Parameter

__all__ = ["ConditionReader", "suggest"]

_CONDITION_KEYS = frozenset({"all", "any", "fact", "op", "value", "param", "than_fact", "known"})
_DERIVED_KEYS = frozenset({"derived", "is"})


def suggest(name: str, known: Iterable[str]) -> str:
    """A did-you-mean suffix for a name close to a known one, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ConditionReader:
    """The condition part of the rule-file reader; the reader supplies ``issue``."""

    def issue(self, key: str | None, message: str) -> None:  # pragma: no cover - overridden
        """Record a problem (the reader records it at the current file and rule)."""
        raise NotImplementedError

    def condition(
        self,
        data: Any,
        key: str,
        parameters: Mapping[str, Parameter],
        derived_names: set[str],
        depth: int = 0,
    ) -> Condition | None:
        """A condition tree, or None (with the problem recorded)."""
        if not isinstance(data, dict):
            self.issue(key, "a condition must be a table")
            return None
        if depth > MAX_NESTING:
            self.issue(key, f"all/any groups are nested more than {MAX_NESTING} deep")
            return None
        if "derived" in data or "is" in data:
            return self._derived(data, key, derived_names)
        for unknown in data.keys() - _CONDITION_KEYS:
            self.issue(f"{key}.{unknown}", "unknown key" + suggest(unknown, _CONDITION_KEYS))
            return None
        groups = [name for name in ("all", "any") if name in data]
        if groups:
            if len(data) != 1:
                self.issue(key, "an all/any group has no other keys")
                return None
            items = data[groups[0]]
            if not isinstance(items, list) or not items:
                self.issue(f"{key}.{groups[0]}", "must be a non-empty list of conditions")
                return None
            if len(items) > MAX_COMPARISONS:
                self.issue(f"{key}.{groups[0]}", f"holds more than {MAX_COMPARISONS} conditions")
                return None
            parsed = [
                self.condition(
                    item, f"{key}.{groups[0]}[{index}]", parameters, derived_names, depth + 1
                )
                for index, item in enumerate(items)
            ]
            if any(item is None for item in parsed):
                return None
            children = tuple(item for item in parsed if item is not None)
            return AllOf(children) if groups[0] == "all" else AnyOf(children)
        return self._atom(data, key, parameters)

    def _derived(self, data: dict[str, Any], key: str, derived_names: set[str]) -> Condition | None:
        if set(data) != _DERIVED_KEYS:
            extra = sorted(set(data) ^ _DERIVED_KEYS)
            self.issue(
                key, f"a derived-fact test has exactly the keys derived and is (not {extra})"
            )
            return None
        name, value = data["derived"], data["is"]
        if not isinstance(value, bool):
            self.issue(f"{key}.is", "must be true or false")
            return None
        if not isinstance(name, str):
            self.issue(f"{key}.derived", "must be the name of a derived fact")
            return None
        if name not in derived_names:
            self.issue(
                f"{key}.derived", f"unknown derived fact {name!r}" + suggest(name, derived_names)
            )
            return None
        return Derived(name, value)

    def _atom(
        self, data: dict[str, Any], key: str, parameters: Mapping[str, Parameter]
    ) -> Condition | None:
        fact = data.get("fact")
        if not isinstance(fact, str):
            self.issue(key, "a condition names a fact (or is an all/any group)")
            return None
        spec = FACTS.get(fact)
        if spec is None:
            self.issue(f"{key}.fact", f"unknown fact {fact!r}" + suggest(fact, FACTS))
            return None
        if "known" in data:
            if set(data) != {"fact", "known"} or not isinstance(data["known"], bool):
                self.issue(key, "a known-test has exactly fact and known = true/false")
                return None
            return Known(fact, data["known"])
        op = data.get("op")
        if op not in OPERATORS:
            self.issue(f"{key}.op", f"bad operator {op!r}; use one of {', '.join(OPERATORS)}")
            return None
        operands = [name for name in ("value", "param", "than_fact") if name in data]
        if len(operands) != 1:
            self.issue(key, "a comparison has exactly one of value, param or than_fact")
            return None
        if op not in ("==", "!=") and spec.type != "number":
            self.issue(f"{key}.op", f"{op} compares numbers; {fact} is a {spec.type}")
            return None
        if operands[0] == "than_fact":
            other = data["than_fact"]
            if not isinstance(other, str) or other not in FACTS or FACTS[other].type != spec.type:
                self.issue(
                    f"{key}.than_fact",
                    f"{other!r} is not a {spec.type} fact" + suggest(str(other), FACTS),
                )
                return None
            return Compare(fact, op, other_fact=other)
        if operands[0] == "param":
            name = data["param"]
            if not isinstance(name, str) or name not in parameters:
                self.issue(
                    f"{key}.param", f"unknown parameter {name!r}" + suggest(str(name), parameters)
                )
                return None
            threshold = parameters[name].value
            if spec.type != "number" or isinstance(threshold, str):
                self.issue(
                    f"{key}.param",
                    f"a condition compares a number with a number parameter; {fact} is a "
                    f"{spec.type}, {name} a {'word' if isinstance(threshold, str) else 'number'}",
                )
                return None
            return Compare(fact, op, threshold, param=name)
        value = data["value"]
        if not self._value_fits(value, spec.type, spec.categories):
            expected = {"flag": "true or false", "number": "a number"}.get(
                spec.type, f"one of {list(spec.categories)}"
            )
            self.issue(f"{key}.value", f"{fact} takes {expected}")
            return None
        problem = number_problem(value) if spec.type == "number" else None
        if problem is not None:
            self.issue(f"{key}.value", problem)
            return None
        return Compare(fact, op, value)

    @staticmethod
    def _value_fits(value: Any, kind: str, categories: tuple[str, ...]) -> bool:
        if kind == "flag":
            return isinstance(value, bool)
        if kind == "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, str) and value in categories

    # -- rules ------------------------------------------------------------------------
