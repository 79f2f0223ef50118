"""Mood, anxiety, suicide risk and the psychosocial factors."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from fbss_pathway.record.scales import NUMBER, Flag, RecordPart, item


class PsychologicalEvaluation(StrEnum):
    """Result of the psychological evaluation before spinal cord stimulation."""

    NOT_DONE = "not_done"
    NO_CONCERNS = "no_concerns"
    CONCERNS = "concerns"


class SuicideRisk(StrEnum):
    """Outcome of a suicide-risk assessment."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class SuicideRiskAssessment(RecordPart):
    """A clinician's suicide-risk assessment (pathway.md 3.4)."""

    date: Annotated[date, Field(description="When it was done.")]
    outcome: SuicideRisk = Field(description="Risk found: low, moderate or high.")


class FactorLevel(StrEnum):
    """How far a psychosocial factor stands in the way of SCS (Thomson 2020)."""

    ABSENT = "absent"
    MODIFIABLE = "modifiable"
    SEVERE = "severe"


class PsychosocialFactors(RecordPart):
    """The eight psychosocial factors of the European e-health SCS tool (pathway.md 7.2).

    Each is absent, modifiable (to be addressed; not an exclusion) or severe
    (SCS waits until it is addressed). Unknown while a psychological evaluation
    is on record: read from it.
    """

    lack_of_engagement: FactorLevel | None = item("Lack of engagement with treatment.")
    dysfunctional_coping: FactorLevel | None = item("Dysfunctional coping with pain.")
    unrealistic_expectations: FactorLevel | None = item("Unrealistic expectations of SCS.")
    secondary_gain: FactorLevel | None = item("Secondary gain.")
    inadequate_daily_activity: FactorLevel | None = item("Inadequate daily activity.")
    problematic_social_support: FactorLevel | None = item("Problematic social support.")
    psychological_distress: FactorLevel | None = item("Psychological distress.")
    unwilling_to_reduce_opioids: FactorLevel | None = item(
        "Unwillingness to reduce high-dose opioids."
    )


class Psychosocial(RecordPart):
    """Mood, anxiety and the patient's circumstances."""

    phq9: Annotated[int, NUMBER, Field(ge=0, le=27)] | None = item("PHQ-9 depression score, 0-27.")
    phq9_item9: Annotated[int, NUMBER, Field(ge=0, le=3)] | None = item(
        "PHQ-9 item 9 (thoughts of being better off dead or of self-harm), 0-3."
    )
    phq9_date: date | None = item("When the PHQ-9 was scored; the assessment date when absent.")
    gad7: Annotated[int, NUMBER, Field(ge=0, le=21)] | None = item("GAD-7 anxiety score, 0-21.")
    gad7_date: date | None = item("When the GAD-7 was scored; the assessment date when absent.")
    suicide_risk_assessment: SuicideRiskAssessment | None = item(
        "The most recent suicide-risk assessment."
    )
    sleep_disorder: Flag = item("Sleep disorder.")
    family_problems: Flag = item("Family problems.")
    economic_problems: Flag = item("Economic problems.")
    social_problems: Flag = item("Social problems.")
    active_substance_misuse: Flag = item("Active substance misuse.")
    psychological_evaluation: PsychologicalEvaluation | None = item(
        "Result of the psychological evaluation for spinal cord stimulation."
    )
    psychological_evaluation_date: date | None = item("When the psychological evaluation was done.")
    factors: PsychosocialFactors = Field(
        default_factory=PsychosocialFactors,
        description="The eight psychosocial factors before SCS, each absent, modifiable or severe.",
    )
    mood_treatment_start: date | None = item(
        "When treatment for depression or anxiety started (PHQ-9 and GAD-7 are scored again "
        "8 weeks later)."
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
