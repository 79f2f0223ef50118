"""What a loaded rule directory holds: parameters, sources and rules."""

from __future__ import annotations

from dataclasses import dataclass

from ..vocabulary import ActionCode, Option, RedFlagTier, ScsAdvice, Verdict
from .conditions import Condition

__all__ = ["BASIS_KINDS", "BenefitRange", "Parameter", "Rule", "Source"]

#: The kinds of basis a threshold can have (pathway.md 0): a guideline states the
#: number, a consensus panel or practice parameters state it, a trial used it as
#: an entry criterion or outcome definition, or it is a local choice of the site.
BASIS_KINDS = ("guideline", "consensus", "trial", "site")


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named threshold; rules refer to it by name, never by its number.

    A few settings are words, not numbers (``block_paradigm``: single or dual):
    their ``value`` is one of ``choices``. Facts read them (``courses``); a rule's
    condition compares only with numbers, and a template quotes the word.
    """

    name: str
    value: float | str
    unit: str
    description: str
    sources: tuple[str, ...]
    basis: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """A citation key and the work it stands for.

    ``verified`` is False where the citation could not be checked against the
    source itself: the catalogue says "not verified" beside it.
    """

    key: str
    citation: str
    verified: bool = True


@dataclass(frozen=True, slots=True)
class BenefitRange:
    """Expected share of patients who improve after one more operation."""

    low_percent: float
    high_percent: float
    low_param: str
    high_param: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: a condition and what it concludes when the condition holds.

    A rule concludes one of: a derived fact (``derive``), which other rules read;
    a verdict on one or more options (``options`` with ``verdict``, and the
    option's next ``steps``); or actions and a warning for the recommendation. A
    red-flag rule names its ``tier``. ``basis`` is the kind of basis the rule
    declares for itself; the parameters it reads add theirs. A rule with
    ``with_steps`` counts only beside one of those option steps (a periprocedural
    plan beside a procedure). ``advice`` is the SCS advice level a verdict rule on
    spinal cord stimulation states (pathway.md 7.1, 7.2): data, so no adapter
    re-derives it.
    """

    id: str
    title: str
    file: str
    when: Condition
    reason: str
    sources: tuple[str, ...]
    derive: str | None = None
    actions: tuple[ActionCode, ...] = ()
    warning: str | None = None
    warning_key: str | None = None
    expected_benefit: BenefitRange | None = None
    options: tuple[Option, ...] = ()
    verdict: Verdict | None = None
    steps: tuple[ActionCode, ...] = ()
    tier: RedFlagTier | None = None
    basis: tuple[str, ...] = ()
    awaits_surgical_opinion: bool = False
    with_steps: tuple[ActionCode, ...] = ()
    advice: ScsAdvice | None = None

    @property
    def step(self) -> ActionCode | None:
        """The option's next step (the first, where a verdict names several at once)."""
        return self.steps[0] if self.steps else None
