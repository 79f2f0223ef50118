"""Options side by side: each option's verdict from the rules that fired, and the stage.

The rules (durable_rules) decide which verdict rules fire. This module combines
them by the fixed policies of pathway.md sections 3 and 4, documented in
``docs/pathway.md``:

* red flags pre-empt: with any red flag every option is ``blocked``;
* the strongest claim decides: of the verdict rules that fired for an option,
  the one whose verdict comes first in :class:`~fbss_pathway.Verdict` order
  decides (``in_place`` > ``not_yet`` > ``not_appropriate`` > ``blocked`` >
  ``unknown`` > ``may_be_appropriate`` > ``appropriate``); the others are kept;
* no rule fired: ``unknown``;
* a deciding rule that names no step (it grades the option) takes the step of the
  strongest open rule beneath it; the SCS advice level is the one the strongest
  rule stating an advice gives (pathway.md 7.1, 7.2);
* the stage summarises the verdicts (section 4): ``urgent_review`` with a red
  flag; ``conservative`` within 3 months of the last operation; else the furthest
  rung with an option that counts; else ``specialist_review`` when the
  conservative trial failed and every interventional option is
  ``not_appropriate`` (and no surgical opinion is still to seek); else
  ``conservative``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..facts import FactValue
from ..recommendation import LadderCriterion, OptionAppraisal, built
from ..rules_engine.model import BASIS_KINDS, Rule
from ..ruleset import RuleSet
from ..vocabulary import LADDER, ActionCode, Option, RedFlagTier, ScsAdvice, Stage, Verdict
from .cache import keep
from .criteria_view import rule_criteria
from .scs_evidence import PSYCHOSOCIAL_FIGURES, PSYCHOSOCIAL_FIGURES_SOURCE
from .shown import shown
from .templates import render

__all__ = [
    "Appraised",
    "appraise",
    "candidate_fact",
    "options_exhausted",
    "shown_facts",
    "stage_of",
]

#: Verdicts whose option counts for the stage only when the patient is in position
#: (a step on record, or the option's entry criteria known to be met).
_COUNT_IF_CANDIDATE = (Verdict.BLOCKED, Verdict.UNKNOWN)
_COUNTS = (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE, Verdict.IN_PLACE)
#: How the reasons of outranked rules are introduced: they hold once the deciding one
#: no longer does (nothing a rule found is lost, and none reads as the verdict). Against
#: the option, or with it in place, they no longer apply: set aside, never "also", which
#: read "not appropriate ... also: strongly recommended" as advice for the option.
_ONCE = {
    Verdict.BLOCKED: "once no longer held: ",
    Verdict.UNKNOWN: "once recorded: ",
    Verdict.NOT_YET: "later: ",
    Verdict.NOT_APPROPRIATE: "set aside by the above: ",
    Verdict.IN_PLACE: "set aside by the above: ",
}
_ONCE.update(dict.fromkeys(Verdict, "also: ") | _ONCE)
_AGAINST = (Verdict.NOT_APPROPRIATE, Verdict.IN_PLACE)
_OPENING = (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE)


def _introduced(deciding: Verdict, outranked: Verdict) -> str:
    """How an outranked rule's reason is introduced beside the deciding one.

    A safety hold is held now whatever decides: "also held", never "later" or
    "once recorded", which would read a present hold as a future one.
    """
    if outranked is Verdict.BLOCKED and deciding is not Verdict.BLOCKED:
        return "also held: "
    return _ONCE[deciding]


def candidate_fact(option: Option) -> str:
    """The derived fact a rule set defines for a rung option: the patient is in position.

    True when a step of the option is on record, or the conservative trial is known
    to have failed and every other entry criterion of the option is known to be met.
    """
    return f"{option.value}_candidate"


@dataclass(frozen=True, slots=True)
class Appraised:
    """An appraisal and what the recommendation builds from it."""

    appraisal: OptionAppraisal
    deciding: int | None  # the deciding rule's index
    listed_steps: tuple[ActionCode, ...]  # the steps listed among the actions
    step_rule: int | None  # the rule whose step leads
    step_rules: tuple[int, ...] = ()  # for each listed step, the rule that names it


def appraise(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    fired: Sequence[int],
    red_flags: Sequence[int],
) -> list[Appraised]:
    """Every option's verdict, next step, reasons and criteria, in vocabulary order."""
    rules = ruleset.rules
    by_option: dict[Option, list[int]] = {option: [] for option in _OPTIONS}
    for index in fired:
        for option in rules[index].options:
            by_option[option].append(index)
    result = []
    for option in _OPTIONS:
        if red_flags:
            result.append(_held_by_red_flags(ruleset, facts, option, red_flags))
            continue
        ranked = sorted(
            by_option[option],
            key=lambda i: (_verdict(rules[i]).precedence, i),
        )
        candidate = derived.get(candidate_fact(option)) is True
        # An appraisal depends on the rules that fired for it, whether the patient is in
        # position, and the values of the facts those rules read or quote.
        fired_here = tuple(ranked)
        # An option no rule decides, with the patient in position, is shown by the rule
        # that puts the patient there: the values that rule reads belong in the key.
        placing = _placing_rule(ruleset, option) if candidate and not ranked else None
        shown_over = fired_here if placing is None else (placing,)
        key = (
            ruleset.version,
            option,
            candidate,
            fired_here,
            *map(facts.get, shown_facts(ruleset, shown_over)),
        )
        found = _APPRAISED.get(key)
        if found is None:
            made = _appraised(ruleset, facts, derived, option, ranked, candidate, placing)
            found = keep(_APPRAISED, key, made, _APPRAISED_MAX)
        result.append(found)
    return result


def shown_facts(ruleset: RuleSet, indices: tuple[int, ...]) -> tuple[str, ...]:
    """The facts a group of rules reads or quotes, in a fixed order (kept per group)."""
    key = (ruleset.version, indices)
    found = _SHOWN_FACTS.get(key)
    if found is None:
        names = {spec.name for index in indices for spec in ruleset.inputs[index]}
        found = keep(_SHOWN_FACTS, key, tuple(sorted(names)), 10_000)
    return found


_SHOWN_FACTS: dict[tuple[str, tuple[int, ...]], tuple[str, ...]] = {}

_OPTIONS = tuple(Option)  # iterating an enum class is slow (CPython 3.11)
#: Every option's "in position" derived fact, in vocabulary order.
_CANDIDATE_FACTS = tuple(candidate_fact(option) for option in Option)

#: Appraisals by option, position, the rules that fired and their values. Bounded.
_APPRAISED: dict[tuple[object, ...], Appraised] = {}
_APPRAISED_MAX = 20_000


@lru_cache(maxsize=64)
def _placing_rule(ruleset: RuleSet, option: Option) -> int | None:
    """The rule defining the option's "in position" fact (:func:`candidate_fact`), if any."""
    name = candidate_fact(option)
    return next((i for i, rule in enumerate(ruleset.rules) if rule.derive == name), None)


def _verdict(rule: Rule) -> Verdict:
    assert rule.verdict is not None
    return rule.verdict


def _held_by_red_flags(
    ruleset: RuleSet, facts: Mapping[str, FactValue], option: Option, red_flags: Sequence[int]
) -> Appraised:
    rules = ruleset.rules
    reasons = tuple(
        "red flag: assess first (" + render(rules[i].reason, facts, ruleset.parameters) + ")"
        for i in red_flags
    )
    sources = tuple(dict.fromkeys(s for i in red_flags for s in ruleset.cited[i]))
    appraisal = OptionAppraisal(
        option=option,
        verdict=Verdict.BLOCKED,
        next_step=None,
        rule_id=rules[red_flags[0]].id,
        reasons=reasons,
        criteria=(),
        inputs=(),
        sources=sources,
        basis=tuple(dict.fromkeys(b for i in red_flags for b in ruleset.basis[i])),
        also_from=tuple(rules[i].id for i in red_flags[1:]),
    )
    return Appraised(appraisal, red_flags[0], (), None)


def _appraised(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    option: Option,
    ranked: list[int],
    candidate: bool,
    placing: int | None,
) -> Appraised:
    rules = ruleset.rules
    if not ranked:
        # Undecided with the patient in position (a step of the option on record, or its
        # entry criteria known to be met) counts for the stage like any unknown verdict:
        # an unrecorded outcome never moves a patient down (pathway.md 4). The rule that
        # puts the patient in position (``placing``) is then its basis, with its criteria
        # and sources.
        placed = () if placing is None else rule_criteria(ruleset, placing, facts, derived)
        appraisal = OptionAppraisal(
            option=option,
            verdict=Verdict.UNKNOWN,
            next_step=None,
            rule_id="" if placing is None else rules[placing].id,
            reasons=("the record does not decide this option: see the missing information",),
            criteria=placed,
            inputs=tuple(dict.fromkeys(value for c in placed for value in c.inputs)),
            sources=() if placing is None else ruleset.cited[placing],
            basis=() if placing is None else ruleset.basis[placing],
            counts_for_stage=option.rung is not None and candidate,
        )
        return Appraised(appraisal, None, (), None)
    deciding = ranked[0]
    rule = rules[deciding]
    verdict = _verdict(rule)
    steps: tuple[ActionCode, ...] = rule.steps
    step_rule: int | None = deciding
    naming = dict.fromkeys(steps, deciding)
    held = verdict in _COUNT_IF_CANDIDATE
    if held:
        # Held by a gate, a deferral or missing work-up, or undecided: what unblocks it
        # and every ungated next step of the rules that would open it are still listed
        # (3.3, 7.3), each with the rule that names it.
        ungated: dict[ActionCode, int] = {}
        for index in ranked:
            if _verdict(rules[index]).precedence < Verdict.BLOCKED.precedence:
                continue
            for code in rules[index].steps:
                if not code.interventional:
                    ungated.setdefault(code, index)
        if ungated:
            steps, naming = tuple(ungated), ungated
            step_rule = next(iter(ungated.values()))
    if verdict.lists_step and not steps:
        # A rule that only grades the option (an SCS advice level, pathway.md 7.1) names
        # no step: the open rules beneath it name the work-up step it qualifies.
        for index in ranked[1:]:
            if _verdict(rules[index]).lists_step and rules[index].steps:
                steps, step_rule = rules[index].steps, index
                naming = dict.fromkeys(steps, index)
                break
    if verdict.lists_step:
        listed = steps
    elif held:
        listed = tuple(code for code in steps if not code.interventional)
    else:
        listed = ()
    candidate = derived.get(candidate_fact(option)) is True
    counts = option.rung is not None and (
        verdict in _COUNTS
        or (verdict in _COUNT_IF_CANDIDATE and candidate)
        or (verdict is Verdict.NOT_YET and rule.awaits_surgical_opinion and candidate)
    )
    criteria: tuple[LadderCriterion, ...] = rule_criteria(ruleset, deciding, facts, derived)
    # Against the option, or with it in place, what would have opened it no longer
    # applies: those rules are named in ``also_from``, their reasons left out (a
    # clinician's review: "trial failed; set aside by the above: ... strongly
    # recommended" still read as advice for the option).
    against = verdict in _AGAINST
    reasons = tuple(
        dict.fromkeys(
            shown(ruleset, i, facts).reason
            if _verdict(rules[i]) is verdict
            else f"{_introduced(verdict, _verdict(rules[i]))}{shown(ruleset, i, facts).reason}"
            for i in ranked
            if not (against and _verdict(rules[i]) in _OPENING)
        )
    )
    # The advice of the strongest rule stating one; none beside an implant in place or a
    # verdict against SCS on other grounds (a failed trial): no advice to weigh there.
    advice = next((rules[i].advice for i in ranked if rules[i].advice), None)
    if rule.advice is None and verdict in (Verdict.IN_PLACE, Verdict.NOT_APPROPRIATE):
        advice = None
    inputs = tuple(dict.fromkeys(value for criterion in criteria for value in criterion.inputs))
    sources, basis = ruleset.cited[deciding], ruleset.basis[deciding]
    if advice is not None:
        # The advice rests on its own rule and the screens behind it (a DN4 of 5 decides
        # the neuropathic component): their inputs and sources are shown too (pathway.md
        # 0, 12; an outside review).
        advising = next(i for i in ranked if rules[i].advice)
        sources = tuple(dict.fromkeys((*sources, *ruleset.cited[advising])))
        kinds = {*basis, *ruleset.basis[advising]}
        basis = tuple(kind for kind in BASIS_KINDS if kind in kinds)
    if advice in (ScsAdvice.STRONGLY_RECOMMENDED, ScsAdvice.RECOMMENDED):
        # Every figure carries its source (pathway.md 0): Thomson 2022's, with the figures.
        reasons = (*reasons, PSYCHOSOCIAL_FIGURES)
        sources = tuple(dict.fromkeys((*sources, PSYCHOSOCIAL_FIGURES_SOURCE)))
        inputs = tuple(dict.fromkeys((*inputs, *shown(ruleset, advising, facts).inputs)))
    # Built from the rule set's own data, already valid: constructed, not re-validated.
    appraisal = built(
        OptionAppraisal,
        option=option,
        verdict=verdict,
        next_step=steps[0] if steps else rule.step,
        rule_id=rule.id,
        reasons=reasons,
        criteria=criteria,
        inputs=inputs,
        sources=sources,
        basis=basis,
        also_from=tuple(rules[i].id for i in ranked[1:]),
        counts_for_stage=counts,
        advice_level=advice,
    )
    return Appraised(appraisal, deciding, listed, step_rule, tuple(naming[c] for c in listed))


def stage_of(
    appraised: Sequence[Appraised],
    derived: Mapping[str, bool],
    red_flag_tiers: Sequence[RedFlagTier],
) -> tuple[Stage, tuple[Appraised, ...]]:
    """The stage the verdicts summarise (pathway.md 4), and the options that set it."""
    if red_flag_tiers:
        return Stage.URGENT_REVIEW, ()
    if derived.get("fbss_established") is False:
        return Stage.CONSERVATIVE, ()
    counting = [a for a in appraised if a.appraisal.counts_for_stage]
    for stage in reversed(LADDER):
        setting = tuple(a for a in counting if a.appraisal.option.rung is stage)
        if setting:
            return stage, setting
    interventional = [a for a in appraised if a.appraisal.option.interventional]
    # A surgical opinion still to seek is not an exhausted pathway (pathway.md 8: it
    # comes first); the safer reading of section 4, documented in docs/pathway.md.
    surgery_open = any(
        a.appraisal.option is Option.SURGICAL_OPINION
        and a.appraisal.verdict in (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE)
        for a in appraised
    )
    if (
        derived.get("conservative_trial_failed") is True
        and not surgery_open
        and all(a.appraisal.verdict is Verdict.NOT_APPROPRIATE for a in interventional)
    ):
        return Stage.SPECIALIST_REVIEW, tuple(interventional)
    return Stage.CONSERVATIVE, ()


def options_exhausted(appraised: Sequence[Appraised]) -> list[Appraised]:
    """The appraisals with the pain management programme appropriate (pathway.md 4).

    Called when the stage is ``specialist_review``: every interventional option is
    not appropriate after a failed conservative trial, and the programme is the
    next step ("pathway options exhausted: MDT re-evaluation").
    """
    result = []
    for item in appraised:
        appraisal = item.appraisal
        if appraisal.option is Option.PAIN_MANAGEMENT_PROGRAMME:
            appraisal = appraisal.model_copy(
                update={
                    "verdict": Verdict.APPROPRIATE,
                    "next_step": ActionCode.MULTIDISCIPLINARY_PAIN_PROGRAMME,
                    "reasons": (
                        "pathway options exhausted: every interventional option is not "
                        "appropriate after a failed conservative trial; MDT re-evaluation",
                        *appraisal.reasons,
                    ),
                }
            )
            item = Appraised(
                appraisal,
                item.deciding,
                (ActionCode.MULTIDISCIPLINARY_PAIN_PROGRAMME,),
                item.step_rule,
                () if item.step_rule is None else (item.step_rule,),
            )
        result.append(item)
    return result
