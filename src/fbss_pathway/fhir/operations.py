"""The operations, each once: a coded Procedure and the form often describe the same one.

An operation dated to the month or year only (FHIR allows ``2026-09``), or not at
all, is read as done on its latest possible day, never after the assessment: the
3 months after an operation, in which every intervention waits (pathway.md 1), are
then never cut short. Each such reading is said (:class:`ImpreciseDate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from ..explain.words import date_words
from ..record import OperationKind, SpineOperation
from .codes import LOCAL_SYSTEM, CodeMap
from .entries import codings
from .resources import Chart, Ignored
from .statements import Conflict

__all__ = ["ImpreciseDate", "may_name_operation", "one_per_operation"]

_LOCAL_OPERATIONS = frozenset(f"operation.{kind.value}" for kind in OperationKind)


@dataclass(frozen=True, slots=True)
class ImpreciseDate:
    """An operation whose date the chart gives to the month or year only, or not at all."""

    resource: str
    """The resource, as the clinician finds it (``Procedure/abc``)."""
    given: str | None
    """The date as given (``2026-09``, ``2025``); None when there is none."""
    read_as: date

    def warning_text(self) -> str:
        """For the clinician: the date given, how it was read and why; never free text."""
        named = f" ({self.resource})" if self.resource else ""
        said = f"dated {self.given} only" if self.given else "without a date"
        latest = "its latest possible day" if self.given else "the assessment day"
        return (
            f"A lumbar spine operation{named} {said}: read as done on "
            f"{date_words(self.read_as)}, {latest}, so that the 3 months after an "
            "operation are not cut short; record its full date."
        )


def may_name_operation(code: Any, codes: CodeMap) -> bool:
    """Whether a Procedure's raw ``code`` could make it an operation the reader counts.

    Any coding the mapping (or this library's own ``operation.<kind>`` codes) reads as
    an operation, whatever the status or date: a superset of what
    :meth:`.Chart.procedure` keeps, so that a screen can find who may have been
    operated on without reading charts. A ``code`` not shaped as FHIR's counts too:
    the reader refuses such a Procedure, and only a full read says so.
    """
    found = codings(code)
    if found is None:
        return True
    for system, value, display in found:
        if system == LOCAL_SYSTEM and value in _LOCAL_OPERATIONS:
            return True
        if any(entry.operation is not None for entry in codes.find("procedure", system, value)):
            return True
        if display is not None and any(
            entry.operation is not None for entry in codes.find("procedure", system, value, display)
        ):
            return True
    return False


def one_per_operation(
    chart: Chart, assessed: date, conflicts: list[Conflict], imprecise: list[ImpreciseDate]
) -> list[dict[str, Any]]:
    """The operations, each once: entries of one kind on one day are one operation.

    A coded Procedure and the form's ``operations`` group often describe the same
    operation; counted twice, they would double the operations the pathway counts.
    Levels come from whichever entry gives them; levels that disagree are a conflict
    and left unknown. Operations without a full date are added to ``imprecise``.
    """
    kept: dict[tuple[date, str], list[dict[str, Any]]] = {}
    for marked in chart.operations:
        draft = {k: v for k, v in marked.items() if not k.startswith("_")}
        if "_period" in marked:
            period = marked["_period"]
            if period is None or period[0] <= assessed:
                draft["date"] = assessed if period is None else min(period[1], assessed)
                imprecise.append(ImpreciseDate(marked["_label"], marked["_given"], draft["date"]))
            else:
                draft["date"] = period[0]  # after the assessment, whichever day: set aside
        dated = draft.get("date")
        if isinstance(dated, date) and dated > assessed:
            chart.ignored.append(
                Ignored(
                    marked["_entry"],
                    marked["_type"],
                    "operation dated after the assessment",
                    marked["_label"],
                )
            )
            continue
        try:
            operation = SpineOperation.model_validate(draft)
        except ValidationError as error:
            fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
            if fields != ["levels"]:
                why = f"operation {', '.join(fields)} not valid"
                chart.ignored.append(
                    Ignored(marked["_entry"], marked["_type"], why, marked["_label"])
                )
                continue
            # keep the operation, drop levels it cannot name
            why = "operation levels not in the form L4-L5"
            chart.ignored.append(Ignored(marked["_entry"], marked["_type"], why, marked["_label"]))
            operation = SpineOperation.model_validate({**draft, "levels": None})
        key = (operation.date, operation.kind.value)
        kept.setdefault(key, []).append(
            {
                **operation.model_dump(exclude_none=True),
                **{k: v for k, v in marked.items() if k.startswith("_")},
            }
        )
    operations = []
    for (_, kind), same in sorted(kept.items()):
        joined = {k: v for k, v in same[0].items() if not k.startswith("_") and k != "levels"}
        levels = {tuple(d["levels"]) for d in same if d.get("levels")}
        if len(levels) == 1:
            joined["levels"] = list(levels.pop())
        elif levels:
            labels = tuple(sorted({d["_label"] for d in same}))
            entries = tuple(sorted({d["_entry"] for d in same}))
            why = "left unknown: the resources describing this one operation disagree"
            conflicts.append(Conflict(f"operations[{kind}].levels", entries, why, labels))
        operations.append(joined)
    return operations
