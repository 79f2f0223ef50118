"""The catalogue of facts: each fact's name, type, the record field it reads, in words.

Every fact a rule may name is listed here once (:data:`FACTS`): the facts read
straight from a record section, and those extraction derives (selected,
counted or measured). The loader refuses a fact the catalogue lacks; the rule
catalogue and the missing information name each fact's record field from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel

from ..courses import BlockReading
from ..record import (
    Activity,
    Adherence,
    AnalgesicUse,
    Examination,
    FactorLevel,
    Findings,
    Medicines,
    Psychosocial,
    PsychosocialFactors,
    RedFlags,
    ScsWorkup,
    SideEffects,
    SuicideRisk,
    SurgicalOpinion,
    TargetPain,
    TreatmentKind,
)
from ..vocabulary import Stage

__all__ = ["FACTS", "STEP_RECORDS", "FactSpec", "FactType", "FactValue"]

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
    _category(
        "scs_pain_months_date",
        "pain.duration_months, assessment_date",
        "The day the months of pain reach the SCS threshold (ISO 8601), while they have not.",
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
        "gives no other and a flag is answered; unknown with no flag answered.",
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
