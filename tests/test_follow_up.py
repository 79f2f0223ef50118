"""Follow-up dates (pathway.md 10): each item, its boundaries, day clamping and overdue dates.

The base patient (tests/rule_cases/base.toml) is assessed on 2026-10-01, operated
long ago, with no opioid, no RF, no implant and no mood treatment: it has no date.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import PatientRecord, evaluate, load_ruleset
from fbss_pathway.explain.follow_up import ITEM_WORDS, next_reassessment, reassess_line
from fbss_pathway.follow_up import INTERVALS, exercise_trial_end
from fbss_pathway.recommendation import Reassessment
from fbss_pathway.ruleset import default_rules_path
from fbss_pathway.vocabulary import ReassessItem

from .helpers import patched

ASSESSED = date(2026, 10, 1)
OPERATION = {"kind": "decompression_discectomy", "levels": ["L4-L5"]}


def _dates(patch: dict[str, Any]) -> dict[str, Reassessment]:
    result = evaluate(patched(patch), ladder=False)
    found = {str(r.item): r for r in result.reassess}
    assert len(found) == len(result.reassess), "one date per item"
    return found


def _operated(day: str, assessed: str = "2026-10-01") -> dict[str, Any]:
    return {"assessment_date": assessed, "operations": [{"date": day, **OPERATION}]}


def test_the_base_patient_has_no_follow_up_date() -> None:
    assert evaluate(patched({}), ladder=False).reassess == ()


# -- psps_threshold (pathway.md 1) -------------------------------------------------


def test_psps_threshold_is_three_calendar_months_after_the_last_operation() -> None:
    found = _dates(_operated("2026-07-02"))
    assert found["psps_threshold"].due == date(2026, 10, 2)
    assert found["psps_threshold"].source == "thomson2013"
    assert not found["psps_threshold"].overdue


def test_psps_threshold_reached_on_its_date_is_not_listed() -> None:
    assert "psps_threshold" not in _dates(_operated("2026-07-01"))


@pytest.mark.parametrize(
    ("operated", "assessed", "due"),
    [
        ("2025-11-30", "2026-01-15", date(2026, 2, 28)),  # clamped to February's end
        ("2023-11-30", "2024-01-15", date(2024, 2, 29)),  # a leap year
        ("2026-05-31", "2026-07-01", date(2026, 8, 31)),
        ("2026-08-31", "2026-09-01", date(2026, 11, 30)),
    ],
)
def test_psps_threshold_clamps_the_day_to_the_month_end(
    operated: str, assessed: str, due: date
) -> None:
    patch = {**_operated(operated, assessed), "treatments": []}
    assert _dates(patch)["psps_threshold"].due == due


def test_psps_threshold_counts_from_the_last_of_several_operations() -> None:
    patch = _operated("2026-08-15")
    patch["operations"] = [{"date": "2024-01-01", **OPERATION}, *patch["operations"]]
    assert _dates(patch)["psps_threshold"].due == date(2026, 11, 15)


def test_a_site_threshold_moves_the_date(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_path(), rules)
    parameters = rules / "parameters.toml"
    text = parameters.read_text()
    parameters.write_text(
        text.replace(
            "[fbss_min_months_after_surgery]\nvalue = 3",
            "[fbss_min_months_after_surgery]\nvalue = 6",
        )
    )
    result = evaluate(patched(_operated("2026-07-02")), ruleset=load_ruleset(rules))
    assert {str(r.item): r.due for r in result.reassess}["psps_threshold"] == date(2027, 1, 2)


def test_a_rule_set_without_an_interval_gives_no_date_of_that_kind(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_path(), rules)
    parameters = rules / "parameters.toml"
    text = parameters.read_text()
    start = text.index("[opioid_review_months]")
    end = text.index("[mood_rescreen_weeks]")
    parameters.write_text(text[:start] + text[end:])
    patch = {"treatments": [{"kind": "analgesics", "opioid": True}]}
    result = evaluate(patched(patch), ruleset=load_ruleset(rules))
    assert "opioid_review" not in {str(r.item) for r in result.reassess}
    assert "opioid_review" in _dates(patch)


# -- pain_six_months -----------------------------------------------------------------


def test_six_months_of_pain_counts_calendar_months_from_the_assessment() -> None:
    found = _dates({"pain": {"duration_months": 4}})
    assert found["pain_six_months"].due == date(2026, 12, 1)
    assert found["pain_six_months"].source == "nice_ta159"


def test_six_months_of_pain_reached_or_unknown_gives_no_date() -> None:
    assert "pain_six_months" not in _dates({"pain": {"duration_months": 6}})
    assert "pain_six_months" not in _dates({"pain": {"duration_months": "<unknown>"}})


def test_a_fraction_of_a_month_never_brings_the_date_forward() -> None:
    # 4.5 months of pain: 1.5 months to go; half a month is at most 15.5 days, so 16.
    assert _dates({"pain": {"duration_months": 4.5}})["pain_six_months"].due == date(2026, 11, 17)
    assert _dates({"pain": {"duration_months": 5.99}})["pain_six_months"].due == date(2026, 10, 2)


def test_six_months_of_pain_clamps_the_day() -> None:
    patch: dict[str, Any] = {"assessment_date": "2025-08-31", "pain": {"duration_months": 0}}
    patch["operations"] = [{"date": "2024-01-01", **OPERATION}]
    patch["treatments"] = []
    assert _dates(patch)["pain_six_months"].due == date(2026, 2, 28)


# -- exercise_trial_end --------------------------------------------------------------


def _exercise(start: str, weeks: float | None = None) -> dict[str, Any]:
    programme: dict[str, Any] = {"kind": "exercise_therapy", "start_date": start}
    if weeks is not None:
        programme["duration_weeks"] = weeks
    return {"treatments": [programme]}


def test_the_exercise_trial_ends_twelve_weeks_after_it_began() -> None:
    found = _dates(_exercise("2026-09-01", 4))
    assert found["exercise_trial_end"].due == date(2026, 11, 24)
    assert found["exercise_trial_end"].source == "cohen2020"


def test_an_exercise_trial_ending_today_is_over_and_one_ending_tomorrow_is_not() -> None:
    # A date on the assessment day is not in the future: the trial is judged today.
    assert "exercise_trial_end" not in _dates(_exercise("2026-07-09"))
    assert _dates(_exercise("2026-07-10"))["exercise_trial_end"].due == date(2026, 10, 2)


def test_weeks_recorded_so_far_do_not_end_the_trial_early() -> None:
    # Safer reading: a short recorded length cannot tell a stopped programme from one
    # going on; the date is kept.
    assert _dates(_exercise("2026-09-01", 2))["exercise_trial_end"].due == date(2026, 11, 24)


def test_only_the_exercise_after_the_last_operation_counts() -> None:
    patch = {**_operated("2026-09-10"), **_exercise("2026-08-01")}
    assert _dates(patch)["exercise_trial_end"].due == date(2026, 12, 3)


def test_a_programme_over_before_the_last_operation_is_no_trial_under_way() -> None:
    # Its recorded weeks ended before the operation: no exercise since it (0 weeks, as the
    # facts say), so no trial end is invented from the operation's date (an MDT review).
    long_ago = {**_operated("2026-09-10"), **_exercise("2024-07-01", 16)}
    assert "exercise_trial_end" not in _dates(long_ago)
    just_before = {**_operated("2026-09-10"), **_exercise("2026-08-01", 4)}  # to 29 Aug
    assert "exercise_trial_end" not in _dates(just_before)
    # Recorded weeks that reach past the operation: the part after it counts, as before.
    across = {**_operated("2026-09-10"), **_exercise("2026-08-01", 8)}  # to 26 Sep
    assert _dates(across)["exercise_trial_end"].due == date(2026, 12, 3)


def test_an_undated_programme_gives_no_trial_end() -> None:
    patch = {"treatments": [{"kind": "exercise_therapy", "duration_weeks": 4}]}
    assert "exercise_trial_end" not in _dates(patch)


def test_the_trial_end_is_one_function_of_the_record() -> None:
    patient = PatientRecord.model_validate(patched(_exercise("2026-09-01")))
    assert exercise_trial_end(patient, 12) == (date(2026, 11, 24), date(2026, 9, 1))
    assert exercise_trial_end(patient, 2) is None


# -- rf_review ------------------------------------------------------------------------


def _rf(start: str) -> dict[str, Any]:
    return {
        "treatments": [
            {"kind": "exercise_therapy", "start_date": "2024-07-01", "duration_weeks": 16},
            {"kind": "radiofrequency_denervation", "start_date": start},
        ]
    }


@pytest.mark.parametrize(
    ("done", "due"),
    [
        ("2026-09-01", date(2026, 12, 1)),  # 3 months
        ("2026-07-02", date(2026, 10, 2)),  # 3 months, due tomorrow
        ("2026-07-01", date(2027, 1, 1)),  # 3 months due today (this assessment): 6 months
        ("2026-06-30", date(2026, 12, 30)),  # 3 months passed: the 6-month review
    ],
)
def test_rf_is_reviewed_at_three_and_six_months(done: str, due: date) -> None:
    found = _dates(_rf(done))
    assert found["rf_review"].due == due
    assert not found["rf_review"].overdue


def test_rf_after_both_reviews_has_no_date() -> None:
    assert "rf_review" not in _dates(_rf("2026-03-31"))
    assert "rf_review" not in _dates(_rf("2026-04-01"))  # the 6-month review is today


def test_rf_review_clamps_the_day() -> None:
    assert _dates(_rf("2026-08-31"))["rf_review"].due == date(2026, 11, 30)


# -- implant_review -----------------------------------------------------------------


def _implant(start: str) -> dict[str, Any]:
    return {
        "treatments": [
            {"kind": "scs_trial", "start_date": "2010-01-01", "relief_percent": 60},
            {"kind": "scs_implant", "start_date": start, "relief_percent": 60},
        ]
    }


@pytest.mark.parametrize(
    ("done", "due"),
    [
        ("2026-09-15", date(2026, 10, 15)),  # 1 month
        ("2026-08-31", date(2026, 11, 30)),  # 1 month passed: 3 months, clamped
        ("2026-05-01", date(2026, 11, 1)),  # 6 months
        ("2026-03-31", date(2027, 3, 31)),  # 6 months passed: 12 months
        ("2025-10-01", date(2027, 10, 1)),  # 12 months due today: then yearly
        ("2025-09-30", date(2027, 9, 30)),  # then yearly: 24 months
        ("2016-02-29", date(2027, 2, 28)),  # yearly for a decade, clamped in a common year
        ("2011-10-02", date(2026, 10, 2)),
    ],
)
def test_an_implant_is_reviewed_at_1_3_6_12_months_then_yearly(done: str, due: date) -> None:
    found = _dates(_implant(done))
    assert found["implant_review"].due == due


def test_an_implant_review_names_its_months() -> None:
    why = _dates(_implant("2026-05-01"))["implant_review"].why
    assert why.startswith("6 months after the spinal cord stimulator was implanted on 1 May 2026")


# -- opioid_review -------------------------------------------------------------------

OPIOID = {"kind": "analgesics", "opioid": True}


def test_an_opioid_is_reviewed_three_months_after_the_assessment() -> None:
    found = _dates({"treatments": [OPIOID]})
    assert found["opioid_review"].due == date(2027, 1, 1)
    assert found["opioid_review"].source == "cdc2016"
    assert "this assessment" in found["opioid_review"].why
    assert not found["opioid_review"].overdue


def test_the_last_opioid_review_on_record_sets_the_date() -> None:
    found = _dates({"treatments": [OPIOID], "medicines": {"last_opioid_review": "2026-08-31"}})
    assert found["opioid_review"].due == date(2026, 11, 30)
    assert not found["opioid_review"].overdue
    assert "31 Aug 2026" in found["opioid_review"].why


def test_an_opioid_review_due_today_is_not_overdue_and_one_day_later_is() -> None:
    today = _dates({"treatments": [OPIOID], "medicines": {"last_opioid_review": "2026-07-01"}})
    assert today["opioid_review"].due == ASSESSED
    assert not today["opioid_review"].overdue
    late = _dates({"treatments": [OPIOID], "medicines": {"last_opioid_review": "2026-06-30"}})
    assert late["opioid_review"].due == date(2026, 9, 30)
    assert late["opioid_review"].overdue
    assert "overdue" in late["opioid_review"].why


def test_no_opioid_no_opioid_review() -> None:
    assert "opioid_review" not in _dates({"treatments": [{"kind": "analgesics", "opioid": False}]})
    assert "opioid_review" not in _dates({"medicines": {"last_opioid_review": "2026-01-01"}})


# -- mood_rescreen -------------------------------------------------------------------


def test_mood_is_rescreened_eight_weeks_after_treatment_starts() -> None:
    found = _dates({"psychosocial": {"mood_treatment_start": "2026-09-01"}})
    assert found["mood_rescreen"].due == date(2026, 10, 27)
    assert not found["mood_rescreen"].overdue


def test_no_mood_treatment_start_no_rescreen() -> None:
    assert "mood_rescreen" not in _dates({"psychosocial": {"phq9": 12, "phq9_item9": 0}})


def test_scores_on_or_after_the_due_date_are_the_rescreen() -> None:
    patch = {
        "psychosocial": {
            "mood_treatment_start": "2026-08-01",
            "phq9_date": "2026-09-26",
            "gad7_date": "2026-09-26",
        }
    }
    assert "mood_rescreen" not in _dates(patch)


def test_a_rescreen_past_due_without_new_scores_is_overdue() -> None:
    patch = {
        "psychosocial": {
            "mood_treatment_start": "2026-08-01",
            "phq9_date": "2026-09-25",
            "gad7_date": "2026-09-30",
        }
    }
    found = _dates(patch)
    assert found["mood_rescreen"].due == date(2026, 9, 26)
    assert found["mood_rescreen"].overdue


def test_a_rescreen_past_due_with_no_scores_at_all_is_overdue() -> None:
    patch = {
        "psychosocial": {
            "mood_treatment_start": "2026-08-01",
            "phq9": "<unknown>",
            "phq9_item9": "<unknown>",
            "gad7": "<unknown>",
        }
    }
    assert _dates(patch)["mood_rescreen"].overdue


# -- the list --------------------------------------------------------------------------


def test_dates_come_earliest_first_with_overdue_ones_at_the_top() -> None:
    patch = {
        **_operated("2026-08-30"),
        "pain": {"duration_months": 2},
        "treatments": [OPIOID, {"kind": "radiofrequency_denervation", "start_date": "2026-07-15"}],
        "medicines": {"last_opioid_review": "2026-06-01"},
        "psychosocial": {"mood_treatment_start": "2026-09-20"},
    }
    result = evaluate(patched(patch), ladder=False)
    dues = [r.due for r in result.reassess]
    assert dues == sorted(dues)
    assert [str(r.item) for r in result.reassess] == [
        "opioid_review",
        "rf_review",
        "mood_rescreen",
        "psps_threshold",
        "pain_six_months",
    ]
    assert result.reassess[0].overdue
    assert next_reassessment(result.reassess) == result.reassess[0]


def test_every_item_has_words_and_an_interval() -> None:
    assert set(ITEM_WORDS) == set(ReassessItem) == set(INTERVALS)
    parameters = load_ruleset().parameters
    assert all(INTERVALS[item] in parameters for item in ReassessItem)


def test_a_line_names_the_date_and_the_item() -> None:
    found = _dates({"treatments": [OPIOID], "medicines": {"last_opioid_review": "2026-06-01"}})
    assert reassess_line(found["opioid_review"]) == "1 Sep 2026 · Opioid review (overdue)"


def test_why_names_no_record_field() -> None:
    patch = {
        **_operated("2026-08-30"),
        "treatments": [OPIOID, {"kind": "scs_implant", "start_date": "2026-09-01"}],
        "psychosocial": {"mood_treatment_start": "2026-09-20"},
    }
    for reassessment in evaluate(patched(patch), ladder=False).reassess:
        assert "_" not in reassessment.why, reassessment.why


def test_the_ladder_does_not_change_the_dates() -> None:
    patch = {"treatments": [OPIOID], "pain": {"duration_months": 3}}
    assert evaluate(patched(patch)).reassess == evaluate(patched(patch), ladder=False).reassess


def test_the_documented_follow_up_items_are_the_items() -> None:
    text = (Path(__file__).parents[1] / "docs" / "vocabulary.md").read_text()
    section = text.split("## Follow-up items", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert documented == [item.value for item in ReassessItem]
