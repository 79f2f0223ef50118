"""Morphine milligram equivalents a day, checked by hand for every ingredient of the table.

Each expected figure is worked out here from the CDC 2022 factor (pathway.md 5.2),
not read back from the table, so that a changed factor fails a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import PatientRecord, Recommendation, RuleSetError, evaluate, load_ruleset
from fbss_pathway.explain.words import item_label
from fbss_pathway.ruleset import default_rules_path
from fbss_pathway.steps import Step, check_step

from .helpers import patched

#: (ingredient, dose item, dose, MME a day by hand)
HAND_COMPUTED = [
    ("codeine", "daily_dose_mg", 240, 36.0),  # 240 x 0.15
    ("hydrocodone", "daily_dose_mg", 40, 40.0),  # 40 x 1
    ("hydromorphone", "daily_dose_mg", 12, 60.0),  # 12 x 5
    ("methadone", "daily_dose_mg", 20, 94.0),  # 20 x 4.7
    ("morphine", "daily_dose_mg", 60, 60.0),  # 60 x 1
    ("oxycodone", "daily_dose_mg", 30, 45.0),  # 30 x 1.5
    ("oxymorphone", "daily_dose_mg", 20, 60.0),  # 20 x 3
    ("tapentadol", "daily_dose_mg", 200, 80.0),  # 200 x 0.4
    ("tramadol", "daily_dose_mg", 300, 60.0),  # 300 x 0.2
    ("fentanyl", "mcg_per_hour", 25, 60.0),  # 25 mcg/hour x 2.4
]


def _on(*opioids: dict[str, Any], **medicines: Any) -> Any:
    return evaluate(patched({"medicines": {"opioids": list(opioids), **medicines}}), ladder=False)


@pytest.mark.parametrize(("ingredient", "item", "dose", "mme"), HAND_COMPUTED)
def test_each_ingredient_converts_by_its_cdc_factor(
    ingredient: str, item: str, dose: float, mme: float
) -> None:
    assert _on({"ingredient": ingredient, item: dose}).mme_per_day == pytest.approx(mme)


def test_the_table_holds_every_ingredient_the_record_names() -> None:
    table = load_ruleset().mme
    assert {name for name, *_ in HAND_COMPUTED} | {"buprenorphine"} == set(table)
    assert table["buprenorphine"].factor is None
    assert all(row.sources and row.read_in for row in table.values())


def test_current_opioids_are_summed_and_stopped_ones_left_out() -> None:
    result = _on(
        {"ingredient": "oxycodone", "daily_dose_mg": 40},  # 60
        {"ingredient": "codeine", "daily_dose_mg": 60},  # 9
        {"ingredient": "morphine", "daily_dose_mg": 100, "stop_date": "2026-09-30"},  # stopped
    )
    assert result.mme_per_day == pytest.approx(69.0)


def test_a_recorded_mme_is_used_as_given_and_buprenorphine_is_not_converted() -> None:
    result = _on(
        {"ingredient": "other", "mme_per_day": 25},
        {"ingredient": "buprenorphine", "mcg_per_hour": 20},
        {"ingredient": "tramadol", "daily_dose_mg": 100},  # 20
    )
    assert result.mme_per_day == pytest.approx(45.0)
    alone = _on({"ingredient": "buprenorphine", "mcg_per_hour": 20})
    assert alone.mme_per_day is None
    assert not any(m.fact == "mme_per_day" for m in alone.missing)


def test_a_missing_dose_leaves_the_mme_unknown_and_listed_as_missing() -> None:
    result = _on({"ingredient": "morphine", "daily_dose_mg": 30}, {"ingredient": "oxycodone"})
    assert result.mme_per_day is None
    assert [m.field for m in result.missing if m.fact == "mme_per_day"] == [
        "medicines.opioids[current].daily_dose_mg"
    ]


def test_a_fentanyl_dose_in_mg_is_not_converted_as_if_it_were_mcg_an_hour() -> None:
    assert _on({"ingredient": "fentanyl", "daily_dose_mg": 1.2}).mme_per_day is None


def _mme_missing(result: Any) -> list[str]:
    return [m.field for m in result.missing if m.fact == "mme_per_day"]


@pytest.mark.parametrize(
    ("opioids", "lacking"),
    [
        # The dose is recorded but no factor converts it: MME a day is what is missing,
        # never the dose the clinician already gave.
        ([{"ingredient": "other", "daily_dose_mg": 40}], ["mme_per_day"]),
        # A patch's dose given in mg: its factor takes micrograms an hour.
        ([{"ingredient": "fentanyl", "daily_dose_mg": 1.2}], ["mcg_per_hour"]),
        ([{"ingredient": "fentanyl"}], ["mcg_per_hour"]),
        ([{"ingredient": "oxycodone"}], ["daily_dose_mg"]),
        # Two opioids, each short of something different: both named.
        (
            [{"ingredient": "other", "daily_dose_mg": 40}, {"ingredient": "oxycodone"}],
            ["daily_dose_mg", "mme_per_day"],
        ),
        (
            [{"ingredient": "fentanyl"}, {"ingredient": "codeine", "daily_dose_mg": 60}],
            ["mcg_per_hour"],
        ),
        (
            [{"ingredient": "fentanyl"}, {"ingredient": "codeine"}],
            ["daily_dose_mg", "mcg_per_hour"],
        ),
    ],
)
def test_the_missing_mme_names_what_this_patient_lacks(
    opioids: list[dict[str, Any]], lacking: list[str]
) -> None:
    result = _on(*opioids)
    assert result.mme_per_day is None
    assert _mme_missing(result) == [
        ", ".join(f"medicines.opioids[current].{name}" for name in lacking)
    ]
    assert [m.field for m in result.missing] == sorted(m.field for m in result.missing)


def test_the_order_sign_check_names_the_same_missing_mme() -> None:
    record = PatientRecord.model_validate(
        patched({"medicines": {"opioids": [{"ingredient": "other", "daily_dose_mg": 40}]}})
    )
    check = check_step(record, Step.SCS_TRIAL)
    assert _mme_missing(check.recommendation) == ["medicines.opioids[current].mme_per_day"]


def test_the_missing_mme_is_named_in_words_a_clinician_reads() -> None:
    result = _on({"ingredient": "other", "daily_dose_mg": 40})
    [item] = [m for m in result.missing if m.fact == "mme_per_day"]
    words = item_label(item.field)
    assert "morphine milligram equivalents" in words.lower()
    assert "daily dose in mg" not in words.lower()


def _copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    target.mkdir()
    for path in default_rules_path().glob("*.toml"):
        (target / path.name).write_text(path.read_text())
    return target


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("factor = 0.15", "factor = -0.15", "codeine.factor"),
        ('per = "mcg_per_hour"', 'per = "mcg_per_day"', "fentanyl.per"),
        ("[tramadol]", "[tramadole]", "tramadole"),
        ('rxcui = "7052"', "rxcui = 7052", "morphine.rxcui"),
        (
            'sources = ["cdc2022"]\nread_in = "CDC 2022 table (globalrph',
            'sources = ["cdc2021"]\nread_in = "CDC 2022 table (globalrph',
            "codeine.sources",
        ),
    ],
)
def test_a_bad_table_is_refused_naming_the_entry(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    rules = _copy_rules(tmp_path)
    table = rules / "mme.toml"
    text = table.read_text()
    assert old in text
    table.write_text(text.replace(old, new, 1))
    with pytest.raises(RuleSetError) as error:
        load_ruleset(rules)
    assert named in str(error.value)


def test_rules_reading_mme_need_the_table(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    (rules / "mme.toml").unlink()
    with pytest.raises(
        RuleSetError, match=r"reads mme_per_day, but the directory has no mme\.toml"
    ):
        load_ruleset(rules)


def _mme_warning(result: Recommendation) -> str:
    [message] = [w.message for w in result.warnings if w.key in ("mme_caution", "mme_high")]
    return message


def test_the_mme_warning_gives_a_known_total_as_it_is() -> None:
    message = _mme_warning(_on({"ingredient": "oxycodone", "daily_dose_mg": 80}))  # 120
    assert message.startswith("the current opioids come to 120 MME a day (high from 90)")
    assert "at least" not in message
    caution = _mme_warning(_on({"ingredient": "oxycodone", "daily_dose_mg": 40}))  # 60
    assert caution.startswith("the current opioids come to 60 MME a day (caution from 50)")


def test_the_mme_warning_says_when_its_figure_is_only_a_floor() -> None:
    result = _on({"ingredient": "oxycodone", "daily_dose_mg": 80}, {"ingredient": "codeine"})
    assert result.mme_per_day is None
    assert _mme_warning(result).startswith(
        "the current opioids come to at least 120 MME a day, a current dose not known "
        "(high from 90)"
    )
