"""Combining the fired rules into a recommendation, and showing its basis.

The engine decides which rules fire. This module combines their conclusions
by fixed policies, documented in ``docs/pathway.md``:

* the options' verdicts and the stage they summarise (:mod:`.options`);
* red flags pre-empt: with one, the result holds only the tier actions and the
  safety actions and warnings of pathway.md 3.4 and 5.2;
* the actions, one entry each, in the order of pathway.md 3.6 (:mod:`.actions`);
* a rule with ``with_steps`` counts only beside one of those steps.

It then adds what a clinician checks the result with: the missing information
(:mod:`.missing`) and the ladder view (:mod:`.ladder`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from ..facts import FACTS, FactValue
from ..recommendation import (
    MissingInput,
    PathwayWarning,
    PatientContext,
    Reassessment,
    Recommendation,
    built,
)
from ..rules_engine.engine import Firing
from ..ruleset import RuleSet
from ..vocabulary import RedFlagTier, Stage
from .actions import URGENT_WARNINGS, belongs, ordered_actions
from .cache import keep
from .headline import headline
from .ladder import ladder as ladder_view
from .missing import missing_information
from .options import appraise, options_exhausted, stage_of
from .templates import render

__all__ = ["URGENT_WARNINGS", "explain"]

_TIERS = tuple(RedFlagTier)  # iterating an enum class is slow (CPython 3.11)


def explain(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    firings: list[Firing],
    derived: Mapping[str, bool],
    *,
    ladder: bool = True,
    patient: PatientContext | None = None,
    reassess: tuple[Reassessment, ...] = (),
    opioid_doses: tuple[str, ...] = (),
) -> Recommendation:
    """Combine the fired rules into a recommendation with its basis (and the ladder view).

    ``patient`` and ``reassess`` (built by the caller from the record) are carried
    into the result as given. ``opioid_doses``: what the record lacks for MME a day
    (:func:`fbss_pathway.mme.dose_items`); the missing MME then names those items
    rather than every way of giving a dose.
    """
    # A patient seen before (the same facts, derived facts and firings) gets the same
    # explanation: one key for the whole of it. Results are frozen, so it is shared;
    # only the parts carried from the record are the caller's own.
    values = tuple(facts.values())
    key = (
        ruleset.version,
        ladder,
        tuple(facts),
        values,
        tuple(map(type, values)),  # True apart from 1, 3 from 3.0: shown differently
        tuple(derived.items()),
        tuple([firing.rule_index for firing in firings]),
    )
    kept = _EXPLAINED.get(key)
    if kept is None:
        kept = keep(
            _EXPLAINED, key, _explained(ruleset, facts, firings, derived, ladder), _EXPLAINED_MAX
        )
    if opioid_doses:
        kept = {**kept, "missing": _naming_doses(kept["missing"], opioid_doses)}  # type: ignore[arg-type]
    return built(Recommendation, **kept, reassess=reassess, patient=patient)


def _naming_doses(
    missing: tuple[MissingInput, ...], doses: tuple[str, ...]
) -> tuple[MissingInput, ...]:
    """The missing MME a day named by the items this patient's record lacks.

    Applied after the kept explanation is found: it depends on the record's
    opioids, not on the facts alone.
    """
    field = ", ".join(f"{_OPIOIDS}.{name}" for name in doses)
    named = [
        built(MissingInput, field=field, fact=item.fact, needed_by=item.needed_by)
        if item.fact == "mme_per_day"
        else item
        for item in missing
    ]
    return tuple(sorted(named, key=lambda item: item.field))


_OPIOIDS = "medicines.opioids[current]"


#: Whole explanations (every field but the record's own), per facts, derived facts and
#: firings. Bounded: cleared when full. The largest entries of the tables, and met only by
#: patients seen again (a clinic's patients through a day), so fewer are kept than parts:
#: 2,000 or 20,000 measured the same over 24,000 new patients (docs/performance.md).
_EXPLAINED: dict[tuple[object, ...], dict[str, object]] = {}
_EXPLAINED_MAX = 5_000


def _explained(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    firings: list[Firing],
    derived: Mapping[str, bool],
    ladder: bool,
) -> dict[str, object]:
    rules = ruleset.rules
    trace = [ruleset.trace_entries[f.rule_index, f.value] for f in firings]
    fired = sorted({f.rule_index for f in firings if rules[f.rule_index].derive is None})
    red_flags = [i for i in fired if rules[i].tier is not None]
    tiers = (
        tuple(tier for tier in _TIERS if any(rules[i].tier is tier for i in red_flags))
        if red_flags
        else ()
    )
    appraised = appraise(ruleset, facts, derived, fired, red_flags)
    stage, setting = stage_of(appraised, derived, tiers)
    if stage is Stage.SPECIALIST_REVIEW:
        appraised = options_exhausted(appraised)

    plain = [i for i in fired if rules[i].verdict is None]
    steps = {code for a in appraised for code in a.listed_steps}
    kept = [i for i in plain if belongs(rules[i], steps, bool(red_flags))]
    actions = ordered_actions(ruleset, facts, kept, appraised, setting, urgent=bool(red_flags))
    warnings = [
        _warning(rules[i].id, render(text, facts, ruleset.parameters), rules[i].warning_key)
        for i in kept
        if (text := rules[i].warning) is not None
        and (not red_flags or rules[i].warning_key in URGENT_WARNINGS)
    ]
    options = tuple(a.appraisal for a in appraised)
    missing = (
        []
        if red_flags
        else _with_mme_dose(
            ruleset,
            facts,
            missing_information(ruleset, facts, derived, set(fired), appraised, actions),
        )
    )
    rungs = None
    if ladder:
        rungs = ladder_view(ruleset, facts, derived, stage, options, red_flags)
    if red_flags:
        basis = tuple(rules[i].id for i in red_flags)
    else:
        basis = tuple(a.appraisal.rule_id for a in setting if a.appraisal.rule_id)
    # Every part is built here from the rule set's own data and already valid (tuples of
    # frozen models, vocabulary enums): constructed, not validated a second time.
    return {
        "stage": stage,
        "stage_basis": basis,
        "headline": headline(
            ruleset, stage, tiers, [rules[i] for i in red_flags], setting, actions
        ),
        "options": options,
        "red_flag_tiers": tiers,
        "actions": tuple(actions),
        "missing": tuple(missing),
        "warnings": tuple(warnings),
        "trace": tuple(trace),
        "ladder": None if rungs is None else tuple(rungs),
        "ruleset_version": ruleset.version,
        "mme_per_day": _mme(facts),
    }


def _with_mme_dose(
    ruleset: RuleSet, facts: Mapping[str, FactValue], missing: list[MissingInput]
) -> list[MissingInput]:
    """The missing information, with the opioid dose whenever MME a day is unknown.

    The dose changes the result's own MME a day even when the rules are decided
    without it (120 MME of oxycodone beside a codeine of unknown dose is high
    either way): pathway.md 5.2 lists it whenever the MME is unknown.
    """
    if (
        facts.get("mme_threshold_applies") is not True
        or "mme_per_day" in facts
        or any(item.fact == "mme_per_day" for item in missing)
    ):
        return missing
    return sorted([*missing, _mme_dose_missing(ruleset)], key=lambda item: item.field)


@lru_cache(maxsize=16)
def _mme_dose_missing(ruleset: RuleSet) -> MissingInput:
    """The missing opioid dose, needed by every rule that reads MME a day (once per rule set)."""
    needed_by = tuple(
        rule.id for index, rule in enumerate(ruleset.rules) if "mme_per_day" in ruleset.reads[index]
    )
    return MissingInput(field=FACTS["mme_per_day"].field, fact="mme_per_day", needed_by=needed_by)


def _mme(facts: Mapping[str, FactValue]) -> float | None:
    """The current opioids' MME a day as the rules read it: the result never re-derives it."""
    value = facts.get("mme_per_day")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@lru_cache(maxsize=4096)
def _warning(rule_id: str, message: str, key: str | None) -> PathwayWarning:
    """A warning; results are frozen, so the same warning is one object."""
    return PathwayWarning(rule_id=rule_id, message=message, key=key)
