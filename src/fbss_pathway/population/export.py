"""Finding the files of a FHIR Bulk Data export, and whose each resource is.

An export directory holds either an export manifest (``manifest.json``, as
``$export`` returns it: ``output`` lists each file's resource type and URL; the
file is found in the directory by the URL's last path segment) or plain
``<ResourceType>*.ndjson`` files; either may be gzip-compressed (``.gz``).
A file is read by :mod:`.blocks`, within :class:`FileLimits`.

Only regular files directly inside the export directory are read: a symbolic
link, a named pipe or a device is refused, never followed or opened (also if it
is swapped in after the listing: files are opened without following links).
"""

from __future__ import annotations

import json
import os
import re
import stat
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..fhir.bulk import MANIFEST
from ..fhir.scope import referenced_id
from .blocks import (
    MAX_FILE_BYTES,
    MAX_FILE_LINES,
    MAX_GZIP_RATIO,
    ExportError,
    FileLimits,
    not_regular,
    open_regular,
    read_lines,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_FILE_LINES",
    "MAX_GZIP_RATIO",
    "Export",
    "ExportError",
    "ExportFile",
    "FileLimits",
    "export_files",
    "export_time",
    "patient_of",
    "read_export",
    "read_lines",
]

_PLAIN = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)[^/]*\.ndjson(\.gz)?$")
#: The largest manifest read.
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One NDJSON file of an export and the resource type its manifest or name gives."""

    path: Path
    resource_type: str


@dataclass(frozen=True, slots=True)
class Export:
    """An export's files, with its manifest (None without one) and the files not read.

    Read once by :func:`read_export`: the screen asks it for its files, its day and
    what its manifest says of its completeness.
    """

    directory: Path
    files: list[ExportFile]
    manifest: Mapping[str, Any] | None
    #: Without a manifest: NDJSON files whose names are not a resource type's.
    unnamed: tuple[str, ...] = ()

    def transaction_day(self) -> date | None:
        """The manifest's ``transactionTime`` as a date (see :func:`export_time`)."""
        if self.manifest is None:
            return None
        return _transaction_day(self.directory / MANIFEST, self.manifest)

    def notes(self) -> list[str]:
        """What the export says of its completeness, for the screen's summary.

        The Bulk Data manifest lists the files of resources the server could not
        export (``error``, OperationOutcomes) and of deleted ones (``deleted``); a
        ``_since`` request exports only what changed. None of them is read, so rows
        may lack what they would have held: the summary says so rather than screen
        as if complete. Without a manifest: the NDJSON files left unread because
        their names are not a resource type's (a Bulk Data ``log.ndjson``, say).
        """
        if self.manifest is None:
            return _unnamed_note(self.unnamed)
        notes = []
        errors, deleted = self.manifest.get("error"), self.manifest.get("deleted")
        if isinstance(errors, list) and errors:
            notes.append(
                f"note: the server lists {len(errors)} error file(s) in the manifest "
                "(resources it could not export): rows may lack what those resources hold"
            )
        if isinstance(deleted, list) and deleted:
            notes.append(
                f"note: the manifest lists {len(deleted)} file(s) of deleted resources: not read"
            )
        request = self.manifest.get("request")
        if isinstance(request, str) and "_since=" in request:
            notes.append(
                "note: an incremental export (_since in the request): a chart holds only what "
                "changed since then, so a row may lack earlier data"
            )
        return notes


def read_export(directory: Path) -> Export:
    """The export's files, from its manifest or, without one, by their names.

    Raises:
        ExportError: the directory, the manifest or a file it names cannot be
            read, or a file is not a regular file inside the directory.
    """
    if not directory.is_dir():
        raise ExportError(f"{directory} is not a directory")
    manifest = directory / MANIFEST
    if os.path.lexists(manifest):
        data = _manifest(manifest)
        return Export(directory, _from_manifest(directory, data), data)
    found, unnamed = [], []
    try:
        names = sorted(directory.iterdir())
    except OSError as error:
        raise ExportError(f"{directory} cannot be read: {error.strerror}") from None
    for path in names:
        match = _PLAIN.match(path.name)
        if match:
            _regular(path, None)
            found.append(ExportFile(path, match["type"]))
        elif path.name.endswith((".ndjson", ".ndjson.gz")):
            unnamed.append(path.name)
    if not found:
        raise ExportError(f"{directory} has no manifest.json and no <ResourceType>.ndjson files")
    return Export(directory, found, None, tuple(unnamed))


def export_files(directory: Path) -> list[ExportFile]:
    """The export's files (:func:`read_export`)."""
    return read_export(directory).files


def export_time(directory: Path) -> date | None:
    """The manifest's ``transactionTime`` as a date (the day the data stood), if any.

    An instant with its offset (FHIR requires one) is the day it was on this
    machine's clock, so that an export finished a moment ago is never dated
    tomorrow (``+14:00``) and refused as an assessment in the future. A date
    alone is taken as written.
    """
    manifest = directory / MANIFEST
    if not os.path.lexists(manifest):
        return None
    return _transaction_day(manifest, _manifest(manifest))


def _transaction_day(manifest: Path, data: Mapping[str, Any]) -> date:
    value = data.get("transactionTime")
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}", value):
        raise ExportError(f"{manifest}: transactionTime is not a FHIR instant")
    try:
        day = date.fromisoformat(value[:10])
        if len(value) > 10:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if instant.tzinfo is not None:
                day = instant.astimezone().date()
    except ValueError:
        raise ExportError(f"{manifest}: transactionTime is not a valid date") from None
    return day


def _unnamed_note(skipped: tuple[str, ...]) -> list[str]:
    """The note naming the NDJSON files not read (a few of them), if any."""
    if not skipped:
        return []
    shown = ", ".join(name[:80] for name in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return [
        f"note: {len(skipped)} NDJSON file(s) not read, their names not a resource type's "
        f"(<ResourceType>*.ndjson): {shown}"
    ]


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
        raise ExportError(said + not_regular(path.name))


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
    raw, size = open_regular(path)
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
        # The file is found by the last segment of the URL's path: a query or fragment
        # (a signed download URL) is not part of a file's name.
        name = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        where = f"manifest output[{number}] ({kind})"
        if name in ("", ".", "..") or "\0" in name:
            raise ExportError(f"{where}: its url names no file")
        path = directory / name
        _regular(path, where)
        files.append(ExportFile(path, kind))
    return files
