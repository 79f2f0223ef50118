"""Every bundled example patient gets the stage and actions the specification prescribes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fbss_pathway import ActionCode as A
from fbss_pathway import PatientRecord, Stage, evaluate
from fbss_pathway.cli import example_paths

BASICS = [
    A.EXERCISE_THERAPY,
    A.SUPPORTIVE_ANALGESIA,
    A.INTERDISCIPLINARY_ASSESSMENT,
    A.FITNESS_PROGRAM,
]

EXPECTED: dict[str, tuple[Stage, list[A], list[str]]] = {
    # example: (stage, actions in order, rules that must be behind the warnings)
    "01_urgent_review_cauda_equina.json": (Stage.URGENT_REVIEW, [A.URGENT_SPECIALIST_REVIEW], []),
    "02_conservative_no_adequate_trial.json": (
        Stage.CONSERVATIVE,
        [*BASICS, A.TRIGGER_ZONE_TREATMENT, A.PSYCHOSOCIAL_SUPPORT, A.REOPERATION_CAUTION],
        [],
    ),
    "03_conservative_early_after_surgery.json": (
        Stage.CONSERVATIVE,
        [*BASICS, A.SCREEN_DEPRESSION_ANXIETY, A.REOPERATION_CAUTION],
        ["CON-02"],
    ),
    "04_radiofrequency_positive_block_after_fusion.json": (
        Stage.RADIOFREQUENCY,
        [
            A.RADIOFREQUENCY_DENERVATION,
            A.EXERCISE_THERAPY,
            A.SUPPORTIVE_ANALGESIA,
            A.OPIOID_REVIEW,
            A.INTERDISCIPLINARY_ASSESSMENT,
            A.FITNESS_PROGRAM,
            A.REOPERATION_CAUTION,
        ],
        [],
    ),
    "05_neuromodulation_scs_trial.json": (
        Stage.NEUROMODULATION,
        [A.SCS_TRIAL, *BASICS, A.SCAR_TREATMENT, A.REOPERATION_CAUTION],
        [],
    ),
    "06_neuromodulation_deferred_severe_depression.json": (
        Stage.NEUROMODULATION,
        [A.TREAT_DEPRESSION_ANXIETY, *BASICS, A.PSYCHOSOCIAL_SUPPORT, A.REOPERATION_CAUTION],
        ["SCS-11"],
    ),
    "07_specialist_review_failed_scs_trial.json": (
        Stage.SPECIALIST_REVIEW,
        [A.MULTIDISCIPLINARY_PAIN_PROGRAMME, *BASICS, A.REOPERATION_CAUTION],
        [],
    ),
    "08_specialist_review_back_pain_negative_block.json": (
        Stage.SPECIALIST_REVIEW,
        [A.MULTIDISCIPLINARY_PAIN_PROGRAMME, *BASICS, A.REOPERATION_CAUTION, A.SURGICAL_OPINION],
        [],
    ),
}


def test_the_examples_are_the_ones_expected() -> None:
    assert [path.name for path in example_paths()] == sorted(EXPECTED)


def test_every_stage_has_an_example() -> None:
    assert {stage for stage, _, _ in EXPECTED.values()} == set(Stage)


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.name)
def test_example_gets_the_prescribed_stage_and_actions(path: Path) -> None:
    stage, actions, warned_by = EXPECTED[path.name]
    result = evaluate(PatientRecord.model_validate_json(path.read_text()))
    assert result.stage is stage
    assert result.action_codes() == actions
    assert [w.rule_id for w in result.warnings] == warned_by


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.name)
def test_every_action_shows_its_basis(path: Path) -> None:
    result = evaluate(PatientRecord.model_validate_json(path.read_text()))
    for action in result.actions:
        assert action.rule_id
        assert action.reason
        assert action.sources
        assert action.inputs
        assert "{" not in action.reason, "a template placeholder was left unfilled"


def test_the_reason_is_about_this_patient() -> None:
    path = next(p for p in example_paths() if p.name.startswith("04_"))
    result = evaluate(PatientRecord.model_validate_json(path.read_text()))
    (rf,) = [a for a in result.actions if a.code is A.RADIOFREQUENCY_DENERVATION]
    assert "back pain 7/10" in rf.reason
    assert "80 % relief" in rf.reason
    assert {"pain.back_nrs", "treatments[medial_branch_block, most recent].relief_percent"} <= {
        i.field for i in rf.inputs
    }
