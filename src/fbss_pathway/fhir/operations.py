"""The operations, each once: a coded Procedure and the form often describe the same one."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from ..record import OperationKind, SpineOperation
from .codes import LOCAL_SYSTEM, CodeMap
from .entries import codings
from .resources import Chart, Ignored
from .statements import Conflict

__all__ = ["may_name_operation", "one_per_operation"]

_LOCAL_OPERATIONS = frozenset(f"operation.{kind.value}" for kind in OperationKind)


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
    chart: Chart, assessed: date, conflicts: list[Conflict]
) -> list[dict[str, Any]]:
    """The operations, each once: entries of one kind on one day are one operation.

    A coded Procedure and the form's ``operations`` group often describe the same
    operation; counted twice, they would double the operations the pathway counts.
    Levels come from whichever entry gives them; levels that disagree are a conflict
    and left unknown.
    """
    kept: dict[tuple[date, str], list[dict[str, Any]]] = {}
    for marked in chart.operations:
        draft = {k: v for k, v in marked.items() if not k.startswith("_")}
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
