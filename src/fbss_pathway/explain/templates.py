"""Reason and warning templates filled for a patient: the words of each rule's conclusion.

A template names facts and parameters in braces (``back pain {back_nrs}``,
``below {pain_threshold_nrs}/10``). A fact is written as everywhere else, by
:func:`fbss_pathway.explain.words.value_text`, its unit included ("7/10", "53
months", "1 month"), and "unknown" without a unit where not recorded; so a rule
file writes no unit after a fact (the loader refuses one, see
:mod:`fbss_pathway.rules_engine.templates`). A parameter is written as its number,
and the template gives its unit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..facts import FactValue
from ..rules_engine.model import Parameter
from ..rules_engine.templates import PLACEHOLDER
from .words import value_text

__all__ = ["render"]


def render(text: str, facts: Mapping[str, FactValue], parameters: Mapping[str, Parameter]) -> str:
    """Fill a template with the patient's facts ("unknown", without a unit, where not recorded)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in parameters:
            return f"{parameters[name].value:g}"
        return value_text(name, facts.get(name), unknown="unknown")

    return PLACEHOLDER.sub(value, text)
