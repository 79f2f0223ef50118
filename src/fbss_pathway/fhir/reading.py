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

from ..evaluation import evaluate
from ..recommendation import PathwayWarning, Recommendation
from ..record import OpioidUse, PatientRecord, Treatment
from ..ruleset import RuleSet
from .bundle_text import bundle_entries
from .codes import CodeMap
from .current import STALE_RED_FLAG_WARNING, StaleRedFlag, coherent, current
from .duplicates import distinct
from .entries import RawEntry, validate
from .errors import FhirError, NotApplicableError
from .observations import read_observation
from .operations import ImpreciseDate, one_per_operation
from .opioid_courses import opioid_uses
from .opioids import read_allergy
from .pain_site import UnsitedPain, unsited_pain
from .patient import age_of, born_on, years_between
from .questionnaire import read_response
from .resources import Chart, Ignored
from .scope import PatientScope
from .shapes import MEDICATION, PATIENT, Patient
from .statements import Conflict, period_of, resolve
from .treatments import join_treatments, readable_treatments
from .unreadable import UNREADABLE_RULE, unread_items, unreadable_missing, unreadable_text

__all__ = [
    "ADULT_AGE",
    "CONFLICT_WARNING",
    "PAIN_SITE_WARNING",
    "READ_TYPES",
    "STALE_RED_FLAG_WARNING",
    "UNREADABLE_WARNING",
    "BundleReading",
    "Conflict",
    "Ignored",
    "StaleRedFlag",
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
#: The rule id of an item recorded only in values that could not be read.
UNREADABLE_WARNING = UNREADABLE_RULE
#: The rule id of the warning that pain scores said neither back nor leg.
PAIN_SITE_WARNING = "FHIR-PAIN-SITE"
#: The warning of an operation dated to the month or year only, or not at all.
IMPRECISE_DATE_WARNING = "FHIR-DATE-IMPRECISE"
_READERS = {
    "Observation": read_observation,
    "Condition": Chart.condition,
    "Procedure": Chart.procedure,
    "MedicationStatement": Chart.medication,
    "MedicationRequest": Chart.medication,
    "QuestionnaireResponse": read_response,
    "AllergyIntolerance": read_allergy,
}
#: Every resource type the reader reads; a resource of any other type sets nothing, so a
#: population screen never opens an export file of another type.
READ_TYPES = frozenset({*_READERS, "Patient", "Medication"})


@dataclass(slots=True)
class BundleReading:
    """What a bundle says about the patient.

    Attributes:
        record: The record, or None when the patient is outside the pathway.
        not_applicable: Why the patient is outside the pathway (empty when not).
        ignored: Every resource, or part of one, that set nothing, and why.
        conflicts: Items on which entries disagree, and how each was settled.
        unreadable: Items the chart records only in values that could not be read,
            with the resources: unknown, never "no" (a warning and missing information).
    """

    record: PatientRecord | None
    not_applicable: tuple[str, ...] = ()
    ignored: list[Ignored] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unreadable: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Items recorded only in entries that could not be read (item -> resources): unknown."""
    stale_red_flags: list[StaleRedFlag] = field(default_factory=list)
    """Red flags asserted only by entries too old (or undated) to be about now: unknown
    (pathway.md 3.2), each a warning ``red_flag_code_old`` and a line in ``missing``."""
    unsited_pain: UnsitedPain | None = None
    """Pain scores that say neither back nor leg while one of those is unknown: a warning."""
    imprecise_dates: list[ImpreciseDate] = field(default_factory=list)
    """Operations dated to the month or year only, or not at all, and the day each was
    read as (its latest possible): a warning each."""

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
        if not (
            self.conflicts
            or self.unreadable
            or self.stale_red_flags
            or self.unsited_pain
            or self.imprecise_dates
        ):
            return recommendation
        warnings = (*recommendation.warnings, *self.warnings())
        update: dict[str, Any] = {"warnings": warnings}
        missing = unreadable_missing(recommendation.missing, self.unreadable)
        stale = [flag.item for flag in self.stale_red_flags]
        missing = unreadable_missing(missing, stale, STALE_RED_FLAG_WARNING)
        if missing != recommendation.missing:
            update["missing"] = missing
        return recommendation.model_copy(update=update)

    def warnings(self) -> list[PathwayWarning]:
        """The stale red flags, conflicts and unreadable items as warnings.

        Resources are named, values never (a stale red flag gives only its date).
        """
        return [
            *(
                # Its id is also its key in the vocabulary (pathway.md 13): a program that
                # filters warnings by key finds it.
                PathwayWarning(
                    rule_id=STALE_RED_FLAG_WARNING,
                    message=flag.warning_text(),
                    key=STALE_RED_FLAG_WARNING,
                )
                for flag in self.stale_red_flags
            ),
            *(
                PathwayWarning(rule_id=CONFLICT_WARNING, message=c.warning_text())
                for c in self.conflicts
            ),
            *(
                PathwayWarning(rule_id=UNREADABLE_WARNING, message=unreadable_text(item, named))
                for item, named in sorted(self.unreadable.items())
            ),
            *(
                [PathwayWarning(rule_id=PAIN_SITE_WARNING, message=self.unsited_pain.text())]
                if self.unsited_pain is not None
                else []
            ),
            *(
                PathwayWarning(rule_id=IMPRECISE_DATE_WARNING, message=d.warning_text())
                for d in self.imprecise_dates
            ),
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
    entries, stamp = bundle_entries(bundle)
    scope = PatientScope.of(entries, patient_id)
    chart = Chart(codes or default_codes())
    entries = distinct(entries, chart)
    birth_dates: dict[date, list[str]] = {}
    partial_births: list[tuple[date, date]] = []  # a year or month only: first, last day
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
            born = _full_date(person.get("birthDate"))
            if born is not None:
                birth_dates.setdefault(born, []).append(entry.label)
            elif (period := period_of(person.get("birthDate"))) is not None:
                partial_births.append(period)
            deceased = deceased or _deceased(person)
            continue
        reader = _READERS.get(entry.type)
        if reader is None:
            if entry.type != "Medication":
                chart.skip(entry, "resource type not read by the pathway")
            continue
        # An allergy names its patient in ``patient``, every other resource in ``subject``.
        about = entry.subject
        if entry.type == "AllergyIntolerance":
            about = entry.resource.get("patient")
        foreign = scope.foreign(about)
        if foreign is not None:
            chart.skip(entry, foreign)
            continue
        reader(chart, entry)
    if assessment_date is None:
        answered = max(chart.assessment_dates, default=None)
        assessment_date = answered or _timestamp(stamp) or date.today()
    birth_date = born_on(birth_dates, chart)
    return _reading(
        chart, assessment_date, birth_date, scope, deceased=deceased, partial_births=partial_births
    )


def _possibly_a_minor(births: list[tuple[date, date]], assessed: date) -> bool:
    """Whether a birth date given to the year or month allows an age under 18 now.

    The pathway is for adults (pathway.md 1): a patient who may be 17 is not read as one.
    """
    return any(years_between(last, assessed) < ADULT_AGE for _, last in births)


def _reading(
    chart: Chart,
    assessed: date,
    birth_date: date | None,
    scope: PatientScope,
    *,
    deceased: bool,
    partial_births: list[tuple[date, date]],
) -> BundleReading:
    now = current(chart.statements, assessed)
    for statement, why in now.dropped:
        chart.ignored.append(Ignored(statement.entry, statement.source, why, statement.label))
    values, conflicts = resolve(now.statements)
    conflicts = [*chart.conflicts, *now.carried, *conflicts, *coherent(values, now.statements)]
    age = age_of(chart, assessed, birth_date, conflicts)
    imprecise: list[ImpreciseDate] = []
    operations = one_per_operation(chart, assessed, conflicts, imprecise)
    treatments = _treatments(chart, assessed, conflicts)
    opioids = _opioids(chart, assessed, conflicts)
    conflicts.sort(key=lambda c: (c.item, c.entries))
    ignored = sorted(chart.ignored, key=lambda i: (i.entry, i.reason))
    unreadable = unread_items(chart, values, treatments)
    not_applicable = []
    if not operations:
        not_applicable.append("no completed lumbar spine operation on record")
    if age is not None and age < ADULT_AGE:
        not_applicable.append("under 18: the pathway is for adults")
    elif age is None and _possibly_a_minor(partial_births, assessed):
        not_applicable.append(
            "possibly under 18 (a birth date given to the year or month only): "
            "the pathway is for adults"
        )
    if deceased:
        not_applicable.append("the patient has died")
    stale = sorted(now.stale, key=lambda flag: flag.item)
    if not_applicable:
        return BundleReading(None, tuple(not_applicable), ignored, conflicts, unreadable, stale)
    draft: dict[str, Any] = {
        "assessment_date": assessed,
        "operations": sorted(operations, key=_order),
        "treatments": sorted(treatments, key=_treatment_order),
    }
    if opioids:
        draft["medicines"] = {"opioids": opioids}
    if len(scope.ids) == 1:
        draft["patient_id"] = next(iter(scope.ids))
    if age is not None:
        draft["age_years"] = age
    for item, value in values.items():
        *groups, name = item.split(".")  # psychosocial.factors.secondary_gain: two groups
        target = draft
        for group in groups:
            target = target.setdefault(group, {})
        target[name] = value
    record = PatientRecord.model_validate(draft)
    unsited = unsited_pain(chart.unsited_pain, values)
    return BundleReading(record, (), ignored, conflicts, unreadable, stale, unsited, imprecise)


def _treatments(chart: Chart, assessed: date, conflicts: list[Conflict]) -> list[Treatment]:
    """One treatment per treatment the chart describes (:mod:`.treatments`).

    An entry read alone keeps the model validated when it was read; a joined one is
    validated once more (its details come from several entries).
    """
    kept, dropped, details = readable_treatments(chart.treatments, assessed)
    for draft, reason in dropped:
        chart.ignored.append(Ignored(draft["_entry"], draft["_type"], reason, draft["_label"]))
    for draft, name in details:
        why = f"treatment {name} not valid: read without it"
        chart.ignored.append(Ignored(draft["_entry"], draft["_type"], why, draft["_label"]))
        chart.unreadable.setdefault(f"treatments[{draft['kind']}].{name}", []).append(
            draft["_label"]
        )
    joined, found = join_treatments(kept)
    conflicts += found
    return [
        treatment.get("_model")
        or Treatment.model_validate({k: v for k, v in treatment.items() if not k.startswith("_")})
        for treatment in joined
    ]


def _opioids(chart: Chart, assessed: date, conflicts: list[Conflict]) -> list[OpioidUse]:
    """One use per opioid ingredient and course (:mod:`.opioid_courses`)."""
    if not chart.opioids:
        return []
    unread = {
        item: chart.unreadable.pop(item)
        for item in list(chart.unreadable)
        if item.startswith("medicines.opioids[")
    }
    uses, found, dropped, unreadable = opioid_uses(chart.opioids, assessed, unread)
    conflicts += found
    for draft, reason in dropped:
        chart.ignored.append(Ignored(draft["_entry"], draft["_type"], reason, draft["_label"]))
    chart.unreadable.update(unreadable)  # doses no resource of their course gives
    return uses


def _treatment_order(treatment: Treatment) -> tuple[Any, ...]:
    """A canonical order of treatments (by date, then content), whatever the entries' order."""
    return (treatment.start_date or date.min, *(str(v) for v in treatment.__dict__.values()))


def _order(draft: dict[str, Any]) -> tuple[Any, ...]:
    """A canonical order, so that the record never depends on the order of the entries."""
    return (draft.get("date") or draft.get("start_date") or date.min, repr(sorted(draft.items())))


def _full_date(value: str | None) -> date | None:
    """A FHIR date that names a day (a partial date, 1970 or 1970-05, does not)."""
    return date.fromisoformat(value) if value is not None and len(value) == 10 else None


def _timestamp(stamp: Any) -> date | None:
    """The day of the bundle's ``timestamp`` (as given), if it has one."""
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
