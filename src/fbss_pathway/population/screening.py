"""The last pass of a screen: one partition's patients read, evaluated and written as Parquet.

Each patient's resources become a bundle that the FHIR reader reads with its
safety rules (``read_bundle`` with the patient's id, so nobody else's data is
merged), then the recommendation is reduced to one row. A patient the reader
cannot read, or whose record is invalid, gets a row with the error kind and a
message naming elements or fields, never values; a patient outside the pathway
gets a row saying why. Resources that refer to a patient with no Patient
resource in the export are counted as orphans, never evaluated. A patient whose
Patient line is in the export but is not JSON gets a ``rejected`` row; a row
whose patient had lines that are not JSON carries :data:`UNREAD_LINES_WARNING`.

A partition holds every resource of its candidates (:mod:`.scope`) and only the
Patient resources of everyone else: a patient who is not a candidate is read
from those alone, with the same call, which gives the row a full read gives
(no operation; the age from the birth date; died or not). Lines are grouped by
the key the split wrote before them, as raw text, and a patient's lines are
parsed only when that patient is read: a worker holds a partition's text and
one patient's resources. The garbage collector is paused while lines are
grouped and parsed (JSON makes no cycles; collecting while a chart's thousands
of new objects are alive only walks them), and the rule set, loaded once, is
moved out of its reach (``gc.freeze``).
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import EvaluationError, FbssPathwayError
from ..explain.follow_up import next_reassessment
from ..fhir import FhirError, read_bundle
from ..fhir.scope import referenced_id
from ..json_text import parse_json
from ..recommendation import Recommendation
from ..ruleset import RuleSet, load_ruleset
from ..vocabulary import Stage
from .partition import UNREADABLE_MARK, medication_shard, peak_rss_mb
from .rows import write_rows

__all__ = ["UNREAD_LINES_WARNING", "PartitionResult", "screen_partition"]

#: The warning on a row when lines of the patient's chart could not be read as JSON.
UNREAD_LINES_WARNING = "SCREEN-UNREAD-LINES"


@dataclass(slots=True)
class PartitionResult:
    """What one partition held and how its patients came out."""

    partition: int
    patients: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    orphan_resources: int = 0
    orphan_patients: int = 0
    #: Lines the split's key decode took that Python's JSON reader refuses (not read).
    malformed: int = 0
    peak_rss_mb: float = 0.0


#: The rule set of this worker process, by version: loaded once, then reused.
_RULESETS: dict[str, RuleSet] = {}


def screen_partition(
    partition: int,
    workdir: Path,
    output: Path,
    rules: tuple[str, str],
    assessment_date: date,
    *,
    partitions: int,
) -> PartitionResult:
    """Screen the patients of one partition; write ``output/part-NNNNN.parquet``.

    ``partitions`` is the number of partitions of the screen: it says where the
    shared Medication resources are (:func:`.partition.medication_shard`), of
    which only those the partition's resources refer to are read into memory.
    """
    ruleset = _ruleset(*rules)
    with _collector_paused():
        groups = _grouped(workdir / f"p{partition:05d}")
    medications = _medications(workdir, groups, partitions)
    result = PartitionResult(partition)
    rows = []
    for patient_id in sorted(groups):
        with _collector_paused():
            resources, unread = _parsed(groups.pop(patient_id), result)
        if not any(r["resourceType"] == "Patient" for r in resources):
            if not any(_PATIENT_LINE.search(line) for line in unread):
                result.orphan_patients += 1
                result.orphan_resources += len(resources)
                continue
            # The Patient is in the export but its line is not JSON (a byte that is not
            # UTF-8, a line cut short): a row that says so, never a patient dropped.
            row = _unreadable_patient(patient_id, len(unread), ruleset.version)
        else:
            row = _screen_patient(patient_id, resources, medications, ruleset, assessment_date)
            if unread:  # what those lines held is not in the row: it says so
                row["warnings"] = [*row["warnings"], UNREAD_LINES_WARNING]
        result.patients += 1
        result.outcomes[row["outcome"]] += 1
        if row["stage"] is not None:
            result.stages[row["stage"]] += 1
        if row["outcome"] == "rejected":
            result.rejected[row["error_kind"]] += 1
        rows.append(row)
    write_rows(rows, output / f"part-{partition:05d}.parquet")
    result.peak_rss_mb = peak_rss_mb()
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while (reference counting still frees)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _grouped(folder: Path) -> dict[str, list[bytes]]:
    """The partition's lines by patient, as read (shards sort by file, then span)."""
    groups: dict[bytes, list[bytes]] = {}
    for shard in sorted(folder.glob("*.ndjson")) if folder.exists() else []:
        with shard.open("rb") as lines:
            for line in lines:
                key, _, text = line.partition(b" ")
                groups.setdefault(key, []).append(text)
    return {_key_text(key): lines for key, lines in groups.items()}


