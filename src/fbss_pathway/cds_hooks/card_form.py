"""A card's form as CDS Hooks 2.0 asks for it, and the check that a card keeps to it.

Every card of this service is made by :func:`new_card` (a fresh ``uuid``, a
summary under 140 characters, the rule as ``source.topic``) and can be checked
by :func:`card_problems`; what a card says is :mod:`.cards`' business.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RULE_SYSTEM", "SUMMARY_LIMIT", "card_problems", "new_card"]

#: The code system of ``source.topic``: the code is the rule id.
RULE_SYSTEM = "urn:fbss-pathway:rule"
#: The specification asks for summaries under 140 characters.
SUMMARY_LIMIT = 140
_LABEL = "fbss-pathway"


def _summary(text: str) -> str:
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def new_card(
    summary: str, indicator: str, rule_id: str | None, titles: Mapping[str, str], lines: list[str]
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
