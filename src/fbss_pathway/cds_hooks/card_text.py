"""The pieces of a card's detail that every card writes alike: actions, sources, what is missing.

Markdown, a block at a time, each line kept on one line (:func:`cell`): an
action with why, the inputs its rule read (those behind the pathway criteria it
relies on counted, not listed), its sources and basis; an item not recorded
with the rules it would change or confirm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..explain.words import code_words, fact_label, item_label, percent_range, value_text
from ..recommendation import Action, MissingInput
from ..ruleset import RuleSet

__all__ = ["actions_detail", "cell", "citation", "missing_lines"]


def actions_detail(
    actions: Sequence[Action], ruleset: RuleSet, missing: Sequence[MissingInput]
) -> list[str]:
    """Each action under its name and rule: why, inputs read, sources, basis, what is missing."""
    lines: list[str] = []
    for action in actions:
        if lines:
            lines.append("")
        lines += [f"**{code_words(action.code)}** ({action.rule_id})", ""]
        lines += _action_detail(action, ruleset, missing)
    return lines


def _action_detail(action: Action, ruleset: RuleSet, missing: Sequence[MissingInput]) -> list[str]:
    lines = [f"Why: {cell(action.reason)}.", "", "Inputs read:", ""]
    # The rule's own inputs; those behind the derived facts it reads (a deferral reads
    # every SCS criterion) are counted, not listed: the card is read in seconds.
    rules = {action.rule_id, *action.also_from}
    own = frozenset().union(*(ruleset.own_inputs.get(rule, frozenset()) for rule in rules))
    shown = [item for item in action.inputs if item.fact in own] or list(action.inputs)
    lines += [
        f"- {fact_label(item.fact)}: {cell(value_text(item.fact, item.value))}" for item in shown
    ] or ["- none"]
    if behind := len(action.inputs) - len(shown):
        lines.append(
            f"- and {behind} more behind the pathway criteria it relies on (in the full "
            "report: the link below)"
        )
    lines += ["", "Sources:", ""]
    lines += [f"- {citation(ruleset, key)}" for key in action.sources]
    if action.basis:
        lines += ["", f"Basis: {', '.join(action.basis)}."]
    if action.expected_benefit is not None:
        benefit = action.expected_benefit
        share = percent_range(benefit.low_percent, benefit.high_percent)
        lines += ["", f"After one more operation: {share} of patients improve."]
    if action.also_from:
        lines += ["", f"Also recommended by: {', '.join(action.also_from)}."]
    lines += missing_lines([item for item in missing if rules & set(item.needed_by)])
    return lines


def missing_lines(missing: Iterable[MissingInput]) -> list[str]:
    """The items not recorded, each with the rules it would change or confirm (none: nothing)."""
    items = list(missing)
    if not items:
        return []
    return ["", "**Not recorded** (would change or confirm this):", ""] + [
        f"- {item_label(item.field)} (for {', '.join(item.needed_by)})" for item in items
    ]


def cell(text: str) -> str:
    """Text kept on one Markdown line."""
    return " ".join(str(text).split())


def citation(ruleset: RuleSet, key: str) -> str:
    """A source's citation, marked when it could not be checked (the rule data says so)."""
    source = ruleset.sources.get(key)
    if source is None:
        return key
    return source.citation + ("" if source.verified else " (citation not verified)")
