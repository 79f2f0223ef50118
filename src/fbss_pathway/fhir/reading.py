"""FHIR R4 Bundle in, PatientRecord out: what an EHR really sends, read safely.

:func:`read_bundle` walks the bundle as plain JSON, keeps only the resources
about this patient (:mod:`.scope`), validates and reads the resources the code
mapping knows (:mod:`.resources`), settles disagreeing entries without regard
to their order (:mod:`.statements`), and returns a :class:`BundleReading`:
the record, or ``None`` with the reasons when the patient is outside the
pathway; what was ignored and why; and the conflicts the clinician must see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, get_args

from pydantic import ValidationError

from ..evaluation import evaluate
from ..recommendation import PathwayWarning, Recommendation
from ..record import PatientRecord, SpineOperation, Treatment
from ..ruleset import RuleSet
from .codes import CodeMap
from .entries import RawEntry, load, raw_entries, validate
from .errors import FhirError, NotApplicableError
from .questionnaire import read_response
from .resources import Chart, Ignored
from .scope import PatientScope
from .shapes import MEDICATION, PATIENT, Patient
from .statements import Conflict, resolve

__all__ = [
    "ADULT_AGE",
    "CONFLICT_WARNING",
    "BundleReading",
    "Conflict",
    "Ignored",
    "read_bundle",
    "record_from_bundle",
]


def _youngest_age() -> int:
    """The youngest age the record accepts (its ``ge`` bound on ``age_years``)."""
    for option in get_args(PatientRecord.model_fields["age_years"].annotation):
        for field_info in getattr(option, "__metadata__", ()):
            for bound in getattr(field_info, "metadata", ()):
                if getattr(bound, "ge", None) is not None:
                    return int(bound.ge)
    raise AssertionError("age_years has no lower bound")  # pragma: no cover


#: The pathway is for adults (the clinical specification, section 1).
ADULT_AGE = _youngest_age()
#: The rule id a data conflict carries when it becomes a warning.
CONFLICT_WARNING = "FHIR-CONFLICT"
_READERS = {
    "Observation": Chart.observation,
    "Condition": Chart.condition,
    "Procedure": Chart.procedure,
    "MedicationStatement": Chart.medication,
    "MedicationRequest": Chart.medication,
    "QuestionnaireResponse": read_response,
}


@dataclass(slots=True)
class BundleReading:
    """What a bundle says about the patient.

    Attributes:
        record: The record, or None when the patient is outside the pathway.
        not_applicable: Why the patient is outside the pathway (empty when not).
        ignored: Every resource, or part of one, that set nothing, and why.
        conflicts: Items on which entries disagree, and how each was settled.
    """

    record: PatientRecord | None
    not_applicable: tuple[str, ...] = ()
    ignored: list[Ignored] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def evaluate(
        self, *, ruleset: RuleSet | None = None, ladder: bool = True
    ) -> Recommendation | None:
        """The recommendation for the record, carrying the conflicts as warnings.

        None when the patient is outside the pathway (see ``not_applicable``).
        ``ladder`` as for :func:`fbss_pathway.evaluate`.
        """
        if self.record is None:
            return None
        recommendation = evaluate(self.record, ruleset=ruleset, ladder=ladder)
        if not self.conflicts:
            return recommendation
        warnings = (*recommendation.warnings, *self.warnings())
        return recommendation.model_copy(update={"warnings": warnings})

    def warnings(self) -> list[PathwayWarning]:
        """The conflicts as warnings for the recommendation (entries, never values)."""
        return [
            PathwayWarning(
                rule_id=CONFLICT_WARNING,
                message=f"Conflicting entries for {c.item.replace('_', ' ')} "
                f"(entries {', '.join(map(str, c.entries))}): {c.resolution}.",
            )
            for c in self.conflicts
        ]


def record_from_bundle(
    bundle: Mapping[str, Any] | str | bytes,
    *,
    assessment_date: date | None = None,
    codes: CodeMap | None = None,
    patient_id: str | None = None,
) -> PatientRecord:
    """The patient record a FHIR R4 Bundle describes (see :func:`read_bundle`).

    Raises:
        NotApplicableError: the patient is outside the pathway.
    """
    reading = read_bundle(
        bundle, assessment_date=assessment_date, codes=codes, patient_id=patient_id
    )
    if reading.record is None:
        raise NotApplicableError(reading.not_applicable)
    return reading.record


def read_bundle(
    bundle: Mapping[str, Any] | str | bytes,
    *,
    assessment_date: date | None = None,
    codes: CodeMap | None = None,
    patient_id: str | None = None,
) -> BundleReading:
    """Read a FHIR R4 Bundle into a record, listing what was ignored and what conflicts.

    Args:
        bundle: The bundle (a mapping or JSON text), e.g. a CDS Hooks prefetch.
        assessment_date: The day of the assessment; by default the bundle's
            ``timestamp``, else today.
        codes: The code mapping; the packaged standard codes by default.
        patient_id: The patient the reading is about (a CDS Hooks
            ``context.patientId``); by default the bundle's one Patient.

    Raises:
        FhirError: the bundle is malformed (the message names entry, resource
            type and element, never a value).
        pydantic.ValidationError: the values read contradict each other (an
            SCS implant dated before the trial); the error names the record field.
    """
    data = load(bundle)
    entries = list(raw_entries(data))
    scope = PatientScope.of(entries, patient_id)
    chart = Chart(codes or default_codes())
    birth_date: date | None = None
    deceased = False
    for entry in entries:
        if entry.type == "Medication":
            _remember_medication(chart, entry)
    for entry in entries:
        if entry.type == "Patient":
            if not scope.is_patient(entry):
                chart.skip(entry, "another patient")
                continue
            person = validate(entry, PATIENT)
            birth_date = _full_date(person.get("birthDate")) or birth_date
            deceased = deceased or _deceased(person)
            continue
        reader = _READERS.get(entry.type)
        if reader is None:
            if entry.type != "Medication":
                chart.skip(entry, "resource type not read by the pathway")
            continue
        foreign = scope.foreign(entry.resource)
        if foreign is not None:
            chart.skip(entry, foreign)
            continue
        reader(chart, entry)
    if assessment_date is None:
        answered = max(chart.assessment_dates, default=None)
        assessment_date = answered or _timestamp(data) or date.today()
    return _reading(chart, assessment_date, birth_date, scope, deceased=deceased)


def _reading(
    chart: Chart, assessed: date, birth_date: date | None, scope: PatientScope, *, deceased: bool
) -> BundleReading:
    values, conflicts = resolve(chart.statements)
    age = _age(chart, assessed, birth_date)
    operations = _valid(chart, chart.operations, SpineOperation, "operation", assessed)
    treatments = _valid(chart, chart.treatments, Treatment, "treatment", assessed)
    ignored = sorted(chart.ignored, key=lambda i: (i.entry, i.reason))
    not_applicable = []
    if not operations:
        not_applicable.append("no completed lumbar spine operation on record")
    if age is not None and age < ADULT_AGE:
        not_applicable.append("under 18: the pathway is for adults")
    if deceased:
        not_applicable.append("the patient has died")
    if not_applicable:
        return BundleReading(None, tuple(not_applicable), ignored, conflicts)
    draft: dict[str, Any] = {
        "assessment_date": assessed,
        "operations": sorted(operations, key=_order),
        "treatments": sorted(treatments, key=_order),
    }
    if len(scope.ids) == 1:
        draft["patient_id"] = next(iter(scope.ids))
    if age is not None:
        draft["age_years"] = age
    for item, value in values.items():
        section, _, name = item.rpartition(".")
        (draft.setdefault(section, {}) if section else draft)[name] = value
    return BundleReading(PatientRecord.model_validate(draft), (), ignored, conflicts)


def _age(chart: Chart, assessed: date, birth_date: date | None) -> int | None:
    """Age from the most recent age observation, else from the birth date."""
    if chart.ages:
        return max(chart.ages, key=lambda pair: (pair[0] is not None, pair[0], pair[1]))[1]
    if birth_date is None:
        return None
    before_birthday = (assessed.month, assessed.day) < (birth_date.month, birth_date.day)
    return assessed.year - birth_date.year - before_birthday


def _valid(
    chart: Chart, drafts: list[dict[str, Any]], model: Any, what: str, assessed: date
) -> list[dict[str, Any]]:
    """The drafts that make a valid operation or treatment on their own; the rest listed."""
    kept = []
    for marked in drafts:
        draft = {k: v for k, v in marked.items() if not k.startswith("_")}
        number, kind = marked["_entry"], marked["_type"]
        dated = draft.get("date") or draft.get("start_date")
        if isinstance(dated, date) and dated > assessed:
            chart.ignored.append(Ignored(number, kind, f"{what} dated after the assessment"))
            continue
        try:
            model.model_validate(draft)
        except ValidationError as error:
            fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
            if fields == ["levels"]:  # keep the operation, drop levels it cannot name
                draft.pop("levels")
            else:
                chart.ignored.append(Ignored(number, kind, f"{what} {', '.join(fields)} not valid"))
                continue
            chart.ignored.append(Ignored(number, kind, "operation levels not in the form L4-L5"))
        kept.append(draft)
    return kept


def _order(draft: dict[str, Any]) -> tuple[Any, ...]:
    """A canonical order, so that the record never depends on the order of the entries."""
    return (draft.get("date") or draft.get("start_date") or date.min, repr(sorted(draft.items())))


def _full_date(value: str | None) -> date | None:
    """A FHIR date that names a day (a partial date, 1970 or 1970-05, does not)."""
    return date.fromisoformat(value) if value is not None and len(value) == 10 else None


def _timestamp(data: Mapping[str, Any]) -> date | None:
    stamp = data.get("timestamp")
    if not isinstance(stamp, str) or len(stamp) < 10:
        return None
    try:
        return date.fromisoformat(stamp[:10])
    except ValueError:
        raise FhirError("Bundle timestamp: not a FHIR instant") from None


def _remember_medication(chart: Chart, entry: RawEntry) -> None:
    """A Medication, by the references a statement or request may use for it."""
    medication = validate(entry, MEDICATION)
    code, ident = medication.get("code"), medication.get("id")
    if ident is not None:
        chart.medications[f"Medication/{ident}"] = code
    if entry.full_url:
        chart.medications[entry.full_url] = code


def _deceased(person: Patient) -> bool:
    """Whether the record says the patient has died."""
    return bool(person.get("deceasedBoolean")) or person.get("deceasedDateTime") is not None


_DEFAULT_CODES: list[CodeMap] = []


def default_codes() -> CodeMap:
    """The packaged code mapping, read once per process."""
    if not _DEFAULT_CODES:
        _DEFAULT_CODES.append(CodeMap.default())
    return _DEFAULT_CODES[0]
