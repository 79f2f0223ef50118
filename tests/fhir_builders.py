"""Small FHIR R4 resources in the shapes EHRs send (US Core style), for the reader's tests."""

from __future__ import annotations

from typing import Any

from fbss_pathway import PatientRecord
from fbss_pathway.fhir import read_bundle
from fbss_pathway.fhir.reading import BundleReading

LOINC, CPT, SCT = "http://loinc.org", "http://www.ama-assn.org/go/cpt", "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "urn:fbss-pathway:item"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
PATIENT = "Patient/p1"


def patient(patient_id: str = "p1", birth_date: str | None = "1970-05-01") -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
    if birth_date is not None:
        resource["birthDate"] = birth_date
    return resource


def operation(
    code: str = "63030", status: str = "completed", date: str = "2024-03-01", subject: str = PATIENT
) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "status": status,
        "subject": {"reference": subject},
        "code": {"coding": [{"system": CPT, "code": code}]},
        "performedDateTime": date,
    }


def condition(
    code: str,
    system: str = ICD10CM,
    *,
    verification: str | None = "confirmed",
    clinical: str | None = "active",
    recorded: str | None = None,
    subject: str = PATIENT,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "subject": {"reference": subject},
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if verification is not None:
        resource["verificationStatus"] = {
            "coding": [{"system": VERIFICATION, "code": verification}]
        }
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if recorded is not None:
        resource["recordedDate"] = recorded
    return resource


def observation(
    code: str,
    value: dict[str, Any],
    *,
    system: str = LOINC,
    site: str | None = None,
    when: str | None = "2026-09-01",
    status: str = "final",
    subject: str = PATIENT,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "subject": {"reference": subject},
        "code": {"coding": [{"system": system, "code": code}]},
        **value,
    }
    if site is not None:
        resource["bodySite"] = {"coding": [{"system": SCT, "code": site}]}
    if when is not None:
        resource["effectiveDateTime"] = when
    return resource


def flag(item: str, present: bool, when: str | None = "2026-09-01") -> dict[str, Any]:
    """An Observation in this library's own code system saying yes or no to an item."""
    return observation(item, {"valueBoolean": present}, system=LOCAL, when=when)


def medication(
    code: str,
    display: str,
    *,
    kind: str = "MedicationRequest",
    status: str = "active",
    subject: str = PATIENT,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": kind,
        "status": status,
        "subject": {"reference": subject},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        },
    }
    if kind == "MedicationRequest":
        resource["intent"] = "order"
        resource["authoredOn"] = "2026-01-10"
    else:
        resource["effectiveDateTime"] = "2026-01-10"
    return resource


def bundle(*resources: dict[str, Any], with_operation: bool = True) -> dict[str, Any]:
    listed = [patient(), *([operation()] if with_operation else []), *resources]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2026-10-01T09:00:00Z",
        "entry": [{"resource": resource} for resource in listed],
    }


def read(*resources: dict[str, Any]) -> BundleReading:
    """The reading of a bundle of these resources (beside a patient and an operation)."""
    reading = read_bundle(bundle(*resources))
    assert reading.record is not None
    return reading


def read_record(*resources: dict[str, Any]) -> PatientRecord:
    """The record read from a bundle of these resources."""
    record = read(*resources).record
    assert record is not None
    return record
