"""The facts rules are written in: named values read from a patient record.

A rule file never reaches into the record's structure; it names facts from this
catalogue, and each fact says which record field it reads. That keeps rules
readable to a clinician, lets the loader reject a misspelt fact, and lets every
recommendation show the record fields behind it.

Extraction makes no clinical decisions: it selects (the most recent treatment
of a kind), counts and measures time. Thresholds and judgements live in the
rule files. An unknown item is absent from the extracted facts, never False.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel

from .courses import BlockReading, ParameterValue, block_facts, exercise_facts
from .mme import MmeTable, current_opioids, mme_per_day
from .record import (
    Activity,
    Adherence,
    AnalgesicUse,
    Examination,
    FactorLevel,
    Findings,
    Medicines,
    OpioidUse,
    PatientRecord,
    PsychologicalEvaluation,
    Psychosocial,
    PsychosocialFactors,
    RedFlags,
    ScsWorkup,
    SideEffects,
    SuicideRisk,
    SurgicalOpinion,
    TargetPain,
    Treatment,
    TreatmentKind,
)
from .vocabulary import Stage

__all__ = [
    "FACTS",
    "STEP_RECORDS",
    "FactSpec",
    "FactValue",
    "add_calendar_months",
    "calendar_months",
    "extract_facts",
    "months_begun",
]

FactValue = bool | int | float | str
FactType = Literal["flag", "number", "category"]


@dataclass(frozen=True, slots=True)
class FactSpec:
    """A fact rules may test.

    Attributes:
        name: The name rule files use.
        type: ``flag`` (true/false), ``number`` or ``category``.
        field: The record field it reads, as shown to the clinician.
        description: What it means, in clinical words.
        categories: For ``category`` facts, the allowed values.
    """

    name: str
    type: FactType
    field: str
    description: str
    categories: tuple[str, ...] = ()


def _flag(name: str, field: str, description: str) -> FactSpec:
    return FactSpec(name, "flag", field, description)


def _number(name: str, field: str, description: str) -> FactSpec:
    return FactSpec(name, "number", field, description)


def _category(name: str, field: str, description: str, values: tuple[str, ...]) -> FactSpec:
    return FactSpec(name, "category", field, description, values)


def _latest(kind: TreatmentKind) -> str:
    return f"treatments[{kind.value}, most recent]"


def _type_of(annotation: Any) -> tuple[FactType, tuple[str, ...]]:
    """The fact type of a record item's annotation (``bool | None`` is a flag, ...)."""
    for candidate in (annotation, *get_args(annotation)):
        if candidate is bool:
            return "flag", ()
        if candidate in (int, float) or get_origin(candidate) is Annotated:
            return "number", ()
        if isinstance(candidate, type) and issubclass(candidate, StrEnum):
            return "category", tuple(member.value for member in candidate)
    raise TypeError(f"no fact type for {annotation!r}")


#: Record sections whose every item is a fact of the same name (renamed where the
#: bare name would be ambiguous in a rule).
_SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("findings", Findings),
    ("red_flags", RedFlags),
    ("scs", ScsWorkup),
    ("psychosocial", Psychosocial),
    ("examination", Examination),
    ("medicines", Medicines),
)
_RENAMED = {("scs", "team_assessment_done"): "scs_team_assessment_done"}
#: Section items that are dates (or carry one): facts measure time from them.
_DATED = frozenset(
    {
        "screened_on",
        "phq9_date",
        "gad7_date",
        "psychological_evaluation_date",
        "suicide_risk_assessment",
    }
)


#: Section items with structure of their own (a group, a list, a date): their facts are
#: derived from them, never read one-to-one.
_STRUCTURED = frozenset({"factors", "mood_treatment_start", "opioids", "last_opioid_review"})


def _section_facts(section: str, model: type[BaseModel]) -> list[tuple[FactSpec, str]]:
    """Facts read one-to-one from a record section, with the record attribute they read."""
    facts = []
    for name, info in model.model_fields.items():
        if name in _DATED or name in _STRUCTURED:
            continue  # measured or summarised, below
        kind, categories = _type_of(info.annotation)
        fact = _RENAMED.get((section, name), name)
        spec = FactSpec(fact, kind, f"{section}.{name}", info.description or name, categories)
        facts.append((spec, name))
    return facts


