"""The FHIR reader on JSON text against a plain msgspec decode of the same text (issue 25).

Part of ``make bench-fhir`` (``benchmarks/fhir_reader.py`` prints it last); runs on
its own too. Charts shaped like an EHR's are built here: an export from
:func:`fbss_pathway.population.ehr_export.write_ehr_export` (Synthea's
proportions: Observation, Claim and ExplanationOfBenefit most of the bytes; a
share of FBSS patients whose charts the reader reads in full), regrouped into
one Bundle per patient, as an EHR sends a chart. Two worker processes, one
importing this version and one the version before (``BEFORE``, its package
taken from git), take turns in blocks; in each block a worker times, in CPU
(``time.process_time``), ``read_bundle`` of every chart's text and
``msgspec.json.decode`` of the same bytes, one after the other. The figure is
CPU per entry and the ratio of the two, block by block (median and range);
target: ``read_bundle`` at most 1.0x the plain decode.

    python benchmarks/fhir_text.py [--patients 40] [--blocks 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
from versions import alternate, unpack_version  # benchmarks/ is the script's folder

from fbss_pathway.population.ehr_export import write_ehr_export

#: main when issue 25's work on the reader of text began (the reader before it).
BEFORE = "da3d5f5"
PATIENTS = 40
BLOCKS = 12
ROUNDS = 4
TARGET = 1.0

_WORKER = r"""
import gc, json, sys, time
import msgspec
from fbss_pathway.fhir import read_bundle

charts = open(sys.argv[1], "rb").read().splitlines()
decode = msgspec.json.decode


def cpu(call, rounds):
    started = time.process_time()
    for _ in range(rounds):
        for chart in charts:
            call(chart)
    return (time.process_time() - started) / rounds


for chart in charts:
    read_bundle(chart)  # warm: the code map, the validators
for line in sys.stdin:
    rounds = int(line)
    figures = {}
    for collector in ("on", "off"):
        if collector == "off":
            gc.collect()
            gc.disable()
        figures[collector] = {"read": cpu(read_bundle, rounds), "decode": cpu(decode, rounds)}
        gc.enable()
    print(json.dumps(figures), flush=True)
"""


def ehr_charts(patients: int, directory: Path, seed: int = 25) -> list[bytes]:
    """One Bundle per patient of an EHR-shaped export, as JSON text (a chart a line)."""
    export = directory / "export"
    write_ehr_export(export, patients, seed=seed, fbss_share=0.1)
    charts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(export.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = msgspec.json.decode(line)
            if resource["resourceType"] == "Patient":
                owner = resource["id"]
            else:
                owner = (resource.get("subject") or resource["patient"])["reference"]
                owner = owner.removeprefix("Patient/")
            charts[owner].append(resource)
    return [msgspec.json.encode(_bundle(resources)) for resources in charts.values()]


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle as Synthea writes one: fullUrl and request on every entry."""
    resources.sort(key=lambda resource: resource["resourceType"] != "Patient")
    entries = []
    for number, resource in enumerate(resources):
        kind = resource["resourceType"]
        entries.append(
            {
                "fullUrl": f"urn:uuid:{resource.get('id', number)}",
                "resource": resource,
                "request": {"method": "POST", "url": kind},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def text_versus_decode(patients: int = PATIENTS, blocks: int = BLOCKS) -> dict[str, Any]:
    """Print the figure; returns it (CPU per entry and ratios, by version)."""
    with tempfile.TemporaryDirectory() as directory:
        charts = ehr_charts(patients, Path(directory))
        entries = sum(len(msgspec.json.decode(chart)["entry"]) for chart in charts)
        path = Path(directory) / "charts.ndjson"
        path.write_bytes(b"\n".join(charts) + b"\n")
        versions: dict[str, str | None] = {"now": None}
        source = unpack_version(BEFORE, str(Path(directory) / "before"))
        if source is not None:
            versions[BEFORE] = source
        figures = alternate(_WORKER, [str(path)], versions, blocks, f"{ROUNDS}\n")
    size = sum(len(chart) for chart in charts)
    print(
        f"read_bundle of JSON text vs msgspec.json.decode of the same text, per entry: "
        f"{len(charts)} EHR-shaped charts, {entries:,} entries, {size / 1e6:.1f} MB; "
        f"{blocks} alternating blocks, CPU:"
    )
    result: dict[str, Any] = {}
    for collector in ("on", "off"):
        print(f"  garbage collector {collector}:")
        for label, blocks_of in figures.items():
            read = [block[collector]["read"] / entries for block in blocks_of]
            decode = [block[collector]["decode"] / entries for block in blocks_of]
            ratios = [r / d for r, d in zip(read, decode, strict=True)]
            result[f"{label}, collector {collector}"] = {"read": read, "ratios": ratios}
            print(
                f"    {label:<8} read_bundle {statistics.median(read) * 1e6:5.2f} us, "
                f"decode {statistics.median(decode) * 1e6:5.2f} us: "
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
                f"   target <= {TARGET:.1f}x"
            )
        if BEFORE in figures:
            now = result[f"now, collector {collector}"]["read"]
            then = result[f"{BEFORE}, collector {collector}"]["read"]
            ratios = [a / b for a, b in zip(now, then, strict=True)]
            print(
                f"    read_bundle now / {BEFORE}: {statistics.median(ratios):.2f}x "
                f"({min(ratios):.2f}-{max(ratios):.2f})"
            )
    if BEFORE not in figures:
        print(f"  {BEFORE}: not measured (not a git checkout)")
    return result


def main() -> int:
    """Print the figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=PATIENTS)
    parser.add_argument("--blocks", type=int, default=BLOCKS)
    args = parser.parse_args()
    text_versus_decode(args.patients, args.blocks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
