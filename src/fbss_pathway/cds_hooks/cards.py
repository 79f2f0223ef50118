"""A Recommendation as CDS Hooks 2.0 cards a clinician reads in ten seconds.

At most four cards: the stage (with the standing actions), the step to decide
on, what needs attention, and cautions. Every card names its first rule in
``source`` and carries its basis in ``detail`` (Markdown with blank lines
between blocks): the reasons, the inputs read in clinical words with units,
the sources and what is not recorded. Given the record, the stage card also
shows the dates the decision counts from (age, the last operation and the
months since, the assessment date). The specification forbids null and empty
values, so absent parts are left out, never sent empty. The order-sign
guardrail's card is built in :mod:`.order_card`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..explain.summary import stage_reasons
from ..explain.words import (
    code_words,
    fact_label,
    item_label,
    percent_range,
    record_dates,
    value_text,
)
from ..recommendation import Action, MissingInput, Recommendation
from ..record import PatientRecord
from ..ruleset import RuleSet, default_ruleset
from ..vocabulary import ActionCode, Stage

__all__ = ["RULE_SYSTEM", "SUMMARY_LIMIT", "card_problems", "cards", "new_card"]

#: The code system of ``source.topic``: the code is the rule id.
RULE_SYSTEM = "urn:fbss-pathway:rule"
#: The specification asks for summaries under 140 characters.
SUMMARY_LIMIT = 140
_LABEL = "fbss-pathway"
_CAUTIONS = {ActionCode.REOPERATION_CAUTION}


def cards(
    recommendation: Recommendation,
    *,
    ruleset: RuleSet | None = None,
    record: PatientRecord | None = None,
) -> list[dict[str, Any]]:
    """At most four CDS Hooks cards for a recommendation, the stage card first.

    1. The stage: why the patient is there, and the standing actions that go
       with every stage, in one list.
    2. The step to decide on (a ladder step, urgent review, a surgical opinion).
    3. What needs attention (depression or anxiety to treat, an opioid to review).
    4. Cautions: deferrals, warnings, the falling benefit of another operation.

    The stage card carries the highest indicator of all, so that a client that
    sorts cards by indicator (as the CDS Hooks sandbox does) still shows it first.

    Args:
        recommendation: From :func:`fbss_pathway.evaluate`.
        ruleset: The rule set that produced it, for rule titles and citations;
            the packaged rules by default.
        record: The record it was made from; its dates then head the stage
            card's detail (the summary has no room for them).
    """
    ruleset = ruleset or default_ruleset()
    titles = {rule.id: rule.title for rule in ruleset.rules}
    urgent = recommendation.stage is Stage.URGENT_REVIEW
    steps = [a for a in recommendation.actions if a.code in _DECISIONS]
    attention = [a for a in recommendation.actions if a.code in _ATTENTION]
    cautions = [a for a in recommendation.actions if a.code in _CAUTIONS]
    grouped = {a.code for a in (*steps, *attention, *cautions)}
    standing = [a for a in recommendation.actions if a.code not in grouped]
    result: list[dict[str, Any]] = []
    if steps:
        names = ", ".join(code_words(a.code) for a in steps)
        result.append(
            new_card(
                f"{'Now' if urgent else 'Next step'}: {names}",
                "critical" if urgent else "info",
                steps[0].rule_id,
                titles,
                _actions_detail(steps, ruleset, recommendation.missing),
            )
        )
    if attention:
        names = ", ".join(code_words(a.code) for a in attention)
        result.append(
            new_card(
                f"Needs attention: {names}",
                "warning",
                attention[0].rule_id,
                titles,
                _actions_detail(attention, ruleset, recommendation.missing),
            )
        )
    if recommendation.warnings or cautions:
        result.append(_cautions_card(recommendation, cautions, ruleset, titles))
    order = ["info", "warning", "critical"]
    highest = max((card["indicator"] for card in result), key=order.index, default="info")
    next_step = f"; next: {code_words(steps[0].code)}" if steps and not urgent else ""
    stage_card = new_card(
        f"FBSS pathway: {code_words(recommendation.stage)}{next_step}",
        "critical" if urgent else highest,
        recommendation.stage_basis[0] if recommendation.stage_basis else None,
        titles,
        _stage_detail(recommendation, standing, titles, record),
    )
    return [stage_card, *result]


#: Actions that are a decision to take: the ladder's steps, urgent review, a surgical opinion.
_DECISIONS = frozenset(
    {code for code in ActionCode if code.ladder_stage is not None} | {ActionCode.SURGICAL_OPINION}
)
#: Actions that need attention beside the ladder.
_ATTENTION = frozenset({ActionCode.TREAT_DEPRESSION_ANXIETY, ActionCode.OPIOID_REVIEW})


def _cautions_card(
    recommendation: Recommendation,
    cautions: list[Action],
    ruleset: RuleSet,
    titles: dict[str, str],
) -> dict[str, Any]:
    warnings = recommendation.warnings
    lines = [f"- {_cell(w.message)} ({w.rule_id})" for w in warnings]
    if cautions:
        lines += ["", *_actions_detail(cautions, ruleset, [])] if lines else []
        lines += [] if warnings else _actions_detail(cautions, ruleset, [])
    named = [titles.get(w.rule_id, w.rule_id) for w in warnings]
    named += [code_words(a.code) for a in cautions]
    first = warnings[0].rule_id if warnings else cautions[0].rule_id
    summary = "; ".join(named)
    if not summary.lower().startswith("caution"):  # never "Caution: Caution before ..."
        summary = f"Caution: {summary}"
    return new_card(summary, "warning", first, titles, lines)


def _stage_detail(
    recommendation: Recommendation,
    standing: list[Action],
    titles: dict[str, str],
    record: PatientRecord | None,
) -> list[str]:
    placed = stage_reasons(recommendation, titles)
    lines = [f"**Stage: {code_words(recommendation.stage)}**", ""]
    lines += [record_dates(record), ""] if record is not None else []
    if placed:
        lines += ["Why: " + "; ".join(placed) + ".", ""]
    else:
        lines += ["No criterion for a further step is met: conservative care is the default.", ""]
    if standing:
        by_rule: dict[str, list[Action]] = {}
        for action in standing:  # one line per rule: its actions share its reason
            by_rule.setdefault(action.rule_id, []).append(action)
        lines += ["**With every stage:**", ""]
        lines += [
            f"- {', '.join(code_words(a.code) for a in group)}: {_cell(group[0].reason)} ({rule})"
            for rule, group in by_rule.items()
        ]
    lines += _missing(recommendation.missing)
    lines += [
        "",
        f"Rule set {recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    return lines


def _actions_detail(
    actions: Sequence[Action], ruleset: RuleSet, missing: Sequence[MissingInput]
) -> list[str]:
    lines: list[str] = []
    for action in actions:
        if lines:
            lines.append("")
        lines += [f"**{code_words(action.code)}** ({action.rule_id})", ""]
        lines += _action_detail(action, ruleset, missing)
    return lines


def _summary(text: str) -> str:
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def new_card(
    summary: str, indicator: str, rule_id: str | None, titles: dict[str, str], lines: list[str]
) -> dict[str, Any]:
    """One card as the specification wants it: fresh uuid, short summary, the rule as source."""
    source: dict[str, Any] = {"label": f"{_LABEL} rule {rule_id}" if rule_id else _LABEL}
    if rule_id is not None:
        topic = {"system": RULE_SYSTEM, "code": rule_id}
        if rule_id in titles:
            topic["display"] = titles[rule_id]
        source["topic"] = topic
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _summary(summary),
        "indicator": indicator,
        "detail": "\n".join(lines).strip(),
        "source": source,
    }


def _action_detail(action: Action, ruleset: RuleSet, missing: Sequence[MissingInput]) -> list[str]:
    lines = [f"Why: {_cell(action.reason)}.", "", "Inputs read:", ""]
    # The rule's own inputs; those behind the derived facts it reads (a deferral reads
    # every SCS criterion) are counted, not listed: the card is read in seconds.
    rules = {action.rule_id, *action.also_from}
    own = frozenset().union(*(ruleset.own_inputs.get(rule, frozenset()) for rule in rules))
    shown = [item for item in action.inputs if item.fact in own] or list(action.inputs)
    lines += [
        f"- {fact_label(item.fact)}: {_cell(value_text(item.fact, item.value))}" for item in shown
    ] or ["- none"]
    if behind := len(action.inputs) - len(shown):
        lines.append(
            f"- and {behind} more behind the pathway criteria it relies on (in the full "
            "recommendation's inputs)"
        )
    lines += ["", "Sources:", ""]
    lines += [
        f"- {ruleset.sources[key].citation if key in ruleset.sources else key}"
        for key in action.sources
    ]
    if action.expected_benefit is not None:
        benefit = action.expected_benefit
        share = percent_range(benefit.low_percent, benefit.high_percent)
        lines += ["", f"Expected benefit of one more operation: {share} of patients improve."]
    if action.also_from:
        lines += ["", f"Also recommended by: {', '.join(action.also_from)}."]
    lines += _missing([item for item in missing if rules & set(item.needed_by)])
    return lines


def _missing(missing: Iterable[MissingInput]) -> list[str]:
    items = list(missing)
    if not items:
        return []
    return ["", "**Not recorded** (would change or confirm this):", ""] + [
        f"- {item_label(item.field)} (for {', '.join(item.needed_by)})" for item in items
    ]


def _cell(text: str) -> str:
    """Text kept on one Markdown line."""
    return " ".join(str(text).split())


def card_problems(card: dict[str, Any]) -> list[str]:
    """What in a card breaks the CDS Hooks 2.0 constraints (empty when it conforms).

    Checked: required ``summary``/``indicator``/``source.label``; summary under
    140 characters; the indicator vocabulary; no null or empty value anywhere;
    a ``uuid``; ``source.topic`` a Coding with system and code.
    """
    problems = []
    if not isinstance(card.get("summary"), str) or len(card["summary"]) >= SUMMARY_LIMIT:
        problems.append("summary missing or not under 140 characters")
    if card.get("indicator") not in ("info", "warning", "critical"):
        problems.append("indicator not info, warning or critical")
    source = card.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("label"), str):
        problems.append("source.label missing")
    elif "topic" in source and not {"system", "code"} <= set(source["topic"]):
        problems.append("source.topic is not a Coding")
    try:
        uuid.UUID(str(card.get("uuid")))
    except ValueError:
        problems.append("uuid missing or not a UUID")
    if "suggestions" in card and "selectionBehavior" not in card:
        problems.append("suggestions without selectionBehavior")
    problems += [f"{path} is null or empty" for path in _empty_values(card, "card")]
    return problems


def _empty_values(value: Any, path: str) -> Iterable[str]:
    if value is None or value in ("", [], {}):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _empty_values(item, f"{path}[{index}]")
