"""The typed patient record: everything the pathway can say about a patient.

Every clinical item may be *unknown* (``None``): not assessed is not the same as
"no", and the rules report unknown items as missing information instead of
treating them as negative. Validation rejects values outside their scale and
contradictory data with a pydantic ``ValidationError`` that names the field;
``hide_input_in_errors`` keeps patient values out of the error text.

The items follow ``docs/record.md`` (and the clinical specification, section 2).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "Adherence",
    "Examination",
    "Findings",
    "Medicines",
    "OperationKind",
    "Pain",
    "PatientRecord",
    "PsychologicalEvaluation",
    "Psychosocial",
    "RedFlags",
    "ScsWorkup",
    "SideEffects",
    "SpineOperation",
    "SuicideRisk",
    "SuicideRiskAssessment",
    "SurgicalOpinion",
    "Treatment",
    "TreatmentKind",
]


def _two_decimals(value: float) -> float:
    """Keep measurements to 0.01: finer is noise, and it keeps numbers in plain notation.

    durable_rules 2.0.28 refuses some numbers written in exponent form (1e-05,
    1e+16); rounded, bounded values never need it.
    """
    return round(value, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


NRS = Annotated[
    int, Field(ge=0, le=10, description="Numeric rating scale, 0 (none) to 10 (worst).")
]
Percent = Annotated[float, Field(ge=0, le=100), AfterValidator(_two_decimals)]
Months = Annotated[float, Field(ge=0, le=1200), AfterValidator(_two_decimals)]
Weeks = Annotated[float, Field(ge=0, le=5200), AfterValidator(_two_decimals)]
Flag = bool | None


def _item(description: str) -> Any:
    """An item that may be unknown (None, the default), with the description clinicians read."""
    return Field(default=None, description=description)


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        str_strip_whitespace=True,
    )


class OperationKind(StrEnum):
    """Kind of lumbar spine operation."""

    DECOMPRESSION_DISCECTOMY = "decompression_discectomy"
    LAMINECTOMY = "laminectomy"
    FUSION = "fusion"
    OTHER = "other"


class SpineOperation(_Model):
    """One spine operation; the pathway counts them and dates the last one."""

    date: Annotated[date, Field(description="Date of the operation.")]
    kind: OperationKind = Field(description="Kind of operation.")
    levels: list[Annotated[str, Field(pattern=r"^[LST]\d{1,2}(-[LST]\d{1,2})?$")]] | None = Field(
        default=None, description='Operated levels, e.g. "L4-L5" or "L5-S1".'
    )


class Pain(_Model):
    """Current pain, rated on 0-10 numeric rating scales."""

    back_nrs: NRS | None = Field(default=None, description="Back pain now, 0-10 (NRS).")
    leg_nrs: NRS | None = Field(default=None, description="Leg pain now, 0-10 (NRS).")
    radiating_leg_pain: Flag = Field(default=None, description="Pain radiates into a leg.")
    neuropathic_features: Flag = _item("Neuropathic features of the pain.")
    duration_months: Months | None = Field(default=None, description="Months of this pain.")


class Findings(_Model):
    """Findings that point to a cause of the persistent pain."""

    facet_arthropathy: Flag = _item("Facet-joint arthropathy.")
    adjacent_segment_degeneration: Flag = _item("Degeneration of the segment next to a fusion.")
    foraminal_stenosis: Flag = _item("Foraminal stenosis.")
    internal_disc_disruption: Flag = _item("Internal disc disruption.")
    recurrent_disc_herniation: Flag = _item("Recurrent disc herniation.")
    concordant_radiculopathy: Flag = _item("Radicular signs matching the imaging finding.")
    epidural_fibrosis: Flag = _item("Epidural fibrosis (scar).")
    pseudarthrosis: Flag = _item(
        "Known pseudarthrosis (failed fusion) or instability, imaged and followed."
    )
    hardware_failure: Flag = _item("Known hardware failure, imaged and followed.")
    sacroiliac_joint_pain: Flag = _item("Sacroiliac-joint pain.")
    facet_pain_suspected: Flag = _item(
        "Facet pain suspected clinically: axial pain pattern, paraspinal tenderness "
        "(a clinician's judgement, not imaging; radicular leg pain does not exclude it)."
    )


class RedFlags(_Model):
    """The red-flag screen: signs of a serious cause, each as screened now.

    Every interventional step needs each flag known "no" (pathway.md 3.3). The
    screen is the one done on ``screened_on`` (the assessment date when not given);
    one older than the rule set's ``red_flag_recency_months`` leaves every flag unknown.
    """

    cauda_equina_signs: Flag = _item(
        "New or worsening cauda equina signs: urinary retention or incontinence, faecal "
        "incontinence, saddle anaesthesia, bilateral sciatica, sexual dysfunction."
    )
    progressive_motor_deficit: Flag = _item(
        "New or rapidly progressive motor deficit, e.g. foot drop (also after an SCS trial "
        "or implant)."
    )
    suspected_infection: Flag = _item("Suspected spinal, wound or device infection.")
    infection_systemic_signs: Flag = _item(
        "Systemic signs with the suspected infection: fever, sepsis."
    )
    suspected_structural_failure: Flag = _item(
        "A new suspicion of fracture, hardware failure or gross instability (a known, "
        "stable finding is recorded under findings)."
    )
    suspected_malignancy: Flag = _item(
        "Suspected malignancy: history of cancer with new pain, weight loss or night pain."
    )
    screened_on: date | None = _item(
        "Date of the red-flag screen these answers come from; the assessment date when absent."
    )

    @model_validator(mode="after")
    def _systemic_signs_with_an_infection(self) -> Self:
        if self.suspected_infection is False and self.infection_systemic_signs is True:
            raise ValueError(
                "infection_systemic_signs is yes but suspected_infection is no: "
                "record the suspected infection"
            )
        return self


class TreatmentKind(StrEnum):
    """Kind of treatment tried."""

    EXERCISE_THERAPY = "exercise_therapy"
    ANALGESICS = "analgesics"
    MEDIAL_BRANCH_BLOCK = "medial_branch_block"
    RADIOFREQUENCY_DENERVATION = "radiofrequency_denervation"
    SCS_TRIAL = "scs_trial"
    SCS_IMPLANT = "scs_implant"
    PSYCHOLOGICAL_THERAPY = "psychological_therapy"
    TRIGGER_ZONE_TREATMENT = "trigger_zone_treatment"


class Adherence(StrEnum):
    """How well the patient kept to a treatment."""

    GOOD = "good"
    PARTIAL = "partial"
    POOR = "poor"


class SideEffects(StrEnum):
    """Worst side effects of a treatment."""

    NONE = "none"
    MILD = "mild"
    SEVERE = "severe"


class Treatment(_Model):
    """One treatment tried. A kind absent from the list was not tried.

    When a kind appears more than once, the pathway reads the most recent entry
    (entries of that kind on the most recent day together: details where they agree).
    """

    kind: TreatmentKind = Field(description="Kind of treatment.")
    start_date: date | None = Field(default=None, description="When it started.")
    duration_weeks: Weeks | None = Field(default=None, description="How many weeks it lasted.")
    sessions: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, description="Sessions attended, where it was given in sessions."
    )
    adherence: Adherence | None = Field(default=None, description="How well it was kept to.")
    relief_percent: Percent | None = Field(default=None, description="Pain relief achieved.")
    relief_duration_months: Months | None = Field(
        default=None, description="How long relief lasted."
    )
    side_effects: SideEffects | None = Field(default=None, description="Worst side effects.")
    opioid: Flag = Field(default=None, description="Analgesics only: an opioid is part of it.")
    benefit: Flag = Field(
        default=None,
        description="Analgesics only: the clinician judges that it brings worthwhile benefit.",
    )

    @model_validator(mode="after")
    def _analgesic_items_only_on_analgesics(self) -> Self:
        if self.kind is not TreatmentKind.ANALGESICS:
            for name in ("opioid", "benefit"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is recorded only for analgesics, not for {self.kind}")
        return self


class PsychologicalEvaluation(StrEnum):
    """Result of the psychological evaluation before neuromodulation."""

    NOT_DONE = "not_done"
    NO_CONCERNS = "no_concerns"
    CONCERNS = "concerns"


class SuicideRisk(StrEnum):
    """Outcome of a suicide-risk assessment."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class SuicideRiskAssessment(_Model):
    """A clinician's suicide-risk assessment (pathway.md 3.4)."""

    date: Annotated[date, Field(description="When it was done.")]
    outcome: SuicideRisk = Field(description="Risk found: low, moderate or high.")


