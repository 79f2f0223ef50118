"""The stage in one line, what holds it, and the recommended next step (pathway.md 4, 11).

"Emergency: cauda equina signs; next: emergency assessment"; "Same day: suicide risk
assessment; Spinal cord stimulation: blocked (suicide risk not assessed as low: SCS
waits)";
"Spinal cord stimulation: blocked (psychological concerns); next: address
psychological concerns". The next step is in the first thing a clinician reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..recommendation import Action
from ..rules_engine.model import Rule
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, Option, RedFlagTier, Stage, Verdict
from .options import Appraised
from .words import code_words, in_sentence

__all__ = ["OPTION_WORDS", "SAME_DAY_MOOD", "STAGE_WORDS", "VERDICT_WORDS", "headline"]

STAGE_WORDS = {
    Stage.URGENT_REVIEW: "Red flag: assess first",
    Stage.CONSERVATIVE: "Conservative care",
    Stage.RADIOFREQUENCY: "Facet and sacroiliac interventions",
    Stage.NEUROMODULATION: "Spinal cord stimulation",
    Stage.SPECIALIST_REVIEW: "Pathway options exhausted: MDT re-evaluation",
}

OPTION_WORDS = {
    Option.CONSERVATIVE_CARE: "Conservative care",
    Option.FACET_INTERVENTION: "Facet joint intervention (medial branch block, radiofrequency)",
    Option.SIJ_INTERVENTION: "Sacroiliac joint intervention",
    Option.SPINAL_CORD_STIMULATION: "Spinal cord stimulation",
    Option.SURGICAL_OPINION: "Surgical opinion",
    Option.PAIN_MANAGEMENT_PROGRAMME: "Pain management programme",
}

VERDICT_WORDS = {
    Verdict.APPROPRIATE: "appropriate",
    Verdict.MAY_BE_APPROPRIATE: "may be appropriate: discuss at the MDT",
    Verdict.NOT_YET: "not yet",
    Verdict.BLOCKED: "blocked",
    Verdict.NOT_APPROPRIATE: "not appropriate",
    Verdict.IN_PLACE: "in place",
    Verdict.UNKNOWN: "undecided: information missing",
}

_TIER_WORDS = {RedFlagTier.EMERGENCY: "Emergency", RedFlagTier.URGENT: "Urgent"}
#: The mood actions that are done the same day (pathway.md 3.4): they lead a headline.
SAME_DAY_MOOD = frozenset(
    {ActionCode.SUICIDE_RISK_ASSESSMENT, ActionCode.MENTAL_HEALTH_CRISIS_CARE}
)


def headline(
    ruleset: RuleSet,
    stage: Stage,
    tiers: Sequence[RedFlagTier],
    red_flags: Sequence[Rule],
    setting: Sequence[Appraised],
    actions: Sequence[Action],
) -> str:
    """The one line a clinician reads first."""
    nxt = f"; next: {in_sentence(code_words(actions[0].code))}" if actions else ""
    # A same-day step for suicide risk is the first thing read, before any option it
    # holds (pathway.md 3.4, 3.6, 11; a clinician's review: "SCS waits" led the line).
    lead = ""
    if not tiers and actions and actions[0].code in SAME_DAY_MOOD:
        lead, nxt = f"Same day: {in_sentence(code_words(actions[0].code))}; ", ""
    if tiers:
        parts = []
        for tier in tiers:
            titles = [in_sentence(rule.title) for rule in red_flags if rule.tier is tier]
            parts.append(f"{_TIER_WORDS[tier]}: {', '.join(titles)}")
        return "; ".join(parts) + nxt
    words = STAGE_WORDS[stage]
    placing = {a.appraisal.option for a in setting}
    if stage is Stage.RADIOFREQUENCY and len(placing) == 1:  # name only what places the patient
        words = OPTION_WORDS[next(iter(placing))].split(" (")[0]
    held = [
        a.appraisal
        for a in setting
        if a.appraisal.verdict not in (Verdict.APPROPRIATE, Verdict.IN_PLACE)
    ]
    if (
        stage in (Stage.RADIOFREQUENCY, Stage.NEUROMODULATION)
        and held
        and len(held) == len(setting)
    ):
        appraisal = held[0]
        title = next((rule.title for rule in ruleset.rules if rule.id == appraisal.rule_id), "")
        words += f": {VERDICT_WORDS[appraisal.verdict]}"
        if title:
            words += f" ({in_sentence(title)})"
    return lead + words + nxt