_DIRECT = {section: _section_facts(section, model) for section, model in _SECTIONS}

_EX_TRIAL = "treatments[exercise_therapy, longest adequate since the last operation]"
_BLOCKS = "treatments[medial_branch_block within block_max_age_months, by level]"
_OP = "medicines.opioids[current]"
_MBB = _latest(TreatmentKind.MEDIAL_BRANCH_BLOCK)
_RF = _latest(TreatmentKind.RADIOFREQUENCY_DENERVATION)
_TRIAL = _latest(TreatmentKind.SCS_TRIAL)
_IMPLANT = _latest(TreatmentKind.SCS_IMPLANT)

#: Facts that select, count or measure; the rest come from _DIRECT.
_DERIVED_SPECS: tuple[FactSpec, ...] = (
    _number("age_years", "age_years", "Age in years."),
    _number("operation_count", "operations", "Number of spine operations on record."),
    _number(
        "months_since_last_operation",
        "operations[].date, assessment_date",
        "Whole calendar months from the most recent spine operation to the assessment.",
    ),
    _category(
        "last_operation_date",
        "operations[].date",
        "Date of the most recent spine operation (ISO 8601).",
        (),
    ),
    _number("back_nrs", "pain.back_nrs", "Back pain intensity, NRS 0-10."),
    _number("leg_nrs", "pain.leg_nrs", "Leg pain intensity, NRS 0-10."),
    _flag("radiating_leg_pain", "pain.radiating_leg_pain", "Pain radiates into a leg."),
    _flag(
        "neuropathic_features",
        "pain.neuropathic_features",
        "Neuropathic pain features, by the clinician's judgement.",
    ),
    _number("dn4", "pain.dn4", "DN4 neuropathic pain questionnaire, 0-10."),
    _number("lanss", "pain.lanss", "LANSS pain scale, 0-24."),
    _number("paindetect", "pain.paindetect", "painDETECT questionnaire, -1 to 38."),
    _category(
        "target_pain",
        "pain.target_pain (else pain.leg_nrs, pain.back_nrs)",
        "The pain SCS would treat: as recorded, else the leg pain when leg >= back, "
        "else the back pain.",
        tuple(t.value for t in TargetPain),
    ),
    _number(
        "target_nrs",
        "pain.target_pain, pain.leg_nrs, pain.back_nrs",
        "Intensity of the target pain, NRS 0-10.",
    ),
    _number("pain_months", "pain.duration_months", "Months of this pain."),
    _number(
        "exercise_weeks",
        f"{_EX_TRIAL}.start_date, duration_weeks, operations[].date, assessment_date",
        "Weeks of structured exercise therapy since the last operation. Of the longest "
        "adequate programme (0 when none is on record; unknown for an undated programme).",
    ),
    _category(
        "exercise_adherence",
        f"{_EX_TRIAL}.adherence",
        "Adherence to that exercise programme.",
        tuple(a.value for a in Adherence),
    ),
    _flag(
        "opioid_in_use",
        _OP,
        "An opioid is in current use: one with no stop date before the assessment (a "
        "stopped one was tried, never in use; an analgesic treatment with an opioid, "
        "when no opioid is listed, counts unless its weeks ended before the assessment).",
    ),
    _flag(
        "opioid_benefit",
        f"{_OP}.benefit",
        "The opioids bring worthwhile benefit (with none current, the last one stopped).",
    ),
    _category(
        "opioid_side_effects",
        f"{_OP}.side_effects",
        "Worst side effects of the opioids (with none current, of the last one stopped).",
        tuple(s.value for s in SideEffects),
    ),
    _flag(
        "mme_threshold_applies",
        f"{_OP}.ingredient",
        "An MME threshold applies: a current opioid other than buprenorphine, which the "
        "MME table does not convert.",
    ),
    _number(
        "mme_per_day",
        f"{_OP}.daily_dose_mg",
        "Morphine milligram equivalents a day of the current opioids: each dose times the "
        "MME table's factor (an MME recorded instead of the dose as given; buprenorphine not "
        "converted); unknown while a dose is.",
    ),
    _number(
        "mme_per_day_at_least",
        f"{_OP}.daily_dose_mg",
        "MME a day of the current opioids whose dose is known: all of it when every dose "
        "is, a floor while one is not.",
    ),
    _flag(
        "block_on_record", "treatments[medial_branch_block]", "A medial branch block is on record."
    ),
    _number(
        "block_relief_percent",
        f"{_BLOCKS}.relief_percent",
        "Relief from the medial branch block. Of the recent blocks at the level that decides: "
        "the lowest when positive, else the highest of any recent block.",
    ),
    _category(
        "block_reading",
        f"{_BLOCKS}.relief_percent, start_date, levels",
        "What the recent medial branch blocks show. At the best level: positive, a second "
        "block needed (dual paradigm), discordant, negative, or none within the window "
        "(unknown where a block's relief or date is unrecorded).",
        tuple(r.value for r in BlockReading if r is not BlockReading.INCOMPLETE),
    ),
    _category(
        "block_levels",
        f"{_BLOCKS}.levels",
        "Levels of the medial branch blocks. Those that give the best reading (unknown "
        "where a level is unrecorded).",
        (),
    ),
    _flag("rf_on_record", "treatments[radiofrequency_denervation]", "Radiofrequency is on record."),
    _number("rf_relief_percent", f"{_RF}.relief_percent", "Relief from radiofrequency."),
    _number(
        "rf_relief_months",
        f"{_RF}.relief_duration_months",
        "Months radiofrequency relief lasted.",
    ),
    _number(
        "rf_months",
        f"{_RF}.start_date, assessment_date",
        "Whole calendar months since the most recent radiofrequency.",
    ),
    _flag(
        "trigger_zone_treatment_benefit",
        f"{_latest(TreatmentKind.TRIGGER_ZONE_TREATMENT)}.benefit",
        "Trigger-zone treatment on record brought worthwhile benefit (no: tried without effect).",
    ),
    _category(
        "trigger_zone_treatment_date",
        f"{_latest(TreatmentKind.TRIGGER_ZONE_TREATMENT)}.start_date",
        "When the most recent trigger-zone treatment started (ISO 8601).",
        (),
    ),
    _flag(
        "psychological_therapy_benefit",
        f"{_latest(TreatmentKind.PSYCHOLOGICAL_THERAPY)}.benefit",
        "Psychological therapy on record brought worthwhile benefit (no: tried without effect).",
    ),
    _category(
        "psychological_therapy_date",
        f"{_latest(TreatmentKind.PSYCHOLOGICAL_THERAPY)}.start_date",
        "When the most recent psychological therapy started (ISO 8601).",
        (),
    ),
    _flag("scs_trial_on_record", "treatments[scs_trial]", "An SCS trial is on record."),
    _number("scs_trial_relief_percent", f"{_TRIAL}.relief_percent", "Relief in the SCS trial."),
    _category(
        "scs_trial_analgesic_use",
        f"{_TRIAL}.analgesic_use",
        "Analgesic use during the SCS trial, against before it.",
        tuple(a.value for a in AnalgesicUse),
    ),
    _category(
        "scs_trial_activity",
        f"{_TRIAL}.activity",
        "Activity during the SCS trial, against before it.",
        tuple(a.value for a in Activity),
    ),
    _flag(
        "scs_trial_wishes_to_proceed",
        f"{_TRIAL}.wishes_to_proceed",
        "After the SCS trial the patient wishes to proceed to an implant.",
    ),
    _flag(
        "scs_trial_technically_adequate",
        f"{_TRIAL}.technically_adequate",
        "The SCS trial's stimulation covered the painful area.",
    ),
    _flag("scs_implant_on_record", "treatments[scs_implant]", "An SCS implant is on record."),
    _number(
        "scs_implant_relief_percent", f"{_IMPLANT}.relief_percent", "Relief from the SCS implant."
    ),
    _number(
        "scs_trial_months",
        f"{_TRIAL}.start_date, assessment_date",
        "Calendar months since the most recent SCS trial, a month begun counting whole.",
    ),
    _number(
        "red_flag_screen_months",
        "red_flags.screened_on, assessment_date",
        "Calendar months since the red-flag screen, a month begun counting whole "
        "(0: screened at this assessment).",
    ),
    _category(
        "red_flag_screen_date",
        "red_flags.screened_on, assessment_date",
        "The day of the red-flag screen (ISO 8601): the assessment's, where the record "
        "gives no other.",
        (),
    ),
    _number(
        "phq9_months",
        "psychosocial.phq9_date, assessment_date",
        "Calendar months since the PHQ-9 was scored, a month begun counting whole "
        "(0: at this assessment).",
    ),
    _number(
        "gad7_months",
        "psychosocial.gad7_date, assessment_date",
        "Calendar months since the GAD-7 was scored, a month begun counting whole "
        "(0: at this assessment).",
    ),
    # Dates named by the stale-input warnings (pathway.md 10), and the block's age.
    _category(
        "phq9_date",
        "psychosocial.phq9_date",
        "When the PHQ-9 was scored (ISO 8601; the assessment date when not given).",
        (),
    ),
    _category(
        "gad7_date",
        "psychosocial.gad7_date",
        "When the GAD-7 was scored (ISO 8601; the assessment date when not given).",
        (),
    ),
    _category(
        "block_date",
        f"{_MBB}.start_date",
        "Date of the most recent medial branch block (ISO 8601).",
        (),
    ),
    _number(
        "block_months",
        f"{_MBB}.start_date, assessment_date",
        "Calendar months since the most recent medial branch block, a month begun counting whole.",
    ),
    _category(
        "scs_trial_date",
        f"{_TRIAL}.start_date",
        "Date of the most recent SCS trial (ISO 8601).",
        (),
    ),
    _category(
        "suicide_risk_since_phq9",
        "psychosocial.suicide_risk_assessment",
        "Outcome of a suicide-risk assessment dated on or after the PHQ-9.",
        tuple(r.value for r in SuicideRisk),
    ),
    _flag(
        "psychological_evaluation_since_scores",
        "psychosocial.psychological_evaluation_date",
        "The psychological evaluation is dated on or after the PHQ-9 and GAD-7.",
    ),
    *(
        _category(
            name,
            f"psychosocial.factors.{name} (else psychosocial.psychological_evaluation)",
            f"{info.description} As recorded; unrecorded after a psychological "
            "evaluation without concerns: absent.",
            tuple(level.value for level in FactorLevel),
        )
        for name, info in PsychosocialFactors.model_fields.items()
    ),
    _number(
        "severe_psychosocial_factors",
        "psychosocial.factors",
        "How many of the eight psychosocial factors are recorded as severe.",
    ),
    _number(
        "modifiable_psychosocial_factors",
        "psychosocial.factors",
        "How many of the eight psychosocial factors are recorded as modifiable.",
    ),
    _category(
        "surgical_opinion",
        "surgical_opinion",
        "The spinal surgeon's opinion on record.",
        tuple(o.value for o in SurgicalOpinion),
    ),
    _flag("in_fitness_programme", "in_fitness_programme", "Already in a fitness programme."),
    _number(
        "oswestry_disability_index", "oswestry_disability_index", "Oswestry Disability Index, %."
    ),
)

