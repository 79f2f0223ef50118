"""The red-flag screen's date as reasons write it (pathway.md 3.2, 11).

An MDT review read "screened 6 Dec 2026" in a card for a patient with no screen
on record, and "screen done within the last 0 months" for one screened that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from fbss_pathway import PatientRecord, evaluate
from fbss_pathway.record import RedFlags

from .helpers import facts_of, patched

#: Every answer of the screen (its date aside).
_FLAGS = tuple(name for name in RedFlags.model_fields if name != "screened_on")


def _facts(red_flags: Mapping[str, object]) -> dict[str, object]:
    return dict(facts_of(PatientRecord.model_validate(patched({"red_flags": red_flags}))))


def test_a_screen_is_dated_as_recorded_else_on_the_assessment_day() -> None:
    assert _facts({"screened_on": "2026-09-14"})["red_flag_screen_date"] == "2026-09-14"
    assert _facts({})["red_flag_screen_date"] == "2026-10-01"  # the base's assessment date


def test_no_flag_answered_and_no_date_is_no_screen_to_date() -> None:
    unanswered = dict.fromkeys(_FLAGS, "<unknown>")
    assert "red_flag_screen_date" not in _facts(unanswered)
    result = evaluate(patched({"red_flags": unanswered, "pain": {"back_nrs": 7}}), ladder=False)
    [held] = [a.reason for a in result.actions if a.code == "complete_red_flag_screen"]
    assert "screened unknown" in held
    assert date(2026, 10, 1).strftime("%b %Y") not in held


def test_reasons_name_the_screen_by_its_day_never_by_months_within() -> None:
    result = evaluate(patched({"red_flags": {"screened_on": "2026-06-10"}}), ladder=False)
    texts = [a.reason for a in result.actions] + [
        reason for option in result.options for reason in option.reasons
    ]
    screen = [text for text in texts if "red-flag screen" in text]
    assert screen
    assert all("within the last" not in text for text in screen)
    assert any("screened 10 Jun 2026" in text for text in screen)
