"""PatientRecord out as a FHIR R4 Bundle, so that every example also ships as FHIR.

Standard codes are used where the mapping has one (LOINC for scores, CPT for
operations and procedures, ATC for analgesic classes); other items use this
library's own code system. Only known items are written: an unknown item has
no resource, so it reads back as unknown. Reading the bundle back with
:func:`~fbss_pathway.fhir.record_from_bundle` gives the same record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ..record import PatientRecord, Treatment, TreatmentKind
from .codes import (
    COMPOSITE_ITEMS,
    DATE_ITEMS,
    EXTENSION,
    LOCAL_SYSTEM,
    RED_FLAG_ITEMS,
    SCALAR_ITEMS,
    CodeEntry,
    CodeMap,
)
from .opioid_writing import opioid_statement, part_extension
from .questionnaire import ANSWER_SYSTEM, DATED_BY
from .reading import default_codes
from .resources import TREATMENT_DETAILS

__all__ = ["bundle_from_record"]

_SNOMED = "http://snomed.info/sct"


def bundle_from_record(
    record: PatientRecord,
    *,
    codes: CodeMap | None = None,
    patient: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle with everything the record knows.

    The bundle's ``timestamp`` carries the assessment date.

    Args:
        record: The record.
        codes: The code mapping; the packaged codes by default.
        patient: Elements of the Patient resource the record does not hold
            (``name``, ``birthDate``, ``gender``), e.g. so that an EHR sandbox
            can list an example patient by name.
    """
    codes = codes or default_codes()
    patient = {**(patient or {}), "resourceType": "Patient"}
    if record.patient_id is not None:
        patient["id"] = record.patient_id
    name = f"fbss-pathway:patient:{record.patient_id or ''}"
    reference = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
    # As an EHR refers to its patients; a patient without an id by the entry's fullUrl.
    subject = {"reference": f"Patient/{record.patient_id}" if record.patient_id else reference}
    resources: list[dict[str, Any]] = [patient]
    assessed = record.assessment_date.isoformat()
    items = record.model_dump(mode="json")
    for item in SCALAR_ITEMS:
        value = _value(items, item)
        if value is not None:
            # A score is dated by its own date, a red flag by its screen's (pathway.md 3.2).
            dated = _value(items, DATED_BY[item]) if item in _DATED else None
            resources.append(_observation(codes, item, value, subject, dated or assessed))
    for item in COMPOSITE_ITEMS:
        value = _value(items, item)
        if value is not None:  # the suicide-risk assessment: outcome, on its date
            assessment = _observation(codes, item, value["outcome"], subject, value["date"])
            assessment.pop("valueString")
            assessment["valueCodeableConcept"] = _concept(ANSWER_SYSTEM, value["outcome"])
            resources.append(assessment)
    for operation in record.operations:
        entry = codes.first("procedure", operation=operation.kind)
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "status": "completed",
            "code": _coded(entry, f"operation.{operation.kind}"),
            "subject": subject,
            "performedDateTime": operation.date.isoformat(),
        }
        if operation.levels:
            resource["bodySite"] = [{"text": level} for level in operation.levels]
        resources.append(resource)
    resources += [_treatment(codes, treatment, subject) for treatment in record.treatments]
    resources += [opioid_statement(use, subject) for use in record.medicines.opioids]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": f"{assessed}T00:00:00Z",
        "entry": [
            {"fullUrl": reference, "resource": patient},
            *({"resource": resource} for resource in resources[1:]),
        ],
    }


#: Items written with the date of another item as the observation's date.
_DATED = frozenset(
    {"psychosocial.phq9", "psychosocial.phq9_item9", "psychosocial.gad7", *RED_FLAG_ITEMS}
)


def _value(items: dict[str, Any], item: str) -> Any:
    *groups, name = item.split(".")  # psychosocial.factors.secondary_gain: two groups
    for group in groups:
        items = items.get(group) or {}
    return items.get(name)


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _coded(entry: CodeEntry | None, local_code: str) -> dict[str, Any]:
    """The mapping's code when it has one, else this library's own."""
    return _concept(entry.system, entry.code) if entry else _concept(LOCAL_SYSTEM, local_code)


def _observation(
    codes: CodeMap, item: str, value: Any, subject: dict[str, str], assessed: str
) -> dict[str, Any]:
    entry = codes.first("observation", item=item)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": _coded(entry, item),
        "subject": subject,
        "effectiveDateTime": assessed,
    }
    if entry is not None and entry.body_site is not None:
        resource["bodySite"] = _concept(_SNOMED, entry.body_site)
    if item in DATE_ITEMS:
        resource["valueDateTime"] = value
    elif isinstance(value, bool):
        resource["valueBoolean"] = value
    elif isinstance(value, int):
        resource["valueInteger"] = value
    elif isinstance(value, float):
        resource["valueQuantity"] = {"value": value}
    else:
        resource["valueString"] = str(value)
    return resource


def _treatment(codes: CodeMap, treatment: Treatment, subject: dict[str, str]) -> dict[str, Any]:
    details = treatment.model_dump(mode="json")
    extensions = []
    for suffix, name in TREATMENT_DETAILS.items():
        value = details.get(name)
        if value is None:
            continue
        kind = (
            "valueBoolean"
            if isinstance(value, bool)
            else "valueCode"
            if isinstance(value, str)
            else "valueDecimal"
        )
        extensions.append({"url": f"{EXTENSION}{suffix}", kind: value})
    if treatment.kind is TreatmentKind.ANALGESICS:
        entry = (
            None if treatment.opioid is None else codes.first("medication", opioid=treatment.opioid)
        )
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": _coded(entry, "treatment.analgesics"),
            "subject": subject,
        }
        if treatment.start_date is not None:
            resource["effectivePeriod"] = {"start": treatment.start_date.isoformat()}
        extensions.append(part_extension("treatments"))  # not one of the record's opioids
    else:
        entry = codes.first("procedure", treatment=treatment.kind)
        resource = {
            "resourceType": "Procedure",
            "status": "completed",
            "code": _coded(entry, f"treatment.{treatment.kind}"),
            "subject": subject,
        }
        if treatment.start_date is not None:
            resource["performedPeriod"] = {"start": treatment.start_date.isoformat()}
        if treatment.levels:  # blocks and radiofrequency, read back per level
            resource["bodySite"] = [{"text": level} for level in treatment.levels]
    if extensions:
        resource["extension"] = extensions
    return resource
