"""One card per option worth acting on: its verdict, next step, reasons, criteria, sources, basis.

An option is worth a card when it is appropriate or may be, when it holds the
stage (blocked, not yet, unknown on a rung), or when an implant is in place
with a step or a rung. A criterion shows the patient's value against what it
needs; one on several values, the recorded ones first, the deciding value
first of all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..explain.headline import OPTION_WORDS, VERDICT_WORDS
from ..explain.layout import step_words
from ..explain.scs_evidence import ADVICE_WORDS
from ..explain.words import code_words, fact_label, in_sentence, value_text
from ..recommendation import OptionAppraisal, Recommendation
from ..ruleset import RuleSet
from ..vocabulary import Option, Verdict
from .card_form import new_card
from .card_text import cell, citation, missing_lines

__all__ = ["option_card", "worth_acting_on"]


def worth_acting_on(appraisal: OptionAppraisal) -> bool:
    """Whether an option gets a card of its own (conservative care stands on the stage card)."""
    if appraisal.option is Option.CONSERVATIVE_CARE:
        return False
    if appraisal.verdict in (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE):
        return True
    if appraisal.verdict is Verdict.IN_PLACE:
        return appraisal.next_step is not None or appraisal.option.rung is not None
    return appraisal.counts_for_stage


def option_card(
    recommendation: Recommendation,
    appraisal: OptionAppraisal,
    ruleset: RuleSet,
    titles: Mapping[str, str],
) -> dict[str, Any]:
    """The option's card: ``warning`` when blocked, else ``info``."""
    words = OPTION_WORDS[appraisal.option]
    summary = f"{words}: {VERDICT_WORDS[appraisal.verdict]}"
    if appraisal.next_step is not None and appraisal.verdict is not Verdict.NOT_APPROPRIATE:
        summary += f"; next: {in_sentence(code_words(appraisal.next_step))}"
    indicator = "warning" if appraisal.verdict is Verdict.BLOCKED else "info"
    lines = [f"**{words}: {VERDICT_WORDS[appraisal.verdict]}**", ""]
    if appraisal.advice_level is not None:  # the rules' SCS advice level (pathway.md 7.1)
        advice = ADVICE_WORDS[appraisal.advice_level]
        if appraisal.verdict in (Verdict.BLOCKED, Verdict.NOT_YET, Verdict.UNKNOWN):
            # Not an invitation beside a hold: the clinical layer's advice, once resolved.
            lines += [f"Clinical advice once what holds it is resolved: {advice}.", ""]
        else:
            lines += [f"Advice: {advice}.", ""]
    lines += _steps_lines(recommendation, appraisal)
    lines += [f"- {cell(reason)}" for reason in appraisal.reasons]
    if appraisal.criteria:
        lines += ["", "Criteria:", ""]
        lines += [f"- {_mark(c.met)} {_criterion(c)}" for c in appraisal.criteria]
    lines += ["", "Sources:", ""]
    lines += [f"- {citation(ruleset, key)}" for key in appraisal.sources] or ["- none"]
    if appraisal.basis:
        lines += ["", f"Basis: {', '.join(appraisal.basis)}."]
    rules = {appraisal.rule_id, *appraisal.also_from}
    lines += missing_lines([m for m in recommendation.missing if rules & set(m.needed_by)])
    return new_card(summary, indicator, appraisal.rule_id or None, titles, lines)


def _steps_lines(recommendation: Recommendation, appraisal: OptionAppraisal) -> list[str]:
    """The option's one next step (its summary's), then the other actions listed for it.

    One "Next step" a card: the summary's (an MDT review read three different next
    steps in one card). The option's other listed actions follow as "Also listed".
    """
    actions = [a for a in recommendation.actions if a.option is appraisal.option]
    step = appraisal.next_step if appraisal.verdict is not Verdict.NOT_APPROPRIATE else None
    first = next((a for a in actions if a.code is step), None)
    lines = []
    if step is not None:
        words = step_words(first) if first is not None else code_words(step)
        rule = first.rule_id if first is not None else appraisal.rule_id
        lines += [f"Next step: {words}" + (f" ({rule})" if rule else ""), ""]
    for action in actions:
        if action is not first:
            lines += [f"Also listed: {step_words(action)} ({action.rule_id})", ""]
    return lines


def _mark(met: bool | None) -> str:
    return {True: "✓", False: "✗", None: "?"}[met]


#: The most inputs a criterion's line shows; the rest are counted.
_SHOWN_INPUTS = 4


def _values(inputs: Sequence[Any], met: bool | None) -> str:
    """The patient's values behind a criterion: recorded first, the deciding value first of all.

    A criterion met is decided by a value that holds ("yes"), one unmet by one that
    fails ("no"); unrecorded values come last. Labels keep their acronyms (PHQ-9),
    and no brackets are nested: "; this patient: PHQ-9 score: 12; ... and 2 more".
    """
    if not inputs:
        return ""

    def rank(item: Any) -> int:
        if item.value is None:
            return 2
        return 0 if met is not None and bool(item.value) is met else 1

    ordered = sorted(inputs, key=rank)
    shown = "; ".join(
        f"{_unbracketed(fact_label(i.fact))}: {value_text(i.fact, i.value)}"
        for i in ordered[:_SHOWN_INPUTS]
    )
    more = len(ordered) - _SHOWN_INPUTS
    tail = f"; and {more} more" if more > 0 else ""
    return f" — this patient: {cell(shown)}{tail}"


def _criterion(criterion: Any) -> str:
    """The patient's value against what it needs: "Back pain, NRS 0-10: 7/10; needs at least 5/10".

    A criterion on one value says it once; one on several gives the rule's words,
    then the patient's values behind it.
    """
    text = cell(criterion.text)
    if len(criterion.inputs) == 1:
        [single] = criterion.inputs
        label = fact_label(single.fact)
        if text.startswith(f"{label}: "):
            needs = text[len(label) + 2 :]
            return f"{label}: {value_text(single.fact, single.value)}; needs {needs}"
    return text + _values(criterion.inputs, criterion.met)


def _unbracketed(label: str) -> str:
    """A label without a bracket left open or closed alone (a description cut short)."""
    if label.count("(") != label.count(")"):
        label = label.replace("(", ", ").replace(")", "")
    return " ".join(label.replace(" ,", ",").split())
