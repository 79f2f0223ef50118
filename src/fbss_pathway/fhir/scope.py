"""Whose data is this? Resources about another patient are never merged into this one.

The patient is the one the caller names (a CDS Hooks ``context.patientId``), else
the bundle's one Patient. A resource belongs to them when its ``subject``
refers to that Patient by ``Patient/<id>`` (relative or absolute, any history
version), by the Patient entry's ``fullUrl``, or by ``urn:uuid:<id>`` (bundles
such as Synthea's give a Patient whose id is a UUID that fullUrl). A resource with no ``subject``
is read as the bundle's (search results scoped to one patient omit nothing
else); one whose subject cannot be matched is ignored, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .entries import RawEntry
from .errors import FhirError

__all__ = ["PatientScope", "referenced_id"]


class PatientScope:
    """The patient a reading is about, and the test of whether a resource is theirs."""

    def __init__(self, ids: frozenset[str], urls: frozenset[str]) -> None:
        self.ids = ids
        self.urls = urls
        self._verdicts: dict[str, str | None] = {}  # by subject reference: a chart repeats one

    @classmethod
    def of(cls, entries: Iterable[RawEntry], patient_id: str | None) -> PatientScope:
        """The scope from the bundle's Patient entries (or the caller's patient id)."""
        entries = list(entries)
        patients = [entry for entry in entries if entry.type == "Patient"]
        for entry in patients:
            if not isinstance(entry.resource.get("id", ""), str):  # null is not absent
                raise FhirError(f"entry[{entry.number}] (Patient) id: must be a string")
        if patient_id is not None:
            ids = frozenset({patient_id})
        else:
            found = {entry.ident for entry in patients}
            if len(found) > 1:
                raise FhirError(
                    "the bundle holds more than one Patient: name the patient (patient_id)"
                )
            ids = frozenset(i for i in found if isinstance(i, str))
            if not ids and not any(entry.full_url for entry in patients):
                ids = _the_one_referenced(entries)
        urls = frozenset(
            entry.full_url for entry in patients if entry.full_url and entry.ident in ids | {None}
        )
        return cls(ids, urls)

    def is_patient(self, entry: RawEntry) -> bool:
        """Whether a Patient entry is this patient (by id, or by fullUrl when it has no id)."""
        own = entry.ident
        return own in self.ids if own is not None else entry.full_url in self.urls

    def foreign(self, subject: Any) -> str | None:
        """Why a resource with this ``subject`` (as given) is not about this patient, or None."""
        if subject is None:
            return None
        reference = subject.get("reference") if isinstance(subject, dict | Mapping) else None
        if not isinstance(reference, str):
            return "its subject cannot be matched to the patient"
        try:
            return self._verdicts[reference]
        except KeyError:
            verdict = self._verdicts[reference] = self._judge(reference)
            return verdict

    def _judge(self, reference: str) -> str | None:
        if reference in self.urls or reference.removeprefix("urn:uuid:") in self.ids:
            return None
        patient = referenced_id(reference, "Patient")
        if patient is not None:
            return None if patient in self.ids else "about another patient"
        return "its subject is not this patient"


def referenced_id(reference: str, resource_type: str) -> str | None:
    """The id a reference gives a resource of this type, or None when it names another.

    ``Type/<id>``, relative or absolute, of any history version.
    """
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return parts[-1]
    return None


def _the_one_referenced(entries: list[RawEntry]) -> frozenset[str]:
    """With no Patient in the bundle: the one patient its resources refer to."""
    referenced = set()
    for entry in entries:
        subject = entry.subject
        reference = subject.get("reference") if isinstance(subject, Mapping) else None
        patient = referenced_id(reference, "Patient") if isinstance(reference, str) else None
        if patient is not None:
            referenced.add(patient)
    if len(referenced) > 1:
        raise FhirError(
            "the bundle has no Patient and its resources refer to more than one patient: "
            "name the patient (patient_id)"
        )
    return frozenset(referenced)
