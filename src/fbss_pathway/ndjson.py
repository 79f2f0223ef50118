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

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .batch import evaluate_outcomes
from .ruleset import RuleSet
from .vocabulary import Stage

__all__ = ["BatchSummary", "run_batch"]


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


def run_batch(
    source: BinaryIO,
    target: BinaryIO,
    *,
    processes: int | None = None,
    ruleset: RuleSet | None = None,
    progress: bool | None = None,
    total: int | None = None,
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
    """
    from tqdm import tqdm  # imported here: the library itself does not need it

    summary = BatchSummary()
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
