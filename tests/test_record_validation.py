"""Bad records are refused with an error naming the field, never echoing the patient's data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from fbss_pathway import FbssPathwayError, NotARecordError, PatientRecord, evaluate

from .helpers import UNKNOWN, base_record, patched

SECRET_ID = "MRN-7731-SECRET"


def _locs(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("back pain NRS 11", {"pain": {"back_nrs": 11}}, "pain.back_nrs"),
    ("leg pain NRS -1", {"pain": {"leg_nrs": -1}}, "pain.leg_nrs"),
    ("NRS 7.5 is not a whole number", {"pain": {"back_nrs": 7.5}}, "pain.back_nrs"),
    ("NRS as a word", {"pain": {"back_nrs": "severe"}}, "pain.back_nrs"),
    ("PHQ-9 30", {"psychosocial": {"phq9": 30}}, "psychosocial.phq9"),
    ("GAD-7 22", {"psychosocial": {"gad7": 22}}, "psychosocial.gad7"),
    ("Oswestry 101 %", {"oswestry_disability_index": 101}, "oswestry_disability_index"),
    ("negative pain duration", {"pain": {"duration_months": -2}}, "pain.duration_months"),
    (
        "negative exercise duration",
        {"treatments": [{"kind": "exercise_therapy", "duration_weeks": -4}]},
        "treatments.0.duration_weeks",
    ),
    (
        "relief 120 %",
        {"treatments": [{"kind": "scs_trial", "relief_percent": 120}]},
        "treatments.0.relief_percent",
    ),
    ("a minor", {"age_years": 16}, "age_years"),
    ("no spine operation", {"operations": []}, "operations"),
    ("assessment in the future", {"assessment_date": "2999-01-01"}, "assessment_date"),
    (
        "operation after the assessment",
        {"operations": [{"date": "2026-12-01", "kind": "fusion"}], "assessment_date": "2026-10-01"},
        "operations",
    ),
    (
        "treatment dated in the future",
        {"treatments": [{"kind": "medial_branch_block", "start_date": "2026-11-01"}]},
        "treatments",
    ),
    (
        "SCS implant before its trial",
        {
            "treatments": [
                {"kind": "scs_trial", "start_date": "2025-06-01", "relief_percent": 70},
                {"kind": "scs_implant", "start_date": "2025-05-01"},
            ]
        },
        "treatments",
    ),
    (
        "opioid recorded on exercise",
        {"treatments": [{"kind": "exercise_therapy", "opioid": True}]},
        "treatments.0",
    ),
    (
        "unknown operation kind",
        {"operations": [{"date": "2020-01-01", "kind": "spinal_tap"}]},
        "operations.0.kind",
    ),
    (
        "malformed level",
        {"operations": [{"date": "2020-01-01", "kind": "fusion", "levels": ["L4/5"]}]},
        "operations.0.levels.0",
    ),
    ("unknown item", {"pain": {"back_vas": 70}}, "pain.back_vas"),
    (
        "yes/no as a string",
        {"red_flags": {"cauda_equina_signs": "maybe"}},
        "red_flags.cauda_equina_signs",
    ),
    ("missing assessment date", {"assessment_date": UNKNOWN}, "assessment_date"),
    # A yes/no is not a number: pydantic read True as 1 ("leg pain 1/10"; a spec-only review).
    ("yes/no as a pain score", {"pain": {"leg_nrs": True}}, "pain.leg_nrs"),
    ("yes/no as a PHQ-9", {"psychosocial": {"phq9": True}}, "psychosocial.phq9"),
    ("yes/no as months of pain", {"pain": {"duration_months": False}}, "pain.duration_months"),
    (
        "yes/no as relief",
        {"treatments": [{"kind": "scs_trial", "relief_percent": True}]},
        "treatments.0.relief_percent",
    ),
    (
        "relief lasting longer than since the treatment began",
        {
            "assessment_date": "2026-10-01",
            "treatments": [
                {
                    "kind": "radiofrequency_denervation",
                    "start_date": "2026-08-01",
                    "relief_percent": 70,
                    "relief_duration_months": 12,
                }
            ],
        },
        "treatments",
    ),
]


@pytest.mark.parametrize(("why", "patch", "field"), INVALID, ids=[row[0] for row in INVALID])
def test_invalid_record_is_refused_naming_the_field(
    why: str, patch: dict[str, Any], field: str
) -> None:
    data = patched({"patient_id": SECRET_ID, **patch})
    with pytest.raises(ValidationError) as caught:
        evaluate(data)
    assert field in _locs(caught.value), why


@pytest.mark.parametrize(("why", "patch", "field"), INVALID, ids=[row[0] for row in INVALID])
def test_errors_do_not_echo_patient_data(why: str, patch: dict[str, Any], field: str) -> None:
    data = patched({"patient_id": SECRET_ID, **patch})
    with pytest.raises(ValidationError) as caught:
        PatientRecord.model_validate(data)
    text = str(caught.value) + json.dumps(
        caught.value.errors(include_input=False, include_url=False), default=str
    )
    assert SECRET_ID not in text
    for value in ("severe", "maybe", "spinal_tap", "L4/5", "2999-01-01"):
        if value in json.dumps(patch):
            assert value not in text, f"{why}: the input value was echoed"


@pytest.mark.parametrize(("why", "patch", "field"), INVALID, ids=[row[0] for row in INVALID])
def test_no_form_of_the_error_holds_patient_data(
    why: str, patch: dict[str, Any], field: str
) -> None:
    # An outside review: str(error) was clean, but error.errors() and error.json() carried
    # each value as "input", and a check across fields the whole record, patient_id
    # included. A program that logs them would log patient data.
    data = patched({"patient_id": SECRET_ID, **patch})
    for validate in (
        lambda: evaluate(data),
        lambda: PatientRecord.model_validate(data),
        lambda: PatientRecord.model_validate_json(json.dumps(data, default=str)),
        lambda: PatientRecord(**data),
    ):
        with pytest.raises(ValidationError) as caught:
            validate()
        error = caught.value
        text = str(error) + repr(error.errors()) + error.json()
        assert SECRET_ID not in text, why
        for value in ("severe", "maybe", "spinal_tap", "L4/5", "2999-01-01"):
            if value in json.dumps(patch):
                assert value not in text, f"{why}: the input value was echoed"
        assert field in _locs(error), why
        assert all(item["input"] is None for item in error.errors())


def test_unknown_is_accepted_and_stays_unknown() -> None:
    record = PatientRecord.model_validate(
        {"assessment_date": "2026-01-05", "operations": [{"date": "2024-01-01", "kind": "other"}]}
    )
    assert record.pain.back_nrs is None
    assert record.red_flags.cauda_equina_signs is None


def test_measurements_are_kept_to_two_decimals() -> None:
    data = patched({"treatments": [{"kind": "medial_branch_block", "relief_percent": 1e-05}]})
    assert PatientRecord.model_validate(data).treatments[0].relief_percent == 0.0
    assert evaluate(data).stage  # and the engine accepts it


@pytest.mark.parametrize("given", [["not", "a", "record"], None, "{}"], ids=repr)
def test_evaluate_refuses_what_is_not_a_record(given: object) -> None:
    """The library's own error (and a TypeError), naming the type, never the content."""
    with pytest.raises(NotARecordError, match="PatientRecord or a mapping") as caught:
        evaluate(given)  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, FbssPathwayError)
    with pytest.raises(NotARecordError, match="load_ruleset"):
        evaluate(patched({}), ruleset="rules/")  # type: ignore[arg-type]


