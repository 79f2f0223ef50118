"""Finding and reading the files of a FHIR Bulk Data export, one line at a time.

An export directory holds either an export manifest (``manifest.json``, as
``$export`` returns it: ``output`` lists each file's resource type and URL; the
file is found in the directory by the URL's last path segment) or plain
``<ResourceType>*.ndjson`` files; either may be gzip-compressed (``.gz``).
Nothing here holds more than one line in memory.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from ..errors import FbssPathwayError
from ..fhir.bulk import MANIFEST
from ..fhir.scope import referenced_id

__all__ = ["ExportError", "ExportFile", "export_files", "export_time", "patient_of", "read_lines"]

_PLAIN = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)[^/]*\.ndjson(\.gz)?$")
#: The longest line read: a resource larger than this is reported, never parsed.
MAX_LINE_BYTES = 16 * 1024 * 1024


class ExportError(FbssPathwayError):
    """The export cannot be read: the message names the file or manifest entry."""


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One NDJSON file of an export and the resource type its manifest or name gives."""

    path: Path
    resource_type: str


def export_files(directory: Path) -> list[ExportFile]:
    """The export's files, from its manifest or, without one, by their names."""
    if not directory.is_dir():
        raise ExportError(f"{directory} is not a directory")
    manifest = directory / MANIFEST
    if manifest.exists():
        return _from_manifest(directory, _manifest(manifest))
    found = []
    for path in sorted(directory.iterdir()):
        match = _PLAIN.match(path.name)
        if match and path.is_file():
            found.append(ExportFile(path, match["type"]))
    if not found:
        raise ExportError(f"{directory} has no manifest.json and no <ResourceType>.ndjson files")
    return found


def export_time(directory: Path) -> date | None:
    """The manifest's ``transactionTime`` as a date (the day the data stood), if any."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        return None
    value = _manifest(manifest).get("transactionTime")
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        raise ExportError(f"{manifest}: transactionTime is not a FHIR instant")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ExportError(f"{manifest}: transactionTime is not a valid date") from None


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines of a file (gzip by its ``.gz`` suffix); long lines as b""."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            yield from _lines(handle)
    except (OSError, EOFError) as error:
        raise ExportError(f"{path.name}: cannot be read ({type(error).__name__})") from None


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES:
            while line and not line.endswith(b"\n"):  # skip the rest of the long line
                line = handle.readline(MAX_LINE_BYTES)
            yield number, b""
            continue
        if line.strip():
            yield number, line


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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
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
        path = directory / url.rstrip("/").rsplit("/", 1)[-1]
        if not path.is_file():
            raise ExportError(
                f"manifest output[{number}] ({kind}): {path.name} is not in {directory}"
            )
        files.append(ExportFile(path, kind))
    return files
