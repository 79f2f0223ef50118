"""The second pass of a screen: the lines the screen needs, split into partitions by patient.

One task per span of an export file (:mod:`.ranges`) streams its lines and
appends each line it keeps to its patient's partition (a stable hash of the
patient id), as a shard file of its own, so that tasks never write the same
file and memory stays bounded by a buffer. Each kept line is written after its
key, the patient id in hexadecimal and a space, so that the screen groups lines
without parsing them. What is kept:

- every Patient resource (everyone is screened);
- every Medication resource (medication requests and statements refer to them):
  to shards of their own by a hash of their id (``mNNNNN``), from which a
  partition later reads only the medicines its patients refer to;
- any other line only when its patient is a candidate (:mod:`.scope`); the
  others are counted as out of scope, and most are never parsed, nor even cut
  out of their block: a line without a backslash that names no candidate
  (``Patient/<id>`` or ``urn:uuid:<id>``) cannot be about one, and
  :mod:`.sieve` finds the lines that may be, a block of lines at a time.

A line that is parsed and is not a JSON resource is counted with its line
number, never its content. A Patient, Procedure or QuestionnaireResponse
resource in a file of another type is refused (the first pass, which reads
those files by type, would not have seen it). Files are read within
:class:`FileLimits`.
"""

from __future__ import annotations

import re
import resource
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .blocks import ExportError, FileLimits, lines_of, read_runs
from .export import ExportFile, patient_of
from .ranges import Span
from .scope import SCOPE_TYPES, decode_key, patient_hash
from .sieve import Sieve

__all__ = [
    "SHARED_TYPES",
    "UNREADABLE_MARK",
    "FileSplit",
    "medication_shard",
    "partition_of",
    "split_file",
    "split_span",
    "unreadable_owner",
]

#: Resource types without a patient that partitions need: read by every partition.
SHARED_TYPES = frozenset({"Medication"})
#: Bytes buffered per task before shards are appended to disk.
_BUFFER_BYTES = 8 * 1024 * 1024
#: Line numbers of malformed lines kept per span (all are counted).
_KEPT_LINE_NUMBERS = 20


@dataclass(slots=True)
class FileSplit:
    """What splitting one span of a file found (line numbers from the span's start)."""

    file: str
    part: int = 0
    lines: int = 0
    ended: int = 0  # lines read, blank ones included (where the next span's numbers start)
    resources: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    without_patient: Counter[str] = field(default_factory=Counter)
    shared: int = 0
    out_of_scope: int = 0
    peak_rss_mb: float = 0.0


def partition_of(patient_id: str, partitions: int) -> int:
    """The partition of a patient: a hash that is the same in every process."""
    return zlib.crc32(patient_id.encode("utf-8")) % partitions


def medication_shard(medication_id: str, partitions: int) -> str:
    """The work folder holding a shared Medication resource, by a hash of its id."""
    return f"m{partition_of(medication_id, partitions):05d}"


def split_file(
    file: ExportFile,
    index: int,
    workdir: Path,
    partitions: int,
    limits: FileLimits | None = None,
) -> FileSplit:
    """Every line of a whole file split by patient (all patients in scope)."""
    return split_span(Span(file, index, 0), workdir, partitions, None, limits)


