"""Dates given to the year or month only (FHIR allows ``2026`` and ``2026-09``), and none.

Each is read the way that holds a patient back (docs/fhir.md, "Dates to the month or
year"): a red flag counts from the first day its date allows (recent only when every
day it allows is recent; else unknown, confirm whether new), an operation from the last
(so that the 3 months after it are not cut short), a birth date that allows an age
under 18 puts the patient outside the pathway. Found by an outside review: a month-only
cauda equina code read as undated, a month-only operation dropped without a word.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fbss_pathway import RedFlagTier, Stage, Verdict
from fbss_pathway.fhir import read_bundle
from fbss_pathway.fhir.reading import IMPRECISE_DATE_WARNING, STALE_RED_FLAG_WARNING

from .fhir_builders import bundle, condition, flag, observation, operation

CAUDA = "red_flags.cauda_equina_signs"
ASSESSED = date(2026, 10, 1)  # the builders' bundle timestamp


def _facet_chart(*resources: dict[str, Any]) -> dict[str, Any]:
    """An operation in 2024, back pain 7/10 and a facet history: a patient a block suits."""
    return bundle(
        observation("72514-3", {"valueInteger": 7}, site="37822005"),
        flag("findings.facet_pain_suspected", True),
        *resources,
    )


@pytest.mark.parametrize("element", ["recordedDate", "onsetDateTime"])
@pytest.mark.parametrize("when", ["2026-09", "2026-07", "2026-10"])
def test_a_red_flag_coded_to_the_month_within_3_months_counts(element: str, when: str) -> None:
    coded = condition("G83.4")
    coded[element] = when
    reading = read_bundle(bundle(coded))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is True
    assert reading.stale_red_flags == []
    result = reading.evaluate(ladder=False)
    assert result is not None
    assert result.stage is Stage.URGENT_REVIEW
    assert result.red_flag_tiers == (RedFlagTier.EMERGENCY,)


@pytest.mark.parametrize("when", ["2026-06", "2026", "2025-12"])
def test_a_red_flag_whose_date_allows_an_older_day_is_unknown_and_named(when: str) -> None:
    # "2026" allows 1 January: not known to be within 3 months, so it is read as an old
    # code is (pathway.md 3.2): unknown, with a "confirm whether new" warning.
    reading = read_bundle(bundle(condition("G83.4", recorded=when)))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None
    [stale] = reading.stale_red_flags
    assert stale.item == CAUDA
    [warning] = [w for w in reading.warnings() if w.rule_id == STALE_RED_FLAG_WARNING]
    assert "confirm whether new" in warning.message
    assert "without a date" not in warning.message


def test_a_screen_no_to_the_month_clears_like_a_dated_one() -> None:
    reading = read_bundle(bundle(flag(CAUDA, False, when="2026-09")))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is False


def test_an_operation_dated_to_the_month_is_read_as_its_last_day_and_said() -> None:
    reading = read_bundle(_facet_chart(operation(date="2026-09")))
    assert reading.record is not None
    assert max(o.date for o in reading.record.operations) == date(2026, 9, 30)
    result = reading.evaluate(ladder=False)
    assert result is not None
    # Within 3 months of the last operation: every intervention waits (pathway.md 1).
    assert result.stage is Stage.CONSERVATIVE
    facet = next(o for o in result.options if o.option.value == "facet_intervention")
    assert facet.verdict is Verdict.NOT_YET
    [warning] = [w for w in result.warnings if w.rule_id == IMPRECISE_DATE_WARNING]
    assert "2026-09" in warning.message
    assert "30 Sep 2026" in warning.message
    assert "record" in warning.message


def test_an_operation_in_the_assessment_month_is_read_as_the_assessment_day() -> None:
    reading = read_bundle(_facet_chart(operation(date="2026-10")))
    assert reading.record is not None
    assert max(o.date for o in reading.record.operations) == ASSESSED


def test_an_operation_dated_to_the_year_counts_from_its_last_possible_day() -> None:
    reading = read_bundle(_facet_chart(operation(date="2025")))
    assert reading.record is not None
    assert max(o.date for o in reading.record.operations) == date(2025, 12, 31)
    assert any(w.rule_id == IMPRECISE_DATE_WARNING for w in reading.warnings())


def test_an_operation_without_a_date_holds_every_intervention_and_says_why() -> None:
    undated = operation()
    del undated["performedDateTime"]
    undated["performedString"] = "a few weeks ago"
    reading = read_bundle(_facet_chart(undated))
    assert reading.record is not None
    assert max(o.date for o in reading.record.operations) == ASSESSED
    result = reading.evaluate(ladder=False)
    assert result is not None
    assert result.stage is Stage.CONSERVATIVE
    assert "medial_branch_block" not in {a.code.value for a in result.actions}
    [warning] = [w for w in result.warnings if w.rule_id == IMPRECISE_DATE_WARNING]
    assert "without a date" in warning.message
    assert "a few weeks ago" not in warning.message  # free text is never echoed


def test_exact_dates_give_no_imprecise_date_warning() -> None:
    reading = read_bundle(_facet_chart())
    assert not any(w.rule_id == IMPRECISE_DATE_WARNING for w in reading.warnings())


@pytest.mark.parametrize(
    ("born", "outside"),
    [
        ("2012", True),  # 13 or 14
        ("2008-12", True),  # 17
        ("2008", True),  # 17 or 18: possibly a minor
        ("2008-09", False),  # 18 whichever day
        ("1970", False),
    ],
)
def test_a_birth_date_that_allows_an_age_under_18_is_outside_the_pathway(
    born: str, outside: bool
) -> None:
    data = bundle()
    data["entry"][0]["resource"]["birthDate"] = born
    reading = read_bundle(data)
    if outside:
        assert reading.record is None
        assert any("under 18" in why for why in reading.not_applicable)
    else:
        assert reading.record is not None
