"""The facts of one record: read, selected, counted and measured, never judged.

Extraction makes no clinical decisions: it selects (the most recent treatment
of a kind), counts and measures time. Thresholds and judgements live in the
rule files. An unknown item is absent from the extracted facts, never False.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum

from ..courses import ParameterValue, block_facts, exercise_facts
from ..mme import MmeTable, current_opioids, mme_per_day
from ..record import (
    FactorLevel,
    OpioidUse,
    PatientRecord,
    PsychologicalEvaluation,
    Psychosocial,
    RedFlags,
    SideEffects,
    TargetPain,
    Treatment,
    TreatmentKind,
)
from .catalogue import _CATEGORY_FACTS, _DIRECT, FactValue
from .months import calendar_months, months_begun, months_reached

__all__ = ["extract_facts"]


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


def _pain_months_date(
    record: PatientRecord, parameters: Mapping[str, ParameterValue]
) -> str | None:
    """The day the months of pain reach the SCS threshold, while they have not yet.

    The follow-up's own date (``pain_six_months``), so that a "not yet" says when.
    """
    needed, had = parameters.get("scs_min_pain_months"), record.pain.duration_months
    if not isinstance(needed, int | float) or had is None or had >= needed:
        return None
    return months_reached(record.assessment_date, had, float(needed)).isoformat()


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


def _screen_date(flags: RedFlags, assessed: date) -> str | None:
    """The red-flag screen's day: as recorded, else the assessment's when a flag is answered.

    With no flag answered and no date there is no screen to date (never "screened
    today" for a screen not done).
    """
    if flags.screened_on is not None:
        return flags.screened_on.isoformat()
    answered = (getattr(flags, name) is not None for name in _SCREEN_ITEMS)
    return assessed.isoformat() if any(answered) else None


#: The red-flag screen's answers (its date and the infection's systemic signs aside).
_SCREEN_ITEMS = tuple(
    name
    for name in RedFlags.model_fields
    if name not in ("screened_on", "infection_systemic_signs")
)


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
        "scs_pain_months_date": _pain_months_date(record, parameters),
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
        "red_flag_screen_date": _screen_date(record.red_flags, assessed),
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
