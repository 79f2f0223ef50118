"""The closed vocabularies of the pathway: stages and action codes.

These names are a public contract: EHR integrations store and route on them, so
they are spelled exactly as in the clinical specification and never renamed.
``docs/vocabulary.md`` documents them and a test keeps code, rule files and docs
in agreement.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LADDER", "ActionCode", "RungStatus", "Stage"]


class Stage(StrEnum):
    """The one stage a recommendation names.

    ``urgent_review`` pre-empts the ladder; the other four are the escalation
    ladder in order, and a patient is placed on the furthest step they qualify for.
    """

    URGENT_REVIEW = "urgent_review"
    CONSERVATIVE = "conservative"
    RADIOFREQUENCY = "radiofrequency"
    NEUROMODULATION = "neuromodulation"
    SPECIALIST_REVIEW = "specialist_review"

    @property
    def rank(self) -> int:
        """Position for comparison: the ladder in order, urgent review above all."""
        return _RANK[self]


#: The escalation ladder, earliest step first.
LADDER: tuple[Stage, ...] = (
    Stage.CONSERVATIVE,
    Stage.RADIOFREQUENCY,
    Stage.NEUROMODULATION,
    Stage.SPECIALIST_REVIEW,
)

_RANK = {stage: index for index, stage in enumerate((*LADDER, Stage.URGENT_REVIEW))}


class RungStatus(StrEnum):
    """Where a rung of the ladder stands for one patient (the ladder view).

    Below the patient's stage a rung is ``passed``; the stage's own rung is
    ``current``; above it a rung is ``blocked`` (a deferral or a red flag holds
    it back), ``undecided`` (unknown information could open it), ``ahead`` (the
    steps below may still open it) or ``not_indicated`` (the patient's findings
    rule it out whatever those steps show).
    """

    PASSED = "passed"
    CURRENT = "current"
    BLOCKED = "blocked"
    NOT_INDICATED = "not_indicated"
    UNDECIDED = "undecided"
    AHEAD = "ahead"


class ActionCode(StrEnum):
    """Every action a recommendation can carry; the declaration order is display order."""

    URGENT_SPECIALIST_REVIEW = "urgent_specialist_review"
    MEDIAL_BRANCH_BLOCK = "medial_branch_block"
    RADIOFREQUENCY_DENERVATION = "radiofrequency_denervation"
    REPEAT_RADIOFREQUENCY = "repeat_radiofrequency"
    SCS_ASSESSMENT = "scs_assessment"
    PSYCHOLOGICAL_EVALUATION = "psychological_evaluation"
    SCS_TRIAL = "scs_trial"
    SCS_IMPLANT = "scs_implant"
    SCS_FOLLOW_UP = "scs_follow_up"
    MULTIDISCIPLINARY_PAIN_PROGRAMME = "multidisciplinary_pain_programme"
    EXERCISE_THERAPY = "exercise_therapy"
    SUPPORTIVE_ANALGESIA = "supportive_analgesia"
    OPIOID_REVIEW = "opioid_review"
    INTERDISCIPLINARY_ASSESSMENT = "interdisciplinary_assessment"
    FITNESS_PROGRAM = "fitness_program"
    TRIGGER_ZONE_TREATMENT = "trigger_zone_treatment"
    ALLODYNIA_TREATMENT = "allodynia_treatment"
    SCAR_TREATMENT = "scar_treatment"
    TREAT_DEPRESSION_ANXIETY = "treat_depression_anxiety"
    SCREEN_DEPRESSION_ANXIETY = "screen_depression_anxiety"
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support"
    EXAMINE_TRIGGER_ZONES = "examine_trigger_zones"
    REOPERATION_CAUTION = "reoperation_caution"
    SURGICAL_OPINION = "surgical_opinion"

    @property
    def ladder_stage(self) -> Stage | None:
        """The stage whose step this action is, or None for actions that go with any stage.

        The rule loader uses this to refuse a rule that would recommend, say, an
        SCS trial while placing the patient on another stage.
        """
        return _LADDER_ACTIONS.get(self)


_LADDER_ACTIONS = {
    ActionCode.URGENT_SPECIALIST_REVIEW: Stage.URGENT_REVIEW,
    ActionCode.MEDIAL_BRANCH_BLOCK: Stage.RADIOFREQUENCY,
    ActionCode.RADIOFREQUENCY_DENERVATION: Stage.RADIOFREQUENCY,
    ActionCode.REPEAT_RADIOFREQUENCY: Stage.RADIOFREQUENCY,
    ActionCode.SCS_ASSESSMENT: Stage.NEUROMODULATION,
    ActionCode.PSYCHOLOGICAL_EVALUATION: Stage.NEUROMODULATION,
    ActionCode.SCS_TRIAL: Stage.NEUROMODULATION,
    ActionCode.SCS_IMPLANT: Stage.NEUROMODULATION,
    ActionCode.SCS_FOLLOW_UP: Stage.NEUROMODULATION,
    ActionCode.MULTIDISCIPLINARY_PAIN_PROGRAMME: Stage.SPECIALIST_REVIEW,
}
