"""A Recommendation as CDS Hooks 2.0 cards a clinician reads in ten seconds.

The stage card first: the headline (the stage, what holds it, the next step) and
every option's verdict side by side, with the standing actions; it carries the
highest indicator of all, so that a client that sorts cards by indicator (as
the CDS Hooks sandbox does) still shows it first. Then the safety actions
(``critical`` for the emergency tier and suicide risk), one card per option
worth acting on (its verdict, next step, reasons, criteria, sources and basis),
what needs attention, and cautions where they apply. Every card names its
first rule in ``source`` and carries its basis in ``detail`` (Markdown with blank
lines between blocks). The specification forbids null and empty values, so
absent parts are left out, never sent empty. The order-sign guardrail's card is
built in :mod:`.order_card`, an option's in :mod:`.option_card`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..evaluation import patient_context
from ..explain.follow_up import reassess_sentence
from ..explain.headline import OPTION_WORDS, VERDICT_WORDS
from ..explain.layout import context_line
from ..explain.words import (
    code_words,
    in_sentence,
)
from ..fhir.reading import (
    CONFLICT_WARNING,
    IMPRECISE_DATE_WARNING,
    PAIN_SITE_WARNING,
    STALE_RED_FLAG_WARNING,
    UNREADABLE_WARNING,
)
from ..recommendation import Action, OptionAppraisal, Recommendation
from ..record import PatientRecord
from ..ruleset import RuleSet, default_ruleset
from ..vocabulary import ActionCode, RedFlagTier, Stage, Verdict
from .card_form import RULE_SYSTEM, SUMMARY_LIMIT, card_problems, new_card
from .card_text import actions_detail, cell, missing_lines
from .option_card import option_card, worth_acting_on

__all__ = [
    "RULE_SYSTEM",
    "SUMMARY_LIMIT",
    "card_problems",
    "cards",
    "dates_line",
    "new_card",
    "rule_titles",
]

_CAUTIONS = {ActionCode.REOPERATION_CAUTION}
#: Actions that need attention beside the options: what treats, or unblocks a held option.
_ATTENTION = frozenset(
    {
        ActionCode.TREAT_DEPRESSION_ANXIETY,
        ActionCode.OPIOID_REVIEW,
        ActionCode.ADDRESS_PSYCHOLOGICAL_CONCERNS,
        ActionCode.ADDICTION_SERVICES_REFERRAL,
        ActionCode.PERIPROCEDURAL_ANTITHROMBOTIC_PLAN,
    }
)
#: Safety actions that are an emergency of their own.
_SAME_DAY = frozenset(
    {
        ActionCode.EMERGENCY_ASSESSMENT,
        ActionCode.SUICIDE_RISK_ASSESSMENT,
        ActionCode.MENTAL_HEALTH_CRISIS_CARE,
    }
)
_ORDER = ["info", "warning", "critical"]
#: Added to the safety card's summary when an old red-flag code is to be confirmed.
_CONFIRM = "; confirm an old red-flag code"


def cards(
    recommendation: Recommendation,
    *,
    ruleset: RuleSet | None = None,
    record: PatientRecord | None = None,
) -> list[dict[str, Any]]:
    """CDS Hooks cards for a recommendation, the stage card first.

    1. The stage: the headline, every option's verdict, and the standing actions.
    2. The safety actions (emergency or urgent assessment, suicide risk, an
       incomplete red-flag screen), when there are any.
    3. One card per option worth acting on: appropriate, may be appropriate, or
       holding the stage (blocked, not yet, unknown), and an implant in place.
    4. What needs attention (depression or anxiety to treat, an opioid to review).
    5. Cautions: warnings, and the falling benefit of another operation where
       surgery is in question (information, not a warning, on its own).

    Args:
        recommendation: From :func:`fbss_pathway.evaluate`.
        ruleset: The rule set that produced it, for rule titles and citations;
            the packaged rules by default.
        record: The record it was made from; its dates then head the stage
            card's detail (the summary has no room for them).
    """
    ruleset = ruleset or default_ruleset()
    titles = rule_titles(ruleset)
    urgent = recommendation.stage is Stage.URGENT_REVIEW
    safety = [a for a in recommendation.actions if a.code.safety]
    attention = [a for a in recommendation.actions if a.code in _ATTENTION]
    cautions = [a for a in recommendation.actions if a.code in _CAUTIONS]
    option_steps = {a.code for a in recommendation.actions if a.option is not None}
    grouped = {a.code for a in (*safety, *attention, *cautions)} | option_steps
    grouped.discard(ActionCode.EXERCISE_THERAPY)  # conservative care stands with every stage
    standing = [a for a in recommendation.actions if a.code not in grouped]
    result: list[dict[str, Any]] = []
    # An old red-flag code to confirm is part of what to do now (pathway.md 3.2), never
    # a caution at the end: it leads the card of the safety actions, in words.
    old_flags = [w for w in recommendation.warnings if w.key == STALE_RED_FLAG_WARNING]
    if safety:
        names = ", ".join(code_words(a.code) for a in safety)
        emergency = RedFlagTier.EMERGENCY in recommendation.red_flag_tiers or any(
            a.code in _SAME_DAY for a in safety
        )
        confirm = [f"- Confirm whether new: {cell(w.message)}" for w in old_flags]
        summary = f"Now: {names}"
        if old_flags and len(summary + _CONFIRM) < SUMMARY_LIMIT:
            summary += _CONFIRM
        result.append(
            new_card(
                summary,
                "critical" if emergency else "warning",
                safety[0].rule_id,
                titles,
                [
                    *confirm,
                    *([""] if confirm else []),
                    *actions_detail(safety, ruleset, recommendation.missing),
                ],
            )
        )
        shown = {id(w) for w in old_flags}
        recommendation = recommendation.model_copy(
            update={"warnings": tuple(w for w in recommendation.warnings if id(w) not in shown)}
        )
    if not urgent:
        for appraisal in recommendation.options:
            if worth_acting_on(appraisal):
                result.append(option_card(recommendation, appraisal, ruleset, titles))
    if attention:
        names = ", ".join(code_words(a.code) for a in attention)
        result.append(
            new_card(
                f"Needs attention: {names}",
                "warning",
                attention[0].rule_id,
                titles,
                actions_detail(attention, ruleset, recommendation.missing),
            )
        )
    if recommendation.warnings or cautions:
        result.append(_cautions_card(recommendation, cautions, ruleset, titles))
    highest = max((card["indicator"] for card in result), key=_ORDER.index, default="info")
    stage_card = new_card(
        _fitted(recommendation.headline),
        "critical" if urgent else highest,
        recommendation.stage_basis[0] if recommendation.stage_basis else None,
        titles,
        _stage_detail(recommendation, standing, record, titles),
    )
    return [stage_card, *result]


_TITLES: weakref.WeakKeyDictionary[RuleSet, Mapping[str, str]] = weakref.WeakKeyDictionary()


#: The id of the warning that some of the patient's data could not be read from the EHR.
UNREAD_WARNING = "FHIR-UNREAD"


def rule_titles(ruleset: RuleSet) -> Mapping[str, str]:
    """Each rule's title by its id, made once per rule set (every card names its rule)."""
    titles = _TITLES.get(ruleset)
    if titles is None:
        titles = _TITLES[ruleset] = MappingProxyType({r.id: r.title for r in ruleset.rules})
    return titles


