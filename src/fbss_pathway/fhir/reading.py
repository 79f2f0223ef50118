"""FHIR R4 Bundle in, PatientRecord out.

The bundle is parsed with fhir.resources' R4B models (they read R4 data) at the
boundary; a malformed bundle raises :class:`FhirError` naming the entry, the
resource type and the element. The typed resources are then mapped through a
:class:`CodeMap`. Anything the bundle does not say stays unknown; anything the
mapping does not know is listed in :attr:`BundleReading.ignored`, never dropped
silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from ..errors import FbssPathwayError
from ..record import OperationKind, PatientRecord, TreatmentKind
from .codes import EXTENSION, LOCAL_SYSTEM, SCALAR_ITEMS, CodeEntry, CodeMap, Kind

__all__ = ["BundleReading", "FhirError", "Ignored", "read_bundle", "record_from_bundle"]

_NOT_DONE = {"entered-in-error", "not-done", "stopped", "cancelled", "preliminary", "unknown"}
_TREATMENT_DETAILS = {
    "duration-weeks": "duration_weeks",
    "adherence": "adherence",
    "relief-percent": "relief_percent",
    "relief-duration-months": "relief_duration_months",
    "side-effects": "side_effects",
    "benefit": "benefit",
}


class FhirError(FbssPathwayError, ValueError):
    """A bundle that cannot be read; the message names the resource and element, not values."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A resource, or part of one, that set nothing in the record, and why."""

    entry: int
    resource_type: str
    reason: str


@dataclass(slots=True)
class BundleReading:
    """The record read from a bundle and what was ignored on the way."""

    record: PatientRecord
    ignored: list[Ignored] = field(default_factory=list)


def record_from_bundle(
    bundle: Mapping[str, Any] | str | bytes,
    *,
    assessment_date: date | None = None,
    codes: CodeMap | None = None,
) -> PatientRecord:
    """The patient record a FHIR R4 Bundle describes (see :func:`read_bundle`)."""
    return read_bundle(bundle, assessment_date=assessment_date, codes=codes).record


def read_bundle(
    bundle: Mapping[str, Any] | str | bytes,
    *,
    assessment_date: date | None = None,
    codes: CodeMap | None = None,
) -> BundleReading:
    """Read a FHIR R4 Bundle (a dict or JSON text) into a record, listing what was ignored.

    Args:
        bundle: The bundle, e.g. a CDS Hooks prefetch result or an export.
        assessment_date: The day of the assessment; by default the bundle's
            ``timestamp``, else today.
        codes: The code mapping; the packaged standard codes by default.

    Raises:
        FhirError: the bundle is not valid FHIR, or has no spine operation.
        pydantic.ValidationError: the values read do not make a valid record
            (the error names the record field).
    """
    data = _as_mapping(bundle)
    try:
        parsed = Bundle.model_validate(data)
    except ValidationError as error:
        raise FhirError(_describe(error, data)) from error
    codes = codes or _default_codes()
    reader = _Reader(codes)
    for number, entry in enumerate(parsed.entry or []):
        if entry.resource is not None:
            reader.read(number, entry.resource)
    if assessment_date is None:
        assessment_date = parsed.timestamp.date() if parsed.timestamp else date.today()
    draft = reader.draft()
    draft["assessment_date"] = assessment_date
    if reader.birth_date is not None and "age_years" not in draft:
        born = reader.birth_date
        draft["age_years"] = (
            assessment_date.year
            - born.year
            - ((assessment_date.month, assessment_date.day) < (born.month, born.day))
        )
    if not draft.get("operations"):
        raise FhirError("the bundle has no lumbar spine operation (Procedure) the mapping knows")
    return BundleReading(PatientRecord.model_validate(draft), reader.ignored)


_DEFAULT_CODES: list[CodeMap] = []


def _default_codes() -> CodeMap:
    if not _DEFAULT_CODES:
        _DEFAULT_CODES.append(CodeMap.default())
    return _DEFAULT_CODES[0]


