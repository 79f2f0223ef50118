"""Combining the fired rules into a recommendation, and showing its basis.

The engine decides which rules fire. This module combines their conclusions
by fixed policies, documented in ``docs/pathway.md``:

* the options' verdicts and the stage they summarise (:mod:`.options`);
* red flags pre-empt: with one, the result holds only the tier actions and the
  safety actions and warnings of pathway.md 3.4 and 5.2;
* one entry per action: rules recommending the same action are merged, and the
  next step of each option whose verdict lists it is an action of its own;
* actions in the order of pathway.md 3.6: the safety actions, then the step of
  the option that sets the stage, then the other options' steps, then the rest;
* a rule with ``with_steps`` counts only beside one of those steps.

It then adds what a clinician checks the result with: the missing information
(:mod:`.missing`) and the ladder view (:mod:`.ladder`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from ..facts import FACTS, FactValue
from ..recommendation import (
    Action,
    MissingInput,
    OptionAppraisal,
    PathwayWarning,
    PatientContext,
    Reassessment,
    Recommendation,
    built,
)
from ..rules_engine.engine import Firing
from ..rules_engine.model import Rule
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, RedFlagTier, Stage, Verdict
from .cache import keep
from .headline import headline
from .ladder import ladder as ladder_view
from .missing import missing_information
from .options import Appraised, appraise, options_exhausted, stage_of
from .shown import Shown
from .shown import shown as rule_shown
from .templates import render

__all__ = ["URGENT_WARNINGS", "explain"]

_ACTION_ORDER = {code: index for index, code in enumerate(ActionCode)}
_TIERS = tuple(RedFlagTier)  # iterating an enum class is slow (CPython 3.11)

#: Warnings a red flag does not silence (pathway.md 3.1): those of 3.4 (suicide risk, the
#: mood re-screen of a taper) and opioid safety.
URGENT_WARNINGS = frozenset(
    {
        "suicide_risk_medicines",
        "taper_mood_rescreen",
        "mme_caution",
        "mme_high",
        "naloxone",
        "opioid_benzodiazepine",
        "opioid_gabapentinoid",
    }
)


#: Actions a red flag does not silence: suicide risk and severe mood (pathway.md 3.1, 3.4).
_KEPT_UNDER_URGENT = frozenset(
    {
        ActionCode.SUICIDE_RISK_ASSESSMENT,
        ActionCode.MENTAL_HEALTH_CRISIS_CARE,
        ActionCode.MENTAL_HEALTH_REFERRAL,
    }
)


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
    kept = [i for i in plain if _counts(rules[i], steps, bool(red_flags))]
    actions = _actions(ruleset, facts, kept, appraised, setting, urgent=bool(red_flags))
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


def _counts(rule: Rule, steps: set[ActionCode], urgent: bool) -> bool:
    """Whether a plain rule's conclusions belong in this result."""
    if rule.with_steps and not steps.intersection(rule.with_steps):
        return False
    if urgent:
        return rule.tier is not None or (
            all(code.safety for code in rule.actions)
            and (bool(rule.actions) or rule.warning_key in URGENT_WARNINGS)
        )
    return True


def _actions(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    kept: list[int],
    appraised: list[Appraised],
    setting: tuple[Appraised, ...],
    *,
    urgent: bool,
) -> list[Action]:
    contributions: dict[ActionCode, list[tuple[int, Shown]]] = {}
    for index in kept:
        rule = ruleset.rules[index]
        shown = rule_shown(ruleset, index, facts) if rule.actions else None
        for code in rule.actions:
            if urgent and code not in _KEPT_UNDER_URGENT and rule.tier is None:
                continue
            assert shown is not None
            contributions.setdefault(code, []).append((index, shown))
    merged = {code: _action(ruleset, code, parts) for code, parts in contributions.items()}
    first_steps = {code for a in setting for code in a.listed_steps}
    to_discuss = {
        code
        for a in appraised
        if a.appraisal.verdict is Verdict.MAY_BE_APPROPRIATE
        for code in a.listed_steps
    }
    for item in appraised:
        for code, index in zip(item.listed_steps, item.step_rules, strict=True):
            if code.option is None and code in merged:
                continue  # what unblocks a held option, recommended by its own rule already
            shown = rule_shown(ruleset, index, facts)
            merged[code] = _step_action(ruleset, index, code, shown, item.appraisal)

    def order(code: ActionCode) -> tuple[int, int]:
        if code.safety:
            group = 0
        elif code in first_steps:
            group = 1
        elif code.option is not None and code not in to_discuss:
            group = 2
        elif code.option is not None:
            group = 3
        else:
            group = 4
        return group, _ACTION_ORDER[code]

    return [merged[code] for code in sorted(merged, key=order)]


def _step_action(
    ruleset: RuleSet, index: int, code: ActionCode, shown: Shown, appraisal: OptionAppraisal
) -> Action:
    """An option's next step as an action, with the verdict rule's reason and basis.

    Kept on the rule's shown values (one object per rule and values), as merged actions are.
    """
    discuss = appraisal.verdict is Verdict.MAY_BE_APPROPRIATE
    key = ("step", code, appraisal.option, discuss)
    found = shown.actions.get(key)
    if found is None:
        # Built from the rule set's own data and shown values: constructed, not re-validated.
        found = shown.actions[key] = built(
            Action,
            code=code,
            rule_id=ruleset.rules[index].id,
            reason=shown.reason,
            inputs=shown.inputs,
            sources=ruleset.rules[index].sources,
            basis=ruleset.basis[index],
            option=appraisal.option,
            discuss_at_mdt=discuss,
        )
    return found


def _action(ruleset: RuleSet, code: ActionCode, parts: list[tuple[int, Shown]]) -> Action:
    """One action, merged from every rule that recommends it (the first leads)."""
    _, shown = parts[0]
    # The same rules showing the same values give the same action: kept on the first
    # rule's shown values (which keep the others' alive, so identity stays theirs).
    key = (code, *parts[1:])
    found = shown.actions.get(key)
    if found is None:
        found = shown.actions[key] = _merged(ruleset, code, parts)
    return found


def _merged(ruleset: RuleSet, code: ActionCode, parts: list[tuple[int, Shown]]) -> Action:
    index, shown = parts[0]
    rule = ruleset.rules[index]
    reason, inputs, sources = shown.reason, list(shown.inputs), list(rule.sources)
    also_from = []
    for index, shown in parts[1:]:
        other = ruleset.rules[index]
        also_from.append(other.id)
        if shown.reason not in reason:
            reason += f"; {shown.reason}"
        listed = {i.fact for i in inputs}
        inputs += [i for i in shown.inputs if i.fact not in listed]
        sources += [s for s in other.sources if s not in sources]
    return built(
        Action,  # the rule set's own data: not re-validated
        code=code,
        rule_id=rule.id,
        reason=reason,
        inputs=tuple(inputs),
        sources=tuple(sources),
        also_from=tuple(also_from),
        expected_benefit=ruleset.benefits[parts[0][0]],
        basis=tuple(dict.fromkeys(kind for index, _ in parts for kind in ruleset.basis[index])),
    )
