"""Reason and warning templates: the placeholders they name, checked when rules load.

A template names facts and parameters in braces (``back pain {back_nrs}``,
``below {pain_threshold_nrs}/10``). Filling one for a patient is explanation, and lives
in :mod:`fbss_pathway.explain.templates`: a fact is written with its unit there,
so a unit written after a fact placeholder is refused here (it would read twice:
"7/10/10").
"""

from __future__ import annotations

import re

__all__ = ["PLACEHOLDER", "UNIT_AFTER", "facts_in_template"]

#: A placeholder in a template.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: A placeholder followed by a unit ("{back_nrs}/10", "{pain_months} months").
UNIT_AFTER = re.compile(r"\{([^{}]*)\}(/10| ?%| ?(?:months?|weeks?|years?)\b)")


def facts_in_template(text: str) -> list[str]:
    """The placeholders of a reason or warning template."""
    return PLACEHOLDER.findall(text)
