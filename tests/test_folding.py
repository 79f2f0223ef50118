"""Folding derived facts into the rules that read them: the engine's limit, splitting, chaining.

The evaluation path folds each derived fact's definition into the rules that read
it (``rules_engine.folding``). These tests hold three things against the real C
engine: the size model that decides when a folded rule must be split is never
looser than what durable_rules accepts; a rule that is split or left chained
decides exactly as the host-driven reference does; and the packaged rules all fold.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbss_pathway import load_ruleset
from fbss_pathway.rules_engine.conditions import (
    AllOf,
    AnyOf,
    Branch,
    Compare,
    Condition,
    Derived,
    Known,
)
from fbss_pathway.rules_engine.direct import CompiledRules
from fbss_pathway.rules_engine.engine import C_ENGINE, ENGINE_LOCK, HostRules, _join
from fbss_pathway.rules_engine.folding import (
    MAX_EXPRESSION_ENTRIES,
    as_fields,
    expression_entries,
    fits,
)
from fbss_pathway.rules_engine.model import Rule
from fbss_pathway.rules_engine.truth import compile_truth
from fbss_pathway.vocabulary import ActionCode

_NUMBERS = ("back_nrs", "leg_nrs", "pain_months", "exercise_weeks", "phq9", "gad7")
_FLAGS = ("radiating_leg_pain", "neuropathic_features", "block_on_record")
_NAMES = itertools.count()

leaves = st.one_of(
    st.builds(
        Compare,
        fact=st.sampled_from(_NUMBERS),
        op=st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
        value=st.integers(0, 10),
    ),
    st.builds(Compare, fact=st.sampled_from(_FLAGS), op=st.just("=="), value=st.booleans()),
    st.builds(Known, fact=st.sampled_from(_NUMBERS + _FLAGS), known=st.booleans()),
    st.builds(
        Compare,
        fact=st.sampled_from(_NUMBERS),
        op=st.sampled_from(["<", ">="]),
        other_fact=st.sampled_from(_NUMBERS),
    ),
)
conditions: st.SearchStrategy[Condition] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=6).map(lambda items: AllOf(tuple(items))),
        st.lists(inner, min_size=1, max_size=6).map(lambda items: AnyOf(tuple(items))),
    ),
    max_leaves=40,
)
patients = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.integers(0, 10) for name in _NUMBERS},
        **{name: st.booleans() for name in _FLAGS},
    },
)


def _create(definition: dict[str, Any]) -> int:
    with ENGINE_LOCK:
        return int(C_ENGINE.create_ruleset(f"folding_{next(_NAMES)}", json.dumps(definition)))


def _delete(handle: int) -> None:
    with ENGINE_LOCK:
        C_ENGINE.delete_ruleset(handle)


def _one_rule(condition: Condition) -> dict[str, Any]:
    return {
        "rule": {"all": _join(Branch((condition,), ()))},
        "$every_patient": {"all": [{"m": {"$and": [{"t": "patient"}]}}]},
    }


def _fired(handle: int, facts: dict[str, Any]) -> list[str]:
    """The rule names one fresh session fires for the facts."""
    names = []
    with ENGINE_LOCK:
        code, state = C_ENGINE.assert_fact(
            handle, json.dumps({"sid": "1", "t": "patient", **facts})
        )
        assert code == 0
        try:
            started = C_ENGINE.start_action_for_state(handle, state)
            action = started[1] if started else None
            while action:
                names.append(next(iter(json.loads(action))))
                action = C_ENGINE.complete_and_start_action(handle, state)
        finally:
            C_ENGINE.delete_state(handle, "1")
    return names


@settings(max_examples=150, deadline=None)
@given(conditions, st.lists(patients, min_size=1, max_size=4))
def test_a_condition_the_size_model_admits_is_accepted_and_decided_in_kleene_logic(
    condition: Condition, facts: list[dict[str, Any]]
) -> None:
    if not fits(condition):
        return  # the compiler splits it or leaves it chained: never given to the engine
    handle = _create(_one_rule(condition))  # refused (error 113) if the model were too loose
    try:
        truth = compile_truth(condition)
        for patient in facts:
            # Absent facts fail every comparison: the rule fires exactly when the
            # condition is true in three-valued logic (unknown never fires).
            assert ("rule" in _fired(handle, patient)) is (truth(patient, {}) is True)
    finally:
        _delete(handle)


def test_the_engine_refuses_a_pattern_past_its_expression_limit() -> None:
    # 15 ORs of two tests take 2 + 15 * 2 = 32 entries: durable_rules refuses the
    # 32nd (error 113), which is why a folded rule may have to be split.
    too_many = AllOf(
        tuple(AnyOf((Compare("back_nrs", ">", n), Compare("leg_nrs", "<", n))) for n in range(15))
    )
    assert expression_entries(too_many) == 32 > MAX_EXPRESSION_ENTRIES
    assert not fits(too_many)
    with pytest.raises(C_ENGINE.error, match="113"):
        _delete(_create(_one_rule(too_many)))


def _rule(rule_id: str, when: Condition, derive: str | None = None) -> Rule:
    return Rule(
        id=rule_id,
        title=rule_id,
        file="test.toml",
        when=when,
        reason="test",
        sources=(),
        derive=derive,
        actions=() if derive else (ActionCode.EXERCISE_THERAPY,),
    )


def _either(number: int) -> Condition:
    return AnyOf((Compare("back_nrs", ">=", number), Compare("phq9", "<", number)))


def _rules() -> list[Rule]:
    """Rules whose folded form needs splitting, chaining, or neither."""
    ors = [_rule(f"OR-{n}", _either(n), derive=f"or_{n}") for n in range(15)]
    ands = [
        _rule(
            f"AND-{n}",
            AllOf(tuple(Compare(f, ">=", (n + i) % 11) for i, f in enumerate(_NUMBERS[:5]))),
            derive=f"and_{n}",
        )
        for n in range(7)
    ]
    return [
        *ors,
        *ands,
        # Fourteen ORs: past the size model (30 entries > 28), split into two of 28.
        _rule("SPLIT", AllOf(tuple(Derived(f"or_{n}", True) for n in range(14)))),
        # Thirty-five comparisons in one conjunction, no OR to split on: chained.
        _rule("CHAIN", AllOf(tuple(Derived(f"and_{n}", True) for n in range(7)))),
        # A derived fact read as false folds to its negation.
        _rule("NEGATED", AllOf((Derived("or_5", False), Known("leg_nrs", True)))),
        _rule("SMALL", AnyOf((Derived("or_1", True), Derived("and_0", True)))),
        # Only a derived fact whose definition is too large: chained, one pattern.
        _rule("ALONE", Derived("big", True)),
        _rule(
            "BIG",
            AllOf(tuple(Compare(f, ">=", n % 11) for n in range(7) for f in _NUMBERS[:5])),
            derive="big",
        ),
    ]


@pytest.fixture(scope="module")
def engines() -> tuple[CompiledRules, HostRules]:
    rules = _rules()
    return CompiledRules("folding_direct", rules), HostRules("folding_reference", rules)


def test_a_derived_fact_test_is_one_comparison_whatever_its_definition(
    engines: tuple[CompiledRules, HostRules],
) -> None:
    # Derived facts are fields of the patient fact: a rule reading fourteen of them, or
    # one whose definition alone is too large for a rule, is still one rule.
    forms = engines[0].engine_forms
    assert forms == {"SPLIT": 1, "CHAIN": 1, "NEGATED": 1, "SMALL": 1, "ALONE": 1}


def test_a_rule_too_large_for_one_pattern_is_split_over_its_largest_or() -> None:
    alternatives = (
        AnyOf((Compare("back_nrs", ">=", n), Compare("phq9", "<", n))) for n in range(14)
    )
    wide = AllOf(tuple(alternatives))
    assert not fits(wide)
    parts = as_fields(wide)
    assert parts is not None
    assert len(parts) >= 2
    assert all(fits(part) for part in parts)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={name: st.integers(0, 10) for name in _NUMBERS}))
def test_split_and_chained_rules_decide_as_the_reference(
    engines: tuple[CompiledRules, HostRules], facts: dict[str, int]
) -> None:
    direct, reference = engines
    firings, derived = direct.run(facts)
    expected, expected_derived = reference.run(facts)
    assert derived == expected_derived
    assert sorted(firings, key=lambda f: f.rule_index) == sorted(
        expected, key=lambda f: f.rule_index
    )


def test_the_packaged_rules_all_fold() -> None:
    forms = load_ruleset().compiled.engine_forms
    assert None not in forms.values()  # no packaged rule needs chaining
    assert set(forms) == {rule.id for rule in load_ruleset().rules if rule.derive is None}


@pytest.mark.parametrize(
    ("facts", "fired"),
    [
        (dict.fromkeys(_NUMBERS, 10), {"SPLIT", "CHAIN", "SMALL", "ALONE"}),
        ({**dict.fromkeys(_NUMBERS, 0), "phq9": 10}, {"NEGATED"}),
        # or_5 false (back pain < 5, PHQ-9 >= 5); SMALL undecided (and_0 reads unknown facts)
        ({"back_nrs": 0, "phq9": 10}, set()),  # leg pain unknown: NEGATED undecided
        # or_1 true decides SMALL; SPLIT and CHAIN stay undecided, so they do not fire
        ({"back_nrs": 10}, {"SMALL"}),
    ],
)
def test_split_and_chained_rules_fire_where_they_must_and_not_elsewhere(
    engines: tuple[CompiledRules, HostRules], facts: dict[str, int], fired: set[str]
) -> None:
    direct, reference = engines
    rules = _rules()
    for engine in (direct, reference):
        firings, _ = engine.run(facts)
        assert {rules[f.rule_index].id for f in firings if rules[f.rule_index].derive is None} == (
            fired
        )
