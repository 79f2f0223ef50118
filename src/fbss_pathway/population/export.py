"""Finding and reading the files of a FHIR Bulk Data export, one line at a time.

An export directory holds either an export manifest (``manifest.json``, as
``$export`` returns it: ``output`` lists each file's resource type and URL; the
file is found in the directory by the URL's last path segment) or plain
``<ResourceType>*.ndjson`` files; either may be gzip-compressed (``.gz``).
Nothing here holds more than one line in memory.

Only regular files directly inside the export directory are read: a symbolic
link, a named pipe or a device is refused, never followed or opened (also if it
is swapped in after the listing: files are opened without following links).
Each file is read within limits (:class:`FileLimits`: decompressed bytes, lines,
and for gzip the decompressed size per compressed byte), so that a gzip bomb
or an endless file stops the screen with an error naming the file.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, cast

from ..errors import FbssPathwayError
from ..fhir.bulk import MANIFEST
from ..fhir.scope import referenced_id
from .ranges import SpanReader

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_FILE_LINES",
    "MAX_GZIP_RATIO",
    "ExportError",
    "ExportFile",
    "FileLimits",
    "export_files",
    "export_time",
    "patient_of",
    "read_lines",
]

_PLAIN = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)[^/]*\.ndjson(\.gz)?$")
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
#: The largest manifest read.
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_BLOCK = 1 << 20
#: A run of blank lines (JSON whitespace), skipped at C speed.
_BLANK_RUN = re.compile(rb"[ \t\r\n]*")


class ExportError(FbssPathwayError):
    """The export cannot be read: the message names the file or manifest entry."""


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One NDJSON file of an export and the resource type its manifest or name gives."""

    path: Path
    resource_type: str


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


def export_files(directory: Path) -> list[ExportFile]:
    """The export's files, from its manifest or, without one, by their names.

    Raises:
        ExportError: the directory, the manifest or a file it names cannot be
            read, or a file is not a regular file inside the directory.
    """
    if not directory.is_dir():
        raise ExportError(f"{directory} is not a directory")
    manifest = directory / MANIFEST
    if os.path.lexists(manifest):
        return _from_manifest(directory, _manifest(manifest))
    found = []
    try:
        names = sorted(directory.iterdir())
    except OSError as error:
        raise ExportError(f"{directory} cannot be read: {error.strerror}") from None
    for path in names:
        match = _PLAIN.match(path.name)
        if match:
            _regular(path, None)
            found.append(ExportFile(path, match["type"]))
    if not found:
        raise ExportError(f"{directory} has no manifest.json and no <ResourceType>.ndjson files")
    return found


def export_time(directory: Path) -> date | None:
    """The manifest's ``transactionTime`` as a date (the day the data stood), if any."""
    manifest = directory / MANIFEST
    if not os.path.lexists(manifest):
        return None
    value = _manifest(manifest).get("transactionTime")
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        raise ExportError(f"{manifest}: transactionTime is not a FHIR instant")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ExportError(f"{manifest}: transactionTime is not a valid date") from None


