"""Clinical cases written from the specification alone (tests/pathway_cases/*.toml).

Each case names the pathway.md section it probes, says in one clinical sentence
which boundary it probes, patches the neutral base patient
(tests/rule_cases/base.toml) and states what the recommendation must show: the
stage, some options' verdicts, action codes that must (or must not) be listed,
the codes that must lead the list, warning keys (present or absent), options'
next steps, the SCS advice level, morphine milligram equivalents a day,
follow-up dates (``reassess``: item -> date, or "any") and missing fields (a
field path the missing list must start with). The cases were written
without reading the rule files, so they check the rules rather than restate them.

``test_case_is_well_formed`` checks the case files themselves (keys, vocabulary,
a valid record) and needs no rules; ``test_pathway_case`` evaluates each case.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import PatientRecord, evaluate
from fbss_pathway.vocabulary import ActionCode, Option, ReassessItem, ScsAdvice, Stage, Verdict

from .helpers import patched

PATHWAY_CASES = Path(__file__).parent / "pathway_cases"

REQUIRED = frozenset({"section", "why", "record"})
EXPECTATIONS = frozenset(
    {
        "stage",
        "verdicts",
        "actions",
        "absent",
        "first",
        "warnings",
        "absent_warnings",
        "next_steps",
        "scs_advice",
        "mme_per_day",
        "reassess",
        "absent_reassess",
        "missing",
    }
)

#: The sections these cases may probe (pathway.md, version 2).
SECTIONS = frozenset(
    {
        *("1", "2", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "4"),
        *("5.1", "5.2", "6", "7.1", "7.2", "7.3", "7.4", "7.5", "8", "9", "10"),
        *("11", "12", "13"),
    }
)

#: Warning keys of pathway.md section 13.
WARNING_KEYS = frozenset(
    {
        "mme_caution",
        "mme_high",
        "naloxone",
        "taper_mood_rescreen",
        "opioid_benzodiazepine",
        "opioid_gabapentinoid",
        "gabapentinoid_review",
        "benzodiazepine_review",
        "suicide_risk_medicines",
        "nsaid_anticoagulant",
        "device_precaution",
        "cardiac_device_check",
        "stale_input",
        "red_flag_code_old",
    }
)


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(PATHWAY_CASES.glob("*.toml")):
        with path.open("rb") as handle:
            for case in tomllib.load(handle).get("case", []):
                cases.append((path.name, case))
    return cases


CASES = _load()
IDS = [f"{file.removesuffix('.toml')}: {case.get('why', '?')}" for file, case in CASES]


def _codes(values: Iterable[object]) -> list[str]:
    return [str(value) for value in values]


def test_the_case_files_hold_cases() -> None:
    assert PATHWAY_CASES.is_dir()
    files = {file for file, _ in CASES}
    assert files == {path.name for path in PATHWAY_CASES.glob("*.toml")}, "a file without cases"
    assert len(CASES) >= 60


def test_each_why_is_unique() -> None:
    counts = Counter(case["why"] for _, case in CASES)
    assert [why for why, count in counts.items() if count > 1] == []


@pytest.mark.parametrize(("file", "case"), CASES, ids=IDS)
def test_case_is_well_formed(file: str, case: dict[str, Any]) -> None:
    keys = set(case)
    assert keys >= REQUIRED, f"{file}: a case needs {sorted(REQUIRED)}"
    assert keys <= REQUIRED | EXPECTATIONS, (
        f"{file}: unknown keys {sorted(keys - REQUIRED - EXPECTATIONS)}"
    )
    assert keys & EXPECTATIONS, f"{file}: a case needs at least one expectation"
    assert case["section"] in SECTIONS, case["section"]
    assert isinstance(case["why"], str)
    assert case["why"].strip()
    assert isinstance(case["record"], dict)
    if "stage" in case:
        Stage(case["stage"])
    for option, verdict in case.get("verdicts", {}).items():
        Option(option)
        Verdict(verdict)
    for name in ("actions", "absent", "first", "warnings", "absent_warnings", "missing"):
        if name in case:
            assert isinstance(case[name], list)
            assert case[name], f"{name} is empty"
    for code in (*case.get("actions", []), *case.get("absent", []), *case.get("first", [])):
        ActionCode(code)
    assert not set(case.get("actions", [])) & set(case.get("absent", [])), "listed and absent"
    assert not set(case.get("first", [])) & set(case.get("absent", [])), "first and absent"
    for key in (*case.get("warnings", []), *case.get("absent_warnings", [])):
        assert key in WARNING_KEYS, key
    assert not set(case.get("warnings", [])) & set(case.get("absent_warnings", []))
    for option, step in case.get("next_steps", {}).items():
        Option(option)
        assert step == "" or ActionCode(step), step
    if "scs_advice" in case:
        assert case["scs_advice"] == "" or ScsAdvice(case["scs_advice"])
    if "mme_per_day" in case:
        assert case["mme_per_day"] == "unknown" or isinstance(case["mme_per_day"], int | float)
    for item, due in case.get("reassess", {}).items():
        ReassessItem(item)
        assert isinstance(due, date) or due == "any", (item, due)
    for item in case.get("absent_reassess", []):
        ReassessItem(item)
    PatientRecord.model_validate(patched(case["record"]))


@pytest.mark.parametrize(("file", "case"), CASES, ids=IDS)
def test_pathway_case(file: str, case: dict[str, Any]) -> None:
    why = f"{file}: {case['why']}"
    recommendation = evaluate(patched(case["record"]), ladder=False)
    codes = _codes(recommendation.action_codes())
    appraisals = recommendation.options
    verdicts = {str(appraisal.option): str(appraisal.verdict) for appraisal in appraisals}
    assert set(verdicts) == {str(option) for option in Option}, f"every option appraised: {why}"
    assert len(appraisals) == len(Option), f"each option once: {why}"
    if "stage" in case:
        assert str(recommendation.stage) == case["stage"], why
    for option, verdict in case.get("verdicts", {}).items():
        assert verdicts[option] == verdict, f"{option}: {why}"
    missing = [code for code in case.get("actions", []) if code not in codes]
    assert missing == [], f"not listed among {codes}: {why}"
    present = [code for code in case.get("absent", []) if code in codes]
    assert present == [], f"listed among {codes}: {why}"
    first = case.get("first", [])
    assert codes[: len(first)] == first, f"the actions {codes} start otherwise: {why}"
    keys = {str(w.key) for w in recommendation.warnings if w.key is not None}
    lacking = [key for key in case.get("warnings", []) if key not in keys]
    assert lacking == [], f"warnings {sorted(keys)}: {why}"
    unwanted = [key for key in case.get("absent_warnings", []) if key in keys]
    assert unwanted == [], f"warnings {sorted(keys)}: {why}"
    steps = {str(a.option): "" if a.next_step is None else str(a.next_step) for a in appraisals}
    for option, step in case.get("next_steps", {}).items():
        assert steps[option] == step, f"{option} next step {steps[option]!r}: {why}"
    if "scs_advice" in case:
        advice = recommendation.option(Option.SPINAL_CORD_STIMULATION).advice_level
        assert ("" if advice is None else str(advice)) == case["scs_advice"], why
    if "mme_per_day" in case:
        expected = case["mme_per_day"]
        if expected == "unknown":
            assert recommendation.mme_per_day is None, why
        else:
            assert recommendation.mme_per_day == pytest.approx(expected, abs=0.05), why
    due = {str(r.item): r.due for r in recommendation.reassess}
    for item, when in case.get("reassess", {}).items():
        assert item in due, f"reassess {sorted(due)}: {why}"
        assert when == "any" or due[item] == when, f"{item} due {due[item]}: {why}"
    listed = [item for item in case.get("absent_reassess", []) if item in due]
    assert listed == [], f"reassess {sorted(due)}: {why}"
    fields = {m.field for m in recommendation.missing}
    unlisted = [f for f in case.get("missing", []) if not any(x.startswith(f) for x in fields)]
    assert unlisted == [], f"missing {sorted(fields)}: {why}"
