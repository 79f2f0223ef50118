"""The engine path: the C module's protocol it relies on, and identical results to the reference.

``fbss_pathway.rules_engine.direct`` drives durable_rules' C module without its
Python host. Its protocol is undocumented upstream, so these tests state each
fact the driver relies on (they fail if a durable_rules release changes it),
and hold the driver to the host-driven reference (``engine.HostRules``) on the
shared record strategy and on a seeded cohort.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import metadata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fbss_pathway import PatientRecord, load_ruleset
from fbss_pathway.explain import explain
from fbss_pathway.rules_engine.conditions import derived_read
from fbss_pathway.rules_engine.engine import C_ENGINE, ENGINE_LOCK, Firing, HostRules
from fbss_pathway.synth import synthetic_cohort

from .helpers import facts_of
from .strategies import ladder_records, records

_RULESET = load_ruleset()
_REFERENCE = HostRules(f"reference_{_RULESET.version}", _RULESET.rules)


def test_the_pinned_durable_rules_is_the_one_the_protocol_was_read_from() -> None:
    assert metadata.version("durable_rules") == "2.0.28"


@pytest.fixture
def tiny() -> Iterator[int]:
    """A two-rule C ruleset: one rule on the patient, one on a derived fact."""
    definition = {
        "high:t:0": {"all": [{"m": {"$and": [{"t": "patient"}, {"$gte": {"pain": 5}}]}}]},
        "ok:t:0": {"all": [{"m": {"$and": [{"t": "derived"}, {"name": "high"}]}}]},
        "$every_patient": {"all": [{"m": {"$and": [{"t": "patient"}]}}]},
    }
    with ENGINE_LOCK:
        handle = C_ENGINE.create_ruleset("protocol_test", json.dumps(definition))
    try:
        yield handle
    finally:
        with ENGINE_LOCK:
            C_ENGINE.delete_ruleset(handle)


def test_the_c_module_protocol_the_driver_relies_on(tiny: int) -> None:
    with ENGINE_LOCK:
        code, state = C_ENGINE.assert_fact(
            tiny, json.dumps({"sid": "1", "t": "patient", "pain": 7})
        )
        assert code == 0  # matched: a state handle follows
        started = C_ENGINE.start_action_for_state(tiny, state)
        names = []
        action = started[1]
        while action:
            assert action.startswith('{"')  # the rule name opens the action's JSON text
            name = action[2 : action.find('"', 2)]
            assert list(json.loads(action)) == [name]
            names.append(name)
            if name == "high:t:0":  # an action asserts a derived fact into its session
                fact = json.dumps({"sid": "1", "t": "derived", "name": "high"})
                assert C_ENGINE.assert_fact(tiny, fact)[0] == 0
            action = C_ENGINE.complete_and_start_action(tiny, state)
        assert sorted(names) == ["$every_patient", "high:t:0", "ok:t:0"]
        again = C_ENGINE.assert_fact(tiny, json.dumps({"sid": "1", "t": "patient", "pain": 7}))
        assert again[0] == 2  # the same fact twice: refused (the driver treats non-0 as failure)
        C_ENGINE.delete_state(tiny, "1")
        with pytest.raises(C_ENGINE.error, match="error code"):
            C_ENGINE.get_state(tiny, "1")  # the session is gone


def test_a_retracted_fact_leaves_the_session_as_it_was(tiny: int) -> None:
    # The driver decides every patient in one session: assert, take every action,
    # retract. The session must then hold no fact, and the same fact asserted again
    # must be decided again (not refused as seen before, code 2).
    fact = json.dumps({"sid": "7", "t": "patient", "pain": 7})
    with ENGINE_LOCK:
        try:
            for _ in range(3):
                code, state = C_ENGINE.assert_fact(tiny, fact)
                assert code == 0
                names = []
                action = C_ENGINE.start_action_for_state(tiny, state)[1]
                while action:
                    names.append(action[2 : action.find('"', 2)])
                    action = C_ENGINE.complete_and_start_action(tiny, state)
                assert sorted(names) == ["$every_patient", "high:t:0"]
                assert C_ENGINE.retract_fact(tiny, fact)[0] == 0
                assert json.loads(C_ENGINE.get_facts(tiny, "7")) == []
        finally:
            C_ENGINE.delete_state(tiny, "7")


def _same(record: PatientRecord) -> None:
    facts = facts_of(record)
    firings, derived = _RULESET.compiled.run(facts)
    reference, reference_derived = _REFERENCE.run(facts)
    # The same rules fired with the same values, each once, and the same derived facts.
    assert derived == reference_derived
    assert len(set(firings)) == len(firings)
    assert set(firings) == set(reference)
    _in_reading_order(firings)
    # Every part of the recommendation is the same; the trace is the reference's in
    # reading order (the reference lists firings in the order its chain took them).
    position = {firing: number for number, firing in enumerate(firings)}
    in_order = sorted(reference, key=position.__getitem__)
    assert explain(_RULESET, facts, firings, derived) == explain(
        _RULESET, facts, in_order, reference_derived
    )


def _in_reading_order(firings: list[Firing]) -> None:
    """Derived facts first, each after the derived facts it reads; then rule-set order."""
    rules = _RULESET.rules
    kinds = [rules[f.rule_index].derive is None for f in firings]
    assert kinds == sorted(kinds)  # every derived fact before every other rule
    seen: set[str] = set()
    for firing in firings:
        rule = rules[firing.rule_index]
        if rule.derive is not None:
            decided_before = {rules[f.rule_index].derive for f in firings} - seen
            assert not derived_read(rule.when) & decided_before - {rule.derive}
            seen.add(rule.derive)
    others = [f.rule_index for f in firings if rules[f.rule_index].derive is None]
    assert others == sorted(others)


@given(st.one_of(records, ladder_records))
def test_the_direct_engine_path_gives_the_reference_result(record: PatientRecord) -> None:
    _same(record)


def test_the_direct_engine_path_gives_the_reference_result_on_a_seeded_cohort() -> None:
    for record in synthetic_cohort(3_000, seed=1111):
        _same(record)