def _key_text(key: bytes) -> str:
    """The id the split wrote before a line (a patient's or a medicine's), as text.

    Written in hexadecimal, so that any id stays on one line.
    """
    return bytes.fromhex(key.decode()).decode("utf-8", "surrogatepass")


def _parsed(
    lines: list[bytes], result: PartitionResult
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """A patient's resources, and the lines Python's JSON reader refuses (counted, not read)."""
    resources, unread = [], []
    for line in lines:
        if line.startswith(UNREADABLE_MARK):  # the split could not read it (counted there)
            unread.append(line[len(UNREADABLE_MARK) :])
            continue
        try:
            resources.append(parse_json(line))
        except (ValueError, RecursionError):
            result.malformed += 1
            unread.append(line)
    return resources, unread


#: A line that may hold a Patient resource (an unreadable one is looked at for this alone).
_PATIENT_LINE = re.compile(rb'"resourceType"\s*:\s*"Patient"')


def _unreadable_patient(patient_id: str, lines: int, version: str) -> dict[str, Any]:
    """The row of a patient whose Patient resource is in the export but cannot be read."""
    return {
        **_empty_row(patient_id, version),
        "error_kind": "malformed_resource",
        "detail": (
            f"the Patient resource is not JSON ({lines} line(s) of this patient's could not "
            "be read: a byte that is not UTF-8, or a line cut short)"
        ),
    }


def _empty_row(patient_id: str, version: str) -> dict[str, Any]:
    """A row with nothing decided yet: rejected until a reading says otherwise."""
    return {
        "patient_id": patient_id,
        "outcome": "rejected",
        "stage": None,
        "actions": [],
        "red_flags": [],
        "verdicts": None,
        "warnings": [],
        "missing_count": None,
        "mme_per_day": None,
        "ruleset_version": version,
        "error_kind": None,
        "detail": None,
        "reassess_due": None,
        "reassess_item": None,
        "reassess_overdue": None,
    }


def _screen_patient(
    patient_id: str,
    resources: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
    ruleset: RuleSet,
    assessment_date: date,
) -> dict[str, Any]:
    row = _empty_row(patient_id, ruleset.version)
    entries: list[dict[str, Any]] = [{"resource": r} for r in resources]
    # An export's lines have no fullUrl; a reference ``urn:uuid:<id>`` (as Synthea's bulk
    # files write them) names the resource of that id, so each Medication is given it.
    entries += [
        {"fullUrl": f"urn:uuid:{ref}", "resource": medications[ref]}
        for ref in _medications_of(resources, medications)
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    try:
        reading = read_bundle(bundle, patient_id=patient_id, assessment_date=assessment_date)
        recommendation = reading.evaluate(ruleset=ruleset, ladder=False)
    except FhirError as error:
        return {**row, "error_kind": "malformed_resource", "detail": str(error)}
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors(include_input=False)})
        return {**row, "error_kind": "invalid_record", "detail": "invalid: " + ", ".join(fields)}
    except EvaluationError as error:
        return {**row, "error_kind": "evaluation_failed", "detail": str(error)}
    if recommendation is None:
        detail = "; ".join(reading.not_applicable)
        return {
            **row,
            "outcome": "not_applicable",
            "error_kind": "not_applicable",
            "detail": detail,
        }
    return {**row, **_evaluated(recommendation)}


