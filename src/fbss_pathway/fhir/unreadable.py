"""Items the chart records only in values that could not be read: unknown, and said so.

A pain score of 14/10 or a block relief of 180 % is listed in ``ignored``; when
no other entry gives the item, the item is unknown. Unknown must not pass for
"not recorded": the clinician is told the chart holds it but it could not be
read (a warning), and the missing information lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..explain.words import item_label
from ..facts import FACTS
from ..recommendation import MissingInput
from ..record import Treatment
from .resources import Chart

__all__ = ["UNREADABLE_RULE", "unread_items", "unreadable_missing", "unreadable_text"]

#: The rule id the warnings and missing inputs of unreadable items carry.
UNREADABLE_RULE = "FHIR-UNREADABLE"
_FACT_OF_FIELD = {spec.field: name for name, spec in FACTS.items()}


def _fact_field(item: str) -> tuple[str, str]:
    """The fact and record field an item is read as (``treatments[kind].field`` included)."""
    if item.startswith("treatments["):
        kind, _, name = item.removeprefix("treatments[").partition("].")
        field = f"treatments[{kind}, most recent].{name}"
        return _FACT_OF_FIELD.get(field, ""), field
    return _FACT_OF_FIELD.get(item, item.rpartition(".")[2]), item


def unreadable_text(item: str, resources: Sequence[str]) -> str:
    """The warning: which item, in which resources (never the value)."""
    words = item_label(item)
    return (
        f"Recorded but unreadable: {words} ({', '.join(resources)}). "
        "It is read as unknown; check the entry in the EHR."
    )


def unreadable_missing(
    missing: Sequence[MissingInput],
    unreadable: Mapping[str, Sequence[str]] | Iterable[str],
    rule: str = UNREADABLE_RULE,
) -> tuple[MissingInput, ...]:
    """The missing inputs, with each item added (needed by ``rule``) unless already listed."""
    listed = {m.field for m in missing}
    added = []
    for item in sorted(unreadable):
        fact, field = _fact_field(item)
        if field not in listed:
            listed.add(field)
            added.append(MissingInput(field=field, fact=fact, needed_by=(rule,)))
    return (*missing, *added)


def unread_items(
    chart: Chart, values: dict[str, Any], treatments: list[Treatment]
) -> dict[str, tuple[str, ...]]:
    """Items spoken to only by values that could not be read (a readable value elsewhere wins)."""
    found = {}
    for item, labels in chart.unreadable.items():
        kind, _, name = item.removeprefix("treatments[").partition("].")
        known = (
            any(t.kind == kind and getattr(t, name, None) is not None for t in treatments)
            if item.startswith("treatments[")
            else item in values
        )
        if not known:
            found[item] = tuple(sorted(set(labels)))
    return found
