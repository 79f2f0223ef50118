"""One way to write a value for people: cards, reports and the reasons rules give."""

from __future__ import annotations

import re

import pytest

from fbss_pathway import evaluate, load_ruleset
from fbss_pathway.cds_hooks.option_card import _criterion
from fbss_pathway.explain.criteria import condition_text, patient_criterion
from fbss_pathway.explain.criteria_view import criterion_plans
from fbss_pathway.explain.templates import render
from fbss_pathway.explain.words import item_label, value_text
from fbss_pathway.facts import FACTS
from fbss_pathway.recommendation import InputValue, LadderCriterion
from fbss_pathway.rules_engine.conditions import Compare
from fbss_pathway.synth import synthetic_cohort


@pytest.mark.parametrize(
    ("fact", "value", "expected"),
    [
        ("back_nrs", 7, "7/10"),
        ("block_relief_percent", 80.0, "80 %"),
        ("months_since_last_operation", 53, "53 months"),
        ("months_since_last_operation", 1, "1 month"),
        ("exercise_weeks", 1, "1 week"),
        ("exercise_weeks", 0, "0 weeks"),
        ("age_years", 61, "61 years"),
        ("phq9", 21, "21"),
        ("radiating_leg_pain", True, "yes"),
        ("exercise_adherence", "poor", "poor"),
        ("psychological_evaluation", "no_concerns", "no concerns"),
        ("block_relief_percent", None, "not recorded"),
    ],
)
def test_a_value_is_written_with_its_unit(fact: str, value: object, expected: str) -> None:
    assert value_text(fact, value) == expected


def test_a_reason_writes_facts_as_cards_do_and_unknown_without_a_unit() -> None:
    parameters = load_ruleset().parameters
    facts = {"back_nrs": 7, "months_since_last_operation": 1}
    text = "back pain {back_nrs}, {months_since_last_operation} after surgery, relief "
    text += "{block_relief_percent} (positive from {block_positive_relief_percent} %)"
    assert render(text, facts, parameters) == (
        "back pain 7/10, 1 month after surgery, relief unknown (positive from 50 %)"
    )


_DOUBLED = re.compile(
    r"/10/10|% ?%|\b(months?|weeks?) (months?|weeks?)\b|(?<![\d.])1 (months|weeks)\b"
)


def test_no_reason_or_warning_writes_a_unit_twice_or_one_months() -> None:
    for record in synthetic_cohort(500, seed=4242):
        result = evaluate(record, ladder=False)
        texts = [a.reason for a in result.actions] + [w.message for w in result.warnings]
        for text in texts:
            assert not _DOUBLED.search(text), text


def test_rule_templates_write_dates_as_people_read_them() -> None:
    from fbss_pathway.explain.templates import render

    text = render("PHQ-9 scored on {phq9_date}", {"phq9_date": "2026-09-03"}, {})
    assert text == "PHQ-9 scored on 3 Sep 2026"  # never the ISO form
    assert render("on {phq9_date}", {}, {}) == "on unknown"


def test_every_record_item_a_fact_reads_is_labelled_in_words_never_as_a_field() -> None:
    # The missing information and the reader's notes name items by these labels: a
    # clinician must never read "daily_dose_mg", "Treatments[scs trial]" or a stray ")".
    for spec in FACTS.values():
        label = item_label(spec.field)
        assert "_" not in label, (spec.field, label)
        assert "[" not in label, (spec.field, label)
        assert label.count("(") == label.count(")"), (spec.field, label)
        assert label.strip(), spec.field


def test_a_treatment_item_is_named_under_its_treatment_without_which_kinds_have_it() -> None:
    assert item_label("treatments[scs_trial, most recent].analgesic_use") == (
        "SCS trial: analgesic use during the trial"
    )
    assert item_label("medicines.opioids[current].daily_dose_mg") == (
        "Opioid in current use: total daily dose in mg (tablets, liquids)"
    )


def test_a_count_wanted_exactly_reads_none_or_exactly_never_a_bare_number() -> None:
    """Found on the cards: "...recorded as severe: 0; needs 0" (a bare number reads as a dose)."""
    none = Compare(fact="severe_psychosocial_factors", op="==", value=0)
    assert condition_text(none, {}).endswith(": none")
    assert patient_criterion(none, {"severe_psychosocial_factors": 2}, {}, {}).endswith(
        ": 2; needs none"
    )
    two = Compare(fact="operation_count", op="==", value=2)
    assert condition_text(two, {}).endswith(": exactly 2")
    field = FACTS["severe_psychosocial_factors"].field
    card = _criterion(
        LadderCriterion(
            text=condition_text(none, {}),
            met=True,
            rule_id="X",
            inputs=(InputValue(field=field, fact="severe_psychosocial_factors", value=0),),
        )
    )
    assert card.endswith(": 0; needs none")
    # Every numeric criterion the packaged rules state reads with words before its number.
    ruleset = load_ruleset()
    for plans in criterion_plans(ruleset):
        for plan in plans:
            assert not re.search(r": -?\d+(\.\d+)?( |;|$)", plan.text), plan.text


def test_weeks_from_dates_are_written_to_a_tenth_never_rounded_up() -> None:
    # 59 days of exercise: 8.43 weeks, written "8.4" (an MDT review read "8.42 weeks").
    assert value_text("exercise_weeks", 8.43) == "8.4 weeks"
    # Just short of the 12-week trial: cut, never rounded up to the threshold it misses.
    assert value_text("exercise_weeks", 11.96) == "11.9 weeks"
    assert value_text("exercise_weeks", 12) == "12 weeks"
    assert value_text("exercise_weeks", 1.0) == "1 week"