class Psychosocial(_Model):
    """Mood, anxiety and the patient's circumstances."""

    phq9: Annotated[int, Field(ge=0, le=27)] | None = _item("PHQ-9 depression score, 0-27.")
    phq9_item9: Annotated[int, Field(ge=0, le=3)] | None = _item(
        "PHQ-9 item 9 (thoughts of being better off dead or of self-harm), 0-3."
    )
    phq9_date: date | None = _item("When the PHQ-9 was scored; the assessment date when absent.")
    gad7: Annotated[int, Field(ge=0, le=21)] | None = _item("GAD-7 anxiety score, 0-21.")
    gad7_date: date | None = _item("When the GAD-7 was scored; the assessment date when absent.")
    suicide_risk_assessment: SuicideRiskAssessment | None = _item(
        "The most recent suicide-risk assessment."
    )
    sleep_disorder: Flag = _item("Sleep disorder.")
    family_problems: Flag = _item("Family problems.")
    economic_problems: Flag = _item("Economic problems.")
    social_problems: Flag = _item("Social problems.")
    active_substance_misuse: Flag = _item("Active substance misuse.")
    psychological_evaluation: PsychologicalEvaluation | None = _item(
        "Result of the psychological evaluation for neuromodulation."
    )
    psychological_evaluation_date: date | None = _item(
        "When the psychological evaluation was done."
    )

    @model_validator(mode="after")
    def _item9_within_total(self) -> Self:
        total, item9 = self.phq9, self.phq9_item9
        if total is not None and item9 is not None:
            if item9 > total:
                raise ValueError("phq9_item9 is larger than the PHQ-9 total it is part of")
            # The other eight items score 3 at most: a total over 24 includes item 9.
            if item9 < total - 24:
                raise ValueError("phq9_item9 is too low for the PHQ-9 total (8 items x 3 = 24)")
        return self


