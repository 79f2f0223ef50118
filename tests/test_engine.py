"""The durable_rules engine under the library: failures surface, sessions end, nothing leaks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import EvaluationError, evaluate, load_ruleset
from fbss_pathway.rules_engine import direct, engine
from fbss_pathway.synth import synthetic_cohort

from .helpers import patched


def test_an_action_that_raises_fails_the_evaluation_naming_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ruleset = load_ruleset()
    target = next(i for i, rule in enumerate(ruleset.rules) if rule.id == "IDA-01")
    taking: list[int | None] = [None]
    original_target = direct.CompiledRules._target

    def noting(self: Any, action: str) -> int | None:
        taking[0] = original_target(self, action)
        return taking[0]

    class Failing:
        """The C module, failing to complete IDA-01's action (with patient data in the error)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(engine.C_ENGINE, name)

        def complete_and_start_action(self, handle: int, state: int) -> Any:
            if taking[0] == target:
                raise RuntimeError("boom MRN-123")
            return engine.C_ENGINE.complete_and_start_action(handle, state)

    monkeypatch.setattr(direct.CompiledRules, "_target", noting)
    monkeypatch.setattr(direct, "_dre", Failing())
    with pytest.raises(EvaluationError) as caught:
        evaluate(patched({"patient_id": "MRN-123"}))
    assert caught.value.rule_id == "IDA-01"
    assert "IDA-01" in str(caught.value)
    assert "MRN-123" not in str(caught.value)

    monkeypatch.undo()
    assert evaluate(patched({})).stage == "conservative"  # the next evaluation works


def test_many_evaluations_in_a_row_succeed_and_leave_no_fact_behind() -> None:
    # Every patient is decided in one engine session, emptied after each: 5,000 in a
    # row give the same answer, and the session then holds no patient's fact.
    patient = patched({"pain": {"back_nrs": 7}, "findings": {"facet_arthropathy": True}})
    ruleset = load_ruleset()
    first = evaluate(patient, ruleset=ruleset)
    for _ in range(5_000):
        assert evaluate(patient, ruleset=ruleset) == first
    assert ruleset.compiled.held_facts() == []


def test_no_patient_fact_outlives_its_evaluation() -> None:
    ruleset = load_ruleset()
    for record in synthetic_cohort(40, seed=5):
        evaluate(record, ruleset=ruleset)
        assert ruleset.compiled.held_facts() == []


def test_a_failed_evaluation_ends_its_session(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a failure leaves in the engine, the next patient is decided in a new
    # session; the failed one is deleted.
    ruleset = load_ruleset()
    patient = patched({"pain": {"back_nrs": 7}, "findings": {"facet_arthropathy": True}})
    expected = evaluate(patient, ruleset=ruleset)
    before = ruleset.compiled._sid

    def failing(self: direct.CompiledRules, action: str) -> int | None:
        raise RuntimeError("an action failed")

    monkeypatch.setattr(direct.CompiledRules, "_target", failing)
    with pytest.raises(EvaluationError):
        evaluate(patient, ruleset=ruleset)
    monkeypatch.undo()
    assert ruleset.compiled._sid != before
    with pytest.raises(Exception, match="error code"):  # the engine no longer knows it
        ruleset.compiled.session_state(before)
    assert evaluate(patient, ruleset=ruleset) == expected
    assert ruleset.compiled.held_facts() == []


def test_loading_rules_starts_no_threads() -> None:
    before = threading.active_count()
    load_ruleset()
    evaluate(patched({}))
    assert threading.active_count() == before


def test_concurrent_threads_get_the_results_of_sequential_evaluation() -> None:
    patients = list(synthetic_cohort(64, seed=8))
    expected = [evaluate(p).model_dump(mode="json") for p in patients]
    failures: list[str] = []

    def worker(offset: int) -> None:
        # Each thread walks the cohort from its own offset: at any moment the
        # threads evaluate different patients.
        for round_ in range(3 * len(patients)):
            index = (offset * 8 + round_) % len(patients)
            if evaluate(patients[index]).model_dump(mode="json") != expected[index]:
                failures.append(f"thread {offset} round {round_}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_record_for_which_no_rule_fires_is_handled(tmp_path: Path) -> None:
    (tmp_path / "sources.toml").write_text('[nice_ng59]\ncitation = "NICE NG59."\n')
    (tmp_path / "parameters.toml").write_text("")
    (tmp_path / "only.toml").write_text(
        '[[rule]]\nid = "RED-01"\ntitle = "Cauda equina"\n'
        'when = { fact = "cauda_equina_signs", op = "==", value = true }\n'
        'tier = "urgent"\nactions = ["urgent_specialist_review"]\n'
        'reason = "cauda equina signs"\nsources = ["nice_ng59"]\n'
    )
    result = evaluate(patched({}), ruleset=load_ruleset(tmp_path))
    assert result.stage == "conservative"
    assert result.actions == ()
    assert result.trace == ()
    assert (
        evaluate(
            patched({"red_flags": {"cauda_equina_signs": True}}), ruleset=load_ruleset(tmp_path)
        ).stage
        == "urgent_review"
    )
