"""Each rule's data cases (tests/rule_cases/*.toml): where it fires, and a near miss where not."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from typing import Any

import pytest

from fbss_pathway import evaluate, load_ruleset

from .helpers import RULE_CASES, contributes, patched

CASE_KEYS = {"rule", "fires", "why", "record"}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(RULE_CASES.glob("*.toml")):
        if path.name == "base.toml":
            continue
        with path.open("rb") as handle:
            for case in tomllib.load(handle)["case"]:
                cases.append((path.name, case))
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    ("file", "case"),
    CASES,
    ids=[
        f"{case['rule']}-{'fires' if case['fires'] else 'quiet'}-{case['why']}" for _, case in CASES
    ],
)
def test_rule_case(file: str, case: dict[str, Any]) -> None:
    assert set(case) == CASE_KEYS, f"{file}: a case has exactly {sorted(CASE_KEYS)}"
    recommendation = evaluate(patched(case["record"]))
    assert contributes(recommendation, case["rule"]) is case["fires"], case["why"]


def test_every_rule_has_a_firing_case_and_a_near_miss() -> None:
    seen: dict[str, set[bool]] = defaultdict(set)
    for _, case in CASES:
        seen[case["rule"]].add(case["fires"])
    rule_ids = {rule.id for rule in load_ruleset().rules}
    lacking = sorted(rule_id for rule_id in rule_ids if seen[rule_id] != {True, False})
    assert lacking == [], "rules without both a firing case and a near miss"
    assert set(seen) <= rule_ids, "cases name rules that do not exist"


def test_the_base_record_is_conservative_with_nothing_missing() -> None:
    recommendation = evaluate(patched({}))
    assert recommendation.stage == "conservative"
    assert recommendation.missing == ()