class Medicines(_Model):
    """Medicines the safety sections read (pathway.md 3.4, 3.5)."""

    benzodiazepine: Flag = _item("A benzodiazepine in current use.")
    gabapentinoid: Flag = _item("A gabapentinoid (gabapentin, pregabalin) in current use.")
    nsaid: Flag = _item("An NSAID in current use.")
    antithrombotic: Flag = _item("An anticoagulant or antiplatelet in current use.")
    antithrombotic_can_pause: Flag = _item(
        "The anticoagulant or antiplatelet can be paused for a procedure."
    )

    @model_validator(mode="after")
    def _pause_only_with_an_antithrombotic(self) -> Self:
        if self.antithrombotic is False and self.antithrombotic_can_pause is not None:
            raise ValueError(
                "antithrombotic_can_pause is recorded but no anticoagulant or antiplatelet is"
            )
        return self


class SurgicalOpinion(StrEnum):
    """The spinal surgeon's opinion on record (pathway.md 8)."""

    NOT_SOUGHT = "not_sought"
    OPERATION_ADVISED = "operation_advised"
    NOT_SURGICAL = "not_surgical"
    PATIENT_DECLINES = "patient_declines"


class Examination(_Model):
    """Examination for the interdisciplinary algorithm."""

    myofascial_trigger_zones: Flag = _item("Myofascial trigger zones.")
    skin_allodynia: Flag = _item("Zones of skin allodynia.")
    scar_trigger_zones: Flag = _item("Trigger zones of the operation scar.")
    scar_allodynia: Flag = _item("Allodynia of the operation scar.")


