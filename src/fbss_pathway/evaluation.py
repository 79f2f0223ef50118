"""Evaluating one patient: validate, read facts, run the rules, explain the result.

The engine decides which rules fire; :mod:`.explain` combines their
conclusions into the recommendation and shows its basis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .explain import explain
from .facts import extract_facts
from .recommendation import Recommendation
from .record import PatientRecord
from .ruleset import RuleSet, default_ruleset

__all__ = ["evaluate"]


def evaluate(
    record: PatientRecord | Mapping[str, Any],
    *,
    ruleset: RuleSet | None = None,
    ladder: bool = True,
) -> Recommendation:
    """Recommend the pathway stage and actions for one patient, with their basis.

    Args:
        record: A :class:`PatientRecord`, or a mapping that is validated into one.
        ruleset: A rule set from :func:`load_ruleset`; the packaged rules by default.
        ladder: Add the ladder view (:attr:`Recommendation.ladder`). Callers that
            need only the decision (cards, population screens) pass False: the
            view costs about as much as the rest of the evaluation.

    Raises:
        pydantic.ValidationError: the mapping is not a valid record (the error
            names each field and never echoes the patient's values).
        EvaluationError: the rule engine failed; no partial answer is returned.
        TypeError: ``record`` or ``ruleset`` is of the wrong type.
    """
    if not isinstance(record, PatientRecord):
        if not isinstance(record, Mapping):
            raise TypeError(
                f"record must be a PatientRecord or a mapping, not {type(record).__name__}"
            )
        record = PatientRecord.model_validate(record)
    if ruleset is None:
        ruleset = default_ruleset()
    elif not isinstance(ruleset, RuleSet):
        raise TypeError(f"ruleset must come from load_ruleset(), not {type(ruleset).__name__}")
    facts = extract_facts(record)
    firings, derived = ruleset.compiled.run(facts)
    return explain(ruleset, facts, firings, derived, ladder=ladder)
