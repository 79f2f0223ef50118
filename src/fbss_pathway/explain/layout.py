"""What a person reads first, and how it is grouped: one order for report, terminal and cards.

The recommendation keeps every part with its basis; a clinician reads it in
another order (pathway.md 11): the patient's dates first (to check the time
criteria), the options with their verdicts, the next steps with each reason
once, and the missing information by what it would change, red flags first.
Cards, the HTML report and the terminal all take these from here, so that the
three never say one thing three ways.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from ..recommendation import Action, MissingInput, OptionAppraisal, PatientContext, Recommendation
from ..ruleset import RuleSet
from ..vocabulary import Verdict
from .headline import OPTION_WORDS, VERDICT_WORDS
from .words import code_words, date_words, in_sentence

__all__ = [
    "ActionGroup",
    "action_groups",
    "context_line",
    "date_words",
    "missing_in_order",
    "option_groups",
    "option_line",
    "options_line",
    "short_citation",
    "step_words",
    "wrap",
]

_OPERATION_WORDS = {
    "decompression_discectomy": "decompression or discectomy",
    "laminectomy": "laminectomy",
    "fusion": "fusion",
    "other": "spine operation",
}


def context_line(patient: PatientContext | None) -> str:
    """Assessment date, age and operations with the months since each (pathway.md 12).

    "Assessed 1 Oct 2026 · age 54 · fusion L4-L5 on 20 May 2022 (52 months ago)".
    Most thresholds count from these dates; shown, a wrong date is seen.
    """
    if patient is None:
        return ""
    parts = [f"Assessed {date_words(patient.assessment_date)}"]
    parts.append("age not recorded" if patient.age_years is None else f"age {patient.age_years}")
    for operation in patient.operations:
        kind = _OPERATION_WORDS.get(operation.kind, code_words(operation.kind).lower())
        levels = f" {', '.join(operation.levels)}" if operation.levels else ""
        months = operation.months_since
        ago = "this month" if months == 0 else f"{months} month{'s' * (months != 1)} ago"
        parts.append(f"{kind}{levels} on {date_words(operation.date)} ({ago})")
    return " · ".join(parts)


def option_line(appraisal: OptionAppraisal) -> str:
    """'Facet joint intervention: appropriate; next: radiofrequency denervation'."""
    line = f"{OPTION_WORDS[appraisal.option]}: {VERDICT_WORDS[appraisal.verdict]}"
    step = appraisal.next_step
    if step is not None and appraisal.verdict is not Verdict.NOT_APPROPRIATE:
        line += f"; next: {in_sentence(code_words(step))}"
    return line


def option_groups(recommendation: Recommendation) -> list[tuple[OptionAppraisal, ...]]:
    """The options, those held by one rule for one reason together (read once, not six times).

    A red flag blocks every option with the same sentence; said once, with the
    options it holds. Options keep their order; a group stands where its first did.
    """
    groups: dict[tuple[object, ...], list[OptionAppraisal]] = {}
    for appraisal in recommendation.options:
        key: tuple[object, ...] = (appraisal.option,)
        if appraisal.rule_id and appraisal.next_step is None:
            key = (appraisal.verdict, appraisal.rule_id, appraisal.reasons)
        groups.setdefault(key, []).append(appraisal)
    return [tuple(group) for group in groups.values()]


def options_line(group: tuple[OptionAppraisal, ...]) -> str:
    """One option's line, or several options held for one reason: 'A, B and C: blocked'."""
    if len(group) == 1:
        return option_line(group[0])
    names = [
        OPTION_WORDS[group[0].option],
        *(in_sentence(OPTION_WORDS[a.option]) for a in group[1:]),
    ]
    joined = ", ".join(names[:-1]) + " and " + names[-1]
    return f"{joined}: {VERDICT_WORDS[group[0].verdict]}"


@dataclass(frozen=True, slots=True)
class ActionGroup:
    """Actions one rule gave for one reason: read once, with every step it names."""

    actions: tuple[Action, ...]

    @property
    def first(self) -> Action:
        """The action whose reason and basis the group shares."""
        return self.actions[0]

    @property
    def title(self) -> str:
        """'Exercise therapy and supportive analgesia'; a step to discuss first says so.

        The next step of an option that may be appropriate is marked "discuss at
        the MDT" wherever it is listed (pathway.md 4), as the cards mark it.
        """
        names = [step_words(a) for a in self.actions]
        head = ", ".join(names[:-1])
        tail = in_sentence(names[-1]) if len(names) > 1 else names[-1]
        return f"{head} and {tail}" if head else tail

    @property
    def rules(self) -> tuple[str, ...]:
        """Every rule behind the group, each once."""
        return tuple(dict.fromkeys(r for a in self.actions for r in (a.rule_id, *a.also_from)))


def step_words(action: Action) -> str:
    """An action in words, marked "discuss at the MDT" where its option may be appropriate."""
    return code_words(action.code) + (" (discuss at the MDT)" if action.discuss_at_mdt else "")


def action_groups(recommendation: Recommendation) -> list[ActionGroup]:
    """The actions in their order, those of one rule with one reason together."""
    groups: dict[tuple[str, str], list[Action]] = {}
    for action in recommendation.actions:
        groups.setdefault((action.rule_id, action.reason), []).append(action)
    return [ActionGroup(tuple(actions)) for actions in groups.values()]


#: Items whose absence matters most, in this order: red flags hold every intervention
#: (pathway.md 3.3), suicide risk and mood come next (3.4).
_FIRST = ("red_flags.", "psychosocial.phq9_item9", "psychosocial.suicide_risk", "psychosocial.")


def missing_in_order(recommendation: Recommendation) -> list[MissingInput]:
    """Missing information by what it would change: red flags first, then mood, then by reach.

    Among the rest, an item more rules wait for comes first; ties keep the
    result's order (by field), so the list reads the same every time.
    """

    def rank(item: MissingInput) -> tuple[int, int]:
        for index, prefix in enumerate(_FIRST):
            if item.field.startswith(prefix):
                return index, -len(item.needed_by)
        return len(_FIRST), -len(item.needed_by)

    return sorted(recommendation.missing, key=rank)


_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def short_citation(ruleset: RuleSet, key: str) -> str:
    """A source as a reader names it: 'Kumar K et al. (2007)', 'NICE guideline NG59 (2016)'."""
    source = ruleset.sources.get(key)
    if source is None:
        return key
    head = source.citation.split(". ")[0].rstrip(".")
    year = _YEAR.search(source.citation)
    cited = f"{head} ({year.group()})" if year and year.group() not in head else head
    return cited if source.verified else f"{cited}, citation not verified"


#: A number and the unit or word after it stay on one line ("20 %", "3 months", "1 Oct").
_NUMBER_UNIT = re.compile(
    r"(\d) (?=%|(?:mg|mcg|MME|months?|weeks?|years?|days?"
    r"|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b)"
)


def wrap(text: str, width: int, indent: str = "", hanging: str | None = None) -> list[str]:
    """Lines of at most ``width``; a number never apart from its unit, no break at hyphens.

    ``hanging``: the indent of the lines after the first (``indent`` by default).
    """
    kept = _NUMBER_UNIT.sub("\\1\u00a0", text)
    lines = textwrap.wrap(
        kept,
        max(width, len(indent) + 20),
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return [line.replace("\u00a0", " ") for line in lines]
