"""A Bulk Data export shaped like a health system's: large charts, few operated patients.

A screen's cost is set by the shape of the export, not by the pathway's few
resources: in a health system's export nearly everyone has never had spinal
surgery, and each chart is mostly billing (Claim, ExplanationOfBenefit),
encounters and routine Observations. This writes such an export, seeded and
repeatable, for benchmarks and tests: per patient on average about 190 lines
and 245 KB, in proportions measured on Synthea charts (ExplanationOfBenefit
about a third of the bytes, Observation a third, Claim an eighth; see
``docs/performance.md``), with chart sizes that vary from patient to patient.
A share of the patients (2 % by default) are FBSS patients from
:func:`fbss_pathway.synth.synthetic_cohort`, with lumbar operations coded as
the code mapping reads them (:func:`fbss_pathway.fhir.bundle_from_record`),
and the same routine chart around them. About a fifth are children and one in
fifty has died. Every Patient has a full birth date.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import msgspec

from ..fhir.bulk import MANIFEST
from ..fhir.writing import bundle_from_record
from ..synth import ASSESSMENT_DATE, synthetic_cohort

__all__ = ["write_ehr_export"]

#: Lines a patient has of each routine type, on average (Synthea's 40 example charts).
ROUTINE = {
    "Observation": 95,
    "Claim": 19,
    "ExplanationOfBenefit": 16,
    "Encounter": 16,
    "Immunization": 12,
    "Procedure": 7,
    "Condition": 5,
    "DiagnosticReport": 5,
    "MedicationRequest": 3,
    "CarePlan": 2,
}
_VITALS = [
    ("8302-2", "Body Height", "cm"),
    ("29463-7", "Body Weight", "kg"),
    ("8867-4", "Heart rate", "/min"),
    ("9279-1", "Respiratory rate", "/min"),
    ("2339-0", "Glucose", "mg/dL"),
    ("39156-5", "Body mass index", "kg/m2"),
]
#: Routine procedures and conditions (SNOMED CT) that the code mapping does not read.
_PROCEDURES = [("430193006", "Medication reconciliation"), ("710824005", "Assessment of health")]
_CONDITIONS = [("444814009", "Viral sinusitis"), ("195662009", "Acute viral pharyngitis")]
_LOREM = "Generated routine care for a synthetic patient of the benchmark export. "


def write_ehr_export(
    directory: Path,
    patients: int,
    *,
    seed: int = 2026,
    fbss_share: float = 0.02,
    transaction_time: date = ASSESSMENT_DATE,
) -> dict[str, int]:
    """Write the export (``<Type>.ndjson`` files and ``manifest.json``); the lines per type.

    Patients are ``EHR-<n>``; the FBSS patients keep their synthetic ids
    (``SYNTH-<seed>-<n>``), so that a screen's rows can be checked against them.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, IO[bytes]] = {}
    counts: dict[str, int] = {}
    cohort = synthetic_cohort(patients, seed=seed)
    encode = msgspec.json.Encoder().encode
    try:
        for number in range(patients):
            for resource in _chart(rng, number, cohort, fbss_share, transaction_time):
                kind = resource["resourceType"]
                if kind not in files:
                    files[kind] = (directory / f"{kind}.ndjson").open("wb")
                files[kind].write(encode(resource) + b"\n")
                counts[kind] = counts.get(kind, 0) + 1
    finally:
        for handle in files.values():
            handle.close()
    manifest = {
        "transactionTime": f"{transaction_time.isoformat()}T00:00:00Z",
        "request": "urn:fbss-pathway:ehr-shaped/$export",
        "requiresAccessToken": False,
        "output": [{"type": k, "url": f"{k}.ndjson", "count": counts[k]} for k in sorted(counts)],
        "error": [],
    }
    (directory / MANIFEST).write_bytes(msgspec.json.format(encode(manifest)) + b"\n")
    return counts


def _chart(
    rng: random.Random, number: int, cohort: Iterator[Any], fbss_share: float, today: date
) -> Iterator[dict[str, Any]]:
    size = min(rng.lognormvariate(0, 0.6), 5.0) / 1.2  # charts vary; the mean near 1
    if rng.random() < fbss_share:
        record = next(cohort)
        age = record.age_years or 50
        born = today - timedelta(days=365 * age + 120)
        patient = _patient(rng, record.patient_id, born, died=False)
        bundle = bundle_from_record(record, patient=patient)
        yield from (entry["resource"] for entry in bundle["entry"])
        ident = record.patient_id
    else:
        age = rng.randint(0, 17) if rng.random() < 0.2 else rng.randint(18, 95)
        born = today - timedelta(days=365 * age + rng.randint(0, 364))
        ident = f"EHR-{number:07d}"
        yield _patient(rng, ident, born, died=rng.random() < 0.02)
    subject = {"reference": f"Patient/{ident}"}
    for kind, mean in ROUTINE.items():
        for line in range(max(0, round(rng.gauss(mean, mean / 4) * size))):
            yield _routine(rng, kind, f"{kind[:3].lower()}-{ident}-{line}", subject, today)


