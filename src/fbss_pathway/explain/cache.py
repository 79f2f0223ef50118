"""Bounded memo tables of the explanation: one way to keep a built part for reuse.

Results are frozen, so a part built for some values (a rule's reason, a
criterion, an option's appraisal and the whole list of them, the actions, the
missing information and its candidate rules, the follow-up dates' words) can be
shared by every patient with those values. A patient whose parts were seen
before is decided several times faster than a new one (docs/performance.md,
"Options side by side"): benchmarks time both. Each table is a plain dict, cleared when it
reaches its limit: values such as pain scores vary, and memory must stay flat
over a population.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["keep"]

_K = TypeVar("_K")
_V = TypeVar("_V")


def keep(table: dict[_K, _V], key: _K, value: _V, limit: int) -> _V:
    """Store ``value`` under ``key`` (clearing the table first when full); return it."""
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value
