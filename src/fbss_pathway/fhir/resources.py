"""Reading each kind of resource: statuses as allow-lists, codes through the mapping.

A resource counts only in a status that says it happened (see ``docs/fhir.md``,
"Statuses"); anything else sets nothing and is listed with its reason. Each
reader first looks at the raw codes, so that a resource the mapping does not
know is listed without the cost of validating it; a resource that is read is
validated first, in the elements it is read by (:mod:`.shapes`). Observations,
most of a chart, are read in :mod:`.observations`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..record import OperationKind, OpioidIngredient, TreatmentKind
from .codes import (
    COMPOSITE_ITEMS,
    EXTENSION,
    LOCAL_SYSTEM,
    CodeEntry,
    CodeMap,
    Kind,
)
from .entries import RawEntry, codings, validate
from .opioids import read_opioid, record_part
from .scope import referenced_id
from .shapes import (
    CONDITION,
    MEDICATION_USE,
    PROCEDURE,
    CodeableConcept,
    MedicationUse,
    Period,
    Procedure,
    Reference,
    codings_of,
    first_code,
)
from .statements import Conflict, Statement, When, period_of, when_from_first_day, when_of
from .values import fit

__all__ = ["TREATMENT_DETAILS", "Chart"]

OBSERVATION_DONE = frozenset({"final", "amended", "corrected"})
PROCEDURE_DONE = frozenset({"completed"})
MEDICATION_TAKEN = frozenset({"active", "completed", "stopped"})
#: A medicine class (``medicines``) is "in current use" only from an active statement or request.
MEDICINE_IN_USE = frozenset({"active"})
_ASSERTED = frozenset({"confirmed", "provisional", "differential", "unconfirmed"})
_PRESENT = frozenset({"active", "recurrence", "relapse"})
_GONE = frozenset({"inactive", "remission", "resolved"})
#: Treatment details FHIR has no element for, as extensions: suffix -> Treatment field.
TREATMENT_DETAILS = {
    "duration-weeks": "duration_weeks",
    "adherence": "adherence",
    "relief-percent": "relief_percent",
    "relief-duration-months": "relief_duration_months",
    "side-effects": "side_effects",
    "benefit": "benefit",
    # The parts of an SCS trial's success (pathway.md 7.4).
    "analgesic-use": "analgesic_use",
    "activity": "activity",
    "wishes-to-proceed": "wishes_to_proceed",
    "technically-adequate": "technically_adequate",
}


#: Whether an Observation's codings name an item, by code mapping, then by codings.
_OBSERVED: weakref.WeakKeyDictionary[
    CodeMap, dict[tuple[tuple[str | None, str | None, str | None], ...], bool]
] = weakref.WeakKeyDictionary()
_MOST_REMEMBERED = 4096


@dataclass(frozen=True, slots=True)
class Ignored:
    """A resource, or part of one, that set nothing in the record, and why."""

    entry: int
    resource_type: str
    reason: str
    resource: str = ""
    """The resource, as the clinician finds it in the EHR (``Procedure/abc``, else fullUrl)."""


@dataclass(slots=True)
class Chart:
    """What the resources of one patient say, gathered entry by entry."""

    codes: CodeMap
    statements: list[Statement] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    treatments: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    ages: list[Statement] = field(default_factory=list)
    #: Found before the items are settled (duplicates that disagree).
    conflicts: list[Conflict] = field(default_factory=list)
    medications: dict[str, CodeableConcept | None] = field(default_factory=dict)
    assessment_dates: list[date] = field(default_factory=list)
    #: Items an entry spoke to with a value that could not be read, with those entries.
    unreadable: dict[str, list[str]] = field(default_factory=dict)
    #: Opioid uses, one draft per resource and ingredient (:mod:`.opioid_courses` joins them).
    opioids: list[dict[str, Any]] = field(default_factory=list)
    #: Pain scores that say neither back nor leg (day, resource): the reading says they exist.
    unsited_pain: list[tuple[date | None, str]] = field(default_factory=list)
    #: Whether an Observation's codings name an item, by codings: shared by the charts
    #: read with this mapping (:func:`.observations._observes`).
    observed: dict[tuple[tuple[str | None, str | None, str | None], ...], bool] = field(init=False)

    def __post_init__(self) -> None:
        observed = _OBSERVED.get(self.codes)
        if observed is None:
            observed = _OBSERVED.setdefault(self.codes, {})
        self.observed = observed

    def opioid(self, entry: RawEntry, draft: dict[str, Any], **marks: Any) -> None:
        """An opioid use draft, marked with its entry (as :meth:`treatment`)."""
        marked = {**draft, "_entry": entry.number, "_type": entry.type, "_label": entry.label}
        self.opioids.append(marked | {f"_{name}": value for name, value in marks.items()})

    def treatment(self, entry: RawEntry, draft: dict[str, Any], **marks: Any) -> None:
        """A treatment draft, marked with its entry.

        The marks serve reporting and the joining of the resources that describe one
        treatment (:mod:`.treatments`).
        """
        marked = {**draft, "_entry": entry.number, "_type": entry.type, "_label": entry.label}
        self.treatments.append(marked | {f"_{name}": value for name, value in marks.items()})

    def skip(self, entry: RawEntry, reason: str) -> None:
        """List an entry (or part of it) that sets nothing, with the reason."""
        self.ignored.append(Ignored(entry.number, entry.type, reason, entry.label))

    def state(self, entry: RawEntry, item: str, value: Any, when: When | None) -> None:
        """Record one entry's word on an item, if the value fits the item."""
        if item == "age_years" and isinstance(value, int | float) and not isinstance(value, bool):
            self.ages.append(
                Statement(item, int(value), when, entry.type, entry.number, entry.label)
            )
            return
        fitted, problem = fit(item, value)
        if problem is not None:
            self.skip(entry, f"{item}: {problem}")
            self.unreadable.setdefault(item, []).append(entry.label)
        else:
            self.statements.append(
                Statement(item, fitted, when, entry.type, entry.number, entry.label)
            )

    def state_composite(
        self, entry: RawEntry, item: str, value: dict[str, Any], when: When | None
    ) -> None:
        """One entry's word on an item that is a small model (date and outcome), if valid."""
        try:
            fitted = _composite_adapter(item).validate_python(value)
        except ValidationError:
            self.skip(entry, f"{item}: incomplete or outside the item's values")
            self.unreadable.setdefault(item, []).append(entry.label)
            return
        self.statements.append(Statement(item, fitted, when, entry.type, entry.number, entry.label))

    def condition(self, entry: RawEntry) -> None:
        """A red flag (any assertion) or a finding (confirmed and active); refuted is no."""
        found = codings(entry.code)
        if found is not None and not any(self.codes.find("condition", s, c) for s, c, _ in found):
            self.skip(entry, "code not in the mapping")
            return
        resource = validate(entry, CONDITION)
        verification = first_code(resource.get("verificationStatus"))
        clinical = first_code(resource.get("clinicalStatus"))
        if verification == "entered-in-error":
            self.skip(entry, "entered in error")
            return
        mapped = {
            e.item
            for coding in codings_of(resource.get("code"))
            for e in self.codes.find("condition", coding.get("system"), coding.get("code"))
        }
        items = sorted(item for item in mapped if item is not None)
        gone = verification == "refuted" or clinical in _GONE
        # A date to the month or year counts from its first day (docs/fhir.md).
        when = (
            (when_from_first_day(resource.get("abatementDateTime")) if clinical in _GONE else None)
            or when_from_first_day(resource.get("recordedDate"))
            or when_from_first_day(resource.get("onsetDateTime"))
            or when_from_first_day(_start(resource.get("onsetPeriod")))
        )
        for item in items:
            if item.startswith("red_flags."):
                # A red flag is a suspicion: any assertion sets it, unknown statuses included.
                self.state(entry, item, not gone, when)
            elif gone:
                self.state(entry, item, False, when)
            elif verification not in (None, "confirmed") or clinical not in (None, *_PRESENT):
                self.skip(entry, f"{item}: not confirmed and active, left unknown")
            else:
                self.state(entry, item, True, when)

    def procedure(self, entry: RawEntry) -> None:
        """A lumbar operation or a treatment, counted only when completed."""
        found = codings(entry.code)
        if found is not None and not any(self._coded_raw("procedure", s, c) for s, c, _ in found):
            self.skip(entry, "code not in the mapping")
            return
        resource = validate(entry, PROCEDURE)
        if resource.get("status") not in PROCEDURE_DONE:
            self.skip(entry, "status is not completed")
            return
        mapped = self._coded(resource.get("code"), "procedure")
        if mapped is None:
            self.skip(entry, "code not in the mapping")
            return
        when = when_of(resource.get("performedDateTime")) or when_of(
            _start(resource.get("performedPeriod"))
        )
        if mapped.operation is not None:
            operation: dict[str, Any] = {
                "kind": mapped.operation,
                "_entry": entry.number,
                "_type": entry.type,
                "_label": entry.label,
            }
            if when is not None:
                operation["date"] = when.day
            else:
                # To the month or year, or no date: read as its latest possible day when
                # the operations are counted (:mod:`.operations`), and said.
                given = resource.get("performedDateTime") or _start(resource.get("performedPeriod"))
                operation["_period"] = period_of(given)
                operation["_given"] = given if operation["_period"] is not None else None
            levels = [text for site in resource.get("bodySite") or [] if (text := site.get("text"))]
            if levels:
                operation["levels"] = levels
            self.operations.append(operation)
        else:
            draft = _treatment(mapped, when.day if when else None, resource)
            sites = resource.get("bodySite") or []
            at = tuple(sorted({_level(site.get("text")) for site in sites} - {""}))
            if at and mapped.treatment in _LEVELLED:
                # The record's levels, in the resource's order (pathway.md 6 judges blocks
                # per level); a level the record cannot hold ("L4/5") drops the detail.
                named = (_level(site.get("text")) for site in sites)
                draft["levels"] = list(dict.fromkeys(level for level in named if level))
            # A session billed on its own (no course length given) is one of a course.
            session = (
                mapped.treatment is TreatmentKind.EXERCISE_THERAPY and "duration_weeks" not in draft
            )
            self.treatment(entry, draft, levels=at, session=session)

    def medication(self, entry: RawEntry) -> None:
        """An analgesic (active, completed or stopped) or a medicine class (active).

        A medication may be both: ibuprofen is an analgesic tried and, while active, an
        NSAID in current use. A class is only ever set to "yes": a chart without a
        medicine of a class leaves the class unknown.
        """
        found = codings(entry.medication)
        if found and not any(
            self._coded_raw("medication", s, c, d) or self.codes.find("medicine", s, c, d)
            for s, c, d in found
        ):
            self.skip(entry, "medication not in the mapping")
            return
        resource = validate(entry, MEDICATION_USE)
        status = resource.get("status")
        if status not in MEDICATION_TAKEN or resource.get("doNotPerform"):
            self.skip(entry, "status is not active, completed or stopped")
            return
        concept = resource.get("medicationCodeableConcept")
        reference = resource.get("medicationReference")
        if concept is None and reference is not None:
            concept = self._referenced(resource, reference)
        mapped = self._coded(concept, "medication")
        part = record_part(resource)
        if mapped is not None and mapped.opioid and part != "treatments":
            started = when_of(_start(resource.get("effectivePeriod"))) or when_of(
                resource.get("effectiveDateTime") or resource.get("authoredOn")
            )
            read_opioid(self, entry, concept, started.day if started else None)
            if part == "medicines.opioids":
                return  # written for the record's opioids only: no analgesic treatment
        classes = sorted(
            {
                medicine.item
                for coding in codings_of(concept)
                for medicine in self.codes.find(
                    "medicine", coding.get("system"), coding.get("code"), coding.get("display")
                )
                if medicine.item is not None
            }
        )
        if mapped is None and not classes:
            self.skip(entry, "medication not in the mapping")
            return
        when = when_of(_start(resource.get("effectivePeriod"))) or when_of(
            resource.get("effectiveDateTime") or resource.get("authoredOn")
        )
        if classes and status not in MEDICINE_IN_USE:
            if mapped is None:
                self.skip(entry, "status is not active: not in current use")
        else:
            for item in classes:
                self.state(entry, item, True, when)
        if mapped is not None:
            drug = tuple(sorted({(c.get("system"), c.get("code")) for c in codings_of(concept)}))
            draft = _treatment(mapped, when.day if when else None, resource)
            self.treatment(entry, draft, drug=drug)

    def _referenced(self, resource: MedicationUse, medication: Reference) -> CodeableConcept | None:
        """The code of the Medication referred to (contained, or elsewhere in the bundle)."""
        reference = medication.get("reference") or ""
        if reference.startswith("#"):
            contained = [c for c in resource.get("contained") or [] if c.get("id") == reference[1:]]
            return contained[0].get("code") if contained else None
        found = self.medications.get(reference.split("/_history/")[0])
        if found is None:  # an absolute URL to a Medication the bundle holds with no fullUrl
            ident = referenced_id(reference, "Medication")
            found = self.medications.get(f"Medication/{ident}") if ident else None
        return found

    def _coded_raw(
        self, kind: Kind, system: str | None, code: str | None, display: str | None = None
    ) -> bool:
        if system == LOCAL_SYSTEM and code:
            return _local_entry(kind, code) is not None
        return bool(self.codes.find(kind, system, code, display))

    def _coded(self, concept: CodeableConcept | None, kind: Kind) -> CodeEntry | None:
        """The mapping's entry for a concept; for medications, opioid if any coding is one."""
        found: list[CodeEntry] = []
        for coding in codings_of(concept):
            system, code = coding.get("system"), coding.get("code")
            if system == LOCAL_SYSTEM and code:
                local = _local_entry(kind, code)
                if local is not None:
                    found.append(local)
            found += self.codes.find(kind, system, code, coding.get("display"))
        if not found:
            return None
        opioids = [entry for entry in found if entry.opioid]
        return opioids[0] if opioids else found[0]


