"""One self-contained HTML page per patient: picture, stage, actions, missing information, sources.

No scripts and no external requests: the styles are inline, the picture is
inline SVG, and a Content-Security-Policy forbids fetching anything, so the
page opens the same offline, inside an EHR viewer, or printed.
"""

from __future__ import annotations

from html import escape

from ..explain.follow_up import ITEM_WORDS
from ..explain.headline import SAME_DAY_MOOD
from ..explain.layout import (
    action_groups,
    context_line,
    date_words,
    missing_in_order,
    option_groups,
    options_line,
    short_citation,
)
from ..explain.scs_evidence import (
    TYPICAL_OUTCOMES_NOTE,
    typical_outcomes,
    typical_outcomes_title,
)
from ..explain.summary import INTENDED_USE, stage_reasons
from ..explain.words import (
    code_words,
    fact_label,
    in_sentence,
    item_label,
    percent_range,
    value_text,
)
from ..recommendation import Action, Recommendation
from ..ruleset import RuleSet, default_ruleset
from ..vocabulary import Option
from .svg import ladder_svg
from .titles import plain_title

__all__ = ["html_report"]

_STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1a1a1a;
       max-width: 900px; margin: 1.5em auto; padding: 0 1em; line-height: 1.45;
       overflow-wrap: break-word; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #999; padding-bottom: 0.15em; margin-top: 1.4em; }
