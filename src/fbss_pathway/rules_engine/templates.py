"""Reason and warning templates: the placeholders they name, checked when rules load.

A template names facts and parameters in braces (``back pain {back_nrs}``,
``below {pain_threshold_nrs}/10``). Filling one for a patient is explanation, and lives
in :mod:`fbss_pathway.explain.templates`: a fact is written with its unit there,
so a unit written after a fact placeholder is refused here (it would read twice:
"7/10/10").
"""

from __future__ import annotations

import re

__all__ = ["BANDS", "COMPUTED_DATES", "PLACEHOLDER", "UNIT_AFTER", "facts_in_template"]

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


#: A score's severity band by the instrument's own cut-offs (pathway.md 3.4: name the
#: band by the score): placeholder -> (fact, ((lowest score, band), ...)). Kroenke 2001
#: for the PHQ-9, Spitzer 2006 for the GAD-7; instrument definitions, not site choices.
BANDS: dict[str, tuple[str, tuple[tuple[int, str], ...]]] = {
    "phq9_band": (
        "phq9",
        ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
    ),
    "gad7_band": ("gad7", ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"))),
}


#: Totals a template may name that are known in full or only as a floor: placeholder ->
#: (the total's fact, its floor's fact). Written as the total where it is known, else
#: as "at least" the floor with the reason it is a floor, never "at least" a known total.
TOTALS: dict[str, tuple[str, str]] = {
    "mme_total": ("mme_per_day", "mme_per_day_at_least"),
}


def facts_in_template(text: str) -> list[str]:
    """The facts a reason or warning template quotes (a computed word quotes its fact)."""
    found = []
    for name in PLACEHOLDER.findall(text):
        if name in COMPUTED_DATES:
            name = COMPUTED_DATES[name][0]
        elif name in BANDS:
            name = BANDS[name][0]
        elif name in TOTALS:
            found.append(TOTALS[name][0])
            name = TOTALS[name][1]
        found.append(name)
    return found
