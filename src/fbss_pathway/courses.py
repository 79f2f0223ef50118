"""Courses of treatment read from a record: facts that judge several entries together.

Most facts read one item (the most recent treatment of a kind). Three questions
of the specification need every entry of a kind at once, and a site's
thresholds to read them, so they are answered here, in Python, as a few facts
the rules then test (pathway.md 5.1, 6; one fact each instead of many near-copy
rules keeps the rule engine fast):

- **the conservative trial**: the longest adequate exercise programme since the
  last operation, counting only the weeks done after it and up to the
  assessment, so that a new short programme never erases a completed long one;
- **the diagnostic blocks**: medial branch blocks within the window of
  ``block_max_age_months``, judged per level under ``block_paradigm`` and
  ``block_positive_relief_percent``; the best level's reading stands for the
  patient;
- **the last radiofrequency**: how many months ago it was done.

The thresholds come in as a mapping of the rule set's parameter values; a fact
whose parameter the rule set lacks is left out (unknown), never guessed.
Nothing here decides a verdict: the rule files do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum

from .record import Adherence, PatientRecord, Treatment, TreatmentKind

__all__ = ["BlockReading", "block_facts", "exercise_facts", "weeks_after_operation"]

#: A parameter value as a rule set holds it: a number, or a word (``block_paradigm``).
ParameterValue = float | str
Facts = dict[str, bool | int | float | str | None]

#: Adherence that keeps a programme adequate (pathway.md 5.1: known and not poor).
_KEPT_TO = (Adherence.GOOD, Adherence.PARTIAL)


class BlockReading(StrEnum):
    """What the diagnostic blocks within the window say, at the best level (pathway.md 6).

    Ordered from the best reading down: across levels the best one wins.
    """

    POSITIVE = "positive"
    SECOND_BLOCK_NEEDED = "second_block_needed"
    INCOMPLETE = "incomplete"
    DISCORDANT = "discordant"
    NEGATIVE = "negative"
    NONE = "none"


_RANK = {reading: rank for rank, reading in enumerate(BlockReading)}


def _number(parameters: Mapping[str, ParameterValue], name: str) -> float | None:
    value = parameters.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def weeks_after_operation(
    programme: Treatment, last_operation: date, assessed: date
) -> float | None:
    """Weeks of a programme done after the last operation and up to the assessment.

    Of a programme that began before the operation only the part after it counts;
    of one still running, the weeks done so far. Unknown without a start date or a
    duration: an undated programme cannot be placed after the operation. Rounded
    down to a hundredth of a week, so no rounding lifts a programme over a threshold.
    """
    if programme.start_date is None or programme.duration_weeks is None:
        return None
    elapsed = (assessed - programme.start_date).days / 7
    before = max(0.0, (last_operation - programme.start_date).days / 7)
    done = min(float(programme.duration_weeks), elapsed) - before
    return max(0.0, math.floor(done * 100 + 1e-9) / 100)


def exercise_facts(
    record: PatientRecord, last_operation: date, parameters: Mapping[str, ParameterValue]
) -> Facts:
    """``exercise_weeks`` and ``exercise_adherence`` of the programme that decides the trial.

    The longest adequate programme since the last operation when there is one;
    else one that may be adequate (its weeks or adherence unrecorded), so that the
    trial stays undecided rather than read as not done; else the one with the most
    weeks after the operation. No programme at all: 0 weeks.
    """
    programmes = [t for t in record.treatments if t.kind is TreatmentKind.EXERCISE_THERAPY]
    if not programmes:
        return {"exercise_weeks": 0, "exercise_adherence": None}
    needed = _number(parameters, "adequate_exercise_weeks")
    if needed is None:
        return {}
    read = [
        (weeks_after_operation(p, last_operation, record.assessment_date), p.adherence)
        for p in programmes
    ]
    adequate = [(w, a) for w, a in read if w is not None and w >= needed and a in _KEPT_TO]
    possible = [(w, a) for w, a in read if (w is None or w >= needed) and a is not Adherence.POOR]
    chosen: tuple[float | None, Adherence | None]
    if adequate:
        chosen = max(adequate, key=lambda item: item[0] or 0.0)
    elif possible:
        chosen = possible[0]
    else:
        chosen = max(read, key=lambda item: item[0] or 0.0)
    return {"exercise_weeks": chosen[0], "exercise_adherence": chosen[1]}


def _level_reading(positive: int, negative: int, incomplete: int, needed: int) -> BlockReading:
    """One level's reading: any positive with any negative is discordant, never positive."""
    if positive and negative:
        return BlockReading.DISCORDANT
    if incomplete:
        return BlockReading.INCOMPLETE
    if positive >= needed:
        return BlockReading.POSITIVE
    if positive:
        return BlockReading.SECOND_BLOCK_NEEDED
    return BlockReading.NEGATIVE


def block_facts(
    record: PatientRecord,
    parameters: Mapping[str, ParameterValue],
    months_old: Callable[[date, date], int],
) -> Facts:
    """``block_reading``, ``block_levels`` and ``block_relief_percent`` (pathway.md 6).

    Blocks within ``block_max_age_months`` (a month begun counting whole) are
    grouped by level, a block at two levels counting at each; blocks whose levels
    are unrecorded form one group of their own. A block with its relief or its date
    unrecorded leaves its level incomplete (it may be the one that decides). The
    best level's reading stands; ``block_relief_percent`` is that level's lowest
    relief (positive), or the highest relief of any block in the window (otherwise),
    and ``block_levels`` names the levels that share the best reading.
    ``months_old`` is the facts' own month count (a month begun counting whole).
    """
    threshold = _number(parameters, "block_positive_relief_percent")
    max_age = _number(parameters, "block_max_age_months")
    paradigm = parameters.get("block_paradigm")
    if threshold is None or max_age is None or paradigm not in ("single", "dual"):
        return {}
    needed = 2 if paradigm == "dual" else 1
    counts: dict[str, list[int]] = {}
    reliefs: dict[str, list[float]] = {}
    for block in record.treatments:
        if block.kind is not TreatmentKind.MEDIAL_BRANCH_BLOCK:
            continue
        started = block.start_date
        if started is not None and months_old(started, record.assessment_date) > max_age:
            continue
        given = block.relief_percent
        slot = 2 if given is None or started is None else (0 if given >= threshold else 1)
        for level in block.levels or [""]:
            counts.setdefault(level, [0, 0, 0])[slot] += 1
            if given is not None:
                reliefs.setdefault(level, []).append(given)
    if not counts:
        return {"block_reading": BlockReading.NONE.value}
    readings = {
        level: _level_reading(positive, negative, incomplete, needed)
        for level, (positive, negative, incomplete) in counts.items()
    }
    best = min(readings.values(), key=_RANK.__getitem__)
    levels = sorted(level for level, reading in readings.items() if reading is best)
    if best in (BlockReading.POSITIVE, BlockReading.SECOND_BLOCK_NEEDED):
        relief: float | None = max(min(reliefs[level]) for level in levels)
    elif best is BlockReading.INCOMPLETE:
        relief = None
    else:
        relief = max(r for values in reliefs.values() for r in values)
    named = [level for level in levels if level]
    return {
        # Incomplete is unknown, not a reading: the rules then ask for what is missing.
        "block_reading": None if best is BlockReading.INCOMPLETE else best.value,
        "block_levels": ", ".join(named) if named and len(named) == len(levels) else None,
        "block_relief_percent": relief,
    }
