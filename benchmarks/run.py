"""Benchmarks of fbss_pathway on a seeded synthetic cohort: they print figures, they assert nothing.

Run with ``make bench`` (all figures, about 15 minutes on a 2-core machine) or
``make bench-quick`` (a smaller cohort and 100,000 evaluations for the memory
figure, about 2 minutes). Each figure is printed with its target and whether this
run met it. See ``docs/performance.md`` for what each figure measures and why.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from fbss_pathway import PatientRecord, RuleSet, evaluate, load_ruleset
from fbss_pathway.explain import explain
from fbss_pathway.facts import FactValue, extract_facts
from fbss_pathway.ndjson import run_batch
from fbss_pathway.rules_engine.conditions import evaluate as truth
from fbss_pathway.rules_engine.engine import (
    C_ENGINE,
    ENGINE_LOCK,
    HostRules,
    _QuietHost,
    durable_rules_for,
)
from fbss_pathway.synth import synthetic_cohort

SEED = 2026


@dataclass
class Figure:
    """One printed line: what, value, target, and whether the target was met."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None

    def row(self) -> str:
        """A Markdown table row."""
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        return f"| {self.name} | {self.value} | {self.target} | {verdict} |"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def machine() -> str:
    """The machine the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; {platform.system()} "
        f"{platform.release()}; CPython {platform.python_version()}; "
        f"durable_rules {metadata.version('durable_rules')}, "
        f"pydantic {metadata.version('pydantic')}"
    )


def latency(cohort: list[dict[str, Any]], ruleset: RuleSet) -> tuple[list[Figure], list[float]]:
    """End-to-end ``evaluate`` latency, and the same work split into its phases."""
    totals, without_ladder = [], []
    for data in cohort:  # side by side: with the ladder view (the default) and without
        started = time.perf_counter()
        evaluate(data, ruleset=ruleset)
        middle = time.perf_counter()
        evaluate(data, ruleset=ruleset, ladder=False)
        totals.append(middle - started)
        without_ladder.append(time.perf_counter() - middle)
    phases: dict[str, list[float]] = {
        "validation": [],
        "fact extraction": [],
        "engine": [],
        "result building": [],
        "  of which the ladder view": [],
    }
    for data in cohort:
        t0 = time.perf_counter()
        record = PatientRecord.model_validate(data)
        t1 = time.perf_counter()
        facts = extract_facts(record)
        t2 = time.perf_counter()
        firings, derived = ruleset.compiled.run(facts)
        t3 = time.perf_counter()
        explain(ruleset, facts, firings, derived)
        t4 = time.perf_counter()
        explain(ruleset, facts, firings, derived, ladder=False)
        t5 = time.perf_counter()
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, max(0.0, (t4 - t3) - (t5 - t4)))
        for name, spent in zip(phases, spans, strict=True):
            phases[name].append(spent)
    p50, p99 = _percentile(totals, 50), _percentile(totals, 99)
    figures = [
        Figure("evaluate p50", _us(p50), "<= 200 µs", p50 <= 200e-6),
        Figure("evaluate p99", _us(p99), "<= 1,000 µs", p99 <= 1e-3),
        Figure("evaluate mean", _us(statistics.fmean(totals))),
        Figure(
            "evaluate without the ladder view p50 / p99",
            f"{_us(_percentile(without_ladder, 50))} / {_us(_percentile(without_ladder, 99))}",
        ),
        Figure(
            "ladder view: evaluate / evaluate(ladder=False) (means)",
            f"{statistics.fmean(totals) / statistics.fmean(without_ladder):.2f}x",
        ),
    ]
    figures += [
        Figure(
            f"  {name} p50 / p99",
            f"{_us(_percentile(spent, 50))} / {_us(_percentile(spent, 99))}",
        )
        for name, spent in phases.items()
    ]
    return figures, totals


def engine_floor(facts: list[Mapping[str, FactValue]], ruleset: RuleSet) -> list[float]:
    """The same facts asserted into the same durable_rules rules with bare callbacks.

    A bare callback does only what the rules need to chain: it asserts the
    derived fact its rule concludes, once per patient (a rule with OR can match
    on several branches, and durable_rules refuses the same fact twice). No
    record of what fired, no error capture.
    """
    durable, read = durable_rules_for(ruleset.rules)
    asserted: set[str] = set()

    def bare(index: int | None, value: bool) -> Callable[[Any], None]:
        derive = None if index is None else ruleset.rules[index].derive
        if derive is None or (derive, value) not in read:
            return lambda c: None
        fact = {"t": "derived", "name": derive, "value": value}

        def conclude(c: Any) -> None:
            if derive not in asserted:
                asserted.add(derive)
                c.assert_fact(dict(fact))

        return conclude

    host = _QuietHost()
    name = "bench_floor"
    with ENGINE_LOCK:
        host.register_rulesets(
            {name: {r.name: {"all": r.patterns, "run": bare(r.index, r.value)} for r in durable}}
        )
    engine = host.get_ruleset(name)
    times = []
    for number, patient in enumerate(facts):
        sid = f"floor{number}"
        asserted.clear()
        started = time.perf_counter()
        host.assert_fact(name, {"sid": sid, "t": "patient", **patient})
        engine.delete_state(sid)
        times.append(time.perf_counter() - started)
    return times


def side_by_side(
    records: list[dict[str, Any]], ruleset: RuleSet
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Time evaluation with the direct engine path and with the host-driven one it replaced.

    Alternating patient by patient, so that the machine's noise falls on both.
    Returns evaluate (direct), evaluate (host), engine (direct), engine (host).
    """
    host = HostRules(f"bench_host_{ruleset.version}", ruleset.rules)
    direct_total, host_total, direct_engine, host_engine = [], [], [], []
    for record in records:
        for engine, total, engine_times in (
            (ruleset.compiled, direct_total, direct_engine),
            (host, host_total, host_engine),
        ):
            t0 = time.perf_counter()
            facts = extract_facts(PatientRecord.model_validate(record))
            t1 = time.perf_counter()
            firings, derived = engine.run(facts)
            t2 = time.perf_counter()
            explain(ruleset, facts, firings, derived)
            t3 = time.perf_counter()
            total.append(t3 - t0)
            engine_times.append(t2 - t1)
    return direct_total, host_total, direct_engine, host_engine


