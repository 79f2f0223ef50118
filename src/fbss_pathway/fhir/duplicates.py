"""One resource, read once: the same resource present twice in a chart.

A CDS Hooks prefetch merges several searches, and EHR exports repeat
resources (a Patient in every page, a Procedure in two searches). Read twice,
a Procedure would be two treatments and a Patient's two birth dates would be
settled by their order. Entries of one type and id are one resource:

- identical copies are read once (the others listed in ``ignored``);
- copies whose ``meta.versionId`` (a number) or ``meta.lastUpdated`` says one
  is the latest version: that one is read;
- copies that differ with nothing saying which is current: what every copy
  agrees on is read (an implant whose relief differs between copies is still an
  implant, its relief unknown), and a conflict names the resource (the clinician
  checks it in the EHR). Copies that disagree about whose resource it is are not
  read at all; one that disagrees about its status is read without a status, so
  that the readers set it aside as they set aside any resource without one.
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
    agreed: dict[int, RawEntry] = {}  # entry number -> what its copies agree on
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
        common = None if latest is not None else _common(copies)
        for copy in copies:
            if copy is latest or (common is not None and copy is first):
                continue
            unread.add(copy.number)
            if latest is not None:
                chart.skip(copy, "an earlier version of a resource also in the chart")
            elif common is not None:
                chart.skip(copy, "the same resource with different content: read once, as agreed")
            else:
                chart.skip(copy, "the same resource with different content: not read")
        if latest is None:
            if common is not None:
                agreed[first.number] = first.part(common)
                why = "read with only what every copy agrees on: the chart holds it twice"
            else:
                unread.add(first.number)
                why = "not read: the chart holds it twice, about different patients"
            numbers = tuple(sorted(copy.number for copy in copies))
            chart.conflicts.append(Conflict(f"{kind} resource", numbers, why, (first.label,)))
    return [agreed.get(e.number, e) for e in entries if e.number not in unread]


#: Elements that say whose a resource is: copies that disagree on one are not read.
_WHOSE = ("subject", "patient")


def _common(copies: list[RawEntry]) -> dict[str, Any] | None:
    """The elements every copy gives alike; None when they disagree about whose it is."""
    resources = [copy.resource for copy in copies]
    first = resources[0]
    common = {}
    for key, value in first.items():
        alike = all(key in other and _same(other[key], value) for other in resources[1:])
        if alike:
            common[key] = value
        elif key in _WHOSE:
            return None
    if any(key in other and key not in common for other in resources[1:] for key in _WHOSE):
        return None  # a patient given only in some copies
    return common


def _same(one: Any, other: Any) -> bool:
    """Whether two copies (or two elements) are equal; too deeply nested ones count as not."""
    try:
        return bool(one == other)
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
