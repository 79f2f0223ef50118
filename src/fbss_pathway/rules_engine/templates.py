"""Reason and warning templates: the placeholders they name, checked when rules load.

A template names facts and parameters in braces (``back pain {back_nrs}``,
``below {pain_threshold_nrs}/10``). Filling one for a patient is explanation, and lives
in :mod:`fbss_pathway.explain.templates`: a fact is written with its unit there,
so a unit written after a fact placeholder is refused here (it would read twice:
"7/10/10").
"""

from __future__ import annotations

import re

__all__ = ["COMPUTED_DATES", "PLACEHOLDER", "UNIT_AFTER", "facts_in_template"]

#: A placeholder in a template.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: A placeholder followed by a unit ("{back_nrs}/10", "{pain_months} months").
UNIT_AFTER = re.compile(r"\{([^{}]*)\}(/10| ?%| ?(?:months?|weeks?|years?)\b)")


#: Dates a template may name that are computed, not recorded: each is a date fact plus
#: the months of a parameter, so that a site's own threshold moves the date with it.
COMPUTED_DATES: dict[str, tuple[str, str]] = {
    # the day pain after the last operation becomes PSPS type 2 (pathway.md 1)
    "psps_threshold_date": ("last_operation_date", "fbss_min_months_after_surgery"),
}


def facts_in_template(text: str) -> list[str]:
    """The facts a reason or warning template quotes (a computed date quotes its fact)."""
    return [COMPUTED_DATES.get(name, (name, ""))[0] for name in PLACEHOLDER.findall(text)]
