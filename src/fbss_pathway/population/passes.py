"""The three passes of a screen on a Dask client: scope, split, screen.

1. **Scope** (:mod:`.scope`): tasks over the Patient, Procedure and
   QuestionnaireResponse files name the candidates, patients a chart could put
   in the pathway's scope, and count the patients.
2. **Split** (:mod:`.partition`): tasks over the files of the types the reader
   reads (:data:`fbss_pathway.fhir.reading.READ_TYPES`) put every Patient and
   Medication resource, and the candidates' other resources, into partitions.
   Files of other types (Claim, ExplanationOfBenefit, Encounter, ...) are never
   opened: nothing in them can change a row.
3. **Screen** (:mod:`.screening`): one task per partition reads and evaluates.

Uncompressed files larger than :data:`.ranges.SPAN_BYTES` are read by several
tasks, a span of bytes each; the driver adds up each file's lines, so the
limits on a file hold for the whole file, and numbers malformed lines from the
file's start.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..fhir.reading import READ_TYPES
from . import ranges
from .export import ExportError, ExportFile, FileLimits
from .partition import FileSplit, split_span
from .scope import SCOPE_TYPES, candidates_of, scope_span
from .screening import PartitionResult, screen_partition

__all__ = ["PARTITION_BYTES", "Passes", "plan_partitions", "run_passes"]

#: The export text a partition should hold at most, estimated before splitting.
PARTITION_BYTES = 64 * 1024 * 1024
#: How many times its size a gzip file is taken to hold when partitions are planned.
_GZIP_GUESS = 8
_KEPT_LINE_NUMBERS = 20


@dataclass(slots=True)
class Passes:
    """What the passes found: the files' and partitions' accounts, and the scope."""

    splits: list[FileSplit]
    parts: list[PartitionResult]
    patients: int = 0
    candidates: int = 0
    unread_files: list[str] = field(default_factory=list)
    unread_types: dict[str, int] = field(default_factory=dict)


def plan_partitions(
    *,
    patients: int,
    candidates: int,
    patient_bytes: int,
    other_bytes: int,
    partition_patients: int,
    workers: int,
) -> int:
    """How many partitions: by candidates, by estimated bytes, and enough for the workers.

    Candidates are read in full, so a partition holds about half of
    ``partition_patients`` of them (``2 x candidates / partition_patients``). Every
    Patient resource and the candidates' share of the other read files, counted
    twice (an operated patient's chart is larger than most), is the text a
    partition holds: at most :data:`PARTITION_BYTES` of it. And at least two
    partitions a worker, so that every worker has work.
    """
    share = min(1.0, candidates / patients) if patients else 1.0
    estimated = patient_bytes + 2 * share * other_bytes
    return max(
        1,
        math.ceil(2 * candidates / partition_patients),
        math.ceil(estimated / PARTITION_BYTES),
        2 * workers,
    )


def run_passes(
    client: Any,
    files: list[ExportFile],
    work: Path,
    parts_dir: Path,
    *,
    limits: FileLimits,
    rules: tuple[str, str],
    assessment_date: date,
    partition_patients: int,
    show: Any,
) -> Passes:
    """Run the three passes; ``show`` displays progress of a list of futures."""
    read = [(index, f) for index, f in enumerate(files) if f.resource_type in READ_TYPES]
    unread = [f for f in files if f.resource_type not in READ_TYPES]
    for _, file in read:
        _check_size(file, limits)
    span_bytes = ranges.SPAN_BYTES
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    scoped = [(i, f) for i, f in read if f.resource_type in SCOPE_TYPES]
    scope_spans = ranges.plan_spans(
        [f for _, f in scoped],
        [i for i, _ in scoped],
        scope_span_bytes([f for _, f in scoped], workers),
    )
    scoping = client.map(scope_span, scope_spans, limits=limits, pure=False)
    show(scoping)
    found = client.gather(scoping)
    candidates = candidates_of(found)
    patients = sum(part.patients for part in found)
    partitions = plan_partitions(
        patients=patients,
        candidates=len(candidates),
        patient_bytes=sum(part.patient_bytes for part in found),
        other_bytes=sum(
            _size(f) for _, f in read if f.resource_type not in ("Patient", "Medication")
        ),
        partition_patients=partition_patients,
        workers=workers,
    )
    [in_scope] = client.scatter([candidates], broadcast=True)
    spans = ranges.plan_spans([f for _, f in read], [i for i, _ in read], span_bytes)
    splitting = client.map(
        split_span,
        spans,
        workdir=work,
        partitions=partitions,
        candidates=in_scope,
        limits=limits,
        pure=False,
    )
    show(splitting)
    splits = _by_file(client.gather(splitting), limits)
    screening = client.map(
        screen_partition,
        range(partitions),
        workdir=work,
        output=parts_dir,
        rules=rules,
        assessment_date=assessment_date,
        partitions=partitions,
        pure=False,
    )
    show(screening)
    parts = client.gather(screening)
    kinds = Counter(f.resource_type for f in unread)
    return Passes(
        splits,
        parts,
        patients=patients,
        candidates=len(candidates),
        unread_files=[f.path.name for f in unread],
        unread_types=dict(sorted(kinds.items())),
    )


#: The smallest span of a scope file: below it a task's own cost would show.
SCOPE_SPAN_MIN = 4 * 1024 * 1024


def scope_span_bytes(files: list[ExportFile], workers: int) -> int:
    """The span size of the first pass: about four spans a worker, never above SPAN_BYTES.

    The scope files (Patient, Procedure, QuestionnaireResponse) are few and each
    under a span in most exports, so one span a file left a worker idle while the
    other read the larger file (0.14 against 0.38 s on the realistic export).
    """
    total = sum(_size(f) for f in files if f.path.suffix != ".gz")
    return min(ranges.SPAN_BYTES, max(SCOPE_SPAN_MIN, math.ceil(total / (4 * workers))))


def _size(file: ExportFile) -> int:
    size = file.path.lstat().st_size
    return size * _GZIP_GUESS if file.path.suffix == ".gz" else size


def _check_size(file: ExportFile, limits: FileLimits) -> None:
    """An uncompressed file past the byte limit is refused before any span reads it."""
    if file.path.suffix != ".gz" and file.path.lstat().st_size > limits.max_bytes:
        raise ExportError(
            f"{file.path.name}: more than {limits.max_bytes:,} bytes (max_file_bytes)"
        )


def _by_file(spans: list[FileSplit], limits: FileLimits) -> list[FileSplit]:
    """The spans' accounts added up per file, line numbers counted from the file's start.

    Raises:
        ExportError: a file has more lines than the limit.
    """
    files: dict[str, FileSplit] = {}
    for span in spans:  # in file order, then span order, as planned
        whole = files.setdefault(span.file, FileSplit(span.file))
        for number in span.malformed_lines:
            if len(whole.malformed_lines) < _KEPT_LINE_NUMBERS:
                whole.malformed_lines.append(whole.ended + number)
        whole.ended += span.ended
        if whole.ended > limits.max_lines:
            raise ExportError(f"{span.file}: more than {limits.max_lines:,} lines (max_file_lines)")
        whole.lines += span.lines
        whole.resources.update(span.resources)
        whole.malformed += span.malformed
        whole.without_patient.update(span.without_patient)
        whole.shared += span.shared
        whole.out_of_scope += span.out_of_scope
        whole.peak_rss_mb = max(whole.peak_rss_mb, span.peak_rss_mb)
    return list(files.values())
