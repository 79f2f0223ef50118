"""The cost of joining resources: the reader and the service on charts as integrators write them.

Run with ``make bench-charts``. Figures, not tests (see docs/performance.md).
The charts are the example patients written as integrators write them: the
coded resources, the assessment QuestionnaireResponse describing the same
treatments, and exercise billed as weekly CPT 97110 sessions. Two worker
processes, one importing this version and one the version before the charts
work (``BEFORE``, taken from git), read the same charts in alternating blocks,
so that the machine's changing speed falls on both; each reports CPU per read
of ``read_bundle`` and CPU per patient-view call through the ASGI app (the
form sent in the prefetch: the version before ignores that key, so it reads
less). The ratios are the figures; the targets are <= 1.2x.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from versions import alternate, unpack_version  # benchmarks/ is the script's folder

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.hooks import prefetch_from_bundle
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record, response_from_record

#: main before issue 19 (charts as integrators write them).
BEFORE = "752435a"
BLOCKS = 12
ROUNDS = 25

_WORKER = r"""
import json, sys, time, uuid
from datetime import date
from fbss_pathway.fhir import read_bundle
from fbss_pathway.cds_hooks.service import create_app
from starlette.testclient import TestClient

charts = json.load(open(sys.argv[1]))
day = date.fromisoformat(sys.argv[2])
client = TestClient(create_app())

def call(chart):
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": chart["id"]},
            "prefetch": chart["prefetch"]}
    answer = client.post("/cds-services/fbss-pathway", json=body)
    assert answer.status_code == 200, answer.text

for line in sys.stdin:
    rounds = int(line)
    started = time.process_time()
    for _ in range(rounds):
        for chart in charts:
            read_bundle(chart["bundle"], assessment_date=day)
    reading = time.process_time() - started
    started = time.process_time()
    for _ in range(rounds):
        for chart in charts:
            call(chart)
    service = time.process_time() - started
    calls = rounds * len(charts)
    print(json.dumps({"read": reading / calls, "call": service / calls}), flush=True)
"""


def integrator_chart(record: PatientRecord) -> dict[str, Any]:
    """The record as an integrator writes it: codes, the form, weekly billed sessions."""
    bundle = bundle_from_record(record)
    response = response_from_record(record)
    response["id"] = f"qr-{record.patient_id}"
    entries = bundle["entry"] + [{"resource": response}]
    subject = {"reference": f"Patient/{record.patient_id}"}
    first = record.assessment_date - timedelta(weeks=30)
    for week in range(12):
        entries.append(
            {
                "resource": {
                    "resourceType": "Procedure",
                    "id": f"pt-{record.patient_id}-{week}",
                    "status": "completed",
                    "subject": subject,
                    "code": {
                        "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]
                    },
                    "performedDateTime": (first + timedelta(weeks=week)).isoformat(),
                }
            }
        )
    chart = {**bundle, "entry": entries}
    return {"id": record.patient_id, "bundle": chart, "prefetch": prefetch_from_bundle(chart)}


def main() -> int:
    """Print CPU per read and per call, now and before, and the ratios."""
    records = [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]
    charts = [integrator_chart(record) for record in records]
    day = max(record.assessment_date for record in records).isoformat()
    with tempfile.TemporaryDirectory() as directory:
        source = unpack_version(BEFORE, directory)
        if source is None:
            print("not a git checkout: nothing to compare with")
            return 1
        path = Path(directory) / "charts.json"
        path.write_text(json.dumps(charts))
        versions = {"now": None, BEFORE: source}
        figures = alternate(_WORKER, [str(path), day], versions, BLOCKS, f"{ROUNDS}\n")
    print(f"{len(charts)} integrator charts, {BLOCKS} alternating blocks of {ROUNDS} rounds:")
    for what, name in (("read", "read_bundle"), ("call", "patient-view call")):
        now = [block[what] for block in figures["now"]]
        then = [block[what] for block in figures[BEFORE]]
        ratios = [a / b for a, b in zip(now, then, strict=True)]
        print(
            f"  {name:<18} now {statistics.median(now) * 1e3:6.2f} ms CPU, "
            f"{BEFORE} {statistics.median(then) * 1e3:6.2f} ms: "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})  "
            "target <= 1.2x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
