"""Defects of the analgesic advice before issue 22, each held by a claim (pathway.md 5.2)."""

from __future__ import annotations

from typing import Any

from fbss_pathway import evaluate

from .helpers import patched

ON_OXYCODONE = {"medicines": {"opioids": [{"ingredient": "oxycodone", "daily_dose_mg": 20}]}}


def _texts(record: dict[str, Any]) -> list[str]:
    result = evaluate(patched(record), ladder=False)
    return [a.reason for a in result.actions] + [w.message for w in result.warnings]


def test_the_analgesic_advice_is_printed_once() -> None:
    for record in ({}, ON_OXYCODONE):
        texts = " | ".join(_texts(record))
        assert texts.count("back-muscle training is the base of every stage") == 1, record
        assert texts.count("do not stop it abruptly") <= 1, record


def test_a_patient_on_an_opioid_is_not_told_not_to_start_one() -> None:
    texts = " | ".join(_texts(ON_OXYCODONE))
    assert "do not start opioids" not in texts
    assert "do not stop it abruptly" in texts
    assert "do not start opioids" in " | ".join(_texts({}))


def test_an_opioid_stopped_in_2019_gives_no_review_and_taper_today() -> None:
    course_2019 = {
        "kind": "analgesics",
        "start_date": "2019-01-07",
        "duration_weeks": 20,
        "opioid": True,
        "benefit": False,
        "side_effects": "severe",
    }
    base = patched({})
    record = {"treatments": [*base["treatments"], course_2019]}
    result = evaluate(patched(record), ladder=False)
    assert "opioid_review" not in result.action_codes()
    assert not any("taper" in text for text in _texts(record))