def _fitted(headline: str) -> str:
    """The stage card's summary: the headline, shortened by what holds it before the next step.

    The next step is the part a clinician must not lose (pathway.md 11); the
    specification asks for summaries under 140 characters.
    """
    lead = "PSPS type 2 (FBSS): "
    summary = lead + headline
    if len(summary) < SUMMARY_LIMIT:
        return summary
    shorter = lead + re.sub(r" \([^)]*\)", "", headline)
    return shorter if len(shorter) < SUMMARY_LIMIT else summary


def _cautions_card(
    recommendation: Recommendation,
    cautions: list[Action],
    ruleset: RuleSet,
    titles: Mapping[str, str],
) -> dict[str, Any]:
    warnings = recommendation.warnings
    lines = [f"- {cell(w.message)} ({w.rule_id})" for w in warnings]
    if cautions:
        lines += ["", *actions_detail(cautions, ruleset, [])] if lines else []
        lines += [] if warnings else actions_detail(cautions, ruleset, [])
    named = [titles.get(w.rule_id) or _READER_WORDS.get(w.rule_id, w.rule_id) for w in warnings]
    named += [code_words(a.code) for a in cautions]
    first = warnings[0].rule_id if warnings else cautions[0].rule_id
    summary = "; ".join(named)
    if not summary.lower().startswith("caution"):  # never "Caution: Caution before ..."
        summary = f"Caution: {summary}"
    indicator = "warning" if warnings else "info"
    return new_card(summary, indicator, first, titles, lines)


