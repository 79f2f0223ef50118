"""The ladder view: where the patient stands on every rung, as clinical invariants and cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fbss_pathway import PatientRecord, Recommendation, Stage, evaluate, load_ruleset
from fbss_pathway.facts import STEP_RECORDS
from fbss_pathway.recommendation import LadderCriterion, LadderRung
from fbss_pathway.rules_engine.conditions import evaluate as truth
from fbss_pathway.rules_engine.conditions import unknown_facts
from fbss_pathway.rules_engine.truth import (
    SearchFunction,
    compile_search,
    compile_truth,
    derived_values,
)
from fbss_pathway.vocabulary import LADDER, RungStatus

from . import clinical
from .helpers import facts_of
from .strategies import ladder_records, records

EXAMPLES = Path(__file__).parents[1] / "examples" / "patients"

#: Items a record may leave unknown, by section: forgetting one must never flip
#: a criterion the view has shown as met or unmet.
_FORGETTABLE = {
    "pain": ("back_nrs", "leg_nrs", "radiating_leg_pain", "duration_months"),
    "findings": ("facet_arthropathy", "adjacent_segment_degeneration"),
    "psychosocial": ("phq9", "psychological_evaluation", "active_substance_misuse"),
    "scs": ("team_assessment_done", "active_infection", "unable_to_operate_device"),
}


def rungs(result: Recommendation) -> tuple[LadderRung, ...]:
    assert result.ladder is not None, "evaluate() adds the ladder view by default"
    return result.ladder


def rung(result: Recommendation, stage: Stage) -> LadderRung:
    return next(r for r in rungs(result) if r.stage is stage)


def shown(result: Recommendation) -> dict[tuple[str, str, str], bool | None]:
    """Every criterion the view shows, by rung, step (or "" for the rung's own) and text."""
    found = {}
    for each in rungs(result):
        for criterion in each.criteria:
            found[each.stage.value, "", criterion.text] = criterion.met
        for step in each.steps:
            for criterion in step.criteria:
                found[each.stage.value, step.rule_id, criterion.text] = criterion.met
    return found


def all_criteria(result: Recommendation) -> list[LadderCriterion]:
    return [
        c for r in rungs(result) for c in [*r.criteria, *(c for s in r.steps for c in s.criteria)]
    ]


@given(st.one_of(records, ladder_records))
def test_the_current_rung_is_the_stage_and_only_further_stages_pass_a_rung(
    record: PatientRecord,
) -> None:
    result = evaluate(record)
    current = [r.stage for r in rungs(result) if r.status is RungStatus.CURRENT]
    counting = {a.option.rung for a in result.options if a.counts_for_stage}
    if result.stage is Stage.URGENT_REVIEW:
        assert current == [result.stage]
    else:  # the stage, and every rung below it where an option counts (in parallel)
        assert set(current) == {result.stage} | counting
        assert result.stage in current
    facts = facts_of(record)
    for each in rungs(result):
        if each.status is RungStatus.PASSED:
            assert result.stage.rank > each.stage.rank
        if result.stage is not Stage.URGENT_REVIEW and each.stage.rank < result.stage.rank:
            allowed = [RungStatus.PASSED, RungStatus.NOT_INDICATED, RungStatus.CURRENT]
            if each.stage is Stage.CONSERVATIVE:  # never "not indicated", never passed undone
                allowed = [RungStatus.PASSED, RungStatus.UNDECIDED]
            assert each.status in allowed
            if each.status is RungStatus.NOT_INDICATED:  # skipped: none of its steps taken
                taken = [n for n, of in STEP_RECORDS.items() if of is each.stage and n in facts]
                assert all(facts[n] in (False, "not_done") for n in taken), taken


@given(st.one_of(records, ladder_records))
def test_the_rungs_come_in_ladder_order_with_urgent_review_only_for_a_red_flag(
    record: PatientRecord,
) -> None:
    result = evaluate(record)
    stages = [r.stage for r in rungs(result)]
    urgent = clinical.red_flag(record)
    assert stages == [*LADDER, Stage.URGENT_REVIEW] if urgent else list(LADDER)


@given(records)
def test_a_red_flag_blocks_every_other_rung_and_names_itself(record: PatientRecord) -> None:
    result = evaluate(record)
    if not clinical.red_flag(record):
        return
    assert result.stage is Stage.URGENT_REVIEW
    for each in rungs(result):
        if each.stage is Stage.URGENT_REVIEW:
            assert each.status is RungStatus.CURRENT
            assert any(step.met is True for step in each.steps)
        else:
            assert each.status is RungStatus.BLOCKED
            assert {w.rule_id for w in each.blocked_by} == set(result.stage_basis)


@given(st.one_of(records, ladder_records))
def test_no_rung_above_the_stage_is_shown_as_reached(record: PatientRecord) -> None:
    """The stage is the furthest rung reached, so a rung above it has an unmet or unknown part."""
    result = evaluate(record)
    counting = {a.option for a in result.options if a.counts_for_stage}
    for each in rungs(result):
        if each.stage.rank > result.stage.rank:
            assert each.status is not RungStatus.PASSED, each.stage
            assert not {o for o in counting if o.rung is each.stage}, each.stage


@given(st.one_of(records, ladder_records), st.data())
def test_knowing_one_more_item_never_flips_a_criterion_already_shown(
    record: PatientRecord, data: st.DataObject
) -> None:
    """An unknown criterion is never shown as met or unmet.

    If forgetting an item still leaves a criterion met (or unmet), the item was
    not needed to decide it, so with the item known it must read the same.
    """
    section = data.draw(st.sampled_from(sorted(_FORGETTABLE)))
    item = data.draw(st.sampled_from(_FORGETTABLE[section]))
    forgotten_data: dict[str, Any] = record.model_dump()
    forgotten_data[section][item] = None
    forgotten = evaluate(PatientRecord.model_validate(forgotten_data))
    known = shown(evaluate(record))
    for key, met in shown(forgotten).items():
        # "not recorded" is itself what a criterion on a recorded item asks: it may flip.
        if met is not None and key in known and "recorded" not in key[2]:
            assert known[key] is met, key


@given(st.one_of(records, ladder_records))
def test_each_criterion_shows_the_inputs_it_read_and_an_existing_rule(
    record: PatientRecord,
) -> None:
    result = evaluate(record)
    ids = {rule.id for rule in load_ruleset().rules}
    facts = facts_of(record)
    for criterion in all_criteria(result):
        assert criterion.rule_id in ids
        assert criterion.inputs, criterion.text
        for value in criterion.inputs:
            assert value.value == facts.get(value.fact)
        if all(value.value is not None for value in criterion.inputs):
            assert criterion.met is not None, criterion.text  # every input known: decided


def test_the_ladder_view_is_left_out_only_when_asked() -> None:
    data = json.loads((EXAMPLES / "04_radiofrequency_positive_block_after_fusion.json").read_text())
    assert evaluate(data, ladder=False).ladder is None
    with_view = evaluate(data)
    assert with_view.model_copy(update={"ladder": None}) == evaluate(data, ladder=False)


@given(st.one_of(records, ladder_records))
def test_compiled_truth_is_the_three_valued_logic_of_the_rule_files(record: PatientRecord) -> None:
    ruleset = load_ruleset()
    facts = facts_of(record)
    _, derived = ruleset.compiled.run(facts)
    for rule in ruleset.rules:
        assert compile_truth(rule.when)(facts, derived) is truth(rule.when, facts, derived), rule.id


@given(st.one_of(records, ladder_records))
def test_the_compiled_search_finds_the_unknown_facts_the_tree_walk_finds(
    record: PatientRecord,
) -> None:
    ruleset = load_ruleset()
    facts = facts_of(record)
    _, derived = ruleset.compiled.run(facts)
    made: dict[str, SearchFunction] = {}
    for rule in ruleset.rules:
        truth_found, unknown = compile_search(rule.when, ruleset.definitions, made)(facts, derived)
        assert truth_found is truth(rule.when, facts, derived), rule.id
        assert unknown == unknown_facts(rule.when, facts, derived, ruleset.definitions), rule.id


@given(st.one_of(records, ladder_records))
def test_derived_facts_in_three_valued_logic_are_what_the_engine_concludes(
    record: PatientRecord,
) -> None:
    ruleset = load_ruleset()
    facts = facts_of(record)
    _, derived = ruleset.compiled.run(facts)
    assert derived_values(ruleset.definitions, facts) == dict(derived)


def _example(name: str, **changes: Any) -> Recommendation:
    data = json.loads((EXAMPLES / name).read_text())
    for path, value in changes.items():
        section, _, item = path.partition("__")
        if item:
            data[section][item] = value
        else:
            data[section] = value
    return evaluate(data)


def test_a_patient_on_radiofrequency_passed_conservative_and_sees_what_is_next() -> None:
    result = _example("04_radiofrequency_positive_block_after_fusion.json")
    statuses = {r.stage: r.status for r in rungs(result)}
    assert statuses[Stage.CONSERVATIVE] is RungStatus.PASSED
    assert statuses[Stage.RADIOFREQUENCY] is RungStatus.CURRENT
    assert statuses[Stage.SPECIALIST_REVIEW] is RungStatus.AHEAD
    current = rung(result, Stage.RADIOFREQUENCY)
    facet = next(s for s in current.steps if s.met)
    assert facet.rule_id == "RFD-17"
    assert all(c.met is True for c in facet.criteria)
    assert any("medial branch block" in c.text for c in facet.criteria)


def test_a_rung_below_the_stage_is_passed_when_climbed_and_not_indicated_when_skipped() -> None:
    (name,) = [path.name for path in EXAMPLES.glob("07_*.json")]
    result = _example(name)  # a failed SCS trial, no facet source: options exhausted
    statuses = {r.stage: r.status for r in rungs(result)}
    assert statuses[Stage.SPECIALIST_REVIEW] is RungStatus.CURRENT
    assert statuses[Stage.CONSERVATIVE] is RungStatus.PASSED
    assert statuses[Stage.NEUROMODULATION] is RungStatus.PASSED  # a trial was done: failed
    assert statuses[Stage.RADIOFREQUENCY] is RungStatus.NOT_INDICATED  # no facet step taken


def test_a_rung_above_the_stage_is_not_indicated_when_every_option_on_it_is_not() -> None:
    (name,) = [path.name for path in EXAMPLES.glob("08_*.json")]
    result = _example(name)  # a negative block; a surgical opinion still to seek
    statuses = {r.stage: r.status for r in rungs(result)}
    assert statuses[Stage.CONSERVATIVE] is RungStatus.CURRENT
    assert statuses[Stage.RADIOFREQUENCY] is RungStatus.NOT_INDICATED
    assert statuses[Stage.NEUROMODULATION] is RungStatus.NOT_INDICATED


def test_too_early_after_surgery_every_rung_above_conservative_is_ahead() -> None:
    result = _example("03_conservative_early_after_surgery.json")
    for stage in (Stage.RADIOFREQUENCY, Stage.NEUROMODULATION):
        above = rung(result, stage)
        assert above.status is RungStatus.AHEAD
        assert all(step.rule_id == "CON-12" for step in above.steps)
        assert all("not yet" in step.title for step in above.steps)


def test_a_held_option_on_the_current_rung_is_shown_and_the_rung_stays_current() -> None:
    result = _example("06_neuromodulation_deferred_severe_depression.json")
    current = rung(result, Stage.NEUROMODULATION)
    assert current.status is RungStatus.CURRENT
    (scs,) = current.steps
    assert scs.rule_id == "MOOD-07"
    assert "blocked" in scs.title


def test_pain_controlled_rules_the_rung_out() -> None:
    controlled = _example(
        "04_radiofrequency_positive_block_after_fusion.json", pain__back_nrs=2, pain__leg_nrs=1
    )
    assert controlled.stage is Stage.CONSERVATIVE
    assert rung(controlled, Stage.RADIOFREQUENCY).status is RungStatus.NOT_INDICATED


def test_an_inadequate_trial_leaves_the_facet_option_ahead_not_ruled_out() -> None:
    result = _example(
        "04_radiofrequency_positive_block_after_fusion.json",
        treatments=[
            {
                "kind": "exercise_therapy",
                "start_date": "2026-09-01",
                "duration_weeks": 2,
                "adherence": "good",
            }
        ],
    )
    assert result.stage is Stage.CONSERVATIVE
    radiofrequency = rung(result, Stage.RADIOFREQUENCY)
    assert radiofrequency.status is RungStatus.AHEAD
    facet = radiofrequency.steps[0]
    assert facet.rule_id == "RFD-10"  # after an adequate conservative trial
