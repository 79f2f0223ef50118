"""A rule's condition in a clinician's words: "Back pain intensity, NRS 0-10: at least 5/10".

The ladder view shows each criterion of a rung as its rule file states it; this
module turns the condition tree into that sentence, with units on numbers and
derived facts under the title of the rule that defines them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..rules_engine.conditions import AllOf, AnyOf, Compare, Condition, Derived, Known
from .words import code_words, fact_label, value_text

__all__ = ["condition_text", "patient_criterion"]

_OPERATOR_WORDS = {
    "==": "",
    "!=": "other than ",
    ">=": "at least ",
    ">": "more than ",
    "<": "less than ",
    "<=": "at most ",
}


def condition_text(condition: Condition, titles: Mapping[str, str]) -> str:
    """The condition as a sentence; ``titles`` names each derived fact by its rule's title."""
    match condition:
        case Compare(fact=fact, op=op, value=value, other_fact=other):
            if other is not None:
                compared = _lower_first(fact_label(other))
            elif op == "==" and _is_number(value):
                return f"{fact_label(fact)}: {_exactly(fact, value)}"
            else:
                compared = value_text(fact, value)
            return f"{fact_label(fact)}: {_OPERATOR_WORDS[op]}{compared}"
        case Known(fact=fact, known=known):
            return f"{fact_label(fact)}: {'recorded' if known else 'not recorded'}"
        case Derived(name=name, value=value):
            return f"{titles.get(name, name)}: {'yes' if value else 'no'}"
        case AllOf(items=()):
            return "always"
        case AllOf(items=items):
            return "all of: " + "; ".join(condition_text(item, titles) for item in items)
        case AnyOf(items=items):
            return "any of: " + "; ".join(condition_text(item, titles) for item in items)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _exactly(fact: str, value: object) -> str:
    """A count or score the rule wants exactly: "none" for 0 (never "needs 0"), else "exactly 2"."""
    return "none" if value == 0 else f"exactly {value_text(fact, value)}"


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (SCS, PHQ-9)."""
    first = text.split(" ", 1)[0]
    return text if first.isupper() or first[:1].isdigit() else text[:1].lower() + text[1:]


_NEEDS = {
    ">=": "{} or more",
    ">": "more than {}",
    "<": "less than {}",
    "<=": "{} or less",
    "==": "{}",
    "!=": "other than {}",
}


def patient_criterion(
    criterion: Condition,
    facts: Mapping[str, Any],
    derived: Mapping[str, bool],
    titles: Mapping[str, str],
) -> str:
    """A criterion as the patient's value against what it needs (pathway.md 11).

    "Back pain intensity, NRS 0-10: 4/10; needs 5/10 or more". The patient's
    value is never confused with the required one, and a derived fact says the
    patient's own answer ("Conservative trial failed: no"), never "not: ...".
    """
    match criterion:
        case Derived(name=name):
            have = derived.get(name)
            state = "not known" if have is None else ("yes" if have else "no")
            return f"{titles.get(name) or code_words(name)}: {state}"
        case Compare(fact=fact, op=op, value=value, other_fact=other):
            patient = value_text(fact, facts.get(fact))
            if other is None and op == "==" and _is_number(value):
                return f"{fact_label(fact)}: {patient}; needs {_exactly(fact, value)}"
            wanted = _lower_first(fact_label(other)) if other else value_text(fact, value)
            return f"{fact_label(fact)}: {patient}; needs {_NEEDS[op].format(wanted)}"
        case Known(fact=fact, known=known):
            recorded = "recorded" if facts.get(fact) is not None else "not recorded"
            return (
                f"{fact_label(fact)}: {recorded}; needs it {'recorded' if known else 'unrecorded'}"
            )
        case _:
            return condition_text(criterion, titles)
