"""The actions of a recommendation: merged per action, ordered as pathway.md 3.6 says.

One entry per action: the rules recommending the same action are merged (the
first leads; the others' reasons, inputs and sources are added), and the next
step of each option whose verdict lists it is an action of its own, with the
verdict rule's reason and basis. Under a red flag only the tier actions and the
mood actions of pathway.md 3.4 are kept (3.1). The order: the safety
actions, then the step of the option that sets the stage, then the other
options' steps (those to discuss at the MDT after the rest), then the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..facts import FactValue
from ..recommendation import Action, OptionAppraisal, built
from ..rules_engine.model import Rule
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, Verdict
from .options import Appraised
from .shown import Shown
from .shown import shown as rule_shown

__all__ = ["URGENT_WARNINGS", "belongs", "ordered_actions"]

_ACTION_ORDER = {code: index for index, code in enumerate(ActionCode)}

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


#: Actions a red flag does not silence: the mood actions of pathway.md 3.4, which 3.1
#: keeps under urgent review (suicide risk, severe mood, and the treatment of moderate
#: depression or anxiety).
_KEPT_UNDER_URGENT = frozenset(
    {
        ActionCode.SUICIDE_RISK_ASSESSMENT,
        ActionCode.MENTAL_HEALTH_CRISIS_CARE,
        ActionCode.MENTAL_HEALTH_REFERRAL,
        ActionCode.TREAT_DEPRESSION_ANXIETY,
    }
)


def belongs(rule: Rule, steps: set[ActionCode], urgent: bool) -> bool:
    """Whether a plain rule's conclusions belong in this result.

    A rule with ``with_steps`` counts only beside one of those steps (``steps``: the
    steps the options list); under a red flag (``urgent``), only a tier rule, or one
    whose actions are all safety actions or mood actions of 3.4, or whose warning a red
    flag does not silence.
    """
    if rule.with_steps and not steps.intersection(rule.with_steps):
        return False
    if urgent:
        return rule.tier is not None or (
            all(code.safety or code in _KEPT_UNDER_URGENT for code in rule.actions)
            and (bool(rule.actions) or rule.warning_key in URGENT_WARNINGS)
        )
    return True


def ordered_actions(
    ruleset: RuleSet,
    facts: Mapping[str, FactValue],
    kept: list[int],
    appraised: list[Appraised],
    setting: tuple[Appraised, ...],
    *,
    urgent: bool,
) -> list[Action]:
    """The actions of the plain rules ``kept`` and of the options' listed steps, in order.

    ``setting``: the appraisals that set the stage, whose steps come first after the
    safety actions.
    """
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
            sources=ruleset.cited[index],
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
    reason, inputs, sources = shown.reason, list(shown.inputs), list(ruleset.cited[index])
    also_from = []
    for index, shown in parts[1:]:
        other = ruleset.rules[index]
        also_from.append(other.id)
        if shown.reason not in reason:
            reason += f"; {shown.reason}"
        listed = {i.fact for i in inputs}
        inputs += [i for i in shown.inputs if i.fact not in listed]
        sources += [s for s in ruleset.cited[index] if s not in sources]
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