def _evaluated(recommendation: Recommendation) -> dict[str, Any]:
    urgent = recommendation.stage is Stage.URGENT_REVIEW
    return {
        "outcome": "evaluated",
        "stage": recommendation.stage.value,
        "actions": [code.value for code in recommendation.action_codes()],
        "red_flags": list(recommendation.stage_basis) if urgent else [],
        "verdicts": {a.option.value: a.verdict.value for a in recommendation.options},
        "warnings": [warning.rule_id for warning in recommendation.warnings],
        "missing_count": len(recommendation.missing),
        "mme_per_day": recommendation.mme_per_day,
        **_next_date(recommendation),
    }


def _next_date(recommendation: Recommendation) -> dict[str, Any]:
    """The row's follow-up columns: the earliest date (an overdue one comes first)."""
    first = next_reassessment(recommendation.reassess)
    if first is None:
        return {}
    return {
        "reassess_due": first.due,
        "reassess_item": first.item.value,
        "reassess_overdue": first.overdue,
    }


def _medications_of(
    resources: list[dict[str, Any]], medications: dict[str, dict[str, Any]]
) -> list[str]:
    """Ids of the shared Medication resources the patient's resources refer to."""
    return [medication for medication in _referred(resources) if medication in medications]


def _referred(resources: list[dict[str, Any]]) -> list[str]:
    """Ids of the Medication resources that resources refer to, each once, in order.

    ``Medication/<id>`` (relative or absolute, any history version) or ``urn:uuid:<id>``.
    """
    found: list[str] = []
    for resource in resources:
        holder = resource.get("medicationReference")
        reference = holder.get("reference") if isinstance(holder, dict) else None
        medication = None
        if isinstance(reference, str):
            medication = referenced_id(reference, "Medication") or (
                reference.removeprefix("urn:uuid:") if reference.startswith("urn:uuid:") else None
            )
        if medication is not None and medication not in found:
            found.append(medication)
    return found


def _medications(
    workdir: Path, groups: dict[str, list[bytes]], partitions: int
) -> dict[str, dict[str, Any]]:
    """The shared Medication resources the partition refers to, and no others.

    Found from the lines that may name one (``medicationReference``, or any escape),
    parsed one at a time; read from the shards their ids hash to, a line at a time:
    memory holds the partition's own medicines, however many the export has.
    """
    wanted: set[str] = set()
    for patient_lines in groups.values():
        for line in patient_lines:
            if b"medicationReference" in line or b"\\" in line:
                try:
                    wanted.update(_referred([parse_json(line)]))
                except (ValueError, RecursionError):
                    continue
    found: dict[str, dict[str, Any]] = {}
    for name in sorted({medication_shard(medication, partitions) for medication in wanted}):
        for shard in sorted((workdir / name).glob("*.ndjson")):
            with shard.open("rb") as lines:
                for line in lines:
                    key, _, text = line.partition(b" ")
                    own = _key_text(key)
                    if own in wanted:
                        try:
                            found[own] = parse_json(text)  # the last of an id, as read
                        except (ValueError, RecursionError):
                            continue
    return found


def _ruleset(path: str, version: str) -> RuleSet:
    if version not in _RULESETS:
        loaded = load_ruleset(path)
        if loaded.version != version:
            raise FbssPathwayError("the rule files changed while the screen was running")
        _RULESETS[version] = loaded
        gc.collect()
        gc.freeze()  # the rule set lives as long as the worker: never walked again
    return _RULESETS[version]