def read_lines(
    path: Path,
    limits: FileLimits | None = None,
    span: tuple[int, int | None] | None = None,
    ended: list[int] | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines of a file (gzip by its ``.gz`` suffix); long lines as b"".

    Lines come without their newline.

    ``span`` (start, end), of an uncompressed file: only the lines that start in
    those bytes (:mod:`.ranges`), numbered from the first of them. ``ended``, if
    given, receives the number of lines read, blank ones included, once all are read
    (what the next span's numbers start after).

    Raises:
        ExportError: the file is not a regular file (a link, pipe or device), cannot
            be read, or passes one of ``limits`` (the defaults of :class:`FileLimits`).
    """
    limits = FileLimits() if limits is None else limits
    raw, size = _open_regular(path)
    budget = limits.max_bytes
    compressed = path.suffix == ".gz"
    if compressed:
        budget = min(budget, max(limits.max_gzip_ratio * size, _GZIP_FLOOR))
    handle = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")) if compressed else raw
    if span is not None and not compressed:
        handle = cast(IO[bytes], SpanReader(raw, *span))
    try:
        with raw, handle:
            yield from _lines(handle, path.name, limits, budget, compressed, ended)
    except (OSError, EOFError, zlib.error) as error:
        raise ExportError(f"{path.name}: cannot be read ({type(error).__name__})") from None


def _lines(
    handle: IO[bytes],
    name: str,
    limits: FileLimits,
    budget: int,
    compressed: bool,
    ended: list[int] | None,
) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines, numbered, read in blocks; blank runs skipped at C speed."""
    number = 0  # lines ended so far
    read = 0
    pieces: list[bytes] = []  # the start of a line that runs on past the block
    carried = 0  # its length (past MAX_LINE_BYTES: too long, pieces dropped)
    while True:
        block = handle.read(_BLOCK)
        read += len(block)
        if read > budget:
            raise ExportError(_too_large(name, budget, limits, compressed))
        if not block:
            break
        start = 0
        while start < len(block):
            if not carried and (run := _whole_lines(block, start, number, limits)) is not None:
                for line in run:  # the block's whole lines, split at C speed
                    number += 1
                    if line.strip():
                        yield number, line
                start = block.rfind(b"\n") + 1
                continue
            if not carried:  # at the start of a line: skip blank lines in one go
                end = _BLANK_RUN.match(block, start).end()  # type: ignore[union-attr]
                number += block.count(b"\n", start, end)
                if number > limits.max_lines:
                    raise ExportError(f"{name}: more than {limits.max_lines:,} lines")
                if end > start and block[end - 1 : end] != b"\n":
                    # stopped inside a line's leading blanks: keep them out of the line
                    end = block.rfind(b"\n", start, end) + 1 or start
                    end = max(end, start)
                start = end
                if start >= len(block):
                    break
            newline = block.find(b"\n", start)
            if newline < 0:
                piece = block[start:]
                carried += len(piece)
                if carried <= MAX_LINE_BYTES:
                    pieces.append(piece)
                else:
                    pieces.clear()
                break
            piece = block[start:newline]
            number += 1
            if number > limits.max_lines:
                raise ExportError(f"{name}: more than {limits.max_lines:,} lines")
            line, length = b"".join([*pieces, piece]), carried + len(piece) + 1
            pieces.clear()
            carried = 0
            start = newline + 1
            if length > MAX_LINE_BYTES:
                yield number, b""
            elif line.strip():
                yield number, line
    if carried:  # a last line without a newline
        number += 1
        if number > limits.max_lines:
            raise ExportError(f"{name}: more than {limits.max_lines:,} lines")
        line = b"".join(pieces)
        if carried > MAX_LINE_BYTES:
            yield number, b""
        elif line.strip():
            yield number, line
    if ended is not None:
        ended.append(number)


def _whole_lines(block: bytes, start: int, number: int, limits: FileLimits) -> list[bytes] | None:
    """The whole lines of a block from ``start``, when they can be split at once; else None.

    Only lines long on average (not a run of blank lines, which the line-at-a-time
    path skips in one go) and within the line limit; without their newlines.
    """
    last = block.rfind(b"\n")
    if last < start:
        return None
    count = block.count(b"\n", start, last) + 1
    if count * 64 > last - start or number + count > limits.max_lines:
        return None
    return block[start:last].split(b"\n")


def _too_large(name: str, budget: int, limits: FileLimits, compressed: bool) -> str:
    if compressed and budget < limits.max_bytes:
        return (
            f"{name}: decompresses to more than {limits.max_gzip_ratio} times its compressed "
            f"size ({budget:,} bytes): refused as a likely gzip bomb"
        )
    return f"{name}: more than {limits.max_bytes:,} bytes"


def _open_regular(path: Path) -> tuple[IO[bytes], int]:
    """A regular file opened for reading, never through a link, never waiting on a pipe."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ExportError(_not_regular(path.name)) from None
        raise ExportError(f"{path.name}: cannot be read ({error.strerror})") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        raise ExportError(_not_regular(path.name))
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb"), info.st_size


def _not_regular(name: str) -> str:
    return (
        f"{name} is not a regular file (a link, pipe or device): only regular files "
        "inside the export are read"
    )


def _regular(path: Path, where: str | None) -> None:
    """Refuse a path that is not a regular file itself (a link is not followed)."""
    said = "" if where is None else f"{where}: "
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise ExportError(f"{said}{path.name} is not in {path.parent}") from None
    except OSError as error:
        raise ExportError(f"{said}{path.name[:80]} cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ExportError(said + _not_regular(path.name))


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource is about (a Patient's own id), or None.

    Read from ``subject`` or ``patient`` (``Patient/<id>``, relative or absolute,
    any history version, or ``urn:uuid:<id>``).
    """
    if resource.get("resourceType") == "Patient":
        own = resource.get("id")
        return own if isinstance(own, str) and own else None
    for key in ("subject", "patient"):
        holder = resource.get(key)
        reference = holder.get("reference") if isinstance(holder, dict) else None
        if not isinstance(reference, str):
            continue
        if reference.startswith("urn:uuid:"):
            return reference.removeprefix("urn:uuid:") or None
        patient = referenced_id(reference, "Patient")
        if patient is not None:
            return patient
    return None


def _manifest(path: Path) -> dict[str, Any]:
    raw, size = _open_regular(path)
    with raw:
        if size > _MAX_MANIFEST_BYTES:
            raise ExportError(f"{path} is larger than {_MAX_MANIFEST_BYTES // 2**20} MiB")
        try:
            data = json.loads(raw.read(size + 1).decode("utf-8"))  # as large as it is
        except (OSError, ValueError, RecursionError):
            raise ExportError(f"{path} is not a readable JSON export manifest") from None
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise ExportError(f"{path}: an export manifest needs an 'output' list")
    return data


def _from_manifest(directory: Path, manifest: dict[str, Any]) -> list[ExportFile]:
    files = []
    for number, item in enumerate(manifest["output"]):
        kind = item.get("type") if isinstance(item, dict) else None
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not isinstance(url, str) or not url:
            raise ExportError(f"manifest output[{number}] needs a type and a url")
        name = url.rstrip("/").rsplit("/", 1)[-1]
        where = f"manifest output[{number}] ({kind})"
        if name in ("", ".", "..") or "\0" in name:
            raise ExportError(f"{where}: its url names no file")
        path = directory / name
        _regular(path, where)
        files.append(ExportFile(path, kind))
    return files
