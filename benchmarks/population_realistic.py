"""Screening an export shaped like a health system's, side by side with earlier versions.

Writes an EHR-shaped export (:func:`fbss_pathway.population.ehr_export.write_ehr_export`:
about 240 KB and 181 lines a patient, 2 % FBSS patients; not timed), or reuses one
written before (``--export DIR``). Three versions, each taken from git into a
temporary directory but this one: **now**; **da3d5f5**, main before the split
worked a block of lines at a time; **cf0aaf8**, the version before issue 25.

1. **CPU in one process** (the steadier figure on a shared machine): each version
   screens the export in a process of its own, every task run in turn in that
   process (an in-process stand-in for Dask's client), runs alternating; the CPU
   time (``time.process_time``) of each pass's tasks per patient, the driver's
   share, patients per CPU-second, and the ratios now / each version before. The
   rule set's load, once per worker process, is timed apart (``start-up``).
2. **Wall clock on a local cluster** (``--no-cluster`` skips it): 1 and 2 workers,
   patients/s, per worker, the 1 -> 2 speed-up, peak worker memory.

Both check that every version gives every patient the same row.

3. **1 -> 2 workers once the clusters run** (``--speed-up ROUNDS``): the screen's
   own local clusters against the same clusters as they were before (the allocator
   set, Dask's profiler on) and with Dask's defaults, with the workers' CPU; and
   beside them, round by round, what a pure-Python loop gets from the machine's
   second core (see :func:`_speed_up`).

    python benchmarks/population_realistic.py [--patients 10000] [--rounds 1]
        [--cpu-rounds 3] [--export DIR] [--no-cluster] [--skip-before | --skip-oldest]
        [--speed-up ROUNDS]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from versions import unpack_version  # benchmarks/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
#: Main before the split worked a block of lines at a time.
BASE = "da3d5f5"
#: The version before issue 25.
BEFORE = "cf0aaf8"
#: The task functions of each pass, in every version.
PASSES = {
    "scope": ("scope_span", "count_patients"),
    "split": ("split_span", "split_file"),
    "screen": ("screen_partition",),
}
_RUN = """
import json, sys
from fbss_pathway.population import screen_export
s = screen_export(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), progress=False)
print(json.dumps({"read": s.read, "seconds": s.seconds, "rss": s.peak_worker_rss_mb,
                  "partitions": s.partitions, "largest": s.largest_partition}))
"""
_IN_PROCESS = """
import json, sys, time
from contextlib import contextmanager
from fbss_pathway.population import run, screening
from fbss_pathway.ruleset import default_ruleset

spent = {}

class InProcess:
    # Dask's client as the screen uses it: each task run here, in turn, its CPU timed.
    def map(self, func, *args, pure=True, **kwargs):
        results = []
        for each in zip(*args):
            started = time.process_time()
            results.append(func(*each, **kwargs))
            spent[func.__name__] = spent.get(func.__name__, 0.0) + time.process_time() - started
        return results
    def gather(self, futures):
        return futures
    def scatter(self, data, broadcast=False):
        return data
    def scheduler_info(self):
        return {"workers": {"in-process": {}}}

@contextmanager
def in_process(workers, scheduler):
    yield InProcess()

