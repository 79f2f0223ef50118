"""A recommendation as text a clinician reads at a glance, with its basis."""

from __future__ import annotations

import textwrap

from ..explain.follow_up import reassess_sentence
from ..explain.headline import OPTION_WORDS, VERDICT_WORDS
from ..explain.words import code_words, item_label, percent_range
from ..recommendation import Recommendation
from ..vocabulary import Verdict

__all__ = ["format_recommendation"]

_WIDTH = 88


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, _WIDTH, initial_indent=indent, subsequent_indent=indent)


def format_recommendation(recommendation: Recommendation, *, title: str | None = None) -> str:
    """Render the stage, actions, follow-up dates, warnings and missing information."""
    lines = [title] if title else []
    basis = ", ".join(recommendation.stage_basis) or "no option places the patient further"
    lines.append(_wrap(recommendation.headline, ""))
    lines.append(f"Stage: {recommendation.stage}  (basis: {basis})")
    lines.append("Options:")
    for appraisal in recommendation.options:
        step = appraisal.next_step
        shown = (
            f"; next: {code_words(step)}"
            if step is not None and appraisal.verdict is not Verdict.NOT_APPROPRIATE
            else ""
        )
        rule = f" [{appraisal.rule_id}]" if appraisal.rule_id else ""
        lines.append(
            f"  {OPTION_WORDS[appraisal.option]}: {VERDICT_WORDS[appraisal.verdict]}{shown}{rule}"
        )
        if appraisal.reasons:
            lines.append(_wrap(appraisal.reasons[0], "      "))
    lines.append("Actions:")
    for number, action in enumerate(recommendation.actions, 1):
        rules = ", ".join([action.rule_id, *action.also_from])
        lines.append(f"  {number:>2}. {action.code}  [{rules}]")
        lines.append(_wrap(action.reason, "      "))
        if action.expected_benefit is not None:
            benefit = action.expected_benefit
            span = percent_range(benefit.low_percent, benefit.high_percent)
            lines.append(f"      expected benefit of one more operation: {span}")
        basis = f" ({', '.join(action.basis)})" if action.basis else ""
        lines.append(f"      sources: {', '.join(action.sources)}{basis}")
    if recommendation.reassess:
        lines.append("Follow-up:")
        lines += [_wrap(reassess_sentence(r), "  ") for r in recommendation.reassess]
    if recommendation.warnings:
        lines.append("Warnings:")
        lines += [_wrap(f"! {w.message} [{w.rule_id}]", "  ") for w in recommendation.warnings]
    if recommendation.missing:
        lines.append("Missing information that would change the result:")
        lines += [
            f"  - {item_label(m.field)} [{m.field}] (needed by {', '.join(m.needed_by)})"
            for m in recommendation.missing
        ]
    lines.append(f"Rule set version: {recommendation.ruleset_version}")
    return "\n".join(lines)
