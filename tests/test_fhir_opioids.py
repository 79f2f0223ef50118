"""Opioids with their doses, read from FHIR into ``medicines.opioids`` (pathway.md 2, 5.2)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from fbss_pathway import PatientRecord
from fbss_pathway.fhir import bundle_from_record, read_bundle
from fbss_pathway.fhir.questionnaire import response_from_record
from fbss_pathway.record import OpioidIngredient, OpioidUse
from fbss_pathway.synth import synthetic_cohort

from .fhir_builders import PATIENT, RXNORM, SCT, bundle
from .helpers import unordered

UCUM = "http://unitsofmeasure.org"
ASSESSED = date(2026, 10, 1)

#: A clinical drug name (RxNorm SCD/SBD style) and a confirmed ingredient CUI for each.
NAMES = {
    "codeine": ("Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet", "2670", 30.0),
    "hydrocodone": (
        "Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet",
        "5489",
        7.5,
    ),
    "hydromorphone": ("HYDROmorphone Hydrochloride 2 MG Oral Tablet", "3423", 2.0),
    "methadone": ("Methadone Hydrochloride 10 MG Oral Tablet", "6813", 10.0),
    "morphine": ("Morphine Sulfate 15 MG Oral Tablet", "7052", 15.0),
    "oxycodone": ("Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet", "7804", 5.0),
    "oxymorphone": ("oxyMORphone Hydrochloride 5 MG Oral Tablet", "7814", 5.0),
    "tapentadol": ("tapentadol 50 MG Oral Tablet", "787390", 50.0),
    "tramadol": ("traMADol Hydrochloride 50 MG Oral Tablet", "10689", 50.0),
    "fentanyl": ("72 HR Fentanyl 0.025 MG/HR Transdermal System", "4337", None),
    "buprenorphine": ("7 DAY Buprenorphine 0.01 MG/HR Transdermal System", "1819", None),
    "other": ("Meperidine Hydrochloride 50 MG Oral Tablet", "6754", 50.0),
}


def opioid(
    display: str | None,
    *,
    code: str | None = None,
    kind: str = "MedicationRequest",
    status: str = "active",
    started: str = "2026-06-01",
    ended: str | None = None,
    dosage: list[dict[str, Any]] | None = None,
    ident: str = "o1",
) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": RXNORM}
    if code is not None:
        coding["code"] = code
    if display is not None:
        coding["display"] = display
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": ident,
        "status": status,
        "subject": {"reference": PATIENT},
        "medicationCodeableConcept": {"coding": [coding]},
    }
    if kind == "MedicationRequest":
        resource["authoredOn"] = started
        if dosage is not None:
            resource["dosageInstruction"] = dosage
    else:
        resource["effectivePeriod"] = {"start": started, **({"end": ended} if ended else {})}
        if dosage is not None:
            resource["dosage"] = dosage
    return resource


def every(hours: float, count: float = 1, unit: str | None = None) -> list[dict[str, Any]]:
    """A dosage: ``count`` (tablets, or in ``unit``) every ``hours`` hours."""
    quantity: dict[str, Any] = {"value": count}
    if unit is not None:
        quantity |= {"unit": unit, "system": UCUM, "code": unit}
    return [
        {
            "timing": {"repeat": {"frequency": 1, "period": hours, "periodUnit": "h"}},
            "doseAndRate": [{"doseQuantity": quantity}],
        }
    ]


def opioids(*resources: dict[str, Any]) -> list[OpioidUse]:
    reading = read_bundle(bundle(*resources))
    assert reading.record is not None
    return reading.record.medicines.opioids


@pytest.mark.parametrize("ingredient", sorted(NAMES))
def test_every_ingredient_is_read_from_its_clinical_drug_name(ingredient: str) -> None:
    display, _, strength = NAMES[ingredient]
    [use] = opioids(opioid(display, dosage=every(6) if strength else None))
    assert use.ingredient == OpioidIngredient(ingredient)
    if strength is not None:  # 1 tablet every 6 hours: 4 a day
        assert use.daily_dose_mg == pytest.approx(4 * strength)


@pytest.mark.parametrize("ingredient", sorted(NAMES))
def test_every_ingredient_is_read_from_its_rxnorm_code_alone(ingredient: str) -> None:
    _, cui, _ = NAMES[ingredient]
    [use] = opioids(opioid(None, code=cui))
    assert use.ingredient == OpioidIngredient(ingredient)
    assert use.daily_dose_mg is None  # no name, no dosage: no strength to work from


def test_a_dose_is_a_count_times_the_strength_times_the_timing() -> None:
    # Synthea's shape: 1 tablet every 4 hours of a 5 mg oxycodone combination product.
    [use] = opioids(opioid(NAMES["oxycodone"][0], dosage=every(4)))
    assert use.daily_dose_mg == 30.0
    [use] = opioids(opioid(NAMES["hydrocodone"][0], dosage=every(12, count=2)))
    assert use.daily_dose_mg == 30.0  # 2 tablets of 7.5 mg twice a day


def test_a_dose_in_mg_needs_no_strength_and_time_of_day_counts() -> None:
    twice = [
        {
            "timing": {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}},
            "doseAndRate": [{"doseQuantity": {"value": 20, "unit": "mg", "system": UCUM}}],
        }
    ]
    [use] = opioids(opioid(None, code="7052", dosage=twice))
    assert use.daily_dose_mg == 40.0


def test_a_liquid_dose_in_ml_uses_the_strength_per_ml() -> None:
    [use] = opioids(opioid("Morphine Sulfate 2 MG/ML Oral Solution", dosage=every(4, 5, "mL")))
    assert use.daily_dose_mg == 60.0


def test_patches_labelled_in_mg_an_hour_are_micrograms_an_hour_not_a_day() -> None:
    every_three_days = [
        {
            "timing": {"repeat": {"frequency": 1, "period": 72, "periodUnit": "h"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "patch"}}],
        }
    ]
    [use] = opioids(opioid(NAMES["fentanyl"][0], dosage=every_three_days))
    assert (use.mcg_per_hour, use.daily_dose_mg) == (25.0, None)
    [use] = opioids(opioid(NAMES["buprenorphine"][0]))  # no dosage: one patch worn
    assert (use.mcg_per_hour, use.daily_dose_mg) == (10.0, None)


def test_as_needed_without_a_maximum_is_unknown_and_reported() -> None:
    reading = read_bundle(bundle(opioid(NAMES["tramadol"][0], dosage=[{"asNeededBoolean": True}])))
    assert reading.record is not None
    [use] = reading.record.medicines.opioids
    assert use.daily_dose_mg is None
    assert reading.unreadable == {
        "medicines.opioids[tramadol].opioid_dose": ("MedicationRequest/o1",)
    }
    texts = [w.message for w in reading.warnings()]
    assert any("MedicationRequest/o1" in text for text in texts)


def test_as_needed_with_a_maximum_reads_the_maximum() -> None:
    most = [
        {
            "asNeededBoolean": True,
            "maxDosePerPeriod": {
                "numerator": {"value": 8},
                "denominator": {"value": 1, "unit": "d", "code": "d", "system": UCUM},
            },
        }
    ]
    [use] = opioids(opioid(NAMES["tramadol"][0], dosage=most))
    assert use.daily_dose_mg == 400.0  # 8 tablets of 50 mg


def test_a_titration_in_sequence_is_unknown() -> None:
    steps = [{**every(12)[0], "sequence": 1}, {**every(8)[0], "sequence": 2}]
    reading = read_bundle(bundle(opioid(NAMES["morphine"][0], dosage=steps)))
    assert reading.record is not None
    assert reading.record.medicines.opioids[0].daily_dose_mg is None
    assert "medicines.opioids[morphine].opioid_dose" in reading.unreadable


def test_active_is_current_and_stopped_is_stopped_never_in_use() -> None:
    [current] = opioids(opioid(NAMES["morphine"][0], kind="MedicationStatement"))
    assert (current.start_date, current.stop_date) == (date(2026, 6, 1), None)
    ended = opioid(
        NAMES["morphine"][0], kind="MedicationStatement", status="stopped", ended="2026-08-01"
    )
    [stopped] = opioids(ended)
    assert stopped.stop_date == date(2026, 8, 1)
    [completed] = opioids(opioid(NAMES["morphine"][0], status="completed", started="2025-01-02"))
    assert completed.stop_date == date(2025, 1, 2)  # no end: stopped, never in use


def test_entered_in_error_and_other_statuses_set_nothing() -> None:
    for status in ("entered-in-error", "draft", "cancelled", "on-hold", "unknown"):
        reading = read_bundle(bundle(opioid(NAMES["morphine"][0], status=status)))
        assert reading.record is not None
        assert reading.record.medicines.opioids == []
        assert [i.resource for i in reading.ignored] == ["MedicationRequest/o1"]


def test_a_statement_and_a_request_of_one_drug_are_read_once() -> None:
    display = NAMES["oxycodone"][0]
    request = opioid(display, dosage=every(4), ident="r1")
    statement = opioid(display, kind="MedicationStatement", dosage=every(4), ident="s1")
    refill = opioid(display, status="completed", started="2026-04-01", dosage=every(6), ident="r0")
    reading = read_bundle(bundle(request, statement, refill))
    assert reading.record is not None
    [use] = reading.record.medicines.opioids
    assert (use.daily_dose_mg, use.start_date, use.stop_date) == (30.0, date(2026, 4, 1), None)
    assert reading.conflicts == []


def test_conflicting_current_doses_are_unknown_never_summed() -> None:
    display = NAMES["oxycodone"][0]
    reading = read_bundle(
        bundle(
            opioid(display, dosage=every(4), ident="r1"),
            opioid(display, kind="MedicationStatement", dosage=every(12), ident="s1"),
        )
    )
    assert reading.record is not None
    [use] = reading.record.medicines.opioids
    assert use.daily_dose_mg is None
    [conflict] = reading.conflicts
    assert conflict.item == "medicines.opioids[oxycodone].opioid_dose"
    assert conflict.resources == ("MedicationRequest/r1", "MedicationStatement/s1")


def test_courses_far_apart_are_separate_uses() -> None:
    display = NAMES["morphine"][0]
    old = opioid(display, status="stopped", started="2019-01-01", ident="old")
    new = opioid(display, ident="new")
    uses = opioids(old, new)
    assert [(u.start_date, u.stop_date) for u in uses] == [
        (date(2019, 1, 1), date(2019, 1, 1)),
        (date(2026, 6, 1), None),
    ]


def allergy(code: str, system: str = RXNORM, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": PATIENT},
        "code": {"coding": [{"system": system, "code": code}]},
        "recordedDate": "2024-02-03",
        **extra,
    }


def test_an_allergy_is_side_effects_of_the_opioid() -> None:
    [use] = opioids(opioid(NAMES["codeine"][0]), allergy("2670", criticality="high"))
    assert (use.side_effects, use.stop_date) == ("severe", None)
    severe: dict[str, Any] = {"reaction": [{"severity": "severe"}]}
    [use] = opioids(opioid(NAMES["codeine"][0]), allergy("2670", **severe))
    assert use.side_effects == "severe"
    [alone] = opioids(allergy("373529000", SCT, criticality="low"))  # SNOMED CT morphine
    assert (alone.ingredient, alone.side_effects) == ("morphine", "mild")
    assert alone.stop_date == date(2024, 2, 3)  # a stopped use: never in use


def test_an_allergy_refuted_or_about_another_patient_sets_nothing() -> None:
    refuted: dict[str, Any] = {"verificationStatus": {"coding": [{"code": "refuted"}]}}
    assert opioids(allergy("2670", **refuted)) == []
    other = allergy("2670")
    other["patient"] = {"reference": "Patient/someone-else"}
    assert opioids(other) == []


def record_with_opioids() -> PatientRecord:
    data = next(synthetic_cohort(1, seed=7)).model_dump(mode="json")
    data["medicines"] |= {
        "opioids": [
            {"ingredient": "oxycodone", "daily_dose_mg": 30.0, "start_date": "2025-01-01"},
            {
                "ingredient": "fentanyl",
                "mcg_per_hour": 12.5,
                "start_date": "2024-01-01",
                "stop_date": "2024-06-01",
                "benefit": False,
                "side_effects": "severe",
            },
            {"ingredient": "other", "mme_per_day": 40.0},
            {"ingredient": "morphine", "start_date": "2020-03-01", "stop_date": "2020-04-01"},
        ],
        "opioid_taper_under_way": True,
        "past_opioid_overdose": False,
        "suspected_opioid_use_disorder": False,
        "last_opioid_review": "2026-07-01",
    }
    return PatientRecord.model_validate(data)


def test_opioids_survive_a_round_trip_through_a_bundle() -> None:
    record = record_with_opioids()
    written = bundle_from_record(record)
    Bundle.model_validate(written)
    reading = read_bundle(json.dumps(written))
    assert reading.record is not None
    assert unordered(reading.record) == unordered(record)
    assert (reading.ignored, reading.conflicts, reading.unreadable) == ([], [], {})


def test_opioids_and_the_stewardship_items_survive_a_round_trip_through_the_form() -> None:
    record = record_with_opioids()
    response = response_from_record(record, subject=PATIENT)
    reading = read_bundle(bundle(response))
    assert reading.record is not None
    assert unordered(reading.record)["medicines"] == unordered(record)["medicines"]


def test_a_form_group_joins_the_chart_s_opioid_and_names_no_values() -> None:
    form = {
        "resourceType": "QuestionnaireResponse",
        "id": "f1",
        "status": "completed",
        "questionnaire": "urn:fbss-pathway:questionnaire:assessment",
        "subject": {"reference": PATIENT},
        "authored": "2026-09-01",
        "item": [
            {
                "linkId": "medicines",
                "item": [
                    {
                        "linkId": "medicines.opioids",
                        "item": [
                            {
                                "linkId": "medicines.opioids.ingredient",
                                "answer": [{"valueCoding": {"code": "oxycodone"}}],
                            },
                            {
                                "linkId": "medicines.opioids.daily_dose_mg",
                                "answer": [{"valueDecimal": 45.0}],
                            },
                            {
                                "linkId": "medicines.opioids.benefit",
                                "answer": [{"valueBoolean": False}],
                            },
                        ],
                    }
                ],
            }
        ],
    }
    reading = read_bundle(bundle(opioid(NAMES["oxycodone"][0], dosage=every(4)), form))
    assert reading.record is not None
    [use] = reading.record.medicines.opioids
    assert (use.benefit, use.daily_dose_mg) == (False, None)  # 30 mg and 45 mg disagree
    texts = " ".join([w.message for w in reading.warnings()] + [i.reason for i in reading.ignored])
    assert "QuestionnaireResponse/f1" in texts
    for value in ("30", "45", "p1"):
        assert value not in texts


@pytest.mark.parametrize(
    "reference",
    ["Medication/m-oxy", "https://ehr.example/fhir/Medication/m-oxy/_history/3"],
)
def test_an_opioid_named_by_an_absolute_reference_is_read_as_by_a_relative_one(
    reference: str,
) -> None:
    """A Medication without a fullUrl, named by an absolute URL, is the one of that id.

    A review found it read as "medication not in the mapping": the patient seemed to
    take no opioid.
    """
    name, code, _ = NAMES["oxycodone"]
    request = opioid(name, code=code, dosage=every(4))
    medicine = {"resourceType": "Medication", "id": "m-oxy"}
    medicine["code"] = request.pop("medicationCodeableConcept")
    request["medicationReference"] = {"reference": reference}
    reading = read_bundle(bundle(medicine, request), assessment_date=ASSESSED)
    recommendation = reading.evaluate()
    assert recommendation is not None
    assert recommendation.mme_per_day == 45.0  # 5 mg every 4 hours, factor 1.5
