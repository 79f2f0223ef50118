"""The documented limits of a rule set, checked before anything reaches the engine.

durable_rules 2.0.28 does not refuse rule shapes it cannot handle: measured on
this project's machines, a rule whose ``any`` holds about 450 comparisons, or a
chain of about 500 derived facts, makes ``create_ruleset`` spin forever holding
the GIL; an ``any`` of about 100 mixed comparisons aborts the process (a heap
error); a rule whose ORs over derived facts multiply out to 128 conjunctions is
refused with error 108; numbers in exponent form are refused with error 204.
These limits keep every rule set well inside what was measured to work, so a
rule directory either loads or is refused with a :class:`RuleSetError` naming
file, rule and key (docs/rule-files.md, "Limits").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .conditions import AllOf, AnyOf, Condition, Derived, negate

__all__ = [
    "MAX_BRANCHES",
    "MAX_COMPARISONS",
    "MAX_DERIVED_CHAIN",
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_NUMBER",
    "MAX_RULES",
    "branch_count",
    "chain_depths",
    "comparisons",
    "number_problem",
    "polarity_branches",
]

#: Rules in one rule set (2,000 simple rules were measured to work).
MAX_RULES = 1_000
#: Comparisons (and derived-fact tests) in one rule's condition (100 mixed ones aborted).
MAX_COMPARISONS = 32
#: Depth of nested all/any groups in one condition.
MAX_NESTING = 8
#: Conjunctions one polarity of a rule multiplies out to (128 were refused).
MAX_BRANCHES = 32
#: Derived facts chained on each other (500 made the engine spin; 300 worked).
MAX_DERIVED_CHAIN = 32
#: Bytes in one rule file.
MAX_FILE_BYTES = 1 << 20
#: Largest magnitude of a number in a rule or parameter.
MAX_NUMBER = 1e12


def number_problem(value: Any) -> str | None:
    """Why a number cannot be given to the engine, or None when it can.

    The engine reads numbers as JSON text and refuses exponent form (1e-05,
    1e+16); infinities and NaN are not numbers a clinical threshold can be.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if abs(value) > MAX_NUMBER:
        return f"must be at most {MAX_NUMBER:,.0f} in size"
    text = json.dumps(value)
    if "e" in text or "E" in text:
        return "must be written as a plain decimal the engine reads (not 1e-05 small)"
    return None


def comparisons(condition: Condition) -> int:
    """The comparisons and derived-fact tests in a condition."""
    if isinstance(condition, AllOf | AnyOf):
        return sum(comparisons(item) for item in condition.items)
    return 1


def branch_count(condition: Condition, limit: int = MAX_BRANCHES) -> int:
    """How many conjunctions the compiler makes of a condition, counted without making them.

    ORs over derived facts multiply out (``conditions.branches``); the count
    stops growing past ``limit`` so that an exploding rule costs nothing to refuse.
    """
    if not _mentions_derived(condition):
        return 1
    if isinstance(condition, Derived):
        return 1
    if isinstance(condition, AnyOf):
        return min(sum(branch_count(item, limit) for item in condition.items), limit + 1)
    assert isinstance(condition, AllOf)
    total = 1
    for item in condition.items:
        total = min(total * branch_count(item, limit), limit + 1)
    return total


def polarity_branches(condition: Condition, derives: bool) -> int:
    """The larger branch count of the polarities a rule compiles to."""
    count = branch_count(condition)
    return max(count, branch_count(negate(condition))) if derives else count


def chain_depths(reads: Mapping[str, set[str]]) -> dict[str, int]:
    """For each derived fact, the longest chain of derived facts it rests on (1: none).

    ``reads`` maps each derived fact to the derived facts its rule reads; the
    graph is already known to be acyclic. Iterative, so a long chain cannot
    exhaust Python's stack.
    """
    depth: dict[str, int] = {}
    for start in sorted(reads):
        stack, visiting = [(start, False)], set()
        while stack:
            name, expanded = stack.pop()
            needed = [n for n in reads.get(name, ()) if n in reads]
            if expanded:
                depth[name] = 1 + max((depth.get(n, 0) for n in needed), default=0)
                visiting.discard(name)
            elif name not in depth and name not in visiting:
                visiting.add(name)  # a cycle is reported elsewhere; it must not loop here
                stack.append((name, True))
                stack.extend((n, False) for n in needed if n not in depth and n not in visiting)
    return depth


def _mentions_derived(condition: Condition) -> bool:
    if isinstance(condition, Derived):
        return True
    if isinstance(condition, AllOf | AnyOf):
        return any(_mentions_derived(item) for item in condition.items)
    return False
