"""What a loaded rule directory holds: parameters, sources and rules."""

from __future__ import annotations

from dataclasses import dataclass

from ..vocabulary import ActionCode, Stage
from .conditions import Condition

__all__ = ["BenefitRange", "Parameter", "Rule", "Source"]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named threshold; rules refer to it by name, never by its number."""

    name: str
    value: float
    unit: str
    description: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Source:
    """A citation key and the work it stands for."""

    key: str
    citation: str


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

    A rule either derives a fact (``derive``), which other rules read, or
    concludes any of actions, a stage and a warning for the recommendation.
    ``defers`` names the ladder stages its warning holds the patient back from
    (a deferral or a contraindication), for the ladder view.
    """

    id: str
    title: str
    file: str
    when: Condition
    reason: str
    sources: tuple[str, ...]
    derive: str | None = None
    actions: tuple[ActionCode, ...] = ()
    stage: Stage | None = None
    warning: str | None = None
    first: bool = False
    expected_benefit: BenefitRange | None = None
    defers: tuple[Stage, ...] = ()
