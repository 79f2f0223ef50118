"""Reason and warning templates filled for a patient: the words of each rule's conclusion.

A template names facts and parameters in braces (``{back_nrs}/10``,
``{pain_threshold_nrs}``). Rendering writes the patient's values; an unknown
value reads "unknown", without the unit written after it (never "unknown %"),
and one month reads "1 month". The loader checks the placeholders
(:mod:`fbss_pathway.rules_engine.templates`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..facts import FactValue
from ..rules_engine.model import Parameter

__all__ = ["render"]


#: A placeholder and the unit written after it ("{block_relief_percent} %").
_WITH_UNIT = re.compile(r"\{([^{}]*)\}( ?(?:%|/10|months|weeks))?")


def render(text: str, facts: Mapping[str, FactValue], parameters: Mapping[str, Parameter]) -> str:
    """Fill a template with the patient's facts ("unknown", without a unit, where not recorded)."""

    def value(match: re.Match[str]) -> str:
        name, unit = match.group(1), match.group(2) or ""
        if name in parameters:
            return _number(parameters[name].value) + unit
        found = facts.get(name)
        if found is None:
            return "unknown"  # never "unknown %"
        if isinstance(found, bool):
            return ("yes" if found else "no") + unit
        if isinstance(found, int | float):
            return _number(found) + (unit.rstrip("s") if found == 1 else unit)  # 1 month
        return str(found).replace("_", " ") + unit

    return _WITH_UNIT.sub(value, text)


def _number(value: float) -> str:
    return f"{value:g}"
