"""Worklists from a screen's Parquet output: who is where on the pathway.

On a stage, with a red flag, due a step, with an option of a given verdict
(every patient for whom SCS is blocked, say), or with a follow-up date on or
before a day (overdue ones included). Filters combine (all must hold).
The output is read part by part, so a worklist of a population needs no more
memory than one part; a list by date is a recall list, read from the most
overdue down, so it holds the patients on it (not the others) to put them in
date order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..vocabulary import ActionCode, Option, Stage, Verdict
from .export import ExportError
from .rows import OUTCOMES, read_rows
from .run import PATIENTS_DIR, SUMMARY, clean_interrupted

__all__ = ["WorklistEntry", "worklist"]


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    """One patient on a worklist."""

    patient_id: str
    outcome: str
    stage: str | None
    actions: tuple[str, ...]
    red_flags: tuple[str, ...]
    warnings: tuple[str, ...]
    detail: str | None
    verdicts: Mapping[str, str] = field(default_factory=dict)
    reassess_due: date | None = None
    reassess_item: str | None = None
    reassess_overdue: bool | None = None
    missing_count: int | None = None
    mme_per_day: float | None = None
    error_kind: str | None = None


def worklist(
    output: str | Path,
    *,
    stage: Stage | str | None = None,
    action: ActionCode | str | None = None,
    red_flags: bool = False,
    outcome: str | None = None,
    verdicts: Mapping[Option | str, Verdict | str] | None = None,
    due_before: date | None = None,
) -> Iterator[WorklistEntry]:
    """The patients of a screen that match every filter given.

    In the screen's order; with ``due_before``, in the order of their follow-up
    dates (the most overdue first; one date by patient id), as a recall list is read.

    Args:
        output: A screen's output directory.
        stage: Only patients placed on this stage.
        action: Only patients with this action recommended.
        red_flags: Only patients with a red flag.
        outcome: Only ``evaluated``, ``not_applicable`` or ``rejected`` patients.
        verdicts: Only patients whose options have these verdicts
            (``{"spinal_cord_stimulation": "blocked"}``); every pair must hold.
        due_before: Only patients with a follow-up date on or before this day
            (pathway.md 10), an overdue one included: the row's next date.

    Raises:
        ExportError: ``output`` holds no screen, or one that did not finish (no
            ``summary.json``: stopped, or still running). The raw work folder a
            stopped screen left behind (the export's lines) is removed then.
        ValueError: an unknown stage, action, outcome, option or verdict.
        TypeError: ``due_before`` is not a date.
    """
    if due_before is not None and not isinstance(due_before, date):
        raise TypeError(f"due_before must be a date, not {type(due_before).__name__}")
    wanted_verdicts = {
        Option(option).value: Verdict(verdict).value for option, verdict in (verdicts or {}).items()
    }
    wanted_stage = Stage(stage).value if stage is not None else None
    wanted_action = ActionCode(action).value if action is not None else None
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    parts = Path(output) / PATIENTS_DIR
    if not Path(output).is_dir():
        raise ExportError(f"{output} holds no screen (not a directory)")
    if not (Path(output) / SUMMARY).is_file():
        running = clean_interrupted(Path(output))
        if running:
            raise ExportError(f"the screen in {output} is still running: wait for it to finish")
        if running is not None or parts.is_dir():
            raise ExportError(f"the screen in {output} did not finish (no {SUMMARY}): run it again")
        raise ExportError(f"{output} holds no screen (no {SUMMARY})")
    if not parts.is_dir():
        raise ExportError(f"{output} holds no screen (no {PATIENTS_DIR}/ folder)")
    found = _matching(
        parts, wanted_stage, wanted_action, red_flags, outcome, wanted_verdicts, due_before
    )
    if due_before is None:
        yield from found
        return
    # Every entry on a list by date has a date (the filter keeps no other).
    yield from sorted(found, key=lambda entry: (entry.reassess_due, entry.patient_id))


def _matching(
    parts: Path,
    wanted_stage: str | None,
    wanted_action: str | None,
    red_flags: bool,
    outcome: str | None,
    wanted_verdicts: Mapping[str, str],
    due_before: date | None,
) -> Iterator[WorklistEntry]:
    """The entries of the rows that match every filter, in the screen's order."""
    for row in read_rows(parts):
        if wanted_stage is not None and row["stage"] != wanted_stage:
            continue
        if wanted_action is not None and wanted_action not in (row["actions"] or []):
            continue
        if red_flags and not row["red_flags"]:
            continue
        if outcome is not None and row["outcome"] != outcome:
            continue
        found = row.get("verdicts") or {}
        if any(found.get(option) != verdict for option, verdict in wanted_verdicts.items()):
            continue
        due = row.get("reassess_due")  # absent from a screen written before the column
        if due_before is not None and (due is None or due > due_before):
            continue
        yield WorklistEntry(
            patient_id=row["patient_id"],
            outcome=row["outcome"],
            stage=row["stage"],
            actions=tuple(row["actions"] or ()),
            red_flags=tuple(row["red_flags"] or ()),
            warnings=tuple(row["warnings"] or ()),
            detail=row["detail"],
            verdicts={k: v for k, v in found.items() if v is not None},
            reassess_due=due,
            reassess_item=row.get("reassess_item"),
            reassess_overdue=row.get("reassess_overdue"),
            missing_count=row.get("missing_count"),
            mme_per_day=row.get("mme_per_day"),
            error_kind=row.get("error_kind"),
        )
