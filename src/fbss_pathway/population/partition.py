"""The first pass of a screen: every export file split into partitions by patient.

One task per file streams its lines and appends each to its patient's
partition (a stable hash of the patient id), as a shard file of its own, so
that tasks never write the same file and memory stays bounded by a buffer.
Resources with no patient (a Medication, an Organization) are not partitioned
by patient: Medication resources (medication requests and statements refer to
them) go to shards of their own by a hash of their id (``mNNNNN``), from which
a partition later reads only the medicines its patients refer to; the others
are counted by type. A line that is not a JSON resource is counted with its
line number, never its content. Files are read within :class:`FileLimits`.
"""

from __future__ import annotations

import resource
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..json_text import parse_json
from .export import ExportFile, FileLimits, patient_of, read_lines

__all__ = [
    "SHARED_TYPES",
    "FileSplit",
    "count_patients",
    "medication_shard",
    "partition_of",
    "split_file",
]

#: Resource types without a patient that partitions need: read by every partition.
SHARED_TYPES = frozenset({"Medication"})
#: Bytes buffered per task before shards are appended to disk.
_BUFFER_BYTES = 8 * 1024 * 1024
#: Line numbers of malformed lines kept per file (all are counted).
_KEPT_LINE_NUMBERS = 20


@dataclass(slots=True)
class FileSplit:
    """What splitting one file found."""

    file: str
    lines: int = 0
    resources: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    without_patient: Counter[str] = field(default_factory=Counter)
    shared: int = 0
    peak_rss_mb: float = 0.0


def partition_of(patient_id: str, partitions: int) -> int:
    """The partition of a patient: a hash that is the same in every process."""
    return zlib.crc32(patient_id.encode("utf-8")) % partitions


def medication_shard(medication_id: str, partitions: int) -> str:
    """The work folder holding a shared Medication resource, by a hash of its id."""
    return f"m{partition_of(medication_id, partitions):05d}"


def count_patients(file: ExportFile, limits: FileLimits | None = None) -> int:
    """Patient resources in a file (lines; the split checks each one)."""
    return sum(1 for _ in read_lines(file.path, limits))


def split_file(
    file: ExportFile,
    index: int,
    workdir: Path,
    partitions: int,
    limits: FileLimits | None = None,
) -> FileSplit:
    """Append each line of ``file`` to its patient's partition under ``workdir``.

    Memory is bounded by a buffer, whatever the file holds (Medication resources too).
    """
    found = FileSplit(file.path.name)
    # A task Dask runs again (its worker died) starts over: no line is appended twice.
    for stale in workdir.glob(f"*/f{index:05d}.ndjson"):
        stale.unlink()
    buffers: dict[str, list[bytes]] = {}
    buffered = 0
    for number, line in read_lines(file.path, limits):
        found.lines += 1
        parsed = _resource(line)
        if parsed is None:
            found.malformed += 1
            if len(found.malformed_lines) < _KEPT_LINE_NUMBERS:
                found.malformed_lines.append(number)
            continue
        kind = str(parsed["resourceType"])
        found.resources[kind] += 1
        text = line if line.endswith(b"\n") else line + b"\n"
        if kind in SHARED_TYPES:
            found.shared += 1
            own = parsed.get("id")
            if not isinstance(own, str) or not own:
                continue  # nothing can refer to it
            folder = medication_shard(own, partitions)
        else:
            patient = patient_of(parsed)
            if patient is None:
                found.without_patient[kind] += 1
                continue
            folder = f"p{partition_of(patient, partitions):05d}"
        buffers.setdefault(folder, []).append(text)
        buffered += len(text)
        if buffered >= _BUFFER_BYTES:
            _flush(buffers, workdir, index)
            buffered = 0
    _flush(buffers, workdir, index)
    found.peak_rss_mb = peak_rss_mb()
    return found


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _resource(line: bytes) -> dict[str, object] | None:
    if not line:
        return None  # longer than the bound: never parsed
    try:
        parsed = parse_json(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
        return None
    return parsed


def _flush(buffers: dict[str, list[bytes]], workdir: Path, index: int) -> None:
    for name, lines in buffers.items():
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"f{index:05d}.ndjson").open("ab") as shard:
            shard.writelines(lines)
    buffers.clear()
