"""Bounded memo tables of the explanation: one way to keep a built part for reuse.

Results are frozen, so a part built for some values can be shared by every
patient with those values: the whole explanation, per the patient's facts (a
patient seen before); and, for patients who are new, the parts new patients
share often: a rule's reason, a criterion, an option's appraisal, the rules
whose unknown items could change the result and each one's unknown items, the
follow-up dates' words. Whole lists built for one patient (all appraisals, all
actions, the missing information) are not kept apart: new patients never met
them (docs/performance.md, "Options side by side"). Each table is a plain dict,
cleared when it reaches its limit: values such as pain scores vary, and memory
must stay flat over a population.
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