_SPECS = _DERIVED_SPECS + tuple(spec for facts in _DIRECT.values() for spec, _ in facts)

#: Every fact rules may name, by name.
FACTS: Mapping[str, FactSpec] = {spec.name: spec for spec in _SPECS}
#: The facts that can hold a vocabulary enum (categories): turned into plain strings.
_CATEGORY_FACTS = tuple(spec.name for spec in _SPECS if spec.type == "category")

#: Facts that record a step of the ladder (taken or not, and how it went), by the
#: rung whose step it is. The ladder view asks whether a rung further up could
#: still open once the steps below are taken: it treats these as not yet known.
STEP_RECORDS: Mapping[str, Stage] = {
    "exercise_weeks": Stage.CONSERVATIVE,
    "exercise_adherence": Stage.CONSERVATIVE,
    "block_on_record": Stage.RADIOFREQUENCY,
    "block_relief_percent": Stage.RADIOFREQUENCY,
    "rf_months": Stage.RADIOFREQUENCY,
    "rf_on_record": Stage.RADIOFREQUENCY,
    "rf_relief_percent": Stage.RADIOFREQUENCY,
    "rf_relief_months": Stage.RADIOFREQUENCY,
    "scs_team_assessment_done": Stage.NEUROMODULATION,
    "psychological_evaluation": Stage.NEUROMODULATION,
    "scs_trial_on_record": Stage.NEUROMODULATION,
    "scs_trial_relief_percent": Stage.NEUROMODULATION,
    "scs_trial_analgesic_use": Stage.NEUROMODULATION,
    "scs_trial_activity": Stage.NEUROMODULATION,
    "scs_trial_wishes_to_proceed": Stage.NEUROMODULATION,
    "scs_trial_technically_adequate": Stage.NEUROMODULATION,
    "scs_implant_on_record": Stage.NEUROMODULATION,
    "scs_implant_relief_percent": Stage.NEUROMODULATION,
}


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    """Days in a month (``calendar.monthrange`` also works out the weekday: slower)."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def calendar_months(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end``: 2 July to 2 October is 3, to 1 October 2.

    A month is complete on the same day of the month; when the later month is
    shorter, on its last day (31 January to 30 April is 3). Counting whole
    months, never rounding, keeps every month threshold on its calendar date.
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    last_day = _days_in_month(end.year, end.month)
    if end.day < start.day and end.day != last_day:
        months -= 1
    return max(months, 0)


def add_calendar_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to that month's last day (30 Nov + 3 = 28 Feb)."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, _days_in_month(year, month + 1)))


def months_begun(start: date, end: date) -> int:
    """Calendar months from ``start`` to ``end``, a month begun counting whole.

    An age limit written "older than N months" is kept by ``months_begun <= N``:
    1 July to 1 October is 3 (exactly three months old, not older), 30 June to
    1 October is 4 (three months and a day). Whole months alone
    (:func:`calendar_months`) cannot tell those apart.
    """
    months = calendar_months(start, end)
    return months + 1 if end > add_calendar_months(start, months) else months


def _most_recent(treatments: list[Treatment], kind: TreatmentKind) -> Treatment | None:
    """The latest treatment of a kind, independent of list order and of content.

    Undated entries count as oldest. Several treatments of the kind on the latest
    day (blocks at two levels, two analgesics) are read together: a detail counts
    only where they all give the same value, and is unknown where they differ, so
    that no entry's content is preferred to another's.
    """
    latest: list[Treatment] = []
    latest_date = date.min
    for treatment in treatments:
        if treatment.kind is kind:
            started = treatment.start_date or date.min
            if not latest or started > latest_date:
                latest, latest_date = [treatment], started
            elif started == latest_date:
                latest.append(treatment)
    if len(latest) < 2:
        return latest[0] if latest else None
    agreed = {
        name: value
        for name, value in latest[0]
        if all(getattr(other, name) == value for other in latest[1:])
    }
    return Treatment.model_construct(**{name: agreed.get(name) for name in Treatment.model_fields})


def _opioid_facts(record: PatientRecord, table: MmeTable) -> dict[str, FactValue | None]:
    """Whether an opioid is current, how it serves the patient, and its MME a day.

    The opioids listed with doses (``medicines.opioids``) decide. Where none is
    listed, an analgesic treatment with an opioid counts as current unless its
    recorded weeks ended before the assessment: the safer reading (pathway.md
    5.2 gives no rule for it), since "in use" brings the review, the advice not
    to stop abruptly and the co-prescription cautions, and its unknown dose is
    then listed as missing; "not in use" would tell the patient not to start one.
    """
    assessed = record.assessment_date
    listed = record.medicines.opioids
    if listed:
        current = current_opioids(record.medicines, assessed)
        applies, total, at_least = mme_per_day(current, table)
        described = current or [_last_stopped(listed)]
        return {
            "opioid_in_use": bool(current),
            "opioid_benefit": _agreed([o.benefit for o in described]),
            "opioid_side_effects": _worst([o.side_effects for o in described]),
            "mme_threshold_applies": applies,
            "mme_per_day": total,
            "mme_per_day_at_least": at_least,
        }
    analgesics = [t for t in record.treatments if t.kind is TreatmentKind.ANALGESICS]
    opioid = _most_recent([t for t in analgesics if t.opioid], TreatmentKind.ANALGESICS)
    in_use: bool | None
    if opioid is not None and not _ended(opioid, assessed):
        in_use = True
    elif any(t.opioid is None for t in analgesics):
        in_use = None
    else:
        in_use = False
    return {
        "opioid_in_use": in_use,
        "opioid_benefit": None if opioid is None else opioid.benefit,
        "opioid_side_effects": None if opioid is None else opioid.side_effects,
        # An opioid without its ingredient or dose: the threshold applies, the MME is unknown.
        "mme_threshold_applies": in_use,
        "mme_per_day": None,
        "mme_per_day_at_least": 0 if in_use else None,
    }


def _ended(treatment: Treatment, assessed: date) -> bool:
    """A treatment whose recorded weeks ended before the assessment (it was tried)."""
    if treatment.start_date is None or treatment.duration_weeks is None:
        return False
    return treatment.start_date + timedelta(weeks=treatment.duration_weeks) < assessed


def _last_stopped(opioids: list[OpioidUse]) -> OpioidUse:
    return max(opioids, key=lambda o: (o.stop_date or date.min, o.start_date or date.min))


def _agreed(values: list[bool | None]) -> bool | None:
    """False when any is without benefit; True when all bring it; else unknown."""
    if False in values:
        return False
    return True if values and all(values) else None


def _worst(values: list[SideEffects | None]) -> SideEffects | None:
    """The worst side effects; unknown when one is unknown and none is severe."""
    if SideEffects.SEVERE in values:
        return SideEffects.SEVERE
    if not values or None in values:
        return None
    order = list(SideEffects)
    return max((v for v in values if v is not None), key=order.index)


def _iso(treatment: Treatment | None) -> str | None:
    """When a treatment started, as the ISO date a template quotes."""
    started = None if treatment is None else treatment.start_date
    return None if started is None else started.isoformat()


def _target(record: PatientRecord) -> dict[str, FactValue | None]:
    """The target pain and its intensity: as recorded, else leg when leg >= back.

    Leg-predominant means leg >= back everywhere (pathway.md 4, 7.1); with either
    rating unknown and no target recorded, the target is unknown.
    """
    pain = record.pain
    target = pain.target_pain
    if target is None and pain.leg_nrs is not None and pain.back_nrs is not None:
        target = TargetPain.LEG if pain.leg_nrs >= pain.back_nrs else TargetPain.BACK
    if target is None:
        return {"target_pain": None, "target_nrs": None}
    return {
        "target_pain": target,
        "target_nrs": pain.leg_nrs if target is TargetPain.LEG else pain.back_nrs,
    }


def _factors(mood: Psychosocial) -> dict[str, FactValue | None]:
    """The eight psychosocial factors, and how many are severe or modifiable (7.2).

    A factor left unrecorded after a psychological evaluation without concerns reads
    as absent (the evaluation found none); an evaluation with concerns holds SCS by
    its own rule, the stricter of the two.
    """
    cleared = mood.psychological_evaluation is PsychologicalEvaluation.NO_CONCERNS
    levels: dict[str, FactValue | None] = {
        name: level if level is not None or not cleared else FactorLevel.ABSENT
        for name, level in mood.factors
    }
    recorded = list(levels.values())
    return {
        **levels,
        "severe_psychosocial_factors": recorded.count(FactorLevel.SEVERE),
        "modifiable_psychosocial_factors": recorded.count(FactorLevel.MODIFIABLE),
    }


def extract_facts(
    record: PatientRecord,
    parameters: Mapping[str, ParameterValue],
    *,
    mme: MmeTable | None = None,
) -> dict[str, FactValue]:
    """Read the catalogue's facts from a validated record; unknown items are left out.

    ``parameters`` are the rule set's parameter values (``RuleSet.parameter_values``):
    the facts that judge a course of treatment (the conservative trial since the last
    operation, the blocks by level) read the site's thresholds (``courses``).
    ``mme`` is the rule set's MME table (``RuleSet.mme``); without it no dose is
    converted, and MME a day is known only where the record gives it.
    """
    pain, treatments = record.pain, record.treatments
    last_operation = max(operation.date for operation in record.operations)

    block = _most_recent(treatments, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    trigger_zones = _most_recent(treatments, TreatmentKind.TRIGGER_ZONE_TREATMENT)
    therapy = _most_recent(treatments, TreatmentKind.PSYCHOLOGICAL_THERAPY)
    rf = _most_recent(treatments, TreatmentKind.RADIOFREQUENCY_DENERVATION)
    trial = _most_recent(treatments, TreatmentKind.SCS_TRIAL)
    implant = _most_recent(treatments, TreatmentKind.SCS_IMPLANT)
    opioids = _opioid_facts(record, mme or {})

    assessed = record.assessment_date
    mood = record.psychosocial
    phq9_on = mood.phq9_date or assessed
    scores_on = max(phq9_on, mood.gad7_date or assessed)
    risk = mood.suicide_risk_assessment
    evaluated_on = mood.psychological_evaluation_date
    trial_on = None if trial is None else trial.start_date
    block_on = None if block is None else block.start_date
    rf_on = None if rf is None else rf.start_date

    values: dict[str, FactValue | None] = {
        **_target(record),
        **_factors(mood),
        "age_years": record.age_years,
        "operation_count": len(record.operations),
        "months_since_last_operation": calendar_months(last_operation, record.assessment_date),
        "last_operation_date": last_operation.isoformat(),
        "back_nrs": pain.back_nrs,
        "leg_nrs": pain.leg_nrs,
        "radiating_leg_pain": pain.radiating_leg_pain,
        "neuropathic_features": pain.neuropathic_features,
        "dn4": pain.dn4,
        "lanss": pain.lanss,
        "paindetect": pain.paindetect,
        "pain_months": pain.duration_months,
        **opioids,
        "block_on_record": block is not None,
        "rf_on_record": rf is not None,
        "rf_relief_percent": None if rf is None else rf.relief_percent,
        "rf_relief_months": None if rf is None else rf.relief_duration_months,
        "rf_months": None if rf_on is None else calendar_months(rf_on, assessed),
        "trigger_zone_treatment_benefit": None if trigger_zones is None else trigger_zones.benefit,
        "trigger_zone_treatment_date": _iso(trigger_zones),
        "psychological_therapy_benefit": None if therapy is None else therapy.benefit,
        "psychological_therapy_date": _iso(therapy),
        "scs_trial_on_record": trial is not None,
        "scs_trial_relief_percent": None if trial is None else trial.relief_percent,
        "scs_trial_analgesic_use": None if trial is None else trial.analgesic_use,
        "scs_trial_activity": None if trial is None else trial.activity,
        "scs_trial_wishes_to_proceed": None if trial is None else trial.wishes_to_proceed,
        "scs_trial_technically_adequate": None if trial is None else trial.technically_adequate,
        "scs_implant_on_record": implant is not None,
        "scs_implant_relief_percent": None if implant is None else implant.relief_percent,
        "scs_trial_months": None if trial_on is None else months_begun(trial_on, assessed),
        "red_flag_screen_months": months_begun(record.red_flags.screened_on or assessed, assessed),
        "red_flag_screen_date": (record.red_flags.screened_on or assessed).isoformat(),
        "phq9_months": None if mood.phq9 is None else months_begun(phq9_on, assessed),
        "gad7_months": (
            None if mood.gad7 is None else months_begun(mood.gad7_date or assessed, assessed)
        ),
        "phq9_date": None if mood.phq9 is None else phq9_on.isoformat(),
        "gad7_date": None if mood.gad7 is None else (mood.gad7_date or assessed).isoformat(),
        "block_date": None if block_on is None else block_on.isoformat(),
        "block_months": None if block_on is None else months_begun(block_on, assessed),
        "scs_trial_date": None if trial_on is None else trial_on.isoformat(),
        "suicide_risk_since_phq9": (
            risk.outcome if risk is not None and risk.date >= phq9_on else None
        ),
        "psychological_evaluation_since_scores": (
            None if evaluated_on is None else evaluated_on >= scores_on
        ),
        "surgical_opinion": record.surgical_opinion,
        "in_fitness_programme": record.in_fitness_programme,
        "oswestry_disability_index": record.oswestry_disability_index,
    }
    values |= exercise_facts(record, last_operation, parameters)
    values |= block_facts(record, parameters, months_begun)
    for section, facts in _DIRECT.items():
        items = getattr(record, section)
        for spec, attribute in facts:
            values[spec.name] = getattr(items, attribute)
    # Categories leave as plain strings, so results and the engine never see enum types
    # (only category facts can hold one: the others are not looked at).
    for name in _CATEGORY_FACTS:
        value = values.get(name)
        if isinstance(value, StrEnum):
            values[name] = value.value
    return {name: value for name, value in values.items() if value is not None}