def _patient(rng: random.Random, ident: str | None, born: date, *, died: bool) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ident,
        "text": {"status": "generated", "div": f"<div>{_LOREM * 25}</div>"},
        "extension": [
            {
                "url": f"http://hl7.org/fhir/us/core/StructureDefinition/us-core-{name}",
                "valueString": _LOREM,
            }
            for name in ("race", "ethnicity", "birthsex", "birthPlace")
        ],
        "identifier": [
            {"system": f"urn:oid:2.16.840.1.113883.4.{n}", "value": f"{rng.getrandbits(48):x}"}
            for n in range(4)
        ],
        "name": [{"use": "official", "family": "Synthetic", "given": ["Patient"]}],
        "telecom": [{"system": "phone", "value": "555-0100", "use": "home"}],
        "gender": rng.choice(["female", "male"]),
        "birthDate": born.isoformat(),
        "address": [{"line": ["1 Example Street"], "city": "Exampleton", "country": "GB"}],
        "communication": [{"language": {"text": "English"}}],
    }
    if died:
        patient["deceasedDateTime"] = f"{born.year + 60}-01-01T00:00:00Z"
    return patient


def _routine(
    rng: random.Random, kind: str, ident: str, subject: dict[str, str], today: date
) -> dict[str, Any]:
    when = (today - timedelta(days=rng.randint(1, 7000))).isoformat()
    base: dict[str, Any] = {"resourceType": kind, "id": ident, "status": "final"}
    encounter = {"reference": f"Encounter/enc-{ident}"}
    if kind == "Observation":
        code, name, unit = rng.choice(_VITALS)
        return base | {
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": "http://loinc.org", "code": code, "display": name}],
                "text": name,
            },
            "subject": subject,
            "encounter": encounter,
            "effectiveDateTime": when,
            "issued": f"{when}T10:00:00.000Z",
            "valueQuantity": {
                "value": round(rng.uniform(1, 200), 2),
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
            "note": [{"text": _LOREM * 3}],
        }
    if kind in ("Claim", "ExplanationOfBenefit"):
        items = 2 if kind == "Claim" else 12
        return base | {
            "status": "active",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                        "code": "institutional",
                    }
                ]
            },
            "use": "claim",
            "patient": subject,
            "created": when,
            "provider": {"reference": "Organization/org-1", "display": "Example Hospital"},
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicare"}}],
            "item": [
                {
                    "sequence": n,
                    "encounter": [encounter],
                    "productOrService": {
                        "coding": [
                            {
                                "system": "http://snomed.info/sct",
                                "code": "185345009",
                                "display": "Encounter for symptom",
                            }
                        ],
                        "text": _LOREM,
                    },
                    "net": {"value": round(rng.uniform(10, 900), 2), "currency": "USD"},
                    "adjudication": [{"category": {"text": _LOREM}, "amount": {"value": 1.0}}],
                }
                for n in range(1, items + 1)
            ],
            "total": [{"category": {"text": "Submitted Amount"}, "amount": {"value": 99.0}}],
        }
    if kind == "Procedure":
        code, name = rng.choice(_PROCEDURES)
        return base | {
            "status": "completed",
            "code": {
                "coding": [{"system": "http://snomed.info/sct", "code": code, "display": name}],
                "text": name,
            },
            "subject": subject,
            "encounter": encounter,
            "performedPeriod": {"start": f"{when}T10:00:00Z", "end": f"{when}T10:15:00Z"},
            "note": [{"text": _LOREM * 3}],
        }
    if kind == "Condition":
        code, name = rng.choice(_CONDITIONS)
        return base | {
            "clinicalStatus": {"coding": [{"code": "resolved"}]},
            "code": {
                "coding": [{"system": "http://snomed.info/sct", "code": code, "display": name}],
                "text": name,
            },
            "subject": subject,
            "onsetDateTime": f"{when}T10:00:00Z",
            "abatementDateTime": f"{when}T10:00:00Z",
            "note": [{"text": _LOREM * 6}],
        }
    if kind == "MedicationRequest":
        return base | {
            "status": "stopped",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "834061",
                        "display": "Penicillin V",
                    }
                ]
            },
            "subject": subject,
            "authoredOn": when,
            "note": [{"text": _LOREM * 6}],
        }
    extra = {"Encounter": 3, "Immunization": 2, "DiagnosticReport": 8, "CarePlan": 6}[kind]
    who = "patient" if kind == "Immunization" else "subject"
    return base | {
        who: subject,
        "code": {"text": f"routine {kind}"},
        "date": when,
        "text": {"status": "generated", "div": f"<div>{_LOREM * extra}</div>"},
        "participant": [{"individual": {"reference": "Practitioner/pr-1"}}] * (1 + extra),
    }