def _as_mapping(bundle: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(bundle, str | bytes):
        try:
            bundle = json.loads(bundle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise FhirError("the bundle is not valid JSON") from error
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise FhirError("expected a FHIR Bundle (resourceType 'Bundle')")
    return bundle


def _describe(error: ValidationError, data: Mapping[str, Any]) -> str:
    """Each problem as entry, resource type and element path; never the values."""
    lines = [f"the bundle is not valid FHIR R4 ({error.error_count()} problem(s)):"]
    listed = data.get("entry")
    entries: list[Any] = listed if isinstance(listed, list) else []
    for problem in error.errors(include_input=False, include_url=False)[:20]:
        loc = list(problem["loc"])
        where = "Bundle"
        if len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int):
            resource = entries[loc[1]].get("resource") if loc[1] < len(entries) else None
            kind = resource.get("resourceType", "?") if isinstance(resource, dict) else "?"
            where = f"entry[{loc[1]}] ({kind})"
            loc = loc[3:] if loc[2] == "resource" else loc[2:]
        element = ".".join(str(part) for part in loc) or "(resource)"
        lines.append(f"  - {where} {element}: {problem['msg']}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        return date.fromisoformat(value[:10])
    return None


class _Reader:
    """Accumulates record items from typed resources, most recent observation winning."""

    def __init__(self, codes: CodeMap) -> None:
        self.codes = codes
        self.ignored: list[Ignored] = []
        self.items: dict[str, tuple[date | None, Any]] = {}
        self.operations: list[dict[str, Any]] = []
        self.treatments: list[dict[str, Any]] = []
        self.patient_id: str | None = None
        self.birth_date: date | None = None

    def skip(self, number: int, resource: Any, reason: str) -> None:
        self.ignored.append(Ignored(number, resource.get_resource_type(), reason))

    def read(self, number: int, resource: Any) -> None:
        kind = resource.get_resource_type()
        if kind == "Patient":
            self.patient_id = resource.id
            self.birth_date = _day(resource.birthDate)
        elif kind == "Observation":
            self.observation(number, resource)
        elif kind == "Condition":
            self.condition(number, resource)
        elif kind == "Procedure":
            self.procedure(number, resource)
        elif kind in ("MedicationStatement", "MedicationRequest"):
            self.medication(number, resource)
        else:
            self.skip(number, resource, "resource type not used by the pathway")

    def set(self, item: str, when: date | None, value: Any) -> None:
        known = self.items.get(item)
        if known is None or (when is not None and (known[0] is None or when >= known[0])):
            self.items[item] = (when, value)

    def observation(self, number: int, resource: Any) -> None:
        if resource.status in _NOT_DONE:
            self.skip(number, resource, f"status {resource.status}")
            return
        sites = {c.code for c in (resource.bodySite.coding or [])} if resource.bodySite else set()
        item = None
        for coding in resource.code.coding or []:
            if coding.system == LOCAL_SYSTEM and coding.code in SCALAR_ITEMS:
                item = coding.code
                break
            for entry in self.codes.find("observation", coding.system, coding.code):
                if entry.body_site is None or entry.body_site in sites:
                    item = entry.item
                    break
            if item:
                break
        if item is None:
            self.skip(number, resource, "code not in the mapping")
            return
        value = _observed_value(resource)
        if value is None:
            self.skip(number, resource, "no value")
            return
        self.set(item, _day(resource.effectiveDateTime), value)

    def condition(self, number: int, resource: Any) -> None:
        verification = _code(resource.verificationStatus)
        if verification == "entered-in-error":
            self.skip(number, resource, "entered in error")
            return
        entries = [
            entry
            for coding in (resource.code.coding if resource.code else None) or []
            for entry in self.codes.find("condition", coding.system, coding.code)
        ]
        if not entries:
            self.skip(number, resource, "code not in the mapping")
            return
        for entry in entries:
            if entry.item is not None:
                present = verification != "refuted" and _code(resource.clinicalStatus) not in (
                    "inactive",
                    "resolved",
                    "remission",
                )
                self.set(entry.item, _day(resource.recordedDate), present)

    def procedure(self, number: int, resource: Any) -> None:
        if resource.status in _NOT_DONE:
            self.skip(number, resource, f"status {resource.status}")
            return
        entry = self._coded(resource.code, "procedure")
        when = _day(resource.performedDateTime) or _day(
            resource.performedPeriod.start if resource.performedPeriod else None
        )
        if entry is None:
            self.skip(number, resource, "code not in the mapping")
        elif entry.operation is not None:
            if when is None:
                self.skip(number, resource, "operation without a date")
                return
            operation: dict[str, Any] = {"date": when, "kind": entry.operation}
            levels = [site.text for site in resource.bodySite or [] if site.text]
            if levels:
                operation["levels"] = levels
            self.operations.append(operation)
        else:
            self.treatments.append(_treatment(entry, when, resource))

    def medication(self, number: int, resource: Any) -> None:
        if resource.status in _NOT_DONE:
            self.skip(number, resource, f"status {resource.status}")
            return
        entry = self._coded(resource.medicationCodeableConcept, "medication")
        if entry is None:
            self.skip(number, resource, "medication not in the mapping")
            return
        period = getattr(resource, "effectivePeriod", None)
        when = _day(period.start if period else None) or _day(
            getattr(resource, "effectiveDateTime", None) or getattr(resource, "authoredOn", None)
        )
        self.treatments.append(_treatment(entry, when, resource))

    def _coded(self, concept: Any, kind: Kind) -> CodeEntry | None:
        for coding in (concept.coding if concept else None) or []:
            if coding.system == LOCAL_SYSTEM and coding.code:
                local = _local_entry(kind, coding.code)
                if local is not None:
                    return local
            found = self.codes.find(kind, coding.system, coding.code)
            if found:
                return found[0]
        return None

    def draft(self) -> dict[str, Any]:
        draft: dict[str, Any] = {"operations": self.operations, "treatments": self.treatments}
        if self.patient_id is not None:
            draft["patient_id"] = self.patient_id
        for item, (_, value) in self.items.items():
            section, _, name = item.rpartition(".")
            target = draft.setdefault(section, {}) if section else draft
            target[name] = value
        return draft


def _local_entry(kind: Kind, code: str) -> CodeEntry | None:
    """This library's own operation and treatment codes: operation.<kind>, treatment.<kind>."""
    group, _, value = code.partition(".")
    try:
        if kind == "procedure" and group == "operation":
            return CodeEntry(
                "procedure", LOCAL_SYSTEM, code, "local", operation=OperationKind(value)
            )
        if group == "treatment":
            return CodeEntry(kind, LOCAL_SYSTEM, code, "local", treatment=TreatmentKind(value))
    except ValueError:
        return None
    return None


def _code(concept: Any) -> str | None:
    codings = (concept.coding if concept else None) or []
    return codings[0].code if codings else None


def _observed_value(resource: Any) -> Any:
    for name in ("valueBoolean", "valueInteger", "valueString"):
        value = getattr(resource, name, None)
        if value is not None:
            return value
    if resource.valueQuantity is not None and resource.valueQuantity.value is not None:
        return _plain(resource.valueQuantity.value)
    if resource.valueCodeableConcept is not None:
        return _code(resource.valueCodeableConcept)
    return None


def _treatment(entry: CodeEntry, when: date | None, resource: Any) -> dict[str, Any]:
    treatment: dict[str, Any] = {"kind": entry.treatment}
    if when is not None:
        treatment["start_date"] = when
    if entry.opioid is not None:
        treatment["opioid"] = entry.opioid
    for extension in resource.extension or []:
        url = extension.url or ""
        name = (
            _TREATMENT_DETAILS.get(url.removeprefix(EXTENSION))
            if url.startswith(EXTENSION)
            else None
        )
        if name is None:
            continue
        value = next(
            (
                getattr(extension, attribute)
                for attribute in ("valueDecimal", "valueCode", "valueBoolean", "valueInteger")
                if getattr(extension, attribute, None) is not None
            ),
            None,
        )
        treatment[name] = _plain(value)
    return treatment
