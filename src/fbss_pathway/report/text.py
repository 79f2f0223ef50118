"""A recommendation as text a clinician reads at a glance in a terminal, with its basis.

The order is the one every output shares (``explain.layout``): the decision and
the patient's dates first, then the options with their verdicts, the next steps
(each reason once), warnings, follow-up dates and the missing information, most
important first. Clinical words only: rule ids appear as references in
brackets, never codes, record paths or source keys.
"""

from __future__ import annotations

from ..explain.follow_up import reassess_sentence
from ..explain.layout import (
    action_groups,
    context_line,
    missing_in_order,
    option_groups,
    options_line,
    short_citation,
    wrap,
)
from ..explain.summary import stage_words
from ..explain.words import item_label, percent_range
from ..recommendation import Recommendation
from ..ruleset import RuleSet, default_ruleset

__all__ = ["DEFAULT_WIDTH", "format_recommendation"]

#: Columns when the caller does not say (a terminal's common width).
DEFAULT_WIDTH = 88

_TIER_WORDS = {
    "emergency": "EMERGENCY: same-day assessment",
    "urgent": "URGENT: review within days",
}


def format_recommendation(
    recommendation: Recommendation,
    *,
    title: str | None = None,
    width: int = DEFAULT_WIDTH,
    ruleset: RuleSet | None = None,
) -> str:
    """The decision, options, next steps, warnings, follow-up and missing information.

    Args:
        recommendation: From :func:`fbss_pathway.evaluate`.
        title: A first line the caller chooses (a patient label).
        width: Columns to wrap at (at least 40); a number never parts from its unit.
        ruleset: For short citations of the sources; the packaged rules by default.
    """
    ruleset = default_ruleset() if ruleset is None else ruleset
    width = max(width, 40)
    lines = [title] if title else []
    lines += wrap(f"PSPS type 2 (FBSS) pathway: {recommendation.headline}", width)
    lines += wrap(context_line(recommendation.patient), width)
    lines += wrap(f"Stage: {stage_words(recommendation.stage)} (the ladder's summary)", width)
    for tier in recommendation.red_flag_tiers:
        lines.append(_TIER_WORDS[tier])
    lines.append("")
    lines.append("Options")
    for held in option_groups(recommendation):
        first = held[0]
        rule = f" ({first.rule_id})" if first.rule_id else ""
        lines += wrap(options_line(held) + rule, width, "  ", "    ")
        if first.reasons:
            lines += wrap(first.reasons[0], width, "      ")
    lines += ["", "Next steps"]
    for number, group in enumerate(action_groups(recommendation), 1):
        action = group.first
        head = f"{number:>3}. {group.title} ({', '.join(group.rules)})"
        lines += wrap(head, width, "", "      ")
        lines += wrap(f"Why: {action.reason}", width, "      ")
        if action.expected_benefit is not None:
            benefit = action.expected_benefit
            share = percent_range(benefit.low_percent, benefit.high_percent)
            lines += wrap(f"Patients improving after one more operation: {share}", width, "      ")
        cited = "; ".join(short_citation(ruleset, key) for key in action.sources)
        basis = f" (basis: {', '.join(action.basis)})" if action.basis else ""
        lines += wrap(f"Sources: {cited}{basis}", width, "      ")
    if recommendation.warnings:
        lines += ["", "Attention"]
        for warning in recommendation.warnings:
            lines += _hanging(f"! {warning.message} ({warning.rule_id})", width)
    if recommendation.reassess:
        lines += ["", "Follow-up"]
        for due in recommendation.reassess:
            lines += _hanging(f"- {reassess_sentence(due)}", width)
    if recommendation.missing:
        lines += ["", "Not recorded, would change the result"]
        for item in missing_in_order(recommendation):
            lines += _hanging(f"- {item_label(item.field)} ({', '.join(item.needed_by)})", width)
    lines += ["", f"Rule set {recommendation.ruleset_version}. The clinician decides."]
    return "\n".join(lines)


def _hanging(text: str, width: int) -> list[str]:
    """A list item whose continuation lines are indented under its text."""
    return wrap(text, width, "  ", "    ")
