"""Large export files read by several tasks at once: spans of bytes, each owning its lines.

A server may write a whole resource type into one file (an Observation file
is most of an export's bytes); read by one task, that file would bound the
screen however many workers it has. An uncompressed file larger than the span
size is cut into byte spans, one task each. A span owns the lines that start
in it: it skips the end of a line begun before its start, and reads on past
its end to finish the line it started. So every line is read by exactly one
span, and a file's lines are its spans' lines in order. A gzip file cannot be
entered in the middle, so it is always one span (one task).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .export import ExportFile

__all__ = ["SPAN_BYTES", "Span", "SpanReader", "plan_spans"]

#: Bytes of an uncompressed file read by one task (a larger file is several spans).
SPAN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Span:
    """One task's part of an export file: bytes ``start`` to ``end`` (None: to the end)."""

    file: ExportFile
    index: int  # the file's place in the export
    part: int  # the span's place in the file
    start: int = 0
    end: int | None = None

    @property
    def name(self) -> str:
        """The shard name of the span's lines: file, then span, so that names sort as read."""
        return f"f{self.index:05d}s{self.part:05d}"


def plan_spans(files: list[ExportFile], indexes: list[int], span_bytes: int) -> list[Span]:
    """The spans of the given files (a gzip or small file is one span)."""
    spans = []
    for file, index in zip(files, indexes, strict=True):
        size = os.lstat(file.path).st_size
        if file.path.suffix == ".gz" or size <= span_bytes:
            spans.append(Span(file, index, 0))
            continue
        starts = range(0, size, span_bytes)
        for part, start in enumerate(starts):
            last = start + span_bytes >= size
            spans.append(Span(file, index, part, start, None if last else start + span_bytes))
    return spans


class SpanReader:
    """A file read as one span: its lines that start in bytes ``start`` to ``end``.

    Begins at the first line that starts at or after ``start``; ends with the line
    that holds byte ``end - 1`` (None: the end of the file).
    """

    def __init__(self, raw: IO[bytes], start: int, end: int | None) -> None:
        self._raw = raw
        self._end = end
        self._finishing = False  # past ``end``: reading up to the end of the last line
        self._done = False
        if start > 0:
            raw.seek(start - 1)
            self._skip_to_line_start()
            if end is not None and raw.tell() >= end:
                self._done = True  # one line runs through the whole span: an earlier span's

    def _skip_to_line_start(self) -> None:
        while True:
            block = self._raw.read(1 << 16)
            if not block:
                self._done = True
                return
            newline = block.find(b"\n")
            if newline >= 0:
                self._raw.seek(self._raw.tell() - len(block) + newline + 1)
                return

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the span (b"" at its end)."""
        if self._done:
            return b""
        size = size if size > 0 else 1 << 20
        if self._end is None:
            return self._raw.read(size)
        if not self._finishing:
            left = self._end - self._raw.tell()
            if left > 0:
                block = self._raw.read(min(size, left))
                if block:
                    return block
                self._done = True
                return b""
            self._finishing = True
            self._raw.seek(self._end - 1)
            last = self._raw.read(1)
            if last in (b"\n", b""):
                self._done = True
                return b""
        block = self._raw.read(size)
        newline = block.find(b"\n")
        if newline >= 0 or not block:
            self._done = True
            return block[: newline + 1] if newline >= 0 else block
        return block

    def close(self) -> None:
        """Close the file."""
        self._raw.close()

    def __enter__(self) -> SpanReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
