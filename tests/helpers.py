"""Shared test helpers: the neutral base record and how cases patch it."""

from __future__ import annotations

import copy
import json
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from fbss_pathway import PatientRecord, Recommendation
from fbss_pathway.facts import FactValue, extract_facts
from fbss_pathway.ruleset import default_ruleset

RULE_CASES = Path(__file__).parent / "rule_cases"
UNKNOWN = "<unknown>"


@cache
def _base() -> dict[str, Any]:
    with (RULE_CASES / "base.toml").open("rb") as handle:
        return tomllib.load(handle)


def facts_of(record: PatientRecord) -> dict[str, FactValue]:
    """The facts of a record under the packaged rule set's parameters."""
    rules = default_ruleset()
    return extract_facts(record, rules.parameter_values, mme=rules.mme)


def base_record() -> dict[str, Any]:
    """A fresh copy of the neutral base patient."""
    return copy.deepcopy(_base())


def patched(patch: dict[str, Any], record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The base record (or ``record``) with ``patch`` merged in: tables merge, lists replace."""
    result = base_record() if record is None else copy.deepcopy(record)
    for key, value in patch.items():
        if value == UNKNOWN:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = patched(value, result[key])
        else:
            result[key] = copy.deepcopy(value)
    return result


def contributes(recommendation: Recommendation, rule_id: str) -> bool:
    """Whether a rule shaped the result, never counting a rule that did not fire.

    An action or warning it gave (an option's step names the verdict rule behind it);
    an option's verdict it decided, or fired for beside the deciding rule
    (``also_from``); the stage it holds (a red flag, or the verdict that sets the
    stage); or a derived fact it concluded true.
    """
    fired = {t.rule_id for t in recommendation.trace if not t.concluded.endswith("= false")}
    if rule_id not in fired:
        return False
    if any(rule_id in (a.rule_id, *a.also_from) for a in recommendation.actions):
        return True
    if any(rule_id in (o.rule_id, *o.also_from) for o in recommendation.options):
        return True
    if rule_id in recommendation.stage_basis:
        return True
    if any(w.rule_id == rule_id for w in recommendation.warnings):
        return True
    return any(
        t.rule_id == rule_id and t.concluded.endswith("= true") for t in recommendation.trace
    )


def unordered(record: PatientRecord) -> dict[str, Any]:
    """The record with its operations, treatments and opioids as sets: any order, one record."""
    data = record.model_dump(mode="json")
    for name in ("operations", "treatments"):
        data[name] = sorted(json.dumps(item, sort_keys=True) for item in data[name])
    opioids = data["medicines"]["opioids"]
    data["medicines"]["opioids"] = sorted(json.dumps(item, sort_keys=True) for item in opioids)
    return data
