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


BROKEN: list[tuple[str, str, str, str | None, str]] = [
    # file, text to replace, replacement, expected rule id (None: not a rule), expected words
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
        'sources = ["girft_ces", "nice_ng59"]',
        'sources = ["girft_ces", "nice_ng95"]',
        "RED-01",
        "unknown source 'nice_ng95' (did you mean 'nice_ng59'?)",
    ),
    (
        "red_flags.toml",
        'sources = ["girft_ces", "nice_ng59"]',
        "sources = []",
        "RED-01",
        "must list at least one source key",
    ),
    ("red_flags.toml", 'id = "RED-02"', 'id = "RED-01"', "RED-01", "duplicate rule id"),
    (
        "red_flags.toml",
        '"urgent_specialist_review"',
        '"urgent_specialist_reveiw"',
        "RED-04",
        "did you mean 'urgent_specialist_review'",
    ),
    (
        "interdisciplinary.toml",
        'actions = ["trigger_zone_treatment"]',
        'actions = ["scs_trial"]',
        "IDA-02",
        "scs_trial is a step of the option spinal_cord_stimulation",
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
        "CON-11",
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
        "back pain {back_nrs}, leg pain {leg_nrs}, Oswestry",
        "back pain {back_nrs}/10, leg pain {leg_nrs}, Oswestry",
        "CON-05",
        "write {back_nrs} without '/10' after it",
    ),
    (
        "red_flags.toml",
        'tier = "emergency"',
        'tier = "emergent"',
        "RED-01",
        "key 'tier': must be emergency or urgent",
    ),
    (
        "red_flags.toml",
        'tier = "urgent"',
        'tier = "emergency"',
        "RED-04",
        "a red flag of the emergency tier recommends emergency_assessment",
    ),
    (
        "safety.toml",
        'option = "spinal_cord_stimulation"',
        'option = "spinal_cord_stimulator"',
        "SAF-03",
        "unknown option 'spinal_cord_stimulator' (did you mean 'spinal_cord_stimulation'?)",
    ),
    (
        "programme.toml",
        'verdict = "may_be_appropriate"',
        'verdict = "maybe_appropriate"',
        "PMP-02",
        "unknown verdict 'maybe_appropriate' (did you mean 'may_be_appropriate'?)",
    ),
    (
        "sacroiliac.toml",
        'step = "sij_assessment"',
        'step = "medial_branch_block"',
        "SIJ-02",
        "medial_branch_block is not a step of the option this rule decides",
    ),
    (
        "medicines.toml",
        'actions = ["supportive_analgesia"]',
        'actions = ["supportive_analgesia", "exercise_therapy"]',
        "CON-08",
        "exercise_therapy is a step of the option conservative_care",
    ),
    (
        "red_flags.toml",
        'basis = "guideline"',
        'basis = "guidelines"',
        "RED-01",
        "key 'basis': must be one or more of guideline, consensus, trial, site",
    ),
    (
        "parameters.toml",
        'sources = ["thomson2013", "christelis2021"]\nbasis = "consensus"',
        'sources = ["thomson2013", "christelis2021"]',
        None,
        "key 'fbss_min_months_after_surgery.basis': must be one of",
    ),
    (
        "safety.toml",
        'with_steps = ["scs_trial"',
        'with_steps = ["opioid_review"',
        "SAF-05",
        "key 'with_steps': 'opioid_review' is not an option's step",
    ),
    (
        "interdisciplinary.toml",
        'actions = ["trigger_zone_treatment"]',
        'actions = ["trigger_zone_treatment"]\nwarning_key = "trigger_zones"',
        "IDA-02",
        "key 'warning_key': a snake_case key, only with a warning",
    ),
    (
        "surgical.toml",
        'id = "SUR-10"',
        'id = "SUR-10"\nawaits_surgical_opinion = true',
        "SUR-10",
        "key 'awaits_surgical_opinion': is true only on a not_yet verdict rule",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "rule_id", "words"), BROKEN, ids=[row[4] for row in BROKEN]
)
def test_each_problem_names_file_rule_and_key(
    rules_copy: Path, file: str, old: str, new: str, rule_id: str | None, words: str
) -> None:
    _edit(rules_copy / file, old, new)
    issues = _issues(rules_copy)
    where = file if rule_id is None else f"{file} rule {rule_id}"
    assert any(issue.startswith(f"{where} ") and words in issue for issue in issues), issues


def test_every_problem_is_reported_at_once(rules_copy: Path) -> None:
    _edit(rules_copy / "red_flags.toml", 'fact = "cauda_equina_signs"', 'fact = "cauda"')
    _edit(rules_copy / "interdisciplinary.toml", 'sources = ["ilive2025"]', 'sources = ["nobody"]')
    assert len(_issues(rules_copy)) == 2


def test_a_derived_fact_that_depends_on_itself_is_refused(rules_copy: Path) -> None:
    _edit(
        rules_copy / "radiofrequency.toml",
        '{ fact = "facet_arthropathy", op = "==", value = true },',
        '{ derived = "facet_source_on_imaging_only", is = true },',
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