def _local_entry(kind: Kind, code: str) -> CodeEntry | None:
    """This library's own codes: operation.<kind>, treatment.<kind>, opioid.<ingredient>."""
    group, _, value = code.partition(".")
    try:
        if kind == "procedure" and group == "operation":
            return CodeEntry(
                "procedure", LOCAL_SYSTEM, code, "local", operation=OperationKind(value)
            )
        if group == "treatment":
            return CodeEntry(kind, LOCAL_SYSTEM, code, "local", treatment=TreatmentKind(value))
        if kind == "medication" and group == "opioid" and OpioidIngredient(value):
            analgesics = TreatmentKind.ANALGESICS
            return CodeEntry(kind, LOCAL_SYSTEM, code, "local", treatment=analgesics, opioid=True)
    except ValueError:
        return None
    return None


def _composite_adapter(item: str) -> TypeAdapter[Any]:
    adapter = _COMPOSITE_ADAPTERS.get(item)
    if adapter is None:
        adapter = _COMPOSITE_ADAPTERS[item] = TypeAdapter(COMPOSITE_ITEMS[item])
    return adapter


_COMPOSITE_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _day(value: str) -> Any:
    """The day a FHIR dateTime names (a date item's value); text that is not one, as it is."""
    when = when_of(value)
    return when.day if when is not None else value


