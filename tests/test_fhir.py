"""FHIR R4 in and out: standard codes read, unknowns stay unknown, nothing dropped silently."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from fbss_pathway import PatientRecord, evaluate
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import (
    CodeMap,
    CodeMapError,
    FhirError,
    bundle_from_record,
    read_bundle,
    record_from_bundle,
)
from fbss_pathway.synth import synthetic_cohort

from .helpers import unordered

FHIR_EXAMPLES = Path(__file__).parent.parent / "examples" / "fhir"
LOINC, CPT, SCT = "http://loinc.org", "http://www.ama-assn.org/go/cpt", "http://snomed.info/sct"
ICD10, ATC = "http://hl7.org/fhir/sid/icd-10", "http://www.whocc.no/atc"


def _examples() -> list[PatientRecord]:
    return [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    operation = {
        "resourceType": "Procedure",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": CPT, "code": "63030"}]},
        "performedDateTime": "2024-03-01",
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2026-10-01T09:00:00Z",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}}, {"resource": operation}]
        + [{"resource": resource} for resource in resources],
    }


def _observation(code: str, value: dict[str, Any], site: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        **value,
    }
    if site is not None:
        resource["bodySite"] = {"coding": [{"system": SCT, "code": site}]}
    return resource


def test_every_record_survives_a_round_trip_through_fhir() -> None:
    for record in [*_examples(), *synthetic_cohort(150, seed=21)]:
        bundle = bundle_from_record(record)
        Bundle.model_validate(bundle)  # conformant to the R4 (R4B) models
        reading = read_bundle(json.dumps(bundle))
        assert reading.record is not None
        assert unordered(reading.record) == unordered(record)
        assert reading.ignored == []
        assert reading.conflicts == []


def test_the_shipped_fhir_examples_are_current_and_evaluate_alike() -> None:
    people = json.loads((FHIR_EXAMPLES / "patients.json").read_text())
    for path, record in zip(example_paths(), _examples(), strict=True):
        shipped = json.loads((FHIR_EXAMPLES / f"{path.stem}.bundle.json").read_text())
        expected = bundle_from_record(record, patient=people[record.patient_id])
        assert shipped == expected, f"run make fhir-examples ({path.name})"
        Bundle.model_validate(shipped)
        patient = shipped["entry"][0]["resource"]
        assert patient["name"][0]["text"].endswith("(invented)")
        assert record_from_bundle(shipped).age_years == record.age_years
        assert evaluate(record_from_bundle(shipped)) == evaluate(record)


def test_standard_codes_are_read() -> None:
    bundle = _bundle(
        _observation("72514-3", {"valueInteger": 7}, site="37822005"),
        _observation("72514-3", {"valueInteger": 3}, site="61685007"),
        _observation("44261-6", {"valueInteger": 14}),
        _observation("70274-6", {"valueQuantity": {"value": 9}}),
        _observation("97909-6", {"valueQuantity": {"value": 42.5, "unit": "%"}}),
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": ICD10, "code": "M96.1"}]},
        },
        {
            "resourceType": "Procedure",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": CPT, "code": "64493"}]},
            "performedDateTime": "2026-05-01",
        },
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "N02AA01"}]},
        },
    )
    reading = read_bundle(bundle)
    record = reading.record
    assert record is not None
    assert reading.ignored == []
    assert record.patient_id == "p1"
    assert record.assessment_date == date(2026, 10, 1)  # from the bundle's timestamp
    assert (record.pain.back_nrs, record.pain.leg_nrs) == (7, 3)
    assert (record.psychosocial.phq9, record.psychosocial.gad7) == (14, 9)
    assert record.oswestry_disability_index == 42.5
    assert record.operations[0].kind == "decompression_discectomy"
    assert {(t.kind, t.opioid) for t in record.treatments} == {
        ("medial_branch_block", None),
        ("analgesics", True),
    }


def test_items_the_bundle_does_not_contain_stay_unknown() -> None:
    record = record_from_bundle(_bundle())
    assert record.pain.back_nrs is None
    assert record.red_flags.cauda_equina_signs is None  # not "no"
    assert record.treatments == []
    assert all(value is None for value in record.findings.model_dump().values())


def test_a_condition_sets_a_red_flag_and_a_refuted_one_clears_it() -> None:
    def condition(verification: str | None) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": ICD10, "code": "G83.4"}]},
            "recordedDate": "2026-09-20",  # a red flag is about now (pathway.md 3.2)
        }
        if verification is not None:
            resource["verificationStatus"] = {"coding": [{"code": verification}]}
        return resource

    assert record_from_bundle(_bundle(condition(None))).red_flags.cauda_equina_signs is True
    refuted = record_from_bundle(_bundle(condition("refuted")))
    assert refuted.red_flags.cauda_equina_signs is False
    assert evaluate(record_from_bundle(_bundle(condition(None)))).stage == "urgent_review"


def test_what_the_mapping_does_not_know_is_listed_not_dropped() -> None:
    reading = read_bundle(
        _bundle(
            _observation("8867-4", {"valueQuantity": {"value": 70}}),  # heart rate
            _observation("72514-3", {"valueInteger": 6}),  # pain, but no body site
            {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"}},
        )
    )
    assert [(i.entry, i.resource_type) for i in reading.ignored] == [
        (2, "Observation"),
        (3, "Observation"),
        (4, "AllergyIntolerance"),
    ]
    assert reading.record is not None
    assert reading.record.pain.back_nrs is None


def test_a_malformed_bundle_names_the_resource_and_element_not_the_value() -> None:
    bundle = _bundle(_observation("44261-6", {"valueInteger": "SECRET-99"}))
    with pytest.raises(FhirError) as caught:
        read_bundle(bundle)
    message = str(caught.value)
    assert "entry[2] (Observation) valueInteger" in message
    assert "SECRET" not in message


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        ("{not json", "not valid JSON"),
        ({"resourceType": "Patient"}, "expected a FHIR Bundle"),
    ],
)
def test_bundles_that_cannot_be_read(bundle: Any, expected: str) -> None:
    with pytest.raises(FhirError, match=expected):
        read_bundle(bundle)


def test_a_site_adds_local_codes(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[[observation]]\nsystem = "urn:hospital:obs"\ncode = "FACET"\n'
        'item = "findings.facet_arthropathy"\nsource = "local catalogue"\n'
    )
    local = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "urn:hospital:obs", "code": "FACET"}]},
        "valueBoolean": True,
    }
    assert read_bundle(_bundle(local)).ignored  # unknown to the packaged mapping
    record = record_from_bundle(_bundle(local), codes=CodeMap.default().extended(site))
    assert record.findings.facet_arthropathy is True


def test_a_bad_mapping_file_names_the_entry(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[[observation]]\nsystem = "s"\ncode = "c"\nitem = "pain.back_nrz"\nsource = "x"\n'
        '[[procedure]]\nsystem = "s"\ncode = "c"\nsource = "x"\n'
    )
    with pytest.raises(CodeMapError) as caught:
        CodeMap.default().extended(site)
    assert "[[observation]] #1" in str(caught.value)
    assert "[[procedure]] #1" in str(caught.value)