#: The FHIR reader's and the service's warnings, named in a summary as a clinician would:
#: they come from no rule, so no rule title names them (pathway.md 11: no internal keys).
_READER_WORDS = {
    CONFLICT_WARNING: "conflicting entries in the chart",
    STALE_RED_FLAG_WARNING: "old red-flag code",
    UNREADABLE_WARNING: "entries that could not be read",
    UNREAD_WARNING: "patient data not read from the EHR",
    PAIN_SITE_WARNING: "pain scores without a body site",
    IMPRECISE_DATE_WARNING: "an operation without its full date",
}


def dates_line(recommendation: Recommendation | None, record: PatientRecord | None) -> str:
    """The assessment date, age and operations (``layout.context_line``), one style everywhere.

    From the recommendation's patient context, or built from the record where no
    recommendation carries it; empty when there is neither.
    """
    if recommendation is not None and recommendation.patient is not None:
        return context_line(recommendation.patient)
    return context_line(patient_context(record)) if record is not None else ""


def _why_not(appraisal: OptionAppraisal, titles: Mapping[str, str]) -> str:
    """What stops an option, in its deciding rule's title.

    An option without a card of its own still says why ("not appropriate (SCS
    trial failed)"), checkable at a glance.
    """
    if appraisal.verdict in (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE, Verdict.IN_PLACE):
        return ""
    title = titles.get(appraisal.rule_id)
    return cell(in_sentence(title)) if title else ""


def _stage_detail(
    recommendation: Recommendation,
    standing: list[Action],
    record: PatientRecord | None,
    titles: Mapping[str, str],
) -> list[str]:
    lines = [f"**{recommendation.headline}**", ""]
    dates = dates_line(recommendation, record)
    lines += [dates, ""] if dates else []
    lines += ["**Options:**", ""]
    lines += [
        f"- {OPTION_WORDS[o.option]}: {VERDICT_WORDS[o.verdict]}"
        + (
            f"; next: {in_sentence(code_words(o.next_step))}"
            if o.next_step is not None and o.verdict is not Verdict.NOT_APPROPRIATE
            else ""
        )
        for o in recommendation.options
    ]
    lines.append("")
    stopped = [(o, why) for o in recommendation.options if (why := _why_not(o, titles))]
    if stopped:  # options without a card of their own still say what stops them
        lines += ["**What stops the others:**", ""]
        lines += [f"- {OPTION_WORDS[o.option]}: {why}" for o, why in stopped]
        lines.append("")
    if recommendation.reassess:  # the dates to book, earliest (an overdue one) first
        lines += ["**Follow-up:**", ""]
        lines += [f"- {cell(reassess_sentence(r))}" for r in recommendation.reassess]
        lines.append("")
    if standing:
        by_rule: dict[str, list[Action]] = {}
        for action in standing:  # one line per rule: its actions share its reason
            by_rule.setdefault(action.rule_id, []).append(action)
        lines += ["**With every stage:**", ""]
        lines += [
            f"- {', '.join(code_words(a.code) for a in group)}: {cell(group[0].reason)} ({rule})"
            for rule, group in by_rule.items()
        ]
    lines += missing_lines(recommendation.missing)
    lines += [
        "",
        f"Rule set {recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    return lines
