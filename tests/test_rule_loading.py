"""Rule directories are validated whole: problems named by file, rule and key; never half-loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fbss_pathway import RuleSetError, evaluate, load_ruleset
from fbss_pathway.ruleset import default_rules_path

from .helpers import patched


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_path(), target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"test fixture out of date: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def _issues(directory: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(directory)
    return [str(issue) for issue in caught.value.issues]


BROKEN: list[tuple[str, str, str, str, str]] = [
    # file, text to replace, replacement, expected rule id, expected words
    (
        "red_flags.toml",
        'title = "Cauda equina signs"',
        'title = "Cauda equina signs"\nseverity = 3',
        "RED-01",
        "key 'severity': unknown key",
    ),
    (
        "red_flags.toml",
        'fact = "cauda_equina_signs"',
        'fact = "cauda_equina_sign"',
        "RED-01",
        "did you mean 'cauda_equina_signs'",
    ),
    (
        "conservative.toml",
        'op = ">=", param = "fbss_min_months_after_surgery"',
        'op = "=>", param = "fbss_min_months_after_surgery"',
        "CON-01",
        "bad operator '=>'",
    ),
    (
        "red_flags.toml",
        'sources = ["nice_ng59"]',
        'sources = ["nice_ng95"]',
        "RED-01",
        "unknown source 'nice_ng95' (did you mean 'nice_ng59'?)",
    ),
    (
        "red_flags.toml",
        'sources = ["nice_ng59"]',
        "sources = []",
        "RED-01",
        "must list at least one source key",
    ),
    ("red_flags.toml", 'id = "RED-02"', 'id = "RED-01"', "RED-01", "duplicate rule id"),
    (
        "red_flags.toml",
        '"urgent_specialist_review"',
        '"urgent_specialist_reveiw"',
        "RED-01",
        "did you mean 'urgent_specialist_review'",
    ),
    (
        "interdisciplinary.toml",
        'actions = ["trigger_zone_treatment"]',
        'actions = ["scs_trial"]',
        "IDA-02",
        "scs_trial is a step of stage neuromodulation",
    ),
    (
        "conservative.toml",
        'param = "adequate_exercise_weeks"',
        'param = "adequate_exercise_week"',
        "CON-03",
        "unknown parameter 'adequate_exercise_week'",
    ),
    (
        "conservative.toml",
        '{ fact = "exercise_adherence", op = "!=", value = "poor" }',
        '{ fact = "exercise_adherence", op = "!=", value = "bad" }',
        "CON-03",
        "exercise_adherence takes one of",
    ),
    (
        "conservative.toml",
        '{ fact = "exercise_adherence", op = "!=", value = "poor" }',
        '{ fact = "exercise_adherence", op = ">=", value = "poor" }',
        "CON-03",
        "compares numbers",
    ),
    (
        "conservative.toml",
        '{ derived = "fbss_established", is = false }',
        '{ derived = "fbss_establish", is = false }',
        "CON-02",
        "did you mean 'fbss_established'",
    ),
    (
        "conservative.toml",
        '{months_since_last_operation} since the last operation"\nsources',
        '{month_since} since"\nsources',
        "CON-01",
        "unknown placeholder {month_since}",
    ),
    (
        "conservative.toml",
        '{months_since_last_operation} since the last operation"\nsources',
        '{months_since_last_operation} months since"\nsources',
        "CON-01",
        "write {months_since_last_operation} without 'months' after it",
    ),
    (
        "conservative.toml",
        "back pain {back_nrs}, leg pain {leg_nrs} after an adequate",
        "back pain {back_nrs}/10, leg pain {leg_nrs} after an adequate",
        "CON-05",
        "write {back_nrs} without '/10' after it",
    ),
    (
        "red_flags.toml",
        'stage = "urgent_review"',
        'stage = "urgent"',
        "RED-01",
        "unknown stage 'urgent'",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "rule_id", "words"), BROKEN, ids=[row[4] for row in BROKEN]
)
def test_each_problem_names_file_rule_and_key(
    rules_copy: Path, file: str, old: str, new: str, rule_id: str, words: str
) -> None:
    _edit(rules_copy / file, old, new)
    issues = _issues(rules_copy)
    assert any(issue.startswith(f"{file} rule {rule_id}") and words in issue for issue in issues), (
        issues
    )


def test_every_problem_is_reported_at_once(rules_copy: Path) -> None:
    _edit(rules_copy / "red_flags.toml", 'fact = "cauda_equina_signs"', 'fact = "cauda"')
    _edit(
        rules_copy / "reoperation.toml",
        'sources = ["coradi2020", "ilive2025"]',
        'sources = ["nobody"]',
    )
    assert len(_issues(rules_copy)) == 2


def test_a_derived_fact_that_depends_on_itself_is_refused(rules_copy: Path) -> None:
    _edit(
        rules_copy / "radiofrequency.toml",
        '{ fact = "facet_arthropathy", op = "==", value = true },',
        '{ derived = "facet_source_pending", is = true },',
    )
    assert any("depends on itself" in issue for issue in _issues(rules_copy))


def test_a_file_that_is_not_toml_is_named(rules_copy: Path) -> None:
    (rules_copy / "extra.toml").write_text("[[rule]\nid = ")
    issues = _issues(rules_copy)
    assert any(issue.startswith("extra.toml: not valid TOML") for issue in issues)


def test_missing_parameters_file_is_refused(rules_copy: Path) -> None:
    (rules_copy / "parameters.toml").unlink()
    assert any(issue.startswith("parameters.toml: is missing") for issue in _issues(rules_copy))


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="is not a directory"):
        load_ruleset(tmp_path / "nowhere")


def test_a_broken_directory_loads_nothing_and_the_default_still_works(rules_copy: Path) -> None:
    _edit(rules_copy / "red_flags.toml", 'fact = "cauda_equina_signs"', 'fact = "cauda"')
    before = load_ruleset()
    with pytest.raises(RuleSetError):
        load_ruleset(rules_copy)
    assert load_ruleset() is before
    assert evaluate(patched({})).ruleset_version == before.version


def test_loading_the_same_rules_twice_is_harmless(rules_copy: Path) -> None:
    assert load_ruleset(rules_copy) is load_ruleset()


def test_two_rule_sets_evaluate_independently(rules_copy: Path) -> None:
    # A site that needs 7/10 (not 5/10) after the trial before escalating.
    _edit(
        rules_copy / "parameters.toml",
        "[pain_threshold_nrs]\nvalue = 5",
        "[pain_threshold_nrs]\nvalue = 7",
    )
    strict = load_ruleset(rules_copy)
    default = load_ruleset()
    assert strict.version != default.version
    patient = patched({"pain": {"back_nrs": 6}})
    for _ in range(3):  # interleaved, so state cannot leak between them
        assert evaluate(patient, ruleset=strict).stage == "conservative"
        assert evaluate(patient, ruleset=default).stage == "specialist_review"


def test_the_packaged_rules_are_the_repository_rules() -> None:
    repository = {
        p.name: p.read_bytes() for p in (Path(__file__).parents[1] / "rules").glob("*.toml")
    }
    packaged = {p.name: p.read_bytes() for p in default_rules_path().glob("*.toml")}
    assert packaged == repository
