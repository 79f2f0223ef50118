"""The order-sign guardrail's card: an ordered step the pathway does not support now.

It says why not (a red flag, a deferral, the criteria of the closest rule that
are unmet or unrecorded), what the pathway recommends instead, and offers the
reasons a clinician may give for signing anyway (CDS Hooks 2.0 leaves their
codes to the service).
"""

from __future__ import annotations

from typing import Any

from ..explain.headline import OPTION_WORDS, VERDICT_WORDS
from ..explain.medication_order import MedicationOrderWords
from ..explain.words import code_words
from ..record import PatientRecord
from ..ruleset import RuleSet, default_ruleset
from ..steps import STEP_ACTIONS, StepCheck
from ..vocabulary import ActionCode, RedFlagTier, Stage
from .cards import dates_line, new_card, rule_titles

__all__ = [
    "OVERRIDE_REASONS",
    "OVERRIDE_SYSTEM",
    "medication_warning_card",
    "order_warning_card",
    "precautions_card",
    "reoperation_figures_card",
]

#: This service's reasons a clinician may give for signing an order the pathway does not
#: support (CDS Hooks 2.0 leaves the codes to the service).
OVERRIDE_SYSTEM = "urn:fbss-pathway:override-reason"
OVERRIDE_REASONS = {
    "clinical-judgement": "Clinical judgement: the pathway does not fit this patient",
    "record-incomplete": "The record is incomplete or out of date",
    "patient-preference": "The patient's informed preference",
    "specialist-advice": "On a specialist's or the team's advice",
}


def order_warning_card(
    check: StepCheck, *, ruleset: RuleSet | None = None, record: PatientRecord | None = None
) -> dict[str, Any]:
    """A warning for an order the pathway does not support now: why, and what it recommends.

    The dates (assessment, age, operations) follow the headline: many refusals
    count from them.
    """
    recommendation = check.recommendation
    dates = dates_line(recommendation, record)
    why: list[str] = []
    if recommendation.stage is Stage.URGENT_REVIEW:
        why.append("- A red flag: it is assessed before any step of the ladder.")
    if check.option is not None and check.verdict is not None:
        why.append(f"- {OPTION_WORDS[check.option]}: {VERDICT_WORDS[check.verdict]}.")
        why += [f"  - {reason}" for reason in check.reasons]
    why += [f"- {warning.message}" for warning in recommendation.warnings]
    if check.caution is not None:
        why.append(f"- {code_words(check.caution.code)}: {check.caution.reason}")
    title = check.rule_title or code_words(check.step)
    why += [f"- Not met ({title}): {criterion}" for criterion in check.unmet]
    why += [f"- Not recorded ({title}): {criterion}" for criterion in check.unknown]
    lines = [
        f"**{code_words(check.step)} is not what the FBSS pathway supports now.**",
        "",
        *([dates, ""] if dates else []),
        "**Why not:**",
        "",
        *(why or ["- No rule of the pathway recommends it for this patient."]),
        "",
        f"**The pathway recommends instead:** {recommendation.headline}.",
        "",
        *[f"1. {code_words(action.code)} ({action.rule_id})" for action in recommendation.actions],
        "",
        f"Rule set {recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    titles = rule_titles(ruleset or default_ruleset())
    # Emergency is not urgent (pathway.md 11): beside an emergency red flag the card is
    # critical and its summary says what comes first.
    emergency = RedFlagTier.EMERGENCY in recommendation.red_flag_tiers
    summary = f"{code_words(check.step)}: not supported by the FBSS pathway now"
    if emergency:
        summary += "; emergency: same-day assessment first"
    card = new_card(summary, "critical" if emergency else "warning", check.rule_id, titles, lines)
    card["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS.items()
    ]
    return card


def precautions_card(
    check: StepCheck, *, ruleset: RuleSet, record: PatientRecord | None = None
) -> dict[str, Any] | None:
    """For a supported order, what goes beside its step before it is done; None if nothing.

    The warnings and actions the rules put beside this step (a periprocedural
    antithrombotic plan, the precautions of a stimulator or cardiac device) are
    what signing the order must not lose: they were shown only at patient-view
    (an MDT review).
    """
    recommendation = check.recommendation
    wanted = STEP_ACTIONS[check.step]
    beside = {rule.id for rule in ruleset.rules if wanted & set(rule.with_steps)}
    warnings = [w for w in recommendation.warnings if w.rule_id in beside]
    actions = [
        a
        for a in recommendation.actions
        if a.rule_id in beside and a.code not in wanted and a.code not in _INFORMATION
    ]
    if not warnings and not actions:
        return None
    titles = rule_titles(ruleset)
    step = code_words(check.step)
    dates = dates_line(recommendation, record)
    lines = [
        f"**{step} is what the FBSS pathway supports now. Before it:**",
        "",
        *([dates, ""] if dates else []),
        *[f"- {code_words(a.code)}: {a.reason} ({a.rule_id})" for a in actions],
        *[f"- {w.message} ({w.rule_id})" for w in warnings],
        "",
        f"Rule set {recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    named = [code_words(a.code) for a in actions] + [titles.get(w.rule_id, "") for w in warnings]
    summary = f"{step}: supported; before it: {'; '.join(n for n in named if n)}"
    first = actions[0].rule_id if actions else warnings[0].rule_id
    return new_card(summary, "warning", first, titles, lines)


#: Actions that are information, never a precaution (pathway.md 8: the re-operation
#: figures): a supported order gets them in a card of their own.
_INFORMATION = frozenset({ActionCode.REOPERATION_CAUTION})


def reoperation_figures_card(
    check: StepCheck, *, ruleset: RuleSet, record: PatientRecord | None = None
) -> dict[str, Any] | None:
    """For a supported re-operation: the falling benefit of each further one, as information.

    pathway.md 8: an ordered re-operation puts surgery in question, and the figures
    come with it "as information, not as a warning". None when the rules give none.
    """
    caution = check.caution
    if caution is None:
        return None
    dates = dates_line(check.recommendation, record)
    step = code_words(check.step)
    lines = [
        f"**{step} is what the FBSS pathway supports now: the surgeon's opinion on record "
        "advises it.**",
        "",
        *([dates, ""] if dates else []),
        f"- {code_words(caution.code)}: {caution.reason} ({caution.rule_id})",
        "",
        f"Rule set {check.recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    summary = f"{step}: supported; {code_words(caution.code).lower()}"
    return new_card(summary, "info", caution.rule_id, rule_titles(ruleset), lines)


def medication_warning_card(
    words: MedicationOrderWords, *, ruleset: RuleSet, record: PatientRecord
) -> dict[str, Any]:
    """A warning for an opioid or benzodiazepine order (pathway.md 5.2), with override reasons."""
    lines = [*words.lines[:2], dates_line(None, record), "", *words.lines[2:]]
    titles = rule_titles(ruleset)
    card = new_card(words.summary, "warning", words.rule_id, titles, lines)
    card["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS.items()
    ]
    return card