class ScsWorkup(_Model):
    """Work-up for spinal cord stimulation: team assessment and contraindications."""

    team_assessment_done: Flag = _item("Multidisciplinary assessment for SCS has been done.")
    active_infection: Flag = _item("Active infection.")
    uncorrectable_coagulopathy: Flag = _item(
        "A coagulopathy that cannot be corrected (an antithrombotic that cannot be paused "
        "is recorded under medicines)."
    )
    unable_to_operate_device: Flag = _item("Unable to operate a stimulator.")
    pregnancy: Flag = _item("Pregnancy: defers every X-ray-guided step.")
    mri_need_incompatible: Flag = _item("Foreseeable need for MRI that the device cannot meet.")
    cardiac_implantable_device: Flag = _item(
        "A cardiac implantable device (pacemaker, defibrillator): check compatibility."
    )


class PatientRecord(_Model):
    """A patient after lumbar spine surgery, as the pathway reads them.

    ``assessment_date`` and at least one operation are required: the pathway is
    for patients who have had spine surgery, and its time criteria are measured
    to the assessment. Everything else may be left unknown.
    """

    patient_id: str | None = Field(
        default=None,
        max_length=128,
        description="Opaque identifier, echoed into nothing but the caller's own data.",
    )
    assessment_date: date = Field(description="Date of this assessment.")
    age_years: Annotated[int, Field(ge=18, le=120)] | None = Field(
        default=None, description="Age in years (adults only)."
    )
    operations: list[SpineOperation] = Field(min_length=1)
    pain: Pain = Field(default_factory=Pain)
    findings: Findings = Field(default_factory=Findings)
    red_flags: RedFlags = Field(default_factory=RedFlags)
    treatments: list[Treatment] = Field(default_factory=list)
    psychosocial: Psychosocial = Field(default_factory=Psychosocial)
    examination: Examination = Field(default_factory=Examination)
    scs: ScsWorkup = Field(default_factory=ScsWorkup)
    medicines: Medicines = Field(default_factory=Medicines)
    surgical_opinion: SurgicalOpinion | None = _item("The spinal surgeon's opinion on record.")
    in_fitness_programme: Flag = _item("Takes part in a fitness programme.")
    oswestry_disability_index: Percent | None = Field(default=None, description="ODI, 0-100 %.")

    @field_validator("assessment_date")
    @classmethod
    def _assessment_not_in_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("the assessment date is in the future")
        return value

    @model_validator(mode="after")
    def _dates_not_after_assessment(self) -> Self:
        dated = {
            "red_flags.screened_on": self.red_flags.screened_on,
            "psychosocial.phq9_date": self.psychosocial.phq9_date,
            "psychosocial.gad7_date": self.psychosocial.gad7_date,
            "psychosocial.psychological_evaluation_date": (
                self.psychosocial.psychological_evaluation_date
            ),
            "psychosocial.suicide_risk_assessment.date": (
                None
                if self.psychosocial.suicide_risk_assessment is None
                else self.psychosocial.suicide_risk_assessment.date
            ),
        }
        for name, when in dated.items():
            if when is not None and when > self.assessment_date:
                raise ValueError(f"{name} is dated after the assessment")
        return self

    @field_validator("operations")
    @classmethod
    def _operations_before_assessment(
        cls, value: list[SpineOperation], info: ValidationInfo
    ) -> list[SpineOperation]:
        assessed = info.data.get("assessment_date")
        for index, operation in enumerate(value):
            if assessed is not None and operation.date > assessed:
                raise ValueError(f"operation {index} is dated after the assessment")
        return value

    @field_validator("treatments")
    @classmethod
    def _treatments_consistent(
        cls, value: list[Treatment], info: ValidationInfo
    ) -> list[Treatment]:
        assessed = info.data.get("assessment_date")
        for index, treatment in enumerate(value):
            started = treatment.start_date
            if assessed is not None and started is not None and started > assessed:
                raise ValueError(f"treatment {index} starts after the assessment")
        trial_dates = [
            t.start_date for t in value if t.kind is TreatmentKind.SCS_TRIAL and t.start_date
        ]
        first_trial = min(trial_dates, default=None)
        for index, treatment in enumerate(value):
            implanted = (
                treatment.start_date if treatment.kind is TreatmentKind.SCS_IMPLANT else None
            )
            if implanted is not None and first_trial is not None and implanted < first_trial:
                raise ValueError(f"treatment {index} (scs_implant) is dated before the SCS trial")
        return value
