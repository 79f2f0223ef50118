"""The cost of options side by side: the decision and the service, now and before issue 20.

Run with ``make bench-options``. Figures, not tests (see docs/performance.md).
Two worker processes, one importing this version and one the version before
options and verdicts (``BEFORE``, taken from git), take turns on the same work
in alternating blocks, so that the machine's changing speed falls on both:

* ``evaluate(record, ladder=False)`` on a seeded synthetic cohort (records both
  versions accept: version 1's items; the safety items of version 2 are then
  unknown, as in most charts integrators send), wall time per patient, p50 and mean;
* CPU per patient-view call through the ASGI app, on the example patients as
  FHIR bundles in the prefetch.

The ratios are the figures; the targets are <= 1.6x (decision) and <= 1.3x
(service CPU per call).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from versions import FIT_RECORDS, unpack_version  # benchmarks/ is the script's folder

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.hooks import prefetch_from_bundle
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record
from fbss_pathway.synth import synthetic_cohort

#: main before issue 20 (safety first, options side by side); ``--before COMMIT`` compares
#: with another version (cf0aaf8: before issues 21 and 22), ``--target`` sets the ratio.
BEFORE = "0951757"
BLOCKS = 12
PATIENTS = 400
#: New patients a block (different in every block): what a population or a clinic
#: sends, where nothing is decided twice.
FRESH = 200
ROUNDS = 10

_WORKER = r"""
import json, sys, time, uuid
from datetime import date
from fbss_pathway import evaluate
from fbss_pathway.cds_hooks.service import create_app
from starlette.testclient import TestClient

work = json.load(open(sys.argv[1]))
BLOCKS = int(sys.argv[2])
client = TestClient(create_app(today=lambda: date(2026, 10, 1)))

def call(chart):
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": chart["id"]},
            "prefetch": chart["prefetch"]}
    answer = client.post("/cds-services/fbss-pathway", json=body)
    assert answer.status_code == 200, answer.text

for record in work["records"][:20]:  # warm: imports, rule set, caches
    evaluate(record, ladder=False)
print("ready", flush=True)
for line in sys.stdin:
    block, rounds = map(int, line.split())
    fresh = []  # patients neither version has seen: nothing kept from an earlier block
    size = len(work["fresh"]) // BLOCKS
    for record in work["fresh"][block * size : (block + 1) * size]:
        started = time.perf_counter()
        evaluate(record, ladder=False)
        fresh.append(time.perf_counter() - started)
    times = []
    for record in work["records"]:
        started = time.perf_counter()
        evaluate(record, ladder=False)
        times.append(time.perf_counter() - started)
    started = time.process_time()
    for _ in range(rounds):
        for chart in work["charts"]:
            call(chart)
    service = (time.process_time() - started) / (rounds * len(work["charts"]))
    print(json.dumps({"fresh": fresh, "decisions": times, "call": service}), flush=True)
"""


#: Run with the version before on its path: keeps of each record only what its model knows,
#: so that both versions decide the same records (items it lacks are then unknown).
_FIT = (
    FIT_RECORDS
    + r"""
path = sys.argv[1]
work = json.load(open(path))
for key in ("records", "fresh"):
    work[key] = [fit(r, PatientRecord) for r in work[key]]
    for record in work[key]:
        PatientRecord.model_validate(record)
json.dump(work, open(path, "w"))
"""
)


def _records(count: int, seed: int) -> list[dict[str, Any]]:
    records = []
    for record in synthetic_cohort(count, seed=seed):
        data = json.loads(record.model_dump_json(exclude_none=True))
        if not data.get("medicines"):  # a section version 1 does not know
            data.pop("medicines", None)
        records.append(data)
    return records


def _work() -> dict[str, Any]:
    records = _records(PATIENTS, 2026)
    charts = []
    for path in example_paths():
        record = PatientRecord.model_validate_json(path.read_bytes())
        bundle = bundle_from_record(record)
        charts.append({"id": record.patient_id, "prefetch": prefetch_from_bundle(bundle)})
    fresh = _records(FRESH * BLOCKS, 2027)
    return {"records": records, "fresh": fresh, "charts": charts}


def _start(source: str, work: str) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, work, str(BLOCKS)],
        env={**os.environ, "PYTHONPATH": source},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


def _block(worker: subprocess.Popen[str], block: int) -> dict[str, Any]:
    assert worker.stdin is not None
    assert worker.stdout is not None
    worker.stdin.write(f"{block} {ROUNDS}\n")
    worker.stdin.flush()
    result: dict[str, Any] = json.loads(worker.stdout.readline())
    return result


def main() -> int:
    """Run both versions side by side and print the ratios against their targets."""
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument(
        "--before", default=BEFORE, help=f"the version compared (default {BEFORE})"
    )
    options.add_argument("--target", type=float, default=1.6, help="decision ratio target")
    args = options.parse_args()
    version, target_decision = args.before, args.target
    now_src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as directory:
        before_src = unpack_version(version, directory)
        if before_src is None:
            print("not a git checkout: nothing to compare with")
            return 1
        work = Path(directory) / "work.json"
        work.write_text(json.dumps(_work()))
        fitted = subprocess.run(
            [sys.executable, "-c", _FIT, str(work)],
            env={**os.environ, "PYTHONPATH": before_src},
            check=False,
        )
        if fitted.returncode != 0:
            print(f"the records do not fit the version {version}")
            return 1
        workers = {"now": _start(now_src, str(work)), "before": _start(before_src, str(work))}
        results: dict[str, list[dict[str, Any]]] = {"now": [], "before": []}
        try:
            for block in range(BLOCKS):
                order = ("now", "before") if block % 2 == 0 else ("before", "now")
                for name in order:
                    results[name].append(_block(workers[name], block))
        finally:
            for worker in workers.values():
                assert worker.stdin is not None
                worker.stdin.close()
                worker.wait(timeout=60)
    summary = {}
    for name, blocks in results.items():
        decisions = [t for block in blocks for t in block["decisions"]]
        fresh = [t for block in blocks for t in block["fresh"]]
        summary[name] = {
            "fresh_p50": statistics.median(fresh),
            "fresh_mean": statistics.fmean(fresh),
            "p50": statistics.median(decisions),
            "mean": statistics.fmean(decisions),
            "call": statistics.median(block["call"] for block in blocks),
        }
    now, before = summary["now"], summary["before"]
    ratios = [n["call"] / b["call"] for n, b in zip(results["now"], results["before"], strict=True)]
    print(
        f"options side by side vs {version} ({BLOCKS} alternating blocks: each "
        f"{FRESH} new patients, then the same {PATIENTS} patients every block)"
    )
    for key, label, target in (
        ("fresh_p50", "evaluate(ladder=False) p50, new patients", target_decision),
        ("fresh_mean", "evaluate(ladder=False) mean, new patients", target_decision),
        ("p50", "evaluate(ladder=False) p50, the same patients again", target_decision),
        ("mean", "evaluate(ladder=False) mean, the same patients again", target_decision),
        ("call", "service CPU per patient-view call (median of blocks)", 1.3),
    ):
        ratio = now[key] / before[key]
        met = "met" if ratio <= target else "NOT met"
        print(
            f"  {label}: {now[key] * 1e6:,.0f} µs now / {before[key] * 1e6:,.0f} µs before = "
            f"{ratio:.2f}x (target <= {target}x: {met})"
        )
    print(f"  service ratio per block: {min(ratios):.2f}-{max(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