def split_span(
    span: Span,
    workdir: Path,
    partitions: int,
    candidates: frozenset[int] | None,
    limits: FileLimits | None = None,
) -> FileSplit:
    """Append each line of ``span`` that the screen needs to its partition under ``workdir``.

    ``candidates``: hashes of the patients in scope (:func:`.scope.patient_hash`);
    None keeps every patient's lines. Memory is bounded by a buffer, whatever the
    file holds (Medication resources too).
    """
    found = FileSplit(span.file.path.name, span.part)
    # A task Dask runs again (its worker died) starts over: no line is appended twice.
    for stale in workdir.glob(f"*/{span.name}.ndjson"):
        stale.unlink()
    shards = _Shards(workdir, span.name, partitions)
    every_line = candidates is None or span.file.resource_type in ("Patient", *SHARED_TYPES)
    sieve = None if every_line else Sieve(span.file.resource_type, candidates)  # type: ignore[arg-type]
    in_scope: tuple[str | None, bool] = (
        None,
        True,
    )  # the last patient's answer (a chart's lines come together)
    ended: list[int] = []
    place = None if span.end is None and span.start == 0 else (span.start, span.end)
    for run in read_runs(span.file.path, limits, place, ended):
        lines: Iterable[tuple[int, bytes]]
        if sieve is None:
            lines = lines_of(run.text, run.start, run.end, run.before, run.lines)
        else:
            lines, dropped = sieve.sift(run)
            found.lines += dropped
            found.out_of_scope += dropped
        for number, line in lines:
            found.lines += 1
            parsed = decode_key(line)
            if parsed is None:
                found.malformed += 1
                if len(found.malformed_lines) < _KEPT_LINE_NUMBERS:
                    found.malformed_lines.append(number)
                owner = unreadable_owner(line, span.file.resource_type, candidates)
                if owner is not None:  # its row says a line could not be read
                    shards.add(owner, UNREADABLE_MARK + line, medication=False)
                continue
            kind = parsed["resourceType"]
            if kind in SCOPE_TYPES and kind != span.file.resource_type and candidates is not None:
                # Lines are numbered from the span's start (the driver adds the spans up
                # later): a span after the first says the byte it begins at.
                where = f"line {number}" + (
                    f" of the lines from byte {span.start:,} on" if span.start else ""
                )
                raise ExportError(
                    f"{span.file.path.name}: a {kind} resource in a file of "
                    f"{span.file.resource_type} resources ({where}): an export file holds "
                    "one resource type"
                )
            if kind in SHARED_TYPES:
                found.resources[kind] += 1
                found.shared += 1
                own = parsed["id"]
                if isinstance(own, str) and own:  # else nothing can refer to it
                    shards.add(own, line, medication=True)
                continue
            patient = patient_of(parsed)
            if patient is not None and kind != "Patient" and candidates is not None:
                if patient != in_scope[0]:
                    in_scope = (patient, patient_hash(patient) in candidates)
                if not in_scope[1]:
                    found.out_of_scope += 1
                    continue
            found.resources[kind] += 1
            if patient is None:
                found.without_patient[kind] += 1
                continue
            shards.add(patient, line, medication=False)
    shards.flush()
    found.ended = ended[0] if ended else found.lines
    found.peak_rss_mb = peak_rss_mb()
    return found


#: Before a line that is not JSON, kept for the one patient it names (counted here).
UNREADABLE_MARK = b"\x00"
_PATIENT_ID = re.compile(
    rb'^\s*\{\s*"resourceType"\s*:\s*"Patient"\s*,\s*"id"\s*:\s*"([^"\\]{1,64})"'
)
_NAMED = re.compile(rb'(?:Patient/|urn:uuid:)([^"/\\\s]{1,64})')


def unreadable_owner(line: bytes, kind: str, candidates: frozenset[int] | None) -> str | None:
    """The patient a line that is not JSON is about, when its text names exactly one.

    A Patient line names its own id first (a line cut short, a byte that is not
    UTF-8); another line, the candidates its references name (any patient when all
    are in scope). None when it names none or several: it is then only counted.
    """
    if kind == "Patient":
        own = _PATIENT_ID.match(line)
        return _text(own[1]) if own else None
    named = {
        found
        for found in _NAMED.findall(line)
        if candidates is None or patient_hash(found) in candidates
    }
    return _text(named.pop()) if len(named) == 1 else None


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Shards:
    """A span's kept lines, each after its key, buffered by folder and appended to its shards."""

    def __init__(self, workdir: Path, name: str, partitions: int) -> None:
        self._workdir, self._name, self._partitions = workdir, name, partitions
        self._buffers: dict[str, list[bytes]] = {}
        self._buffered = 0
        self._key: tuple[str, bool] | None = None  # the last line's (a chart's lines come together)
        self._lines: list[bytes] = []
        self._prefix = b""

    def add(self, key: str, line: bytes, *, medication: bool) -> None:
        """Buffer a line (without its newline) for the folder of a patient or a medicine."""
        if self._key != (key, medication):
            if medication:
                folder = medication_shard(key, self._partitions)
            else:
                folder = f"p{partition_of(key, self._partitions):05d}"
            self._lines = self._buffers.setdefault(folder, [])
            self._prefix = key.encode("utf-8", "surrogatepass").hex().encode() + b" "
            self._key = (key, medication)
        self._lines += (self._prefix, line, b"\n")
        self._buffered += len(self._prefix) + len(line) + 1
        if self._buffered >= _BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        """Append the buffered lines to the shards."""
        for folder_name, lines in self._buffers.items():
            folder = self._workdir / folder_name
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{self._name}.ndjson").open("ab") as shard:
                shard.writelines(lines)
        self._buffers.clear()
        self._buffered = 0
        self._key = None
