"""Batch files: one JSON record per input line in, one JSON result per line out.

Every input line gets exactly one output line, in the same order, so that
``read == evaluated + rejected`` always holds and a result can be matched to its
input by ``line``:

* ``{"line": 12, "patient_id": "...", "recommendation": {...}}`` (``patient_id``
  only when the record has one), or
* ``{"line": 13, "error": {"kind": ..., "message": ..., "fields": [...]}}``,
  which names fields, never values, and so carries no patient data.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from .batch import evaluate_outcomes
from .errors import FbssPathwayError
from .ruleset import RuleSet
from .vocabulary import Stage

__all__ = ["BatchFileError", "BatchSummary", "run_batch", "run_batch_file"]


@dataclass(slots=True)
class BatchSummary:
    """What a batch file run did."""

    read: int = 0
    evaluated: int = 0
    rejected: int = 0
    stages: Counter[Stage] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The closing summary, for a person."""
        lines = [
            f"records read: {self.read}, evaluated: {self.evaluated}, rejected: {self.rejected}"
        ]
        lines += [f"  {stage}: {self.stages[stage]}" for stage in Stage if self.stages[stage]]
        return lines


class BatchFileError(FbssPathwayError):
    """A batch file cannot be read or written; the message names the file."""


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def run_batch_file(
    source: Path,
    output: str,
    *,
    processes: int | None = None,
    ruleset: RuleSet | None = None,
    progress: bool | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Run :func:`run_batch` from a file to a file (or ``-``, standard output), never losing one.

    The output is written to a temporary file beside it and moved into place
    only when complete, so a failed write, a killed worker or Ctrl-C leaves no
    truncated file (and an existing one as it was). An output that is the input
    (also through a link) is refused before anything is opened for writing.
    ``summary`` is filled in as records are done, so a caller that is
    interrupted can still say how far the run got.

    Raises:
        BatchFileError: the input cannot be read, the output cannot be written,
            or the output is the input.
    """
    summary = BatchSummary() if summary is None else summary
    try:
        total = count_lines(source)
        reading = source.open("rb")
    except OSError as error:
        raise BatchFileError(f"cannot read {source}: {error.strerror}") from None
    with reading:
        if output == "-":
            return run_batch(
                reading,
                sys.stdout.buffer,
                processes=processes,
                ruleset=ruleset,
                progress=progress,
                total=total,
                summary=summary,
            )
        target = Path(output)
        if target.exists() and os.path.samefile(source, target):
            raise BatchFileError(f"the output {output} is the input file: choose another output")
        try:
            partial = tempfile.NamedTemporaryFile(  # noqa: SIM115 - moved into place below
                dir=target.parent, prefix=f".{target.name}.", suffix=".partial", delete=False
            )
        except OSError as error:
            raise BatchFileError(f"cannot write {output}: {error.strerror}") from None
        try:
            with partial:
                run_batch(
                    reading,
                    _Named(partial, output),
                    processes=processes,
                    ruleset=ruleset,
                    progress=progress,
                    total=total,
                    summary=summary,
                )
            os.replace(partial.name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial.name)
            raise
    return summary


class _Named:
    """A file being written whose write errors name the output the user gave."""

    def __init__(self, handle: _Writable, name: str) -> None:
        self.handle, self.name = handle, name

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            raise BatchFileError(f"cannot write {self.name}: {error.strerror}") from None


def run_batch(
    source: BinaryIO,
    target: _Writable,
    *,
    processes: int | None = None,
    ruleset: RuleSet | None = None,
    progress: bool | None = None,
    total: int | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Evaluate every line of ``source`` and write one result line per input line to ``target``.

    Args:
        source: The input, opened in binary mode.
        target: The output, opened in binary mode.
        processes: Worker processes (see :func:`fbss_pathway.evaluate_many`).
        ruleset: The rule set; the packaged rules by default.
        progress: Show a progress bar on standard error; by default only when it
            is a terminal.
        total: The number of lines, if known, for the progress bar.
        summary: Filled in as lines are done (a new one by default).
    """
    from tqdm import tqdm  # imported here: the library itself does not need it

    summary = BatchSummary() if summary is None else summary
    with tqdm(
        total=total,
        unit=" records",
        file=sys.stderr,
        disable=None if progress is None else not progress,
    ) as bar:
        for outcome in evaluate_outcomes(_lines(source), processes=processes, ruleset=ruleset):
            line = outcome.index + 1
            summary.read += 1
            if outcome.stage is None:
                summary.rejected += 1
                target.write(b'{"line":%d,"error":%s}\n' % (line, outcome.json.encode()))
            else:
                summary.evaluated += 1
                summary.stages[outcome.stage] += 1
                patient = (
                    b""
                    if outcome.patient_id is None
                    else b'"patient_id":%s,' % json.dumps(outcome.patient_id).encode()
                )
                target.write(
                    b'{"line":%d,%s"recommendation":%s}\n' % (line, patient, outcome.json.encode())
                )
            bar.update()
    return summary


def count_lines(path: Path) -> int:
    """Lines in a file, as :func:`run_batch` counts them (a last line needs no newline)."""
    count, last = 0, b"\n"
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _lines(source: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for index, line in enumerate(source):
        yield index, line.rstrip(b"\r\n")
