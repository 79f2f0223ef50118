"""Reason and warning templates filled for a patient: the words of each rule's conclusion.

A template names facts and parameters in braces (``back pain {back_nrs}``,
``below {pain_threshold_nrs}/10``). A fact is written as everywhere else, by
:func:`fbss_pathway.explain.words.value_text`, its unit included ("7/10", "53
months", "1 month"), and "unknown" without a unit where not recorded; so a rule
file writes no unit after a fact (the loader refuses one, see
:mod:`fbss_pathway.rules_engine.templates`). A parameter is written as its number,
and the template gives its unit. A date (a fact named ``..._date``, or a date
computed from one) is written as people read it, "3 Sep 2026"
(:func:`fbss_pathway.explain.words.date_words`), never in ISO form.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache

from ..facts import FactValue, add_calendar_months
from ..rules_engine.model import Parameter
from ..rules_engine.templates import BANDS, COMPUTED_DATES, PLACEHOLDER, TOTALS
from .words import date_words, value_text

__all__ = ["render"]


def render(text: str, facts: Mapping[str, FactValue], parameters: Mapping[str, Parameter]) -> str:
    """Fill a template with the patient's facts ("unknown", without a unit, where not recorded)."""
    parts = _parts(text)
    if len(parts) == 1:
        return text  # no placeholder
    words = [parts[0]]
    for index in range(1, len(parts), 2):
        words.append(_value(parts[index], facts, parameters))
        words.append(parts[index + 1])
    return "".join(words)


@lru_cache(maxsize=4096)
def _parts(text: str) -> tuple[str, ...]:
    """The template split once: literal text and placeholder names taking turns.

    The rule files' templates are few and filled for every patient, so each is
    split once instead of searched with the pattern on every fill.
    """
    return tuple(PLACEHOLDER.split(text))


def _value(name: str, facts: Mapping[str, FactValue], parameters: Mapping[str, Parameter]) -> str:
    if name in BANDS:
        fact, bands = BANDS[name]
        score = facts.get(fact)
        if not isinstance(score, int | float) or isinstance(score, bool):
            return "not scored"
        return [band for lowest, band in bands if score >= lowest][-1]
    if name in TOTALS:
        total, floor = (facts.get(fact) for fact in TOTALS[name])
        if total is not None:
            return value_text(TOTALS[name][0], total, unknown="unknown")
        if floor is None:
            return "unknown"
        return f"at least {value_text(TOTALS[name][1], floor)}, a current dose not known"
    if name in COMPUTED_DATES:
        fact, months = COMPUTED_DATES[name]
        recorded = facts.get(fact)
        if not isinstance(recorded, str):
            return "unknown"
        day = add_calendar_months(date.fromisoformat(recorded), int(parameters[months].value))
        return date_words(day)
    if name in parameters:
        setting = parameters[name].value
        return setting.replace("_", " ") if isinstance(setting, str) else f"{setting:g}"
    written = facts.get(name)
    if name.endswith("_date") and isinstance(written, str):
        try:
            return date_words(date.fromisoformat(written))
        except ValueError:
            pass  # not a date after all: written as it is
    return value_text(name, written, unknown="unknown")
