"""Benchmark of the FHIR reader: the example bundles, and a 10,000-entry chart.

Run with ``make bench-fhir``. Figures, not tests (see docs/performance.md):

- the example bundles, read by ``read_bundle`` and, side by side in the same
  loop, by the reader as landed before (loaded from git history, when the
  benchmark runs in a checkout) and by bare R4B validation of the bundle (that
  reader's first step); target >= 3x;
- a generated 10,000-entry chart shaped like an EHR's (mostly vital signs,
  encounters, claims, unrelated conditions and drugs; a few items the pathway
  reads): time and peak traced memory of one read, from the parsed bundle and
  from JSON text; target <= 1 s and <= 50 MB;
- per entry, ``read_bundle`` of EHR-shaped charts' JSON text against a plain
  ``msgspec.json.decode`` of the same text, this version and the one before
  side by side (``benchmarks/fhir_text.py``, issue 25); target <= 1.0x.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir_text import text_versus_decode  # benchmarks/ is the script's folder

from fbss_pathway import PatientRecord
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record, read_bundle

ROUNDS = 60
LANDED = "13d7741"  # main before the reader for real EHR data
ENTRIES = 10_000
SUBJECT = {"reference": "Patient/big"}


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _filler(rng: random.Random, number: int) -> dict[str, Any]:
    """One resource of the kind that fills a real chart (codes as Synthea writes them)."""
    day = f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    roll = rng.random()
    if roll < 0.6:
        return {
            "resourceType": "Observation",
            "id": f"o{number}",
            "status": "final",
            "category": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/observation-category",
                    "vital-signs",
                    "Vital signs",
                )
            ],
            "code": _coding("http://loinc.org", "8867-4", "Heart rate"),
            "subject": SUBJECT,
            "effectiveDateTime": f"{day}T10:00:00+00:00",
            "valueQuantity": {
                "value": rng.randint(50, 110),
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
        }
    if roll < 0.75:
        return {
            "resourceType": "Encounter",
            "id": f"e{number}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": SUBJECT,
            "period": {"start": day, "end": day},
        }
    if roll < 0.85:
        return {
            "resourceType": "Immunization",
            "id": f"i{number}",
            "status": "completed",
            "vaccineCode": _coding("http://hl7.org/fhir/sid/cvx", "140", "Influenza"),
            "patient": SUBJECT,
            "occurrenceDateTime": f"{day}T10:00:00+00:00",
        }
    if roll < 0.93:
        return {
            "resourceType": "Condition",
            "id": f"d{number}",
            "subject": SUBJECT,
            "clinicalStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved"
            ),
            "code": _coding("http://snomed.info/sct", "444814009", "Viral sinusitis"),
            "recordedDate": day,
        }
    return {
        "resourceType": "MedicationRequest",
        "id": f"m{number}",
        "status": "stopped",
        "intent": "order",
        "subject": SUBJECT,
        "authoredOn": day,
        "medicationCodeableConcept": _coding(
            "http://www.nlm.nih.gov/research/umls/rxnorm",
            "308182",
            "Amoxicillin 250 MG Oral Capsule",
        ),
    }


def big_chart(entries: int = ENTRIES, seed: int = 1) -> dict[str, Any]:
    """A chart of ``entries`` resources: a patient after a fusion, in an EHR's noise."""
    rng = random.Random(seed)
    relevant = [
        {"resourceType": "Patient", "id": "big", "birthDate": "1966-04-02"},
        {
            "resourceType": "Procedure",
            "status": "completed",
            "subject": SUBJECT,
            "code": _coding("http://www.ama-assn.org/go/cpt", "22612", "Lumbar fusion"),
            "performedDateTime": "2021-05-20",
        },
        {
            "resourceType": "Observation",
            "status": "final",
            "subject": SUBJECT,
            "code": _coding("http://loinc.org", "72514-3", "Pain severity"),
            "bodySite": _coding("http://snomed.info/sct", "37822005", "Lower back"),
            "effectiveDateTime": "2026-09-01",
            "valueInteger": 7,
        },
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "authoredOn": "2026-01-10",
            "medicationCodeableConcept": _coding(
                "http://www.nlm.nih.gov/research/umls/rxnorm",
                "1049621",
                "oxyCODONE Hydrochloride 5 MG Oral Tablet",
            ),
        },
    ]
    resources = relevant + [_filler(rng, n) for n in range(entries - len(relevant))]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2026-10-01T09:00:00Z",
        "entry": [{"resource": resource} for resource in resources],
    }


