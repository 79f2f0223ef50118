"""Batch files: one JSON record per input line in, one JSON result per line out.

Every input line that is not blank gets exactly one output line, in the same
order, so that ``read == evaluated + rejected`` always holds and a result can be
matched to its input by ``line`` (its line number in the input; blank lines are
skipped, and counted in no total):

* ``{"line": 12, "patient_id": "...", "recommendation": {...}}`` (``patient_id``
  only when the record has one), or
* ``{"line": 13, "error": {"kind": ..., "message": ..., "fields": [...]}}``,
  which names fields, never values, and so carries no patient data.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .batch import evaluate_outcomes
from .errors import FbssPathwayError
from .ruleset import RuleSet
from .vocabulary import Stage

__all__ = ["BatchFileError", "BatchSummary", "remove_stale_partials", "run_batch", "run_batch_file"]

#: The end of the name of an output being written (``.NAME.<random>.partial``, beside it).
PARTIAL_SUFFIX = ".partial"


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
    source: Path | str,
    output: str,
    *,
    processes: int | None = None,
    ruleset: RuleSet | None = None,
    progress: bool | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Run :func:`run_batch` from a file to a file (or ``-``, standard output), never losing one.

    The input is read once, as a stream: a regular file, a pipe (``/dev/stdin``,
    or ``-`` for standard input) or a named pipe. The output is checked before
    any record is evaluated: it must be a regular file or a new path (a
    directory, a device node, a pipe or a socket is refused, and never
    replaced), or ``-``. It is written to a temporary file beside it
    (``.NAME.*.partial``, locked while written) and moved into place only when
    complete, so a failed write, a killed worker or Ctrl-C leaves no truncated
    file (and an existing one as it was); partial files that a killed run left
    (no longer locked) are removed when the next run to the same output starts.
    An output that is the input (also through a link) is refused.
    ``summary`` is filled in as records are done, so a caller that is
    interrupted can still say how far the run got.

    Raises:
        BatchFileError: the input cannot be read, the output cannot be written,
            or the output is the input.
    """
    summary = BatchSummary() if summary is None else summary
    with _open_input(source) as reading:
        total = _count_if_regular(reading)
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
        _check_output(target, output, reading)
        remove_stale_partials(target)
        partial = _new_partial(target, output)
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
            try:
                os.replace(partial.name, target)
            except OSError as error:  # e.g. replaced by a directory meanwhile
                raise BatchFileError(f"cannot write {output}: {error.strerror}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial.name)
            raise
    return summary


def _open_input(source: Path | str) -> contextlib.AbstractContextManager[BinaryIO]:
    """The input, opened once: ``-`` is standard input (left open)."""
    if str(source) == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return Path(source).open("rb")
    except OSError as error:
        raise BatchFileError(f"cannot read {source}: {error.strerror}") from None


def _count_if_regular(reading: BinaryIO) -> int | None:
    """The lines of a regular file (then read again from its start); None for a stream."""
    try:
        if not stat.S_ISREG(os.fstat(reading.fileno()).st_mode):
            return None
        count, last = 0, b"\n"
        while block := reading.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
        reading.seek(0)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None  # not a file with a descriptor (a test's BytesIO): no total
    return count + (last != b"\n")


def _check_output(target: Path, output: str, reading: BinaryIO) -> None:
    """Refuse, before any work, an output that is not a regular file or a new path."""
    try:
        found = os.stat(target)  # through a link: what would be written over
    except FileNotFoundError:
        return
    except OSError as error:
        raise BatchFileError(f"cannot write {output}: {error.strerror}") from None
    if stat.S_ISDIR(found.st_mode):
        raise BatchFileError(
            f"{output} is a directory: give a file to write (or - for standard output)"
        )
    if not stat.S_ISREG(found.st_mode):
        raise BatchFileError(
            f"{output} is not a regular file (a device, pipe or socket): batch writes only "
            "to a regular file or a new path (or - for standard output)"
        )
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        read = os.fstat(reading.fileno())
        if (read.st_dev, read.st_ino) == (found.st_dev, found.st_ino):
            raise BatchFileError(f"the output {output} is the input file: choose another output")


def _partials(target: Path) -> Iterator[Path]:
    prefix = f".{target.name}."
    with contextlib.suppress(OSError):
        for path in target.parent.iterdir():
            if path.name.startswith(prefix) and path.name.endswith(PARTIAL_SUFFIX):
                yield path


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove the partial files of ``target`` that no running batch holds; returns them.

    A batch holds an exclusive lock on its partial file while it writes; the
    lock goes with its process, however it ends, so an unlocked partial file is
    a killed run's.
    """
    removed = []
    for path in _partials(target):
        try:
            handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # a link, or gone: not ours to remove
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                continue
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)
            removed.append(path)
        except OSError:
            continue  # locked: a running batch's
        finally:
            os.close(handle)
    return removed


def _new_partial(target: Path, output: str) -> Any:
    """A new partial file beside ``target``, locked for as long as this process writes it."""
    for _ in range(5):
        try:
            partial = tempfile.NamedTemporaryFile(  # noqa: SIM115 - moved into place by the caller
                dir=target.parent,
                prefix=f".{target.name}.",
                suffix=PARTIAL_SUFFIX,
                delete=False,
            )
        except OSError as error:
            raise BatchFileError(f"cannot write {output}: {error.strerror}") from None
        try:
            fcntl.flock(partial.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Another run starting now may have found it unlocked and removed it.
            if os.stat(partial.name).st_ino == os.fstat(partial.fileno()).st_ino:
                return partial
        except OSError:
            pass
        partial.close()
    raise BatchFileError(f"cannot write {output}: its partial file kept being removed")


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
            bar.update(line - bar.n)  # blank lines skipped before it count as done
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
    """Numbered lines (0-based), blank ones (only JSON whitespace) skipped."""
    for index, line in enumerate(source):
        if line.strip(b" \t\r\n"):
            yield index, line.rstrip(b"\r\n")
