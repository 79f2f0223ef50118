"""The closed vocabularies of the pathway: stages, options, verdicts and action codes.

These names are a public contract: EHR integrations store and route on them, so
they are spelled exactly as in the clinical specification and never renamed.
``docs/vocabulary.md`` documents them and a test keeps code, rule files and docs
in agreement.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LADDER", "ActionCode", "Option", "RedFlagTier", "RungStatus", "Stage", "Verdict"]


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
    """Every action a recommendation can carry; the declaration order is display order.

    The first six are the safety actions, in the order pathway.md 3.6 gives them:
    they lead every result they appear in. The option steps follow (the step of
    the option that sets the stage is moved up, see ``explain``), then the rest.
    """

    EMERGENCY_ASSESSMENT = "emergency_assessment"
    SUICIDE_RISK_ASSESSMENT = "suicide_risk_assessment"
    MENTAL_HEALTH_CRISIS_CARE = "mental_health_crisis_care"
    URGENT_SPECIALIST_REVIEW = "urgent_specialist_review"
    COMPLETE_RED_FLAG_SCREEN = "complete_red_flag_screen"
    MENTAL_HEALTH_REFERRAL = "mental_health_referral"
    SURGICAL_OPINION = "surgical_opinion"
    MEDIAL_BRANCH_BLOCK = "medial_branch_block"
    RADIOFREQUENCY_DENERVATION = "radiofrequency_denervation"
    REPEAT_RADIOFREQUENCY = "repeat_radiofrequency"
    SIJ_ASSESSMENT = "sij_assessment"
    NEUROPATHIC_PAIN_SCREEN = "neuropathic_pain_screen"
    SCS_ASSESSMENT = "scs_assessment"
    PSYCHOLOGICAL_EVALUATION = "psychological_evaluation"
    SCS_TRIAL = "scs_trial"
    REPEAT_SCS_TRIAL = "repeat_scs_trial"
    SCS_IMPLANT = "scs_implant"
    SCS_FOLLOW_UP = "scs_follow_up"
    SCS_OPTIMISATION = "scs_optimisation"
    SCS_DEVICE_REVIEW = "scs_device_review"
    PERIPROCEDURAL_ANTITHROMBOTIC_PLAN = "periprocedural_antithrombotic_plan"
    MULTIDISCIPLINARY_PAIN_PROGRAMME = "multidisciplinary_pain_programme"
    ADDRESS_PSYCHOLOGICAL_CONCERNS = "address_psychological_concerns"
    ADDICTION_SERVICES_REFERRAL = "addiction_services_referral"
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

    @property
    def option(self) -> Option | None:
        """The option whose step this is (pathway.md 4), or None for any other action.

        Steps come only from the verdicts of their option: the rule loader refuses a
        rule that lists one among its plain ``actions``.
        """
        return _OPTION_STEPS.get(self)

    @property
    def interventional(self) -> bool:
        """An X-ray-guided or implant step: held by the safety gate (pathway.md 3.3)."""
        return self in _INTERVENTIONAL

    @property
    def safety(self) -> bool:
        """One of the safety actions that lead every result (pathway.md 3.6)."""
        return self in _SAFETY


class Option(StrEnum):
    """A treatment option the pathway appraises for every patient (pathway.md 4)."""

    CONSERVATIVE_CARE = "conservative_care"
    FACET_INTERVENTION = "facet_intervention"
    SIJ_INTERVENTION = "sij_intervention"
    SPINAL_CORD_STIMULATION = "spinal_cord_stimulation"
    SURGICAL_OPINION = "surgical_opinion"
    PAIN_MANAGEMENT_PROGRAMME = "pain_management_programme"

    @property
    def rung(self) -> Stage | None:
        """The ladder rung the option sits on; None for options off the ladder."""
        return _RUNGS.get(self)

    @property
    def interventional(self) -> bool:
        """Its steps are interventional: the safety gate holds it (pathway.md 3.3)."""
        return self in _RUNGS

    @property
    def steps(self) -> tuple[ActionCode, ...]:
        """The steps a verdict on this option can name, in pathway order."""
        return tuple(code for code, option in _OPTION_STEPS.items() if option is self)


class Verdict(StrEnum):
    """An option's verdict for one patient (pathway.md 4).

    Declared from the strongest to the weakest claim: when several rules give an
    option a verdict, the first of them in this order decides (``precedence``), so
    a contraindication outranks a wish and a safety hold outranks an open door.
    """

    IN_PLACE = "in_place"
    NOT_YET = "not_yet"
    NOT_APPROPRIATE = "not_appropriate"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"
    MAY_BE_APPROPRIATE = "may_be_appropriate"
    APPROPRIATE = "appropriate"

    @property
    def precedence(self) -> int:
        """Lower decides first."""
        return _PRECEDENCE[self]

    @property
    def lists_step(self) -> bool:
        """Its next step is listed among the actions (pathway.md 4)."""
        return self in (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE, Verdict.IN_PLACE)


class RedFlagTier(StrEnum):
    """The two tiers of red flags (pathway.md 3.1): emergency is not urgent."""

    EMERGENCY = "emergency"
    URGENT = "urgent"


class ScsAdvice(StrEnum):
    """The advice level for spinal cord stimulation (pathway.md 7.1, Thomson 2020)."""

    STRONGLY_RECOMMENDED = "strongly_recommended"
    RECOMMENDED = "recommended"
    RARELY_RECOMMENDED = "rarely_recommended"


class ReassessItem(StrEnum):
    """What a follow-up date is for (pathway.md 10)."""

    PSPS_THRESHOLD = "psps_threshold"
    PAIN_SIX_MONTHS = "pain_six_months"
    EXERCISE_TRIAL_END = "exercise_trial_end"
    RF_REVIEW = "rf_review"
    IMPLANT_REVIEW = "implant_review"
    OPIOID_REVIEW = "opioid_review"
    MOOD_RESCREEN = "mood_rescreen"


_PRECEDENCE = {verdict: index for index, verdict in enumerate(Verdict)}

_RUNGS = {
    Option.FACET_INTERVENTION: Stage.RADIOFREQUENCY,
    Option.SIJ_INTERVENTION: Stage.RADIOFREQUENCY,
    Option.SPINAL_CORD_STIMULATION: Stage.NEUROMODULATION,
}

_OPTION_STEPS = {
    ActionCode.EXERCISE_THERAPY: Option.CONSERVATIVE_CARE,
    ActionCode.SURGICAL_OPINION: Option.SURGICAL_OPINION,
    ActionCode.MEDIAL_BRANCH_BLOCK: Option.FACET_INTERVENTION,
    ActionCode.RADIOFREQUENCY_DENERVATION: Option.FACET_INTERVENTION,
    ActionCode.REPEAT_RADIOFREQUENCY: Option.FACET_INTERVENTION,
    ActionCode.SIJ_ASSESSMENT: Option.SIJ_INTERVENTION,
    ActionCode.NEUROPATHIC_PAIN_SCREEN: Option.SPINAL_CORD_STIMULATION,
    ActionCode.SCS_ASSESSMENT: Option.SPINAL_CORD_STIMULATION,
    ActionCode.PSYCHOLOGICAL_EVALUATION: Option.SPINAL_CORD_STIMULATION,
    ActionCode.SCS_TRIAL: Option.SPINAL_CORD_STIMULATION,
    ActionCode.REPEAT_SCS_TRIAL: Option.SPINAL_CORD_STIMULATION,
    ActionCode.SCS_IMPLANT: Option.SPINAL_CORD_STIMULATION,
    ActionCode.SCS_FOLLOW_UP: Option.SPINAL_CORD_STIMULATION,
    ActionCode.SCS_OPTIMISATION: Option.SPINAL_CORD_STIMULATION,
    ActionCode.SCS_DEVICE_REVIEW: Option.SPINAL_CORD_STIMULATION,
    ActionCode.MULTIDISCIPLINARY_PAIN_PROGRAMME: Option.PAIN_MANAGEMENT_PROGRAMME,
}

_INTERVENTIONAL = frozenset(
    {
        ActionCode.MEDIAL_BRANCH_BLOCK,
        ActionCode.RADIOFREQUENCY_DENERVATION,
        ActionCode.REPEAT_RADIOFREQUENCY,
        ActionCode.SIJ_ASSESSMENT,
        ActionCode.SCS_TRIAL,
        ActionCode.REPEAT_SCS_TRIAL,
        ActionCode.SCS_IMPLANT,
    }
)

_SAFETY = frozenset(
    {
        ActionCode.EMERGENCY_ASSESSMENT,
        ActionCode.SUICIDE_RISK_ASSESSMENT,
        ActionCode.MENTAL_HEALTH_CRISIS_CARE,
        ActionCode.URGENT_SPECIALIST_REVIEW,
        ActionCode.COMPLETE_RED_FLAG_SCREEN,
        ActionCode.MENTAL_HEALTH_REFERRAL,
    }
)