def _seconds(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def landed_reader() -> Callable[[Any], Any] | None:
    """The reader as landed before (from git history), loaded beside this one; None without git."""
    try:
        source = subprocess.run(
            ["git", "show", f"{LANDED}:src/fbss_pathway/fhir/reading.py"],
            capture_output=True,
            check=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("fbss_pathway.fhir._landed_reading")
    module.__package__ = "fbss_pathway.fhir"
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "landed reading.py", "exec"), module.__dict__)
    read: Callable[[Any], Any] = module.read_bundle
    return read


def examples() -> None:
    """The example bundles: this reader, the landed one and bare R4B validation, interleaved."""
    bundles = [
        bundle_from_record(PatientRecord.model_validate_json(p.read_bytes()))
        for p in example_paths()
    ]
    rivals: dict[str, Callable[[Any], Any]] = {
        "R4B validation of the bundle": Bundle.model_validate
    }
    landed = landed_reader()
    if landed is not None:
        try:
            for data in bundles:
                landed(data)
        except Exception as error:  # any failure: that figure is not measured
            # Its record model has changed since: today's bundles no longer read there.
            print(f"the reader as landed ({LANDED}): not measured ({type(error).__name__})")
        else:
            rivals[f"the reader as landed ({LANDED})"] = landed
    times: dict[str, list[float]] = {"read_bundle": [], **{name: [] for name in rivals}}
    for _ in range(ROUNDS):
        for data in bundles:
            times["read_bundle"].append(_seconds(lambda data=data: read_bundle(data)))
            for name, read in rivals.items():
                times[name].append(_seconds(lambda data=data, read=read: read(data)))
    entries = sum(len(b["entry"]) for b in bundles) / len(bundles)
    print(f"example bundles ({len(bundles)} x {ROUNDS} reads, {entries:.0f} entries each), p50:")
    ours = statistics.median(times["read_bundle"])
    print(f"  {'read_bundle':<36} {ours * 1e3:6.2f} ms")
    for name in rivals:
        theirs = statistics.median(times[name])
        print(f"  {name:<36} {theirs * 1e3:6.2f} ms  = {theirs / ours:4.1f}x   target >= 3x")


def chart() -> None:
    """One 10,000-entry chart: time and peak traced memory of a read."""
    data = big_chart()
    text = json.dumps(data)
    read_bundle(data)  # warm caches (models, code map)
    times = [_seconds(lambda: read_bundle(data)) for _ in range(5)]
    text_times = [_seconds(lambda: read_bundle(text)) for _ in range(5)]
    gc.collect()
    tracemalloc.start()
    reading = read_bundle(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    read_bundle(text)
    _, text_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert reading.record is not None
    assert reading.record.pain.back_nrs == 7
    print(f"{ENTRIES:,}-entry chart ({len(text) / 1e6:.1f} MB of JSON):")
    print(
        f"  read from the parsed bundle  p50 {statistics.median(times) * 1e3:7.1f} ms, "
        f"peak {peak / 2**20:5.1f} MB   targets <= 1000 ms, <= 50 MB"
    )
    print(
        f"  read from JSON text          p50 {statistics.median(text_times) * 1e3:7.1f} ms, "
        f"peak {text_peak / 2**20:5.1f} MB (the parsed bundle included)"
    )
    started = time.perf_counter()
    Bundle.model_validate(data)
    print(f"  reference (R4B validation)       {(time.perf_counter() - started) * 1e3:7.1f} ms")


def main() -> int:
    """Print every figure."""
    examples()
    chart()
    text_versus_decode()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