#: Treatments whose levels the record holds (``Treatment.levels``).
_LEVELLED = frozenset({TreatmentKind.MEDIAL_BRANCH_BLOCK, TreatmentKind.RADIOFREQUENCY_DENERVATION})


def _level(text: str | None) -> str:
    """A level as written in ``bodySite.text``, compared without case or spaces."""
    return "".join((text or "").split()).upper()


def _start(period: Period | None) -> str | None:
    return period.get("start") if period else None


#: What a panel's components share with it: who, when and how final.
def _treatment(
    entry: CodeEntry, when: date | None, resource: Procedure | MedicationUse
) -> dict[str, Any]:
    treatment: dict[str, Any] = {"kind": entry.treatment}
    if when is not None:
        treatment["start_date"] = when
    if entry.opioid is not None:
        treatment["opioid"] = entry.opioid
    for extension in resource.get("extension") or []:
        url = extension["url"]
        name = (
            TREATMENT_DETAILS.get(url.removeprefix(EXTENSION))
            if url.startswith(EXTENSION)
            else None
        )
        if name is None:
            continue
        given = (
            extension.get("valueDecimal"),
            extension.get("valueCode"),
            extension.get("valueBoolean"),
            extension.get("valueInteger"),
        )
        value = next((value for value in given if value is not None), None)
        treatment[name] = value
    return treatment