def test_the_json_schema_is_exportable_and_describes_the_record() -> None:
    schema = PatientRecord.model_json_schema()
    assert {"assessment_date", "operations"} <= set(schema["required"])
    assert "pain" in schema["properties"]
    json.dumps(schema)


def test_a_record_round_trips_through_json() -> None:
    record = PatientRecord.model_validate(base_record())
    assert PatientRecord.model_validate_json(record.model_dump_json()) == record


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"psychosocial": {"phq9": 27, "phq9_item9": 0}}, "phq9_item9"),
        ({"psychosocial": {"phq9": 26, "phq9_item9": 1}}, "phq9_item9"),
        (
            {"red_flags": {"suspected_infection": False, "infection_systemic_signs": True}},
            "infection_systemic_signs",
        ),
    ],
)
def test_contradictory_mood_and_infection_items_are_refused_naming_the_field(
    patch: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field) as caught:
        PatientRecord.model_validate(patched(patch))
    assert "27" not in str(caught.value).split("\n", 1)[1]  # no patient value echoed


def test_a_total_over_24_with_item_9_that_adds_up_is_accepted() -> None:
    PatientRecord.model_validate(patched({"psychosocial": {"phq9": 27, "phq9_item9": 3}}))


def test_relief_as_long_as_the_time_since_the_treatment_is_accepted() -> None:
    """The bound is the months begun since the start: 1 August to 1 October is 2."""
    treatment = {
        "kind": "radiofrequency_denervation",
        "start_date": "2026-08-01",
        "relief_percent": 70,
        "relief_duration_months": 2,
    }
    data = patched({"assessment_date": "2026-10-01", "treatments": [treatment]})
    assert PatientRecord.model_validate(data).treatments[0].relief_duration_months == 2
    late = patched(
        {
            "assessment_date": "2026-10-01",
            "treatments": [{**treatment, "relief_duration_months": 2.5}],
        }
    )
    with pytest.raises(ValidationError):
        PatientRecord.model_validate(late)
