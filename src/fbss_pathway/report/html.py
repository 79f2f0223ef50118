"""One self-contained HTML page per patient: picture, stage, actions, missing information, sources.

No scripts and no external requests: the styles are inline, the picture is
inline SVG, and a Content-Security-Policy forbids fetching anything, so the
page opens the same offline, inside an EHR viewer, or printed.
"""

from __future__ import annotations

from html import escape

from ..explain.headline import OPTION_WORDS, VERDICT_WORDS
from ..explain.scs_evidence import (
    TYPICAL_OUTCOMES_NOTE,
    typical_outcomes,
    typical_outcomes_title,
)
from ..explain.summary import INTENDED_USE, stage_reasons
from ..explain.words import code_words, fact_label, item_label, percent_range, value_text
from ..recommendation import Action, Recommendation
from ..ruleset import RuleSet, default_ruleset
from ..vocabulary import Option, Verdict
from .svg import ladder_svg
from .titles import plain_title

__all__ = ["html_report"]

_STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1a1a1a;
       max-width: 900px; margin: 1.5em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #999; padding-bottom: 0.15em; margin-top: 1.6em; }
.stage { font-size: 1.2em; font-weight: bold; }
.warning { border-left: 4px solid #8a1c1c; padding: 0.2em 0.6em; background: #fbeeee; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
.rule { color: #444; font-size: 0.9em; }
.banner { padding: 0.5em 0.8em; font-size: 1.15em; border: 3px solid #8a1c1c; }
.banner.emergency { background: #8a1c1c; color: #fff; }
.banner.urgent { background: #fbeeee; }
.options tr.verdict-appropriate td:nth-child(2) { color: #14532d; }
.options tr.verdict-blocked td:nth-child(2) { color: #8a1c1c; }
footer { margin-top: 2em; font-size: 0.9em; color: #333; border-top: 1px solid #999; }
svg { max-width: 100%; height: auto; }
@media print { body { margin: 0; } .warning { background: none; } }
"""


def html_report(
    recommendation: Recommendation,
    *,
    title: str | None = None,
    ruleset: RuleSet | None = None,
) -> str:
    """The recommendation as one HTML page a clinician reads and can print.

    Args:
        recommendation: From :func:`fbss_pathway.evaluate` (with its ladder view).
        title: The page's heading (a patient label the caller chooses); the
            report names no patient otherwise.
        ruleset: The rule set that made it, for source citations and rule
            titles; the packaged one by default.

    Raises:
        ValueError: the recommendation has no ladder view.
    """
    ruleset = default_ruleset() if ruleset is None else ruleset
    heading = plain_title(title) or "FBSS pathway recommendation"
    picture = ladder_svg(recommendation)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(heading)}</h1>",
        *_banner(recommendation),
        f'<p class="stage" id="stage">{escape(recommendation.headline)}</p>',
        *_why(recommendation, ruleset),
        *_warnings(recommendation),
        "<h2>Options side by side</h2>",
        *_options(recommendation, ruleset),
        *_typical_outcomes(recommendation),
        "<h2>Where the patient stands</h2>",
        picture,
        "<h2>Recommended actions</h2>",
        *_actions(recommendation, ruleset),
        "<h2>Missing information</h2>",
        *_missing(recommendation),
        "<h2>Sources</h2>",
        *_sources(recommendation, ruleset),
        "<footer>",
        f"<p>Rule set version <code>{escape(recommendation.ruleset_version)}</code>.</p>",
        f'<p id="intended-use">{escape(INTENDED_USE)}</p>',
        "</footer></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _banner(recommendation: Recommendation) -> list[str]:
    """Emergency is not urgent (pathway.md 11): the tier is the first thing on the page."""
    if not recommendation.red_flag_tiers:
        return []
    tier = recommendation.red_flag_tiers[0]
    words = (
        "Emergency: same-day assessment" if tier == "emergency" else "Urgent: review within days"
    )
    return [f'<p class="banner {escape(tier)}" id="red-flag"><strong>{escape(words)}</strong></p>']


def _why(recommendation: Recommendation, ruleset: RuleSet) -> list[str]:
    titles = {rule.id: rule.title for rule in ruleset.rules}
    reasons = stage_reasons(recommendation, titles)
    basis = ", ".join(recommendation.stage_basis)
    if not reasons:
        return []
    return [f"<p>Why: {escape('; '.join(reasons))}. <span class=rule>({escape(basis)})</span></p>"]


def _options(recommendation: Recommendation, ruleset: RuleSet) -> list[str]:
    """Every option with its verdict, next step, reasons and basis (pathway.md 4, 12)."""
    rows = []
    for appraisal in recommendation.options:
        step = appraisal.next_step
        shown_step = (
            code_words(step)
            if step is not None and appraisal.verdict is not Verdict.NOT_APPROPRIATE
            else ""
        )
        reasons = "; ".join(appraisal.reasons)
        cited = "; ".join(_citation(ruleset, key).rstrip(".") for key in appraisal.sources)
        rule = (
            f" <span class=rule>({escape(appraisal.rule_id)})</span>" if appraisal.rule_id else ""
        )
        rows.append(
            f'<tr class="verdict-{escape(appraisal.verdict)}">'
            f"<td>{escape(OPTION_WORDS[appraisal.option])}</td>"
            f"<td><strong>{escape(VERDICT_WORDS[appraisal.verdict])}</strong></td>"
            f"<td>{escape(shown_step)}</td>"
            f"<td>{escape(reasons)}{rule}</td>"
            f"<td>{escape(', '.join(appraisal.basis))}</td>"
            f"<td>{escape(cited)}</td></tr>"
        )
    return [
        "<table class=options><tr><th>option</th><th>verdict</th><th>next step</th>"
        "<th>why</th><th>basis</th><th>sources</th></tr>",
        *rows,
        "</table>",
    ]


def _typical_outcomes(recommendation: Recommendation) -> list[str]:
    """For a shared decision: what typical patients got with SCS, never a promise (7.1, 7.2)."""
    appraisal = recommendation.option(Option.SPINAL_CORD_STIMULATION)
    figures = typical_outcomes(appraisal)
    if not figures or appraisal.advice_level is None:
        return []
    items = "".join(f"<li>{escape(figure.sentence())}</li>" for figure in figures)
    return [
        '<section id="scs-typical-outcomes">',
        f"<h3>{escape(typical_outcomes_title(appraisal.advice_level))}</h3>",
        f"<p>{escape(TYPICAL_OUTCOMES_NOTE)}</p>",
        f"<ul>{items}</ul>",
        "</section>",
    ]


def _warnings(recommendation: Recommendation) -> list[str]:
    return [
        f'<p class="warning"><strong>Attention:</strong> {escape(w.message)} '
        f"<span class=rule>({escape(w.rule_id)})</span></p>"
        for w in recommendation.warnings
    ]


def _actions(recommendation: Recommendation, ruleset: RuleSet) -> list[str]:
    out = ["<ol>"]
    for action in recommendation.actions:
        rules = ", ".join([action.rule_id, *action.also_from])
        out += [
            f"<li><strong>{escape(code_words(action.code))}</strong> "
            f"<span class=rule>({escape(rules)})</span>",
            f"<p>Why: {escape(action.reason)}.</p>",
            *([f"<p>Basis: {escape(', '.join(action.basis))}.</p>"] if action.basis else []),
            *_inputs(action),
        ]
        if action.expected_benefit is not None:
            share = percent_range(
                action.expected_benefit.low_percent, action.expected_benefit.high_percent
            )
            out.append(f"<p>Expected benefit of one more operation: {escape(share)}.</p>")
        cited = "; ".join(_citation(ruleset, key).rstrip(".") for key in action.sources)
        out.append(f"<p>Sources: {escape(cited)}.</p></li>")
    return [*out, "</ol>"]


def _inputs(action: Action) -> list[str]:
    if not action.inputs:
        return []
    rows = [
        f"<tr><td>{escape(fact_label(item.fact))}</td>"
        f"<td>{escape(value_text(item.fact, item.value))}</td>"
        f"<td><code>{escape(item.field)}</code></td></tr>"
        for item in action.inputs
    ]
    return [
        "<table><tr><th>input read</th><th>value</th><th>record field</th></tr>",
        *rows,
        "</table>",
    ]


def _missing(recommendation: Recommendation) -> list[str]:
    if not recommendation.missing:
        return ["<p>Nothing unrecorded would change this recommendation.</p>"]
    items = [
        f"<li>{escape(item_label(item.field))} "
        f"<span class=rule>(for {escape(', '.join(item.needed_by))})</span></li>"
        for item in recommendation.missing
    ]
    return ["<p>Not recorded, and would change or confirm the result:</p><ul>", *items, "</ul>"]


def _sources(recommendation: Recommendation, ruleset: RuleSet) -> list[str]:
    keys = dict.fromkeys(key for action in recommendation.actions for key in action.sources)
    basis = set(recommendation.stage_basis)
    keys.update(dict.fromkeys(k for r in ruleset.rules if r.id in basis for k in r.sources))
    items = [f"<li>{escape(_citation(ruleset, key))}</li>" for key in keys]
    return ["<ul>", *items, "</ul>"] if items else ["<p>None.</p>"]


def _citation(ruleset: RuleSet, key: str) -> str:
    source = ruleset.sources.get(key)
    if source is None:
        return key
    return source.citation + ("" if source.verified else " (citation not verified)")
