"""One resource, read once: the same resource present twice in a chart.

A CDS Hooks prefetch merges several searches, and EHR exports repeat
resources (a Patient in every page, a Procedure in two searches). Read twice,
a Procedure would be two treatments and a Patient's two birth dates would be
settled by their order. Entries of one type and id are one resource:

- identical copies are read once (the others listed in ``ignored``);
- copies whose ``meta.versionId`` (a number) or ``meta.lastUpdated`` says one
  is the latest version: that one is read;
- copies that differ with nothing saying which is current: none is read, and a
  conflict names the resource (the clinician checks it in the EHR).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .entries import RawEntry
from .resources import Chart
from .statements import Conflict, When, when_of

__all__ = ["distinct"]


def distinct(entries: list[RawEntry], chart: Chart) -> list[RawEntry]:
    """The entries to read, each resource once; duplicates listed, disagreements conflicts."""
    by_id: dict[tuple[str, str], list[RawEntry]] = {}
    with_id = 0
    for entry in entries:
        ident = entry.ident
        if isinstance(ident, str) and ident:
            with_id += 1
            by_id.setdefault((entry.type, ident), []).append(entry)
    if len(by_id) == with_id:
        return entries  # the common case: no id twice
    unread: set[int] = set()
    for (kind, _), copies in by_id.items():
        if len(copies) < 2:
            continue
        first = copies[0]
        if all(_same(copy.resource, first.resource) for copy in copies[1:]):
            for copy in copies[1:]:
                chart.skip(copy, "the same resource again: read once")
                unread.add(copy.number)
            continue
        latest = _latest_version(copies)
        for copy in copies:
            if copy is latest:
                continue
            unread.add(copy.number)
            if latest is not None:
                chart.skip(copy, "an earlier version of a resource also in the chart")
            else:
                chart.skip(copy, "the same resource with different content: not read")
        if latest is None:
            why = "not read: the chart holds it twice with different content"
            numbers = tuple(sorted(copy.number for copy in copies))
            chart.conflicts.append(Conflict(f"{kind} resource", numbers, why, (first.label,)))
    return [entry for entry in entries if entry.number not in unread]


def _same(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two copies are equal; copies nested too deeply to compare count as different."""
    try:
        return one == other
    except RecursionError:
        return False


def _latest_version(copies: list[RawEntry]) -> RawEntry | None:
    """The copy that is strictly the latest version by ``meta``, or None when none is."""
    for version in (_version_number, _last_updated):
        stamped = [(version(copy.resource), copy) for copy in copies]
        if any(stamp is None for stamp, _ in stamped):
            continue
        ordered = sorted(stamped, key=lambda pair: pair[0])  # type: ignore[arg-type, return-value]
        if ordered[-1][0] != ordered[-2][0]:
            return ordered[-1][1]
    return None


def _meta(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = resource.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def _version_number(resource: Mapping[str, Any]) -> int | None:
    version = _meta(resource).get("versionId")
    return (
        int(version)
        if isinstance(version, str) and version.isdigit() and len(version) < 19
        else None
    )


def _last_updated(resource: Mapping[str, Any]) -> tuple[Any, ...] | None:
    when: When | None = when_of(_meta(resource).get("lastUpdated"))
    if when is None or when.instant is None:
        return None
    return (when.instant,)
