"""Stale inputs (pathway.md 10): one ``stale_input`` warning per stale item, with its date.

The base patient is assessed on 2026-10-01 with PHQ-9 and GAD-7 scored that day.
"""

from __future__ import annotations

from typing import Any

from fbss_pathway import Recommendation, evaluate
from fbss_pathway.vocabulary import ActionCode, Option, Verdict

from .helpers import patched

EXERCISE = {
    "kind": "exercise_therapy",
    "start_date": "2024-07-01",
    "duration_weeks": 16,
    "adherence": "good",
}


def _stale(result: Recommendation) -> list[str]:
    return [w.message for w in result.warnings if w.key == "stale_input"]


def _evaluate(patch: dict[str, Any]) -> Recommendation:
    return evaluate(patched(patch), ladder=False)


def test_current_inputs_are_not_stale() -> None:
    assert _stale(_evaluate({})) == []


def test_old_phq9_and_gad7_give_one_warning_each_with_their_dates() -> None:
    result = _evaluate({"psychosocial": {"phq9_date": "2026-06-30", "gad7_date": "2026-05-02"}})
    stale = _stale(result)
    assert len(stale) == 2
    assert stale[0].startswith("PHQ-9 scored on 30 Jun 2026, more than 3 months ago")
    assert stale[1].startswith("GAD-7 scored on 2 May 2026, more than 3 months ago")


def test_a_stale_score_still_counts_outside_scs() -> None:
    # PHQ-9 12 scored 4 months ago: treatment is still recommended on it, with the warning.
    result = _evaluate({"psychosocial": {"phq9": 12, "phq9_date": "2026-06-01"}})
    assert ActionCode.TREAT_DEPRESSION_ANXIETY in result.action_codes()
    assert len(_stale(result)) == 1


def test_an_old_block_is_stale_until_radiofrequency_follows_it() -> None:
    block = {"kind": "medial_branch_block", "start_date": "2026-03-01", "relief_percent": 80}
    stale = _stale(_evaluate({"treatments": [EXERCISE, block]}))
    assert stale == [
        "medial branch block done on 1 Mar 2026, more than 6 months ago: too old to decide "
        "radiofrequency on; a recent block confirms the facet source first"
    ]


def test_an_undated_block_asks_for_its_date() -> None:
    block = {"kind": "medial_branch_block", "relief_percent": 80}
    result = _evaluate({"treatments": [EXERCISE, block]})
    assert _stale(result) == []
    assert any(m.fact == "block_months" for m in result.missing)


def test_an_old_trial_before_an_implant_is_stale() -> None:
    trial = {"kind": "scs_trial", "start_date": "2025-06-01", "relief_percent": 70}
    stale = _stale(_evaluate({"treatments": [EXERCISE, trial]}))
    assert len(stale) == 1
    assert stale[0].startswith("spinal cord stimulation trial done on 1 Jun 2025")


def test_every_stale_item_at_once_gives_four_warnings() -> None:
    patch = {
        "treatments": [
            EXERCISE,
            {"kind": "medial_branch_block", "start_date": "2025-03-01", "relief_percent": 80},
            {"kind": "scs_trial", "start_date": "2025-06-01", "relief_percent": 70},
        ],
        "psychosocial": {"phq9_date": "2026-01-01", "gad7_date": "2026-01-01"},
    }
    result = _evaluate(patch)
    assert len(_stale(result)) == 4
    assert len({w.rule_id for w in result.warnings if w.key == "stale_input"}) == 4


def test_an_old_red_flag_screen_makes_the_flags_unknown_not_a_stale_warning() -> None:
    # pathway.md 3.2: a screen of 30 June is older than 3 months on 1 October.
    patch = {
        "red_flags": {"screened_on": "2026-06-30"},
        "pain": {"back_nrs": 6},
        "findings": {"facet_pain_suspected": True},
    }
    result = _evaluate(patch)
    assert ActionCode.COMPLETE_RED_FLAG_SCREEN in result.action_codes()
    assert result.option(Option.FACET_INTERVENTION).verdict is Verdict.BLOCKED
    assert _stale(result) == []
    current = _evaluate({**patch, "red_flags": {"screened_on": "2026-07-01"}})
    assert ActionCode.COMPLETE_RED_FLAG_SCREEN not in current.action_codes()


def test_a_red_flag_silences_stale_warnings_but_keeps_the_dates() -> None:
    # pathway.md 3.1 keeps only the safety warnings under urgent review; section 10 gives
    # every result its dates (the safer reading: an overdue opioid review stays visible).
    patch = {
        "red_flags": {"cauda_equina_signs": True},
        "psychosocial": {"phq9_date": "2026-06-01"},
        "treatments": [EXERCISE, {"kind": "analgesics", "opioid": True}],
        "medicines": {"last_opioid_review": "2026-01-01"},
    }
    result = _evaluate(patch)
    assert str(result.stage) == "urgent_review"
    assert _stale(result) == []
    assert [(str(r.item), r.overdue) for r in result.reassess] == [("opioid_review", True)]


def test_stale_warnings_name_no_record_field() -> None:
    patch = {
        "treatments": [
            EXERCISE,
            {"kind": "medial_branch_block", "start_date": "2025-03-01", "relief_percent": 80},
            {"kind": "scs_trial", "start_date": "2025-06-01"},
        ],
        "psychosocial": {"phq9_date": "2026-01-01", "gad7_date": "2026-01-01"},
    }
    for message in _stale(_evaluate(patch)):
        assert "_" not in message, message
