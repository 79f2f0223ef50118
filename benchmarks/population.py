"""Population screening throughput and memory: a synthetic Bulk Data export to Parquet on Dask.

Prints figures, not pass/fail: patients per second from export to Parquet with
1 and 2 local worker processes (measured one after the other in this run), the
speed-up, and each run's peak worker memory, also for an export a tenth the
size, so that memory independent of the export's size can be seen. The export
is written first and not timed.

    python benchmarks/population.py [--patients 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from fbss_pathway.fhir.bulk import write_bulk_export
from fbss_pathway.population import screen_export
from fbss_pathway.synth import ASSESSMENT_DATE, synthetic_cohort

SEED = 2026


def main() -> int:
    """Write the exports, screen them, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--partition-patients", type=int, default=1000)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Machine: {platform.processor() or platform.machine()}, {cores} cores; "
        f"CPython {platform.python_version()}"
    )
    work = Path(tempfile.mkdtemp(prefix="fbss-population-"))
    try:
        rows = []
        for size in (args.patients // 10, args.patients):
            export = work / f"export-{size}"
            started = time.perf_counter()
            write_bulk_export(
                synthetic_cohort(size, seed=SEED), export, transaction_time=ASSESSMENT_DATE
            )
            megabytes = sum(p.stat().st_size for p in export.iterdir()) / 1e6
            print(
                f"export of {size:,} patients: {megabytes:,.0f} MB written in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            for workers in (1, 2):
                output = work / f"out-{size}-{workers}"
                summary = screen_export(
                    export,
                    output,
                    workers=workers,
                    partition_patients=args.partition_patients,
                    progress=False,
                )
                assert summary.read == size, "every patient read"
                rows.append((size, workers, summary.read / summary.seconds, summary))
                print(f"  {workers} worker(s): {summary.seconds:.1f} s", flush=True)
                shutil.rmtree(output)
            shutil.rmtree(export)
        print("\n| patients | workers | patients/s | peak worker memory | partitions (largest) |")
        print("|---|---|---|---|---|")
        for size, workers, rate, summary in rows:
            print(
                f"| {size:,} | {workers} | {rate:,.0f} | {summary.peak_worker_rss_mb:,.0f} MB "
                f"| {summary.partitions} ({summary.largest_partition}) |"
            )
        for size in sorted({r[0] for r in rows}):
            one, two = (r[2] for r in rows if r[0] == size)
            print(
                f"\nspeed-up 1 -> 2 workers at {size:,} patients: {two / one:.2f}x (target >= 1.8x)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
