"""What a rule shows for this patient: its reason filled in and the inputs it read.

The same for every patient with the same values of the facts a rule shows, so it
is built once per rule and values (results are immutable and share it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..facts import FactValue
from ..recommendation import Action, InputValue
from ..ruleset import RuleSet
from .inputs import input_value
from .templates import render

__all__ = ["Shown", "shown"]


@dataclass(slots=True, eq=False)
class Shown:
    """A rule's reason and inputs for given values, and the actions it leads with them.

    Results are immutable (tuples all the way down), so they are shared. Compared
    by identity: the cache gives one object per rule and values.
    """

    reason: str
    inputs: tuple[InputValue, ...]
    actions: dict[tuple[object, ...], Action] = field(default_factory=dict)


#: What a rule shows for given values of the facts it shows: the same for every
#: patient with those values. Bounded: cleared when full.
_SHOWN: dict[tuple[object, ...], Shown] = {}
_SHOWN_MAX = 20_000


def shown(ruleset: RuleSet, index: int, facts: Mapping[str, FactValue]) -> Shown:
    """A rule's reason filled for the patient, and the inputs it shows with their values."""
    specs = ruleset.inputs[index]  # every fact its condition reads or its reason quotes
    values = [facts.get(spec.name) for spec in specs]
    # The types keep True apart from 1 and 3 from 3.0, which show differently.
    key = (ruleset.version, index, *values, *map(type, values))
    found = _SHOWN.get(key)
    if found is None:
        if len(_SHOWN) >= _SHOWN_MAX:
            _SHOWN.clear()
        reason = render(ruleset.rules[index].reason, facts, ruleset.parameters)
        found = _SHOWN[key] = Shown(reason, tuple(map(input_value, specs, values)))
    return found
