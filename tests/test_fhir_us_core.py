"""Charts as EHRs send them (US Core style, as Synthea writes them): read, never crash."""

from __future__ import annotations

from typing import Any

from fbss_pathway.fhir import read_bundle

from .fhir_builders import (
    SCT,
    bundle,
    condition,
    medication,
    observation,
    operation,
    patient,
)

PAIN = "72514-3"
LOWER_BACK, LOWER_LIMB = "37822005", "61685007"


def _encounter_noise() -> list[dict[str, Any]]:
    """What fills a real chart and the pathway does not read."""
    return [
        {"resourceType": "Encounter", "status": "finished", "subject": {"reference": "Patient/p1"}},
        {
            "resourceType": "Immunization",
            "status": "completed",
            "patient": {"reference": "Patient/p1"},
        },
        observation("8867-4", {"valueQuantity": {"value": 72, "unit": "/min"}}),  # heart rate
        condition("444814009", SCT, clinical="resolved"),  # viral sinusitis
        medication("562251", "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet"),
    ]


def test_a_us_core_chart_is_read_item_by_item() -> None:
    data = bundle(
        *_encounter_noise(),
        operation("22612", date="2022-05-20"),
        condition("M96.1"),  # the FBSS diagnosis, ICD-10-CM
        condition("M47.817"),  # facet arthropathy (spondylosis, lumbosacral)
        condition("M96.0", verification="provisional"),  # pseudarthrosis, not confirmed
        observation(PAIN, {"valueInteger": 7}, site=LOWER_BACK),
        observation(PAIN, {"valueQuantity": {"value": 3.5, "unit": "{score}"}}, site=LOWER_LIMB),
        observation(PAIN, {"valueInteger": 6}),  # no body site: the common case
        observation("44261-6", {"valueQuantity": {"value": 11.0}}),
        medication("1049621", "oxyCODONE Hydrochloride 5 MG Oral Tablet", status="stopped"),
        medication("849574", "Naproxen sodium 220 MG Oral Tablet"),
    )
    reading = read_bundle(data)
    record = reading.record
    assert record is not None
    assert record.age_years == 56
    assert [op.kind for op in record.operations] == ["fusion", "decompression_discectomy"]
    assert record.findings.facet_arthropathy is True
    assert record.findings.pseudarthrosis is None
    assert (record.pain.back_nrs, record.pain.leg_nrs) == (7, 4)  # 3.5 rounds half up
    assert record.psychosocial.phq9 == 11
    assert sorted(t.opioid for t in record.treatments if t.opioid is not None) == [False, True]
    reasons = {i.reason for i in reading.ignored}
    assert "pain score without a body site saying back or leg" in reasons
    assert "findings.pseudarthrosis: not confirmed and active, left unknown" in reasons
    assert "medication not in the mapping" in reasons
    assert "resource type not read by the pathway" in reasons


def test_a_child_with_no_operation_is_an_answer_not_an_error() -> None:
    data = bundle(*_encounter_noise(), with_operation=False)
    data["entry"][0]["resource"] = patient(birth_date="2014-06-30")
    reading = read_bundle(data)
    assert reading.record is None
    assert reading.not_applicable == (
        "no completed lumbar spine operation on record",
        "under 18: the pathway is for adults",
    )


def test_a_pain_score_out_of_scale_or_of_the_wrong_type_is_listed_not_fatal() -> None:
    reading = read_bundle(
        bundle(
            observation(PAIN, {"valueInteger": 11}, site=LOWER_BACK),
            observation(PAIN, {"valueString": "severe"}, site=LOWER_LIMB),
            observation("44261-6", {"valueQuantity": {"value": 12.5}}),
        )
    )
    assert reading.record is not None
    assert reading.record.pain.back_nrs is None
    assert sorted(i.reason for i in reading.ignored) == [
        "pain.back_nrs: value outside the item's scale or of the wrong type",
        "pain.leg_nrs: value of the wrong type for the item",
        "psychosocial.phq9: not a whole number on the item's scale",
    ]


def test_an_operation_with_levels_in_free_text_keeps_the_operation() -> None:
    fusion = {**operation("22630"), "bodySite": [{"text": "lumbar spine"}]}
    reading = read_bundle(bundle(fusion))
    assert reading.record is not None
    assert {(op.kind, op.levels) for op in reading.record.operations} == {
        ("decompression_discectomy", None),
        ("fusion", None),
    }
    assert [i.reason for i in reading.ignored] == ["operation levels not in the form L4-L5"]


def test_a_medication_by_reference_is_read_through_the_medication_resource() -> None:
    product = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "7052",
                    "display": "morphine",
                }
            ]
        },
    }
    request = medication("0", "x")
    del request["medicationCodeableConcept"]
    request["medicationReference"] = {"reference": "Medication/m1"}
    reading = read_bundle(bundle(product, request))
    assert reading.record is not None
    assert [t.opioid for t in reading.record.treatments] == [True]


def test_an_operation_dated_after_the_assessment_is_listed() -> None:
    reading = read_bundle(bundle(operation("22612", date="2026-11-01")))
    assert reading.record is not None
    assert len(reading.record.operations) == 1
    assert [i.reason for i in reading.ignored] == ["operation dated after the assessment"]


def test_loinc_without_a_body_site_never_sets_back_or_leg() -> None:
    reading = read_bundle(bundle(observation(PAIN, {"valueInteger": 9})))
    assert reading.record is not None
    assert (reading.record.pain.back_nrs, reading.record.pain.leg_nrs) == (None, None)
    assert [i.reason for i in reading.ignored] == [
        "pain score without a body site saying back or leg"
    ]
