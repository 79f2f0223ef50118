"""The defects issue 21 reported in the conservative trial, the blocks and radiofrequency.

Each test fails on the rules before issue 21 (pathway.md 5.1, 6, 9): the most
recent exercise programme or block decided alone, exercise before the last
operation counted, a severe ODI with moderate pain read as "pain controlled",
blocks had no age, a stimulator beside radiofrequency went unmentioned, and a
treatment tried without effect was offered as new.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fbss_pathway import PatientRecord, evaluate
from fbss_pathway.courses import weeks_after_operation
from fbss_pathway.record import Treatment, TreatmentKind
from fbss_pathway.vocabulary import ActionCode as A
from fbss_pathway.vocabulary import Option, Stage, Verdict

from .helpers import facts_of, patched

EXERCISE = {
    "kind": "exercise_therapy",
    "start_date": "2024-07-01",
    "duration_weeks": 16,
    "adherence": "good",
}
FACET = {"pain": {"back_nrs": 7}, "findings": {"facet_pain_suspected": True}}


def _facet(*treatments: dict[str, Any], **patch: Any) -> Any:
    return evaluate(patched({**FACET, "treatments": [EXERCISE, *treatments], **patch}))


def _block(day: str, relief: float, *levels: str) -> dict[str, Any]:
    block: dict[str, Any] = {"kind": "medial_branch_block", "start_date": day}
    block["relief_percent"] = relief
    if levels:
        block["levels"] = list(levels)
    return block


def test_a_severe_odi_fails_the_trial_whatever_the_pain() -> None:
    result = evaluate(patched({"pain": {"back_nrs": 4}, "oswestry_disability_index": 70}))
    assert result.stage is Stage.SPECIALIST_REVIEW  # not "pain controlled: continue"
    assert result.option(Option.PAIN_MANAGEMENT_PROGRAMME).verdict is Verdict.APPROPRIATE


def test_a_new_short_programme_does_not_erase_a_completed_long_one() -> None:
    short = {"kind": "exercise_therapy", "start_date": "2026-08-01", "duration_weeks": 4}
    result = _facet({**short, "adherence": "poor"})
    assert result.option(Option.FACET_INTERVENTION).verdict is Verdict.APPROPRIATE
    assert A.MEDIAL_BRANCH_BLOCK in result.action_codes()


def test_exercise_before_the_last_operation_does_not_count() -> None:
    operations = [
        {"date": "2024-03-12", "kind": "decompression_discectomy"},
        {"date": "2025-06-02", "kind": "fusion"},
    ]
    result = evaluate(patched({**FACET, "operations": operations}))
    assert result.option(Option.FACET_INTERVENTION).verdict is Verdict.NOT_YET
    assert facts_of(_record({**FACET, "operations": operations}))["exercise_weeks"] == 0


def test_only_the_weeks_after_the_operation_and_up_to_the_assessment_count() -> None:
    exercise = TreatmentKind.EXERCISE_THERAPY
    programme = Treatment(kind=exercise, start_date=date(2024, 1, 30), duration_weeks=20)
    assert weeks_after_operation(programme, date(2024, 3, 12), date(2026, 10, 1)) == 14
    assert weeks_after_operation(programme, date(2024, 3, 12), date(2024, 4, 9)) == 4
    undated = Treatment(kind=exercise, duration_weeks=20)
    assert weeks_after_operation(undated, date(2024, 3, 12), date(2026, 10, 1)) is None


def test_blocks_of_20_then_80_percent_are_discordant_not_positive() -> None:
    result = _facet(_block("2026-07-01", 20), _block("2026-08-01", 80))
    facet = result.option(Option.FACET_INTERVENTION)
    assert facet.verdict is Verdict.MAY_BE_APPROPRIATE
    assert "discordant blocks" in facet.reasons[0]
    codes = result.action_codes()
    assert A.RADIOFREQUENCY_DENERVATION not in codes
    assert A.MEDIAL_BRANCH_BLOCK not in codes  # no third block: the MDT decides


def test_the_best_level_wins_and_is_named() -> None:
    result = _facet(_block("2026-07-01", 30, "L4-L5"), _block("2026-08-01", 80, "L5-S1"))
    (rf,) = [a for a in result.actions if a.code is A.RADIOFREQUENCY_DENERVATION]
    assert "L5-S1" in rf.reason
    assert "L4-L5" not in rf.reason


def test_a_block_older_than_six_months_is_not_read() -> None:
    result = _facet(_block("2026-03-31", 80))
    assert A.MEDIAL_BRANCH_BLOCK in result.action_codes()
    assert A.RADIOFREQUENCY_DENERVATION not in result.action_codes()


def test_a_short_lived_radiofrequency_response_is_discussed_never_failed() -> None:
    rf = {
        "kind": "radiofrequency_denervation",
        "start_date": "2025-08-01",
        "relief_percent": 80,
        "relief_duration_months": 4,
    }
    result = _facet(rf)
    assert result.option(Option.FACET_INTERVENTION).verdict is Verdict.MAY_BE_APPROPRIATE
    (repeat,) = [a for a in result.actions if a.code is A.REPEAT_RADIOFREQUENCY]
    assert repeat.discuss_at_mdt
    assert "not a failure" in repeat.reason


def test_radiofrequency_beside_an_implanted_stimulator_carries_the_device_precaution() -> None:
    rf = {
        "kind": "radiofrequency_denervation",
        "start_date": "2025-06-01",
        "relief_percent": 80,
        "relief_duration_months": 9,
    }
    implant = {"kind": "scs_implant", "start_date": "2024-01-10", "relief_percent": 70}
    result = _facet(rf, implant)
    assert A.REPEAT_RADIOFREQUENCY in result.action_codes()
    assert "device_precaution" in {w.key for w in result.warnings}


def test_a_treatment_tried_without_effect_is_kept_and_marked_reassess() -> None:
    tried = {"kind": "trigger_zone_treatment", "start_date": "2025-05-01", "benefit": False}
    result = evaluate(
        patched(
            {"examination": {"myofascial_trigger_zones": True}, "treatments": [EXERCISE, tried]}
        )
    )
    (action,) = [a for a in result.actions if a.code is A.TRIGGER_ZONE_TREATMENT]
    assert "tried on 1 May 2025 without effect: reassess" in action.reason


def _record(patch: dict[str, Any]) -> PatientRecord:
    return PatientRecord.model_validate(patched(patch))
