"""One treatment out of the resources that describe it.

EHRs record one treatment in several places: a billed Procedure or a
MedicationRequest carries the code, the assessment form's ``treatments`` group
carries what has no code (relief, adherence, side effects), and exercise
therapy is billed session by session. Read one by one, these would be several
treatments of one kind and date, and whichever the pathway picked would lose
the others' details. Here they become one (``docs/fhir.md``, "One treatment
from several resources"):

- **Courses.** Exercise sessions (a coded exercise Procedure without a course
  length) become one course: first session to a week after the last, with the
  number of sessions (a lone session gives no length); a gap of more than
  :data:`COURSE_GAP_WEEKS` starts a new course. Another exercise entry dated
  within a course (a form group, a coded course) describes that course: its
  details join it, and the clinician's course length, where given, replaces
  the sessions' span.
- **Same kind, same day.** Entries of one kind on one calendar day describe one
  treatment, unless they say they are different ones: blocks and
  radiofrequency at different levels (``bodySite.text``), analgesics of
  different drugs. An entry that does not say (no levels, no drug: a form
  group) joins every treatment of that day it could describe.
- **Details** come from whichever entry has them; entries that give different
  values for one detail are a conflict naming both resources, and that detail is
  left unknown: nothing here prefers one entry's content to another's.

Undated entries are never joined: nothing says which treatment they describe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from ..record import Treatment, TreatmentKind
from .statements import Conflict

__all__ = ["COURSE_GAP_WEEKS", "join_treatments", "readable_treatments"]

#: Sessions further apart than this belong to different courses (a site's choice).
COURSE_GAP_WEEKS = 4
_DISTINGUISHED = {
    TreatmentKind.MEDIAL_BRANCH_BLOCK.value: "_levels",
    TreatmentKind.RADIOFREQUENCY_DENERVATION.value: "_levels",
    TreatmentKind.ANALGESICS.value: "_drug",
}
_EXERCISE = TreatmentKind.EXERCISE_THERAPY.value
_SHARED = frozenset({"kind", "start_date"})  # equal in every entry joined

Draft = dict[str, Any]


def join_treatments(drafts: Iterable[Draft]) -> tuple[list[Draft], list[Conflict]]:
    """The treatments the drafts describe (marks kept: ``_entry``, ``_labels``), and conflicts.

    Args:
        drafts: Valid treatment drafts, each marked by the reader with ``_entry``,
            ``_label`` and, where the resource says, ``_session`` (a billed
            exercise session), ``_levels`` (block and RF levels) or ``_drug``
            (an analgesic's codings).
    """
    dated: list[Draft] = []
    undated: list[Draft] = []
    conflicts: list[Conflict] = []
    for draft in _referred(list(drafts), conflicts):
        marked = {**draft, "_labels": (draft["_label"],)}
        (dated if _day(marked) is not None else undated).append(marked)
    courses, rest = _courses(dated)
    single: list[Draft] = []
    for draft in rest:
        course = _course_holding(courses, draft)
        if course is not None:
            course.append(draft)
        else:
            single.append(draft)
    joined = [_merge(course, conflicts, course=True) for course in courses]
    joined += _same_day(single, conflicts)
    return joined + undated, conflicts


def _referred(drafts: list[Draft], conflicts: list[Conflict]) -> list[Draft]:
    """Form groups that name the resource they describe take its day, levels and drug.

    So the joining below puts them with that resource (and with no other of the
    day). A form date that differs from the resource's is a conflict; the
    resource's day is read.
    """
    referring = [d for d in drafts if d.get("_refers")]
    if not referring:
        return drafts
    by_label = {d["_label"]: d for d in drafts if not d.get("_form")}
    result = []
    for draft in drafts:
        target = next(
            (
                by_label[label]
                for ref in draft.get("_refers") or ()
                for label in by_label
                if ref == label or ref.endswith("/" + label)
            ),
            None,
        )
        if target is None or target["kind"] != draft["kind"]:
            result.append(draft)
            continue
        said = draft.get("start_date")
        day = target.get("start_date")
        if said is not None and day is not None and said != day:
            why = "the resource's date was read: the form group naming it gives another"
            labels = (target["_label"], draft["_label"])
            entries = tuple(sorted({target["_entry"], draft["_entry"]}))
            conflicts.append(
                Conflict(f"treatments[{draft['kind']}].start_date", entries, why, labels)
            )
        joined = {k: v for k, v in draft.items() if k != "_model"}  # its details may move
        if day is not None:
            joined["start_date"] = day
        for mark in ("_levels", "_drug"):
            if target.get(mark):
                joined[mark] = target[mark]
        result.append(joined)
    return result


def _day(draft: Draft) -> date | None:
    started = draft.get("start_date")
    return started if isinstance(started, date) else None


def _courses(drafts: list[Draft]) -> tuple[list[list[Draft]], list[Draft]]:
    """Billed exercise sessions gathered into courses; the other drafts untouched.

    Each course is a list: the course itself first, then its sessions.
    """
    sessions = sorted(
        (d for d in drafts if d["kind"] == _EXERCISE and d.get("_session")),
        key=lambda d: (d["start_date"], d["_entry"]),
    )
    rest = [d for d in drafts if not (d["kind"] == _EXERCISE and d.get("_session"))]
    gap = timedelta(weeks=COURSE_GAP_WEEKS)
    runs: list[list[Draft]] = []
    for session in sessions:
        if runs and session["start_date"] - runs[-1][-1]["start_date"] <= gap:
            runs[-1].append(session)
        else:
            runs.append([session])
    courses = []
    for run in runs:
        first, last = run[0]["start_date"], run[-1]["start_date"]
        course: Draft = {
            "kind": _EXERCISE,
            "start_date": first,
            # One session alone says nothing of a course's length: unknown, not a week.
            "duration_weeks": round((last - first).days / 7 + 1, 2) if len(run) > 1 else None,
            "sessions": len({s["start_date"] for s in run}),  # a day billed twice: one session
            "_entry": run[0]["_entry"],
            "_labels": (),
            "_last": last,
        }
        courses.append([course, *run])
    return courses, rest


def _course_holding(courses: list[list[Draft]], draft: Draft) -> list[Draft] | None:
    """The course an exercise entry falls in (first session to last), if any."""
    if draft["kind"] != _EXERCISE:
        return None
    for course in courses:
        if course[0]["start_date"] <= draft["start_date"] <= course[0]["_last"]:
            return course
    return None


def _same_day(drafts: list[Draft], conflicts: list[Conflict]) -> list[Draft]:
    """Drafts of one kind and day joined unless they say they are different treatments."""
    by_day: dict[tuple[str, date], list[Draft]] = defaultdict(list)
    for draft in drafts:
        by_day[(draft["kind"], draft["start_date"])].append(draft)
    joined = []
    for (kind, _), drafts in sorted(by_day.items(), key=lambda pair: (pair[0][1], pair[0][0])):
        mark = _DISTINGUISHED.get(kind)
        known = [d for d in drafts if mark and d.get(mark)]
        unsaid = [d for d in drafts if not (mark and d.get(mark))]
        clusters: list[list[Draft]] = []
        for draft in sorted(known, key=lambda d: d["_entry"]):
            home = next((c for c in clusters if _same(c[0], draft, mark)), None)
            if home is None:
                clusters.append([draft])
            else:
                home.append(draft)
        if not clusters:
            clusters = [unsaid]
        else:
            for draft in unsaid:  # says no level or drug: joins each it could describe
                for cluster in clusters:
                    if _compatible(cluster, draft):
                        cluster.append(draft)
        joined += [_merge(cluster, conflicts) for cluster in clusters]
    return joined


def _same(one: Draft, other: Draft, mark: str | None) -> bool:
    """Whether two entries that both say which (levels, drug) name the same treatment."""
    if mark == "_drug":  # codings of one drug: any shared coding, and no opioid contradiction
        return bool(set(one[mark]) & set(other[mark])) and _compatible([one], other)
    return mark is not None and one[mark] == other[mark]


def _compatible(cluster: list[Draft], draft: Draft) -> bool:
    """An analgesic entry that says opioid or not joins only treatments that agree."""
    said = draft.get("opioid")
    return said is None or all(d.get("opioid") in (None, said) for d in cluster)


def _merge(group: list[Draft], conflicts: list[Conflict], *, course: bool = False) -> Draft:
    """One treatment from the entries that describe it; disagreeing details left unknown."""
    first = group[0]
    if len(group) == 1 and not course:  # the common case: one entry, already validated
        return {**first, "_labels": first["_labels"]}
    merged: Draft = {
        "kind": first["kind"],
        "start_date": first["start_date"],  # one day for all, or the course's first session
        "_entry": min(d["_entry"] for d in group),
        "_labels": tuple(sorted({label for d in group for label in d["_labels"]})),
    }
    values: dict[str, list[tuple[Any, Draft]]] = defaultdict(list)
    for draft in group[1:] if course else group:
        for key, value in draft.items():
            if key[0] != "_" and value is not None and key not in _SHARED:
                values[key].append((value, draft))
    if course:  # the course's span and sessions, unless an entry gives them (its details join)
        for key in ("duration_weeks", "sessions"):
            if key not in values:
                merged[key] = first[key]
    for key, given in values.items():
        distinct = {_key(value) for value, _ in given}
        if len(distinct) == 1:
            merged[key] = given[0][0]
            continue
        labels = sorted({label for _, draft in given for label in draft["_labels"]})
        entries = tuple(sorted({draft["_entry"] for _, draft in given}))
        item = f"treatments[{first['kind']}].{key}"
        why = "left unknown: the resources describing this one treatment disagree"
        conflicts.append(Conflict(item, entries, why, tuple(labels)))
    return merged


def _key(value: Any) -> tuple[str, Any]:
    """Values compare by type too: True is not 1; lists as tuples."""
    return (type(value).__name__, tuple(value) if isinstance(value, list) else value)


def readable_treatments(
    drafts: Iterable[Draft], assessed: date
) -> tuple[list[Draft], list[tuple[Draft, str]], list[tuple[Draft, str]]]:
    """The drafts that make a treatment, with their values as the record holds them.

    A detail that is not valid (relief of 180 %) is dropped and the treatment
    kept: the treatment was tried, and its unreadable detail stays unknown
    rather than the treatment vanishing (which would read as "not tried").

    Returns:
        The valid drafts (marks kept), the drafts dropped with the reason, and the
        details dropped (draft, field).
    """
    kept: list[Draft] = []
    dropped: list[tuple[Draft, str]] = []
    details: list[tuple[Draft, str]] = []
    for marked in drafts:
        draft = {k: v for k, v in marked.items() if not k.startswith("_")}
        started = draft.get("start_date")
        if isinstance(started, date) and started > assessed:
            dropped.append((marked, "treatment dated after the assessment"))
            continue
        try:
            treatment = Treatment.model_validate(draft)
        except ValidationError as error:
            fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
            if not fields or {"kind", "start_date"} & set(fields):
                dropped.append((marked, f"treatment {', '.join(fields) or 'details'} not valid"))
                continue
            try:
                treatment = Treatment.model_validate(
                    {k: v for k, v in draft.items() if k not in fields}
                )
            except ValidationError:
                dropped.append((marked, f"treatment {', '.join(fields)} not valid"))
                continue
            details += [(marked, name) for name in fields]
        values = {k: v for k, v in treatment.__dict__.items() if v is not None}
        marks = {k: v for k, v in marked.items() if k.startswith("_")}
        kept.append(values | marks | {"_model": treatment})
    return kept, dropped, details