def direct_floor(facts: list[Mapping[str, FactValue]], ruleset: RuleSet) -> list[float]:
    """The same rules driven through the C module with nothing but the chaining asserts."""
    durable, read = durable_rules_for(ruleset.rules)
    targets = {r.name: r for r in durable}
    definition = {r.name: {"all": r.patterns} for r in durable}
    with ENGINE_LOCK:
        handle = C_ENGINE.create_ruleset("bench_direct_floor", json.dumps(definition))
    times = []
    try:
        for number, patient in enumerate(facts):
            sid = f"direct{number}"
            asserted: set[str] = set()
            started = time.perf_counter()
            _, state = C_ENGINE.assert_fact(
                handle, json.dumps({"sid": sid, "t": "patient", **patient})
            )
            action = (C_ENGINE.start_action_for_state(handle, state) or (None, None))[1]
            while action:
                rule = targets[action[2 : action.find('"', 2)]]
                derive = None if rule.index is None else ruleset.rules[rule.index].derive
                if derive is not None and (derive, rule.value) in read and derive not in asserted:
                    asserted.add(derive)
                    fact = {"sid": sid, "t": "derived", "name": derive, "value": rule.value}
                    C_ENGINE.assert_fact(handle, json.dumps(fact))
                action = C_ENGINE.complete_and_start_action(handle, state)
            C_ENGINE.delete_state(handle, sid)
            times.append(time.perf_counter() - started)
    finally:
        with ENGINE_LOCK:
            C_ENGINE.delete_ruleset(handle)
    return times


def plain_python(facts: list[Mapping[str, FactValue]], ruleset: RuleSet) -> list[float]:
    """The same decisions (which rules fire, every derived fact) in plain Python.

    Derived facts are concluded in dependency order with three-valued logic, as the
    engine concludes them; the property tests check that both agree.
    """
    order = _dependency_order(ruleset)
    ordinary = [rule for rule in ruleset.rules if rule.derive is None]
    times = []
    for patient in facts:
        started = time.perf_counter()
        derived: dict[str, bool] = {}
        for rule in order:
            value = truth(rule.when, patient, derived)
            if value is not None and rule.derive is not None:
                derived[rule.derive] = value
        [rule.id for rule in ordinary if truth(rule.when, patient, derived) is True]
        times.append(time.perf_counter() - started)
    return times


def _dependency_order(ruleset: RuleSet) -> list[Any]:
    remaining = [rule for rule in ruleset.rules if rule.derive is not None]
    done: set[str] = set()
    order = []
    while remaining:
        for rule in list(remaining):
            if all(name in done for name in _derived_read(rule.when)):
                order.append(rule)
                done.add(rule.derive)
                remaining.remove(rule)
    return order


def _derived_read(condition: Any) -> set[str]:
    name = getattr(condition, "name", None)
    found = {name} if isinstance(name, str) else set()
    for item in getattr(condition, "items", ()):
        found |= _derived_read(item)
    return found


def batch(lines: bytes, processes: int, ruleset: RuleSet) -> float:
    """Records per second through the batch-file path, worker start-up included."""
    count = lines.count(b"\n")
    started = time.perf_counter()
    summary = run_batch(
        io.BytesIO(lines), io.BytesIO(), processes=processes, ruleset=ruleset, progress=False
    )
    spent = time.perf_counter() - started
    assert summary.evaluated == count, "the benchmark cohort must be valid"
    return count / spent


def memory(cohort: list[PatientRecord], ruleset: RuleSet, evaluations: int) -> tuple[float, float]:
    """Resident memory (MB) before and after ``evaluations`` sequential evaluations."""
    for record in cohort:  # warm every cache and code path first
        evaluate(record, ruleset=ruleset)
    gc.collect()
    before = _rss_mb()
    size = len(cohort)
    for number in range(evaluations):
        evaluate(cohort[number % size], ruleset=ruleset)
    gc.collect()
    return before, _rss_mb()


def start_up() -> tuple[float, float]:
    """Median import time of fbss_pathway and load time of the default rules, fresh interpreters."""
    code = (
        "import time; t0 = time.perf_counter(); import fbss_pathway; t1 = time.perf_counter(); "
        "fbss_pathway.load_ruleset(); t2 = time.perf_counter(); print(t1 - t0, t2 - t1)"
    )
    runs = [
        tuple(map(float, subprocess.check_output([sys.executable, "-c", code]).split()))
        for _ in range(5)
    ]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark and print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--evaluations", type=int, default=1_000_000, help="for the memory figure")
    args = parser.parse_args(argv)

    ruleset = load_ruleset()
    records = list(synthetic_cohort(args.patients, seed=SEED))
    cohort = [record.model_dump(mode="json") for record in records]
    facts = [extract_facts(record) for record in records]
    print(f"Machine: {machine()}", flush=True)
    print(
        f"Cohort: {args.patients:,} synthetic patients (seed {SEED}); "
        f"rule set {ruleset.version}, {len(ruleset.rules)} rules, "
        f"{ruleset.compiled.durable_rule_count} durable_rules rules\n",
        flush=True,
    )
    print("| figure | this run | target | |\n|---|---|---|---|", flush=True)
    figures, totals = latency(cohort, ruleset)
    floor = engine_floor(facts, ruleset)
    c_floor = direct_floor(facts, ruleset)
    plain = plain_python(facts, ruleset)
    direct, host, direct_engine, host_engine = side_by_side(cohort[:3000], ruleset)
    mean_total, mean_floor, mean_plain = map(statistics.fmean, (totals, c_floor, plain))
    ratio = statistics.fmean(direct) / statistics.fmean(host)
    figures += [
        Figure(
            "evaluate(ladder=False): direct engine path / host path it replaced (means, "
            "side by side)",
            f"{ratio:.2f}x ({_us(statistics.fmean(direct))} / {_us(statistics.fmean(host))})",
            "<= 0.3x",
            ratio <= 0.3,
        ),
        Figure(
            "  engine call alone: direct / host (means)",
            f"{statistics.fmean(direct_engine) / statistics.fmean(host_engine):.2f}x",
        ),
        Figure(
            "engine floor p50 / p99: direct C, bare (host, bare callbacks)",
            f"{_us(_percentile(c_floor, 50))} / {_us(_percentile(c_floor, 99))} "
            f"({_us(_percentile(floor, 50))} / {_us(_percentile(floor, 99))})",
        ),
        Figure("evaluate / direct engine floor (means)", f"{mean_total / mean_floor:.2f}x"),
        Figure("plain-Python decisions p50", _us(_percentile(plain, 50))),
        Figure("evaluate / plain Python (means)", f"{mean_total / mean_plain:,.0f}x"),
        Figure("direct engine floor / plain Python (means)", f"{mean_floor / mean_plain:,.0f}x"),
    ]
    for figure in figures:
        print(figure.row(), flush=True)

    lines = b"".join(record.model_dump_json().encode() + b"\n" for record in records)
    one, two = batch(lines, 1, ruleset), batch(lines, 2, ruleset)
    speed_up = two / one
    batch_figures = [
        Figure("batch, 1 process", f"{one:,.0f} records/s"),
        Figure("batch, 2 processes", f"{two:,.0f} records/s"),
        Figure("batch speed-up, 1 to 2 processes", f"{speed_up:.2f}x", ">= 1.8x", speed_up >= 1.8),
    ]
    imported, loaded = start_up()
    batch_figures += [
        Figure("import fbss_pathway", f"{imported:.2f} s", "<= 0.5 s", imported <= 0.5),
        Figure("load the default rule set", f"{loaded:.2f} s"),
    ]
    for figure in batch_figures:
        print(figure.row(), flush=True)

    before, after = memory(records, ruleset, args.evaluations)
    growth = after - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    memory_figures = [
        Figure(
            f"resident memory before / after {args.evaluations:,} evaluations",
            f"{before:.1f} MB / {after:.1f} MB (peak {peak:.0f} MB)",
        ),
        Figure(
            "memory growth",
            f"{growth:+.1f} MB",
            "<= 5 MB over 1,000,000",
            growth <= 5 if args.evaluations >= 1_000_000 else None,
        ),
    ]
    for figure in memory_figures:
        print(figure.row(), flush=True)
    if args.evaluations < 1_000_000:
        print("\n(memory target judged only over 1,000,000 evaluations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
