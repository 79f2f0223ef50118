"""The inputs a recommendation shows: a fact, the record field it reads, and its value."""

from __future__ import annotations

from ..facts import FactSpec, FactValue
from ..recommendation import InputValue, built

__all__ = ["input_value"]

#: Results are frozen, so an input shown with the same value is the same object.
#: Bounded: cleared when full (values such as relief percentages vary widely).
_INPUT_VALUES: dict[tuple[str, type, FactValue | None], InputValue] = {}
_INPUT_VALUES_MAX = 20_000


def input_value(spec: FactSpec, value: FactValue | None) -> InputValue:
    """The shown input for a fact's value, shared between results (they are frozen)."""
    key = (spec.name, type(value), value)  # the type keeps True apart from 1, and 3 from 3.0
    found = _INPUT_VALUES.get(key)
    if found is None:
        if len(_INPUT_VALUES) >= _INPUT_VALUES_MAX:
            _INPUT_VALUES.clear()
        # A fact's value is a plain bool, number or word already (the catalogue's types).
        found = _INPUT_VALUES[key] = built(
            InputValue, field=spec.field, fact=spec.name, value=value
        )
    return found
