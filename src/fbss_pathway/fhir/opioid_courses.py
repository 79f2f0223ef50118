"""One opioid use per ingredient and course, out of the resources that describe it.

A chart records one opioid in several places: a MedicationStatement and the
MedicationRequest behind it, a refill every month, the assessment form's
``medicines.opioids`` group, an allergy. Read one by one, a dose would count
once per resource, and MME twice. Here (docs/fhir.md, "Opioids"):

- **Courses.** The drafts of one ingredient, in date order, make one course while
  each starts no more than :data:`COURSE_GAP_DAYS` after the course's last stop
  (refills); a current one (no stop) holds every later draft of the ingredient.
- **The dose** of a course is what its drafts say *now*: the current ones, else
  the most recent. Drafts that give different doses are a conflict naming the
  resources, and the dose is unknown: never summed, never one picked.
- **Benefit** that disagrees is a conflict and unknown; **side effects** are the
  worst any draft gives (the item is the worst side effects).
- **Allergies and intolerances** add their side effects to every use of their
  ingredient; with none on record, a stopped use of it is added.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from ..record import OpioidUse
from .statements import Conflict

__all__ = ["COURSE_GAP_DAYS", "MOST_OPIOIDS", "opioid_uses"]

#: Drafts of an ingredient further apart than this are separate courses (a site's choice).
COURSE_GAP_DAYS = 92
#: The record holds at most this many opioid uses; older stopped ones beyond are listed.
MOST_OPIOIDS = 50
_DOSE = ("daily_dose_mg", "mcg_per_hour", "mme_per_day")
_WORSE = {"none": 0, "mild": 1, "severe": 2}

Draft = dict[str, Any]


def opioid_uses(
    drafts: list[Draft], assessed: date, unread: dict[str, list[str]] | None = None
) -> tuple[list[OpioidUse], list[Conflict], list[tuple[Draft, str]], dict[str, list[str]]]:
    """The opioid uses the drafts describe.

    Args:
        drafts: One per resource and ingredient, marked ``_entry``, ``_type``, ``_label``
            and, where so, ``_stopped`` (a stopped status) or ``_allergy``.
        assessed: The assessment date.
        unread: Opioid doses the readers could not work out (item -> resources).

    Returns:
        The uses (a canonical order), the conflicts, the drafts (or parts) not read
        with the reason, and unreadable items (item -> resources).
    """
    dropped: list[tuple[Draft, str]] = []
    unreadable: dict[str, list[str]] = defaultdict(list)
    for item, labels in (unread or {}).items():
        unreadable[item].extend(labels)
    conflicts: list[Conflict] = []
    taken: dict[str, list[Draft]] = defaultdict(list)
    allergies: list[Draft] = []
    for draft in drafts:
        for name in ("start_date", "stop_date"):  # a form's answer that is not a day
            if draft.get(name) is not None and not isinstance(draft[name], date):
                dropped.append((draft, f"opioid {name} not valid: read without it"))
                draft = {k: v for k, v in draft.items() if k != name}
        fitted = _dated(draft, assessed)
        if fitted is None:
            dropped.append((draft, "opioid dated after the assessment"))
        elif draft.get("_allergy"):
            allergies.append(fitted)
        else:
            taken[fitted["ingredient"]].append(fitted)
    merged: list[Draft] = []
    for ingredient in sorted(taken):
        for course in _courses(taken[ingredient]):
            merged.append(_merge(course, conflicts))
    for allergy in allergies:
        same = [use for use in merged if use["ingredient"] == allergy["ingredient"]]
        for use in same:
            use["side_effects"] = _worst(use.get("side_effects"), allergy["side_effects"])
            use["_labels"] = (*use["_labels"], allergy["_label"])
        if not same:
            merged.append({**allergy, "_labels": (allergy["_label"],)})
    uses: list[tuple[OpioidUse, Draft]] = []
    for use in merged:
        marker = _marker(use)
        model = _valid(use, marker, dropped, unreadable)
        if model is not None:
            uses.append((model, marker))
    uses.sort(key=lambda pair: _recency(pair[0]))
    for _, marker in uses[MOST_OPIOIDS:]:
        dropped.append((marker, f"an older stopped opioid beyond the {MOST_OPIOIDS} it holds"))
    kept = uses[:MOST_OPIOIDS]
    _settle(unreadable, kept)
    return sorted((use for use, _ in kept), key=_order), conflicts, dropped, dict(unreadable)


def _marker(use: Draft) -> Draft:
    """How a use is named in what is reported: its resources."""
    labels = use.get("_labels") or (use.get("_label", ""),)
    entry = min(use.get("_entries") or (use.get("_entry", -1),))
    return {"_entry": entry, "_type": use.get("_type", ""), "_label": ", ".join(labels)}


def _settle(unreadable: dict[str, list[str]], kept: list[tuple[OpioidUse, Draft]]) -> None:
    """An unreadable dose is missing only while its use is current and has no dose.

    MME counts current opioids only: a stopped opioid's unknown dose stays listed in
    ``ignored`` but is not missing information.
    """
    for item in list(unreadable):
        if not item.endswith("].opioid_dose"):
            continue
        labels = set(unreadable[item])
        mine = [use for use, marker in kept if labels & set(marker["_label"].split(", "))]
        if mine and all(
            use.stop_date is not None or use.daily_dose_mg or use.mcg_per_hour or use.mme_per_day
            for use in mine
        ):
            del unreadable[item]


def _dated(draft: Draft, assessed: date) -> Draft | None:
    """The draft with dates the record accepts; None when it starts after the assessment."""
    start, stop = draft.get("start_date"), draft.get("stop_date")
    if start is not None and start > assessed:
        return None
    if stop is not None and stop > assessed:
        stop = None  # stops after the assessment: current on the day
    elif stop is None and draft.get("_stopped"):
        stop = assessed  # stopped, no date on record: stopped by the assessment
    if stop is not None and start is not None and stop < start:
        stop = start
    return {**draft, "stop_date": stop}


def _courses(drafts: list[Draft]) -> list[list[Draft]]:
    """The drafts of one ingredient gathered into courses (date order, then entry)."""
    dated = sorted(
        (d for d in drafts if d.get("start_date") or d.get("stop_date")),
        key=lambda d: (d.get("start_date") or d["stop_date"], d["_entry"]),
    )
    undated = [d for d in drafts if not (d.get("start_date") or d.get("stop_date"))]
    gap = timedelta(days=COURSE_GAP_DAYS)
    courses: list[list[Draft]] = []
    end: date | None = None  # the last course's latest stop; None while it is current
    for draft in dated:
        begins = draft.get("start_date") or draft["stop_date"]
        if courses and (end is None or begins <= end + gap):
            courses[-1].append(draft)
        else:
            courses.append([draft])
            end = draft["stop_date"]
            continue
        stop = draft["stop_date"]
        end = None if end is None or stop is None else max(end, stop)
    for draft in undated:  # current and undated: the current course, else one of its own
        if courses and end is None:
            courses[-1].append(draft)
        else:
            courses.append([draft])
            end = None
    return courses


def _merge(course: list[Draft], conflicts: list[Conflict]) -> Draft:
    """One use from the drafts of a course; disagreeing doses and benefit left unknown."""
    current = [d for d in course if d.get("stop_date") is None]
    starts = [d["start_date"] for d in course if d.get("start_date")]
    use: Draft = {
        "ingredient": course[0]["ingredient"],
        "start_date": min(starts, default=None),
        "stop_date": None if current else max(d["stop_date"] for d in course),
        "_labels": tuple(sorted({d["_label"] for d in course})),
        "_entries": tuple(sorted({d["_entry"] for d in course})),
    }
    if current:
        now = current
    else:
        latest = max(d.get("start_date") or d["stop_date"] for d in course)
        now = [d for d in course if (d.get("start_date") or d["stop_date"]) == latest]
    doses = {tuple(d.get(k) for k in _DOSE): d for d in now if any(d.get(k) for k in _DOSE)}
    if len(doses) == 1:
        use.update(zip(_DOSE, next(iter(doses)), strict=True))
    elif doses:
        why = "left unknown: the resources describing this opioid give different doses"
        _conflict(conflicts, use, "opioid_dose", list(doses.values()), why)
    benefits = {d["benefit"]: d for d in course if d.get("benefit") is not None}
    if len(benefits) == 1:
        use["benefit"] = next(iter(benefits))
    elif benefits:
        why = "left unknown: the resources describing this opioid disagree"
        _conflict(conflicts, use, "opioid_benefit", list(benefits.values()), why)
    for draft in course:
        if draft.get("side_effects") is not None:
            use["side_effects"] = _worst(use.get("side_effects"), draft["side_effects"])
    return use


def _conflict(
    conflicts: list[Conflict], use: Draft, name: str, drafts: list[Draft], why: str
) -> None:
    item = f"medicines.opioids[{use['ingredient']}].{name}"
    entries = tuple(sorted({d["_entry"] for d in drafts}))
    labels = tuple(sorted({d["_label"] for d in drafts}))
    conflicts.append(Conflict(item, entries, why, labels))


def _worst(one: Any, other: Any) -> Any:
    if one is None:
        return other
    return max(one, other, key=lambda value: _WORSE.get(str(value), 0))


def _valid(
    use: Draft, marker: Draft, dropped: list[tuple[Draft, str]], unreadable: dict[str, list[str]]
) -> OpioidUse | None:
    """The use as the record holds it; a detail out of range is dropped and listed."""
    values = {k: v for k, v in use.items() if not k.startswith("_") and v is not None}
    labels = marker["_label"].split(", ")
    try:
        return OpioidUse.model_validate(values)
    except ValidationError as error:
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
    if not fields or "ingredient" in fields:
        dropped.append((marker, "opioid not valid"))
        return None
    for name in fields:
        dropped.append((marker, f"opioid {name} not valid: read without it"))
        unreadable[f"medicines.opioids[{values['ingredient']}].opioid_{name}"].extend(labels)
    try:
        return OpioidUse.model_validate({k: v for k, v in values.items() if k not in fields})
    except ValidationError:
        dropped.append((marker, "opioid not valid"))
        return None


def _recency(use: OpioidUse) -> tuple[Any, ...]:
    """Current uses first, then the most recently stopped."""
    return (use.stop_date is not None, -(use.stop_date or date.min).toordinal())


def _order(use: OpioidUse) -> tuple[Any, ...]:
    return (use.ingredient.value, use.start_date or date.min, use.stop_date or date.max)
