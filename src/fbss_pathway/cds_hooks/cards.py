"""A Recommendation as CDS Hooks 2.0 cards.

The stage card comes first, then one card per deferral or caution, then one per
action. Every card names its rule in ``source`` and carries its basis in
``detail`` (Markdown): the reason, the inputs read, the sources and what is
missing. The specification forbids null and empty values, so absent parts are
left out, never sent empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from ..recommendation import Action, MissingInput, Recommendation
from ..ruleset import RuleSet, default_ruleset
from ..steps import StepCheck
from ..vocabulary import ActionCode, Stage

__all__ = ["RULE_SYSTEM", "SUMMARY_LIMIT", "card_problems", "cards"]

#: The code system of ``source.topic``: the code is the rule id.
RULE_SYSTEM = "urn:fbss-pathway:rule"
#: The specification asks for summaries under 140 characters.
SUMMARY_LIMIT = 140
_LABEL = "fbss-pathway"
_CAUTIONS = {ActionCode.REOPERATION_CAUTION}


def cards(
    recommendation: Recommendation, *, ruleset: RuleSet | None = None
) -> list[dict[str, Any]]:
    """CDS Hooks cards for a recommendation, the stage card first.

    Args:
        recommendation: From :func:`fbss_pathway.evaluate`.
        ruleset: The rule set that produced it, for rule titles and citations;
            the packaged rules by default.
    """
    ruleset = ruleset or default_ruleset()
    titles = {rule.id: rule.title for rule in ruleset.rules}
    urgent = recommendation.stage is Stage.URGENT_REVIEW
    stage_rule = recommendation.stage_basis[0] if recommendation.stage_basis else None
    lines = [
        f"**Stage: {_words(recommendation.stage)}**",
        f"Placed by: {', '.join(recommendation.stage_basis)}"
        if recommendation.stage_basis
        else "No rule placed the patient further than the conservative stage (the default).",
    ]
    if recommendation.actions:
        lines += ["", "Recommended, in order:"]
        lines += [
            f"1. {_words(action.code)} ({action.rule_id})" for action in recommendation.actions
        ]
    lines += _missing(recommendation.missing)
    lines += [
        "",
        f"Rule set {recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    result = [
        _card(
            f"FBSS pathway: {_words(recommendation.stage)}"
            f" ({len(recommendation.actions)} recommended action(s))",
            "critical" if urgent else "info",
            stage_rule,
            titles,
            lines,
        )
    ]
    for warning in recommendation.warnings:
        result.append(
            _card(
                warning.message,
                "warning",
                warning.rule_id,
                titles,
                [f"**{titles.get(warning.rule_id, warning.rule_id)}**", "", warning.message],
            )
        )
    for action in recommendation.actions:
        indicator = (
            "critical"
            if action.code is ActionCode.URGENT_SPECIALIST_REVIEW
            else "warning"
            if action.code in _CAUTIONS
            else "info"
        )
        result.append(
            _card(
                f"{_words(action.code)}: {action.reason}",
                indicator,
                action.rule_id,
                titles,
                _action_detail(action, ruleset, recommendation.missing),
            )
        )
    return result


_ACRONYMS = {"scs": "SCS", "mri": "MRI", "phq9": "PHQ-9", "gad7": "GAD-7", "nrs": "NRS"}


def _words(code: str) -> str:
    """A code in words: underscores as spaces, the first letter and acronyms capitalised."""
    words = [_ACRONYMS.get(word, word) for word in str(code).split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _summary(text: str) -> str:
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def _card(
    summary: str, indicator: str, rule_id: str | None, titles: dict[str, str], lines: list[str]
) -> dict[str, Any]:
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


def _action_detail(action: Action, ruleset: RuleSet, missing: list[MissingInput]) -> list[str]:
    lines = [f"**Why:** {action.reason}", "", "**Inputs read:**", ""]
    lines += ["| item | value |", "|---|---|"]
    lines += [
        f"| {item.field} | {'unknown' if item.value is None else _cell(item.value)} |"
        for item in action.inputs
    ] or ["| (none) | |"]
    lines += ["", "**Sources:**", ""]
    lines += [
        f"- {ruleset.sources[key].citation if key in ruleset.sources else key}"
        for key in action.sources
    ]
    if action.expected_benefit is not None:
        benefit = action.expected_benefit
        lines += ["", f"Expected benefit: {benefit.low_percent:g}-{benefit.high_percent:g} %."]
    if action.also_from:
        lines += ["", f"Also recommended by: {', '.join(action.also_from)}."]
    rules = {action.rule_id, *action.also_from}
    lines += _missing([item for item in missing if rules & set(item.needed_by)])
    return lines


def _missing(missing: Iterable[MissingInput]) -> list[str]:
    items = list(missing)
    if not items:
        return []
    return ["", "**Missing information** (would change or confirm this):", ""] + [
        f"- {item.field} (needed by {', '.join(item.needed_by)})" for item in items
    ]


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|")


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


#: This service's reasons a clinician may give for signing an order the pathway does not
#: support (CDS Hooks 2.0 leaves the codes to the service).
OVERRIDE_SYSTEM = "urn:fbss-pathway:override-reason"
OVERRIDE_REASONS = {
    "clinical-judgement": "Clinical judgement: the pathway does not fit this patient",
    "record-incomplete": "The record is incomplete or out of date",
    "patient-preference": "The patient's informed preference",
    "specialist-advice": "On a specialist's or the team's advice",
}


def order_warning_card(check: StepCheck, *, ruleset: RuleSet | None = None) -> dict[str, Any]:
    """A warning for an order the pathway does not support now: why, and what it recommends."""
    recommendation = check.recommendation
    why: list[str] = []
    if recommendation.stage is Stage.URGENT_REVIEW:
        why.append("- A red flag: urgent specialist review comes before any step of the ladder.")
    why += [f"- {warning.message}" for warning in recommendation.warnings]
    title = check.rule_title or _words(check.step)
    why += [f"- Not met ({title}): {criterion}" for criterion in check.unmet]
    why += [f"- Not recorded ({title}): {criterion}" for criterion in check.unknown]
    lines = [
        f"**{_words(check.step)} is not what the FBSS pathway supports now.**",
        "",
        "**Why not:**",
        "",
        *(why or ["- No rule of the pathway recommends it for this patient."]),
        "",
        f"**The pathway recommends instead:** stage {_words(recommendation.stage).lower()}.",
        "",
        *[f"1. {_words(action.code)} ({action.rule_id})" for action in recommendation.actions],
        "",
        f"Rule set {recommendation.ruleset_version}. "
        "Supports, does not replace, clinical judgement.",
    ]
    titles = {rule.id: rule.title for rule in (ruleset or default_ruleset()).rules}
    card = _card(
        f"{_words(check.step)}: not supported by the FBSS pathway now",
        "warning",
        check.rule_id,
        titles,
        lines,
    )
    card["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS.items()
    ]
    return card
