"""Each rule's data cases (tests/rule_cases/*.toml): where it fires, and a near miss where not."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import tomllib
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import RuleSet, evaluate, load_ruleset
from fbss_pathway.ruleset import default_rules_path

from .helpers import RULE_CASES, contributes, patched

CASE_KEYS = {"rule", "fires", "why", "record"}
#: A case may also set some parameters to a site's own values (``parameters``), for a
#: rule that only a site's choice can fire (the dual-block paradigm, a 16-month interval).
OPTIONAL_KEYS = {"parameters"}


@cache
def _site_ruleset(overrides: tuple[tuple[str, Any], ...]) -> RuleSet:
    """The packaged rules with some parameter values replaced, loaded from a copy."""
    target = Path(tempfile.mkdtemp(prefix="fbss-site-rules-"))
    atexit.register(shutil.rmtree, target, True)
    for path in default_rules_path().glob("*.toml"):
        shutil.copy(path, target / path.name)
    parameters = (target / "parameters.toml").read_text(encoding="utf-8")
    for name, value in overrides:
        written = f'"{value}"' if isinstance(value, str) else str(value)
        parameters, count = re.subn(
            rf"(\[{name}\]\nvalue = )[^\n]*", rf"\g<1>{written}", parameters
        )
        assert count == 1, f"no parameter {name}"
    (target / "parameters.toml").write_text(parameters, encoding="utf-8")
    return load_ruleset(target)


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
    assert CASE_KEYS <= set(case) <= CASE_KEYS | OPTIONAL_KEYS, (
        f"{file}: a case has exactly {sorted(CASE_KEYS)}, and optionally {sorted(OPTIONAL_KEYS)}"
    )
    site = case.get("parameters")
    ruleset = None if site is None else _site_ruleset(tuple(sorted(site.items())))
    recommendation = evaluate(patched(case["record"]), ruleset=ruleset)
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
