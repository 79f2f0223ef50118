"""Reading one export file within its limits, a block of whole lines at a time.

A screen's cost is set by how much Python does per line: an export has
hundreds of lines a patient, nearly all of people out of scope. So a file is
read in blocks of 1 MiB and handed on as **runs**: a block's whole lines, with
how many there are (counted at C speed), so that a reader that can decide
about a whole run at once (:mod:`.sieve`) never cuts it into lines. A line
that runs on past its block is put together and handed on as a run of its
own; a line longer than :data:`MAX_LINE_BYTES` is never held, and stands as an
empty run (its number only). :func:`read_lines` gives the non-blank lines one
at a time, for readers that want each.

Only regular files are opened, never through a link, never waiting on a pipe
(:func:`open_regular`). Each file is read within :class:`FileLimits`
(decompressed bytes, lines, and for gzip the decompressed size per compressed
byte), so that a gzip bomb or an endless file stops the screen with an error
naming the file; runs of blank lines are counted at C speed, so a gzip file of
newlines is refused at its line limit in about a second.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple, cast

from ..errors import FbssPathwayError
from .ranges import SpanReader

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_FILE_LINES",
    "MAX_GZIP_RATIO",
    "MAX_LINE_BYTES",
    "ExportError",
    "FileLimits",
    "Run",
    "lines_of",
    "open_regular",
    "read_lines",
    "read_runs",
]

#: The longest line read: a resource larger than this is reported, never parsed.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: The most bytes read from one file (after decompression), by default: 64 GiB.
MAX_FILE_BYTES = 64 * 1024**3
#: The most lines (blank ones included) in one file, by default.
MAX_FILE_LINES = 200_000_000
#: The most bytes a gzip file may decompress to per compressed byte, by default
#: (synthetic exports compress 20 to 54 times, real ones less; a bomb about 1,000).
MAX_GZIP_RATIO = 200
#: A gzip file may always decompress to this much, however small it is.
_GZIP_FLOOR = 16 * 1024 * 1024
_BLOCK = 1 << 20
#: A run of blank lines (JSON whitespace), skipped at C speed.
_BLANK_RUN = re.compile(rb"[ \t\r\n]*")


class ExportError(FbssPathwayError):
    """The export cannot be read: the message names the file or manifest entry."""


@dataclass(frozen=True, slots=True)
class FileLimits:
    """How much of one export file is read before the screen is stopped with an error.

    A real export within them is read whole; past any of them the file is
    refused, naming it and the limit (never silently cut short).
    """

    #: Bytes read from one file, after decompression.
    max_bytes: int = MAX_FILE_BYTES
    #: Lines in one file, blank lines included.
    max_lines: int = MAX_FILE_LINES
    #: Decompressed bytes per compressed byte of a gzip file (at least 16 MiB allowed).
    max_gzip_ratio: int = MAX_GZIP_RATIO

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_lines", "max_gzip_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1")


class Run(NamedTuple):
    """Whole lines of a file: ``text[start:end]``, the first of them numbered ``before + 1``.

    ``lines`` lines, blank ones included; each ends with a newline, except the
    file's last line, which comes as a run of its own. An empty ``text`` is one
    line longer than :data:`MAX_LINE_BYTES`, never held.
    """

    before: int
    lines: int
    text: bytes
    start: int
    end: int


def read_runs(
    path: Path,
    limits: FileLimits | None = None,
    span: tuple[int, int | None] | None = None,
    ended: list[int] | None = None,
) -> Iterator[Run]:
    """The file's lines, a block's whole lines at a time (gzip by its ``.gz`` suffix).

    ``span`` (start, end), of an uncompressed file: only the lines that start in
    those bytes (:mod:`.ranges`), numbered from the first of them. ``ended``, if
    given, receives the number of lines read, blank ones included, once all are read
    (what the next span's numbers start after).

    Raises:
        ExportError: the file is not a regular file (a link, pipe or device), cannot
            be read, or passes one of ``limits`` (the defaults of :class:`FileLimits`).
    """
    limits = FileLimits() if limits is None else limits
    raw, size = open_regular(path)
    budget = limits.max_bytes
    compressed = path.suffix == ".gz"
    if compressed:
        budget = min(budget, max(limits.max_gzip_ratio * size, _GZIP_FLOOR))
    handle = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")) if compressed else raw
    if span is not None and not compressed:
        handle = cast(IO[bytes], SpanReader(raw, *span))
    try:
        with raw, handle:
            yield from _runs(handle, path.name, limits, budget, compressed, ended)
    except (OSError, EOFError, zlib.error) as error:
        raise ExportError(f"{path.name}: cannot be read ({_why_unreadable(error)})") from None


def _why_unreadable(error: BaseException) -> str:
    """Why a file could not be read, in words (gzip's errors are only names of classes)."""
    if isinstance(error, EOFError):
        return "the gzip file is cut short"
    if isinstance(error, gzip.BadGzipFile):
        return "not a gzip file, though named .gz"
    if isinstance(error, zlib.error):
        return "the gzip data are damaged"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def read_lines(
    path: Path,
    limits: FileLimits | None = None,
    span: tuple[int, int | None] | None = None,
    ended: list[int] | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines of a file, without their newline; long lines as b"".

    As :func:`read_runs` (the same arguments and errors), a line at a time.
    """
    for run in read_runs(path, limits, span, ended):
        yield from lines_of(run.text, run.start, run.end, run.before, run.lines)


def lines_of(
    text: bytes, start: int, end: int, before: int, count: int
) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of ``count`` whole lines ``text[start:end]``, numbered after ``before``.

    Without their newline. Lines long on average are split at C speed; runs of
    blank lines are skipped in one go. An empty ``text`` is one overlong line: b"".
    """
    if not text:
        yield before + 1, b""
        return
    number = before
    if 64 * count <= end - start:
        whole = text[start : end - 1] if text[end - 1 : end] == b"\n" else text[start:end]
        for line in whole.split(b"\n"):
            number += 1
            if line.strip():
                yield number, line
        return
    at = start
    while at < end:
        blank = _BLANK_RUN.match(text, at, end).end()  # type: ignore[union-attr]
        if blank > at:
            cut = text.rfind(b"\n", at, blank) + 1
            if cut > at:  # whole blank lines: counted, not cut out
                number += text.count(b"\n", at, cut)
                at = cut
            if blank >= end:
                break  # blank to the end
        newline = text.find(b"\n", at, end)
        stop = end if newline < 0 else newline
        number += 1
        line = text[at:stop]
        if line.strip():
            yield number, line
        at = stop + 1


def _runs(
    handle: IO[bytes],
    name: str,
    limits: FileLimits,
    budget: int,
    compressed: bool,
    ended: list[int] | None,
) -> Iterator[Run]:
    """The runs of a file read in blocks (see the module's docstring)."""
    number = 0  # lines ended so far
    read = 0
    pieces: list[bytes] = []  # the start of a line that runs on past its block
    carried = 0  # its length (past MAX_LINE_BYTES: too long, pieces dropped)
    while True:
        block = handle.read(_BLOCK)
        read += len(block)
        if read > budget:
            raise ExportError(_too_large(name, budget, limits, compressed))
        if not block:
            break
        start = 0
        if carried:
            newline = block.find(b"\n")
            if newline < 0:
                carried += len(block)
                if carried <= MAX_LINE_BYTES:
                    pieces.append(block)
                else:
                    pieces.clear()
                continue
            number = _counted(number, 1, name, limits)
            start = newline + 1
            yield _line(number - 1, pieces, block[:start], carried + start)
            carried = 0
        last = block.rfind(b"\n", start)
        if last >= start:
            count = block.count(b"\n", start, last + 1)
            _counted(number, count, name, limits)
            yield Run(number, count, block, start, last + 1)
            number += count
            start = last + 1
        if start < len(block):
            pieces.append(block[start:])
            carried = len(block) - start
    if carried:  # a last line without a newline
        number = _counted(number, 1, name, limits)
        yield _line(number - 1, pieces, b"", carried)
    if ended is not None:
        ended.append(number)


def _line(before: int, pieces: list[bytes], piece: bytes, length: int) -> Run:
    """A line put together from its pieces (cleared), as a run of its own."""
    if length > MAX_LINE_BYTES:
        pieces.clear()
        return Run(before, 1, b"", 0, 0)
    line = b"".join([*pieces, piece])
    pieces.clear()
    return Run(before, 1, line, 0, len(line))


def _counted(number: int, more: int, name: str, limits: FileLimits) -> int:
    """The lines so far with ``more``; past the limit, the file is refused."""
    if number + more > limits.max_lines:
        raise ExportError(f"{name}: more than {limits.max_lines:,} lines (max_file_lines)")
    return number + more


def _too_large(name: str, budget: int, limits: FileLimits, compressed: bool) -> str:
    if compressed and budget < limits.max_bytes:
        return (
            f"{name}: decompresses to more than {limits.max_gzip_ratio} times its compressed "
            f"size ({budget:,} bytes): refused as a likely gzip bomb (max_gzip_ratio)"
        )
    return f"{name}: more than {limits.max_bytes:,} bytes (max_file_bytes)"


def open_regular(path: Path) -> tuple[IO[bytes], int]:
    """A regular file opened for reading, never through a link, never waiting on a pipe.

    Returns the file and its size.

    Raises:
        ExportError: it is not a regular file, or cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ExportError(not_regular(path.name)) from None
        raise ExportError(f"{path.name}: cannot be read ({error.strerror})") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise ExportError(not_regular(path.name))
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb"), info.st_size


def not_regular(name: str) -> str:
    """What is said of a path that is not a regular file."""
    return (
        f"{name} is not a regular file (a link, pipe or device): only regular files "
        "inside the export are read"
    )
