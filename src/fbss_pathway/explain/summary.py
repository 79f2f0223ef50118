"""The few sentences every output leads with: why this stage, and what comes next."""

from __future__ import annotations

from collections.abc import Mapping

from ..recommendation import Action, Recommendation
from ..vocabulary import RungStatus, Stage
from .headline import STAGE_WORDS
from .words import code_words

__all__ = ["INTENDED_USE", "STATUS_WORDS", "next_step", "stage_reasons", "stage_words"]

#: What every report says of itself (docs/intended-use.md in full).
INTENDED_USE = (
    "Decision support for clinicians caring for adults with persistent pain after lumbar "
    "spine surgery (failed back surgery syndrome): it proposes where the patient stands on "
    "the treatment pathway and shows the basis of every part. A clinician decides. It is not "
    "a medical device, has no regulatory clearance, and is for use in care only under local "
    "clinical governance."
)

#: A rung's status as a clinician reads it.
STATUS_WORDS: Mapping[RungStatus, str] = {
    RungStatus.PASSED: "passed",
    RungStatus.CURRENT: "the patient is here",
    RungStatus.BLOCKED: "held back",
    RungStatus.NOT_INDICATED: "not indicated",
    RungStatus.UNDECIDED: "undecided: information missing",
    RungStatus.AHEAD: "ahead: after the steps below",
}


def stage_words(stage: Stage) -> str:
    """A stage as a rung of the ladder is named for a clinician: as the headline names it.

    One set of words everywhere (a clinician's review found "Specialist review" and
    "Urgent review" on the ladder beside "Pathway options exhausted: MDT re-evaluation"
    and "Emergency" in the headline; pathway.md 11).
    """
    return STAGE_WORDS.get(stage) or code_words(stage)


def stage_reasons(recommendation: Recommendation, titles: Mapping[str, str]) -> list[str]:
    """Why the patient is on this stage: the reasons of the rules that placed them.

    A placing rule with no action has no reason in the result, so its title
    (``titles``: rule id to title) stands for it. Empty when no rule placed the
    patient further than the default, conservative care.
    """
    basis = recommendation.stage_basis
    placed = [a.reason for a in recommendation.actions if a.rule_id in basis]
    if not placed:  # titles, written as the reasons are: inside a sentence after "Why:"
        placed = [_in_sentence(titles.get(rule, rule)) for rule in basis]
    return list(dict.fromkeys(placed))


def _in_sentence(title: str) -> str:
    """A title inside a sentence: "On the step" -> "on the step"; "SCS deferred" stays."""
    first = title.split(" ", 1)[0]
    return title[:1].lower() + title[1:] if first[1:].islower() else title


def next_step(recommendation: Recommendation) -> Action | None:
    """The first action: the step to take now (most urgent first)."""
    return recommendation.actions[0] if recommendation.actions else None
