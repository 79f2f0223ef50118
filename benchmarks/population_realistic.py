"""Screening an export shaped like a health system's, side by side with the version before.

Writes an EHR-shaped export (:func:`fbss_pathway.population.ehr_export.write_ehr_export`:
about 245 KB and 187 lines a patient, 2 % FBSS patients; not timed), then screens it
with 1 and 2 local workers, this version and the version before issue 25 (commit
cf0aaf8, taken from git into a temporary directory), runs alternating, each in a
process of its own. Prints patients/s, patients/s per worker, the 1 -> 2 speed-up,
peak worker memory, and checks that both versions give every patient the same row.

    python benchmarks/population_realistic.py [--patients 10000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "cf0aaf8"
_RUN = """
import json, sys
from fbss_pathway.population import screen_export
s = screen_export(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), progress=False)
print(json.dumps({"read": s.read, "seconds": s.seconds, "rss": s.peak_worker_rss_mb,
                  "partitions": s.partitions, "largest": s.largest_partition}))
"""


def main() -> int:
    """Write the export, screen it with both versions, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-before", action="store_true", help="this version only")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"Machine: {platform.machine()}, {cores} cores; CPython {platform.python_version()}")
    work = Path(tempfile.mkdtemp(prefix="fbss-realistic-"))
    try:
        sys.path.insert(0, str(ROOT / "src"))
        from fbss_pathway.population.ehr_export import write_ehr_export

        export = work / "export"
        started = time.perf_counter()
        counts = write_ehr_export(export, args.patients)
        size = sum(p.stat().st_size for p in export.iterdir())
        print(
            f"export: {args.patients:,} patients, {sum(counts.values()):,} lines, "
            f"{size / 1e9:.2f} GB, {size / args.patients / 1e3:.0f} KB a patient "
            f"(written in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        versions = {"now": ROOT / "src"}
        if not args.skip_before:
            versions[BEFORE] = _checkout(work / "before")
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
                        f"  round {round_ + 1}, {name}, {workers} worker(s): "
                        f"{found['seconds']:.1f} s",
                        flush=True,
                    )
        if not args.skip_before:
            _same_rows(work / "out-now-2", work / f"out-{BEFORE}-2")
        _table(results, args.patients)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _checkout(target: Path) -> Path:
    """The version before, from git: its ``src`` in a temporary directory."""
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BEFORE, "src", "rules"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


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


def _same_rows(now: Path, before: Path) -> None:
    from fbss_pathway.population.rows import read_rows

    ours = {row["patient_id"]: row for row in read_rows(now / "patients")}
    theirs = {row["patient_id"]: row for row in read_rows(before / "patients")}
    different = [p for p in theirs if ours.get(p) != theirs[p]]
    assert ours.keys() == theirs.keys(), "the same patients"
    print(f"rows: {len(ours):,} patients, {len(different)} rows differ from {BEFORE}'s")


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
    for name in sorted({n for n, _ in results}):
        print(f"speed-up 1 -> 2 workers, {name}: {best[(name, 2)] / best[(name, 1)]:.2f}x")
    if (BEFORE, 1) in best:
        for workers in (1, 2):
            ratio = best[("now", workers)] / best[(BEFORE, workers)]
            print(f"now / {BEFORE}, {workers} worker(s): {ratio:.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