run._client = in_process
ruleset = default_ruleset()
started = time.process_time()
screening._ruleset(str(ruleset.path), ruleset.version)  # once a worker process
start_up = time.process_time() - started
started = time.process_time()
summary = run.screen_export(sys.argv[1], sys.argv[2], progress=False, ruleset=ruleset)
total = time.process_time() - started
print(json.dumps({"read": summary.read, "total": total, "start_up": start_up, "tasks": spent}))
"""


def main() -> int:
    """Write (or reuse) the export, screen it with every version, print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1, help="cluster rounds")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="one-process rounds")
    parser.add_argument("--export", type=Path, help="the export's folder: reused if written")
    parser.add_argument("--no-cluster", action="store_true", help="CPU in one process only")
    parser.add_argument("--skip-before", action="store_true", help="this version only")
    parser.add_argument("--skip-oldest", action="store_true", help=f"without {BEFORE} (slow)")
    parser.add_argument(
        "--speed-up", type=int, default=0, metavar="ROUNDS", help="1 -> 2 workers, started first"
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"Machine: {platform.machine()}, {cores} cores; CPython {platform.python_version()}")
    print(f"Load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    work = Path(tempfile.mkdtemp(prefix="fbss-realistic-"))
    try:
        export = _export(args.export or work / "export", args.patients)
        versions = {"now": ROOT / "src"}
        if not args.skip_before:
            for name in (BASE,) if args.skip_oldest else (BASE, BEFORE):
                source = unpack_version(name, str(work / name))
                if source is None:
                    raise SystemExit("the versions before are taken from git: run in a checkout")
                versions[name] = Path(source)
        cpu: dict[str, list[dict[str, float]]] = {name: [] for name in versions}
        for round_ in range(args.cpu_rounds):
            for name, source in versions.items():
                found = _in_process(source, export, work / f"cpu-{name}")
                assert found["read"] == args.patients, "every patient read"
                cpu[name].append(found)
                print(f"  CPU round {round_ + 1}, {name}: {found['total']:.1f} s", flush=True)
        if args.cpu_rounds:
            for name in versions:
                if name != "now":
                    _same_rows(work / "cpu-now", work / f"cpu-{name}", name)
            _cpu_table(cpu, args.patients)
        if not args.no_cluster:
            _cluster(versions, export, work, args)
        if args.speed_up:
            _speed_up(export, work, args.speed_up)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _export(directory: Path, patients: int) -> Path:
    """The export: written unless a manifest says it was, for as many patients."""
    sys.path.insert(0, str(ROOT / "src"))
    from fbss_pathway.population.ehr_export import write_ehr_export

    manifest = directory / "manifest.json"
    if manifest.exists():
        written = json.loads(manifest.read_text())
        count = next(o["count"] for o in written["output"] if o["type"] == "Patient")
        if count != patients:
            raise SystemExit(f"{directory} holds {count:,} patients, not {patients:,}")
        print(f"export: reused {directory}")
        return directory
    started = time.perf_counter()
    counts = write_ehr_export(directory, patients)
    size = sum(p.stat().st_size for p in directory.iterdir())
    print(
        f"export: {patients:,} patients, {sum(counts.values()):,} lines, "
        f"{size / 1e9:.2f} GB, {size / patients / 1e3:.0f} KB a patient "
        f"(written in {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return directory


def _in_process(source: Path, export: Path, out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, str(export), str(out)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    tasks = found.pop("tasks")
    for name, functions in PASSES.items():
        found[name] = sum(tasks.get(function, 0.0) for function in functions)
    found["driver"] = found["total"] - sum(found[name] for name in PASSES)
    return dict(found)


def _cpu_table(cpu: dict[str, list[dict[str, float]]], patients: int) -> None:
    """Median CPU per patient of each pass (ms), and patients per CPU-second."""
    columns = (*PASSES, "driver", "total")
    print("\nCPU per patient in one process, ms (median of the rounds; total: its range)\n")
    print(f"| version | {' | '.join(columns)} | patients per CPU-second | start-up |")
    print("|---|" + "---|" * (len(columns) + 2))
    rates = {}
    for name, runs in cpu.items():
        cells = [statistics.median(run[c] for run in runs) / patients * 1e3 for c in columns]
        low, high = (f(run["total"] for run in runs) / patients * 1e3 for f in (min, max))
        rates[name] = 1e3 / cells[-1]
        shown = [f"{cell:.3f}" for cell in cells[:-1]] + [f"{cells[-1]:.3f} ({low:.3f}-{high:.3f})"]
        start_up = statistics.median(run["start_up"] for run in runs)
        print(f"| {name} | {' | '.join(shown)} | {rates[name]:,.0f} | {start_up:.2f} s |")
    for name in cpu:
        if name == "now":
            continue
        split = [
            statistics.median(run["split"] for run in cpu[version]) for version in (name, "now")
        ]
        print(
            f"now / {name}: {rates['now'] / rates[name]:.2f}x patients per CPU-second "
            f"(split {split[0] / split[1]:.2f}x less CPU)"
        )


def _cluster(versions: dict[str, Path], export: Path, work: Path, args: argparse.Namespace) -> None:
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        for workers in (1, 2):
            for name, source in versions.items():
                out = work / f"out-{name}-{workers}"
                shutil.rmtree(out, ignore_errors=True)
                found = _screen(source, export, out, workers)
                assert found["read"] == args.patients, "every patient read"
                results.setdefault((name, workers), []).append(found)
                print(
                    f"  round {round_ + 1}, {name}, {workers} worker(s): {found['seconds']:.1f} s",
                    flush=True,
                )
    for name in versions:
        if name != "now":
            _same_rows(work / "out-now-2", work / f"out-{name}-2", name)
    _table(results, args.patients)


def _screen(source: Path, export: Path, out: Path, workers: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(export), str(out), str(workers)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same_rows(now: Path, before: Path, name: str) -> None:
    """Rows equal to a version's; to cf0aaf8's, on what both write and its rules decide alike.

    cf0aaf8 has older rule files (a stage or an action of an evaluated patient may
    differ by them, not by the screen) and fewer columns: its rows are compared on
    each patient's outcome, error kind and detail, and the other columns' differences
    are counted.
    """
    from fbss_pathway.population.rows import read_rows

    ours = {row["patient_id"]: row for row in read_rows(now / "patients")}
    theirs = {row["patient_id"]: row for row in read_rows(before / "patients")}
    assert ours.keys() == theirs.keys(), "the same patients"
    if name != BEFORE:
        different = [p for p in theirs if ours[p] != theirs[p]]
        print(f"rows: {len(ours):,} patients, {len(different)} rows differ from {name}'s")
        return
    shared = (set(next(iter(ours.values()))) & set(next(iter(theirs.values())))) - {
        "ruleset_version"
    }
    outcome = ("outcome", "error_kind", "detail")
    moved = [p for p in theirs if any(ours[p][c] != theirs[p][c] for c in outcome)]
    decided = [p for p in theirs if any(ours[p][c] != theirs[p][c] for c in shared)]
    print(
        f"rows: {len(ours):,} patients, {len(moved)} outcomes or details differ from "
        f"{name}'s; {len(decided)} rows differ in a column both write (its older rules)"
    )


def _table(results: dict[tuple[str, int], list[dict[str, float]]], patients: int) -> None:
    print("\n| version | workers | patients/s | per worker | peak worker memory | partitions |")
    print("|---|---|---|---|---|---|")
    best = {}
    for (name, workers), runs in results.items():
        seconds = min(run["seconds"] for run in runs)
        rate = patients / seconds
        best[(name, workers)] = rate
        rss = max(run["rss"] for run in runs)
        print(
            f"| {name} | {workers} | {rate:,.0f} | {rate / workers:,.0f} | {rss:,.0f} MB "
            f"| {runs[0]['partitions']} ({runs[0]['largest']}) |"
        )
    names = sorted({n for n, _ in results})
    for name in names:
        print(f"speed-up 1 -> 2 workers, {name}: {best[(name, 2)] / best[(name, 1)]:.2f}x")
    for name in names:
        if name != "now":
            for workers in (1, 2):
                ratio = best[("now", workers)] / best[(name, workers)]
                print(f"now / {name}, {workers} worker(s): {ratio:.2f}x")


def _speed_up(export: Path, work: Path, rounds: int) -> None:
    """1 -> 2 workers once the clusters run: this version's local clusters and those before.

    Three setups of the same local clusters: the screen's own (``population.cluster``:
    glibc's allocator set, ``WORKER_ALLOCATOR``, and Dask's statistical profiler off,
    ``WORKER_CONFIG``); the allocator alone (the screen's own before the profiler was
    turned off); and Dask's defaults (as every screen's was before that). Each round
    starts the two clusters (1 and 2 workers) of one setup, screens once on each to
    warm them (imports, the rule set), then times a screen on each (the order
    alternating), with the workers' CPU, and closes them; the setups take turns, so
    the machine's changing speed falls on all. The cluster's start is left out (a
    fixed cost a larger export spreads).

    Each round also times the machine itself: a pure-Python loop in one process, then
    in two at once. Nothing is shared between them, so their ratio is the most any
    work gets from a second core of this machine in that round (a VM's two cores are
    not two free cores); the screen's speed-up is printed beside it.
    """
    import logging
    import multiprocessing

    from distributed import Client, LocalCluster

    import fbss_pathway.population.cluster as cluster
    from fbss_pathway.population import screen_export
    from fbss_pathway.population.cluster import client_for

    def clusters(setup: str, stack: contextlib.ExitStack) -> dict[int, Any]:
        if setup == "Dask's defaults":
            return {
                n: stack.enter_context(
                    Client(
                        stack.enter_context(
                            LocalCluster(  # type: ignore[no-untyped-call]
                                n_workers=n,
                                threads_per_worker=1,
                                processes=True,
                                dashboard_address=None,
                                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                silence_logs=logging.ERROR,
                            )
                        )
                    )
                )
                for n in (1, 2)
            }
        # The screen's own; for "allocator only", with Dask's profiler as it was before.
        with contextlib.ExitStack() as patched:
            if setup != "the screen's own":
                patched.enter_context(_swapped(cluster, "WORKER_CONFIG", {}))
            return {n: stack.enter_context(client_for(n, None)) for n in (1, 2)}

    setups = ("the screen's own", "allocator only (before)", "Dask's defaults")
    times: dict[tuple[str, int], list[float]] = {(s, n): [] for s in setups for n in (1, 2)}
    cpu: dict[tuple[str, int], list[float]] = {(s, n): [] for s in setups for n in (1, 2)}
    machine: list[float] = []
    out = work / "speed-up"
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.map(_loop, [1, 1])  # started: the pool's start is not timed
        for round_ in range(rounds):
            order = setups[round_ % 3 :] + setups[: round_ % 3]
            for setup in order:
                with contextlib.ExitStack() as stack:
                    client = clusters(setup, stack)
                    pids = {n: list(client[n].run(os.getpid).values()) for n in (1, 2)}
                    for timed in (False, True):
                        for n in (1, 2) if round_ % 2 == 0 else (2, 1):
                            shutil.rmtree(out, ignore_errors=True)
                            used = _cpu_of(pids[n])
                            started = time.perf_counter()
                            screen_export(
                                export, out, scheduler=client[n].scheduler.address, progress=False
                            )
                            if timed:
                                times[(setup, n)].append(time.perf_counter() - started)
                                cpu[(setup, n)].append(_cpu_of(pids[n]) - used)
            machine.append(_machine_speed_up(pool))
            print(f"  speed-up round {round_ + 1} done", flush=True)
    print("\n1 -> 2 workers, the clusters started first (median of the rounds; range)\n")
    print(
        "| workers' setup | 1 worker | 2 workers | workers' CPU, 1 / 2 workers "
        "| 1 -> 2, round by round |"
    )
    print("|---|---|---|---|---|")
    for setup in setups:
        one, two = times[(setup, 1)], times[(setup, 2)]
        ratios = [a / b for a, b in zip(one, two, strict=True)]
        print(
            f"| {setup} | {statistics.median(one):.2f} s | {statistics.median(two):.2f} s "
            f"| {statistics.median(cpu[(setup, 1)]):.2f} s / "
            f"{statistics.median(cpu[(setup, 2)]):.2f} s "
            f"| {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}; "
            f"target >= 1.8x) |"
        )
    print(
        f"| a pure-Python loop, 1 then 2 processes (the machine) | | | | "
        f"{statistics.median(machine):.2f}x ({min(machine):.2f}-{max(machine):.2f}) |"
    )
    own = [a / b for a, b in zip(times[(setups[0], 1)], times[(setups[0], 2)], strict=True)]
    share = [a / b for a, b in zip(own, machine, strict=True)]
    print(
        f"\nThe screen's own speed-up over the machine's, round by round: median "
        f"{statistics.median(share):.2f} ({min(share):.2f}-{max(share):.2f})"
    )
    with_profiler = [a / b for a, b in zip(cpu[(setups[1], 1)], cpu[(setups[0], 1)], strict=True)]
    print(
        f"Workers' CPU for one worker's screen, allocator only / the screen's own, round by "
        f"round: median {statistics.median(with_profiler):.2f} "
        f"({min(with_profiler):.2f}-{max(with_profiler):.2f})"
    )


@contextlib.contextmanager
def _swapped(module: Any, name: str, value: Any) -> Iterator[None]:
    """``module.name`` set to ``value`` for the block (the setup before a change)."""
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def _cpu_of(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _loop(count: int) -> int:
    """A pure-Python loop: CPU and nothing else (no memory traffic, no I/O)."""
    total = 0
    for number in range(count):
        total += number * number
    return total


#: Iterations of the loop: about a second on this machine's cores.
_LOOP = 12_000_000


def _machine_speed_up(pool: Any) -> float:
    """The loop's 1 -> 2 speed-up: one task alone, then two at once, in two processes."""
    started = time.perf_counter()
    pool.map(_loop, [_LOOP], chunksize=1)
    one = time.perf_counter() - started
    started = time.perf_counter()
    pool.map(_loop, [_LOOP, _LOOP], chunksize=1)
    return 2 * one / (time.perf_counter() - started)


if __name__ == "__main__":
    raise SystemExit(main())