.context { color: #333; margin-top: 0; }
.stage { font-size: 1.2em; font-weight: bold; }
.warning { border-left: 4px solid #8a1c1c; padding: 0.2em 0.6em; background: #fbeeee; }
table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.92em; max-width: 100%; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
.rule { color: #444; font-size: 0.9em; }
.banner { padding: 0.5em 0.8em; font-size: 1.15em; border: 3px solid #8a1c1c; }
.banner.emergency { background: #8a1c1c; color: #fff; }
.banner.urgent { background: #fbeeee; }
.option { border: 1px solid #bbb; border-left-width: 6px; padding: 0.3em 0.7em; margin: 0.5em 0;
          break-inside: avoid; }
.option p { margin: 0.25em 0; }
.option.verdict-appropriate, .option.verdict-in_place { border-left-color: #14532d; }
.option.verdict-may_be_appropriate { border-left-color: #8a6d1c; }
.option.verdict-blocked, .option.verdict-not_yet { border-left-color: #8a1c1c; }
.option.verdict-not_appropriate, .option.verdict-unknown { border-left-color: #777; }
.ladder { overflow-x: auto; }
.ladder svg { width: 100%; min-width: 560px; height: auto; }
details { margin: 0.3em 0; }
.follow-up .overdue { color: #8a1c1c; }
footer { margin-top: 2em; font-size: 0.9em; color: #333; border-top: 1px solid #999; }
@media (max-width: 600px) { body { margin: 0.5em auto; padding: 0 0.6em; }
                            h1 { font-size: 1.2em; } }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; max-width: none; font-size: 7.5pt; line-height: 1.2; }
               ol { padding-left: 1.4em; } li p, .option p { margin: 0.1em 0; }
               .warning { background: none; } .sources { display: none; }
               .inputs, .rule { font-size: 7pt; color: #333; } .inputs table { margin: 0; }
               .inputs th { display: none; } .inputs details { display: none; }
               .inputs tr, .inputs td { display: inline; border: none; padding: 0; }
               .inputs td:first-child::after { content: ": "; }
               .inputs tr:not(:last-child)::after { content: "; "; }
               h2 { margin-top: 0.8em; } .option { margin: 0.3em 0; }
               .ladder svg { min-width: 0; width: auto; max-width: 100%; max-height: 7.5cm; }
               h2 { break-after: avoid; }
               li, .option { break-inside: avoid; } }
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
    heading = plain_title(title) or "PSPS type 2 (FBSS) pathway recommendation"
    context = context_line(recommendation.patient)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(heading)}</h1>",
        *([f'<p class="context" id="context">{escape(context)}</p>'] if context else []),
        *_banner(recommendation),
        f'<p class="stage" id="stage">{escape(recommendation.headline)}</p>',
        *_why(recommendation, ruleset),
        *_warnings(recommendation),
        "<h2>Options side by side</h2>",
        *_options(recommendation, ruleset),
        *_typical_outcomes(recommendation),
        "<h2>Where the patient stands</h2>",
        f'<div class="ladder">{ladder_svg(recommendation)}</div>',
        "<h2>Recommended actions</h2>",
        *_actions(recommendation, ruleset),
        '<h2 id="follow-up">Follow-up</h2>',
        *_follow_up(recommendation, ruleset),
        "<h2>Missing information</h2>",
        *_missing(recommendation),
        '<section class="sources"><h2>Sources</h2>',
        *_sources(recommendation, ruleset),
        "</section>",
        "<footer>",
        f"<p>Rule set version <code>{escape(recommendation.ruleset_version)}</code>.</p>",
        f'<p id="intended-use">{escape(INTENDED_USE)}</p>',
        "</footer></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _banner(recommendation: Recommendation) -> list[str]:
    """Emergency is not urgent (pathway.md 11): the tier is the first thing on the page.

    Without a red flag, a same-day step for suicide risk (pathway.md 3.4) heads it.
    """
    if not recommendation.red_flag_tiers:
        first = recommendation.actions[0].code if recommendation.actions else None
        if first not in SAME_DAY_MOOD:
            return []
        words = f"Same day: {in_sentence(code_words(first))}"
        return [f'<p class="banner emergency" id="same-day"><strong>{escape(words)}</strong></p>']
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
    """Every option with its verdict, next step, reasons and basis (pathway.md 4, 12).

    Blocks, not a six-column table: they read the same in an EHR's side panel.
    """
    out = []
    for group in option_groups(recommendation):
        appraisal = group[0]
        reasons = "; ".join(appraisal.reasons)
        rule_id = appraisal.rule_id
        rule = f" <span class=rule>({escape(rule_id)})</span>" if rule_id else ""
        cited = "; ".join(short_citation(ruleset, key) for key in appraisal.sources)
        basis = ", ".join(appraisal.basis)
        source_line = "; ".join(part for part in (cited, basis and f"basis: {basis}") if part)
        out += [
            f'<div class="option verdict-{escape(appraisal.verdict)}">',
            f"<p><strong>{escape(options_line(group))}</strong></p>",
            *([f"<p>{escape(reasons)}{rule}</p>"] if reasons else []),
            *([f'<p class="rule">{escape(source_line)}</p>'] if source_line else []),
            "</div>",
        ]
    return out


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
    """The actions by importance; one rule's actions for one reason read once."""
    out = ["<ol>"]
    for group in action_groups(recommendation):
        action = group.first
        out += [
            f"<li><strong>{escape(group.title)}</strong> "
            f"<span class=rule>({escape(', '.join(group.rules))})</span>",
            f"<p>Why: {escape(action.reason)}.</p>",
        ]
        if action.expected_benefit is not None:
            share = percent_range(
                action.expected_benefit.low_percent, action.expected_benefit.high_percent
            )
            out.append(f"<p>Patients improving after one more operation: {escape(share)}.</p>")
        cited = "; ".join(short_citation(ruleset, key) for key in action.sources)
        basis = f" (basis: {', '.join(action.basis)})" if action.basis else ""
        out.append(f"<p class=rule>Sources: {escape(cited)}{escape(basis)}.</p>")
        out += [*_inputs(action), "</li>"]
    return [*out, "</ol>"]


def _inputs(action: Action) -> list[str]:
    """What the action's own rule read: the recorded values; the unrecorded one click away."""
    known = [item for item in action.inputs if item.value is not None]
    unknown = [item for item in action.inputs if item.value is None]
    rows = [
        f"<tr><td>{escape(fact_label(item.fact))}</td>"
        f"<td>{escape(value_text(item.fact, item.value))}</td></tr>"
        for item in known
    ]
    table = ["<table><tr><th>read</th><th>value</th></tr>", *rows, "</table>"] if rows else []
    out = ['<div class="inputs">', *table]
    if unknown:
        names = ", ".join(fact_label(item.fact) for item in unknown)
        out.append(
            f"<details><summary>Also read, not recorded ({len(unknown)})</summary>"
            f"<p>{escape(names)}</p></details>"
        )
    return [*out, "</div>"]


def _follow_up(recommendation: Recommendation, ruleset: RuleSet) -> list[str]:
    """The follow-up dates, earliest first, an overdue one marked (pathway.md 10, 12)."""
    if not recommendation.reassess:
        return ["<p>No follow-up date from the pathway.</p>"]
    items = [
        f'<li class="{"overdue" if r.overdue else "due"}">'
        f"<strong>{escape(date_words(r.due))}{' (overdue)' if r.overdue else ''}: "
        f"{escape(ITEM_WORDS[r.item])}</strong>. {escape(r.why)} "
        f"<span class=rule>({escape(short_citation(ruleset, r.source))})</span></li>"
        for r in recommendation.reassess
    ]
    return ["<ul class=follow-up>", *items, "</ul>"]


def _missing(recommendation: Recommendation) -> list[str]:
    """What is not recorded, by what it would change: red flags first."""
    if not recommendation.missing:
        return ["<p>Nothing unrecorded would change this recommendation.</p>"]
    items = [
        f"<li>{escape(item_label(item.field))} "
        f"<span class=rule>(for {escape(', '.join(item.needed_by))})</span></li>"
        for item in missing_in_order(recommendation)
    ]
    return ["<p>Not recorded, and would change or confirm the result:</p><ul>", *items, "</ul>"]


def _sources(recommendation: Recommendation, ruleset: RuleSet) -> list[str]:
    keys = dict.fromkeys(key for action in recommendation.actions for key in action.sources)
    basis = set(recommendation.stage_basis)
    keys.update(dict.fromkeys(k for r in ruleset.rules if r.id in basis for k in r.sources))
    keys.update(dict.fromkeys(r.source for r in recommendation.reassess))
    items = [f"<li>{escape(_citation(ruleset, key))}</li>" for key in keys]
    return ["<ul>", *items, "</ul>"] if items else ["<p>None.</p>"]


def _citation(ruleset: RuleSet, key: str) -> str:
    source = ruleset.sources.get(key)
    if source is None:
        return key
    return source.citation + ("" if source.verified else " (citation not verified)")
