"""Records as a FHIR Bulk Data export: one NDJSON file per resource type and a manifest.

The shape a health system's ``$export`` leaves on disk (Bulk Data Access IG
1.0/2.0: an export manifest whose ``output`` lists one file per resource type,
each a resource per line). Used for synthetic exports, so that screening an
export can be compared patient by patient with evaluating the same records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from ..record import PatientRecord
from .writing import bundle_from_record

__all__ = ["MANIFEST", "write_bulk_export"]

#: The export manifest's file name in an export directory.
MANIFEST = "manifest.json"


def write_bulk_export(
    records: Iterable[PatientRecord],
    directory: Path,
    *,
    transaction_time: date,
    patients: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, int]:
    """Write the records' resources as a Bulk Data export; returns the count per type.

    Args:
        records: The records; each needs a ``patient_id`` (its Patient's id).
        directory: Created if missing; ``<Type>.ndjson`` files and ``manifest.json``.
        transaction_time: The export's ``transactionTime``, which a screen of the
            export takes as the assessment date.
        patients: Extra Patient elements (name, birthDate) by patient id.

    Raises:
        ValueError: a record has no ``patient_id``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, TextIO] = {}
    counts: dict[str, int] = {}
    try:
        for record in records:
            if record.patient_id is None:
                raise ValueError("every record of a bulk export needs a patient_id")
            extra = (patients or {}).get(record.patient_id)
            bundle = bundle_from_record(record, patient=extra)
            for entry in bundle["entry"]:
                resource = entry["resource"]
                kind = resource["resourceType"]
                if kind not in files:
                    files[kind] = (directory / f"{kind}.ndjson").open("w", encoding="utf-8")
                files[kind].write(json.dumps(resource, separators=(",", ":")) + "\n")
                counts[kind] = counts.get(kind, 0) + 1
    finally:
        for handle in files.values():
            handle.close()
    manifest = {
        "transactionTime": f"{transaction_time.isoformat()}T00:00:00Z",
        "request": "urn:fbss-pathway:synthetic/$export",
        "requiresAccessToken": False,
        "output": [
            {"type": kind, "url": f"{kind}.ndjson", "count": counts[kind]}
            for kind in sorted(counts)
        ],
        "error": [],
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts
