"""Where the patient stands on the whole ladder: each rung and the options on it.

The ladder is the summary of the options (pathway.md 4): each rung shows the
options that sit on it (conservative care; facet and sacroiliac interventions;
spinal cord stimulation; the pain management programme beside specialist
review) as its ways up, each with its verdict's criteria, so that a rung never
says more than the verdicts do:

* the stage's own rung is ``current``, and so is any rung with an option that
  counts (options run in parallel: a working implant and new facet pain);
* below it, a rung is ``passed`` only when a step of it was taken (a block, a
  radiofrequency, an adequate conservative trial), else ``not_indicated``
  (conservative care: ``undecided``); never "passed" for a step not done;
* above it, a rung is ``blocked`` when an option on it is blocked (its reasons
  in ``blocked_by``), ``undecided`` when one is unknown, ``ahead`` when one is
  not yet possible or still open, and ``not_indicated`` when every option on
  it is not appropriate;
* with a red flag every rung but ``urgent_review`` is ``blocked`` by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..facts import STEP_RECORDS, FactValue
from ..recommendation import LadderRung, LadderStep, OptionAppraisal, PathwayWarning
from ..ruleset import RuleSet
from ..vocabulary import LADDER, Option, RungStatus, Stage, Verdict
from .headline import OPTION_WORDS, VERDICT_WORDS
from .templates import render

__all__ = ["ladder"]

#: The options shown on each rung (the ladder's own rungs, and the two off it beside
#: the rungs where they belong).
_ON_RUNG: Mapping[Stage, tuple[Option, ...]] = {
    Stage.CONSERVATIVE: (Option.CONSERVATIVE_CARE,),
    Stage.RADIOFREQUENCY: (Option.FACET_INTERVENTION, Option.SIJ_INTERVENTION),
    Stage.NEUROMODULATION: (Option.SPINAL_CORD_STIMULATION,),
    Stage.SPECIALIST_REVIEW: (Option.PAIN_MANAGEMENT_PROGRAMME,),
}
_MET = {
    Verdict.APPROPRIATE: True,
    Verdict.MAY_BE_APPROPRIATE: True,
    Verdict.IN_PLACE: True,
    Verdict.NOT_APPROPRIATE: False,
    Verdict.NOT_YET: False,
}


def ladder(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    derived: Mapping[str, bool],
    stage: Stage,
    options: Sequence[OptionAppraisal],
    red_flags: Sequence[int],
) -> list[LadderRung]:
    """Every rung of the ladder for this patient, in ladder order (urgent review last)."""
    by_option = {appraisal.option: appraisal for appraisal in options}
    flags = [
        PathwayWarning(
            rule_id=ruleset.rules[i].id,
            message=render(ruleset.rules[i].reason, facts, ruleset.parameters),
        )
        for i in red_flags
    ]
    rungs = []
    for rung in LADDER:
        shown = [by_option[option] for option in _ON_RUNG[rung]]
        steps = tuple(_step(appraisal) for appraisal in shown)
        blocked_by: tuple[PathwayWarning, ...] = ()
        if flags:
            status, blocked_by = RungStatus.BLOCKED, tuple(flags)
        elif rung is stage or any(a.counts_for_stage for a in shown):
            # Options run in parallel (pathway.md 4): a rung whose option counts is where
            # the patient also stands, below the stage too (a working implant, new facet pain).
            status = RungStatus.CURRENT
        elif rung.rank < stage.rank:
            status = _below(rung, facts, derived)
        else:
            status, blocked_by = _above(shown)
        rungs.append(
            LadderRung(stage=rung, status=status, criteria=(), steps=steps, blocked_by=blocked_by)
        )
    if flags:
        rungs.append(
            LadderRung(
                stage=Stage.URGENT_REVIEW,
                status=RungStatus.CURRENT,
                criteria=(),
                steps=tuple(
                    LadderStep(
                        rule_id=ruleset.rules[i].id,
                        title=ruleset.rules[i].title,
                        met=True,
                        criteria=(),
                    )
                    for i in red_flags
                ),
            )
        )
    return rungs


def _step(appraisal: OptionAppraisal) -> LadderStep:
    return LadderStep(
        rule_id=appraisal.rule_id,
        title=f"{OPTION_WORDS[appraisal.option]}: {VERDICT_WORDS[appraisal.verdict]}",
        met=_MET.get(appraisal.verdict),
        criteria=appraisal.criteria,
    )


def _below(rung: Stage, facts: Mapping[str, FactValue], derived: Mapping[str, bool]) -> RungStatus:
    """``passed`` only when a step of the rung was taken.

    Conservative care is never "not indicated": without an adequate trial on record
    its rung below the stage is ``undecided``.
    """
    if rung is Stage.CONSERVATIVE:
        if derived.get("adequate_conservative_trial") is not True:
            return RungStatus.UNDECIDED
        taken = True
    else:
        taken = any(_taken(facts.get(name)) for name, of in STEP_RECORDS.items() if of is rung)
    return RungStatus.PASSED if taken else RungStatus.NOT_INDICATED


def _above(shown: list[OptionAppraisal]) -> tuple[RungStatus, tuple[PathwayWarning, ...]]:
    verdicts = {appraisal.verdict for appraisal in shown}
    if Verdict.BLOCKED in verdicts:
        held = tuple(
            PathwayWarning(rule_id=a.rule_id, message=a.reasons[0])
            for a in shown
            if a.verdict is Verdict.BLOCKED
        )
        return RungStatus.BLOCKED, held
    if Verdict.UNKNOWN in verdicts:
        return RungStatus.UNDECIDED, ()
    if verdicts <= {Verdict.NOT_APPROPRIATE}:
        return RungStatus.NOT_INDICATED, ()
    return RungStatus.AHEAD, ()


def _taken(value: FactValue | None) -> bool:
    """Whether a step record says the step was taken (done, with an outcome, or a result)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value != "not_done"
    return value is not None
