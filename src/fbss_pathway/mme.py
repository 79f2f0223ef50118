"""Morphine milligram equivalents a day of a patient's current opioids (pathway.md 5.2).

The conversion factors are rule data (``rules/mme.toml``, read and checked by the
rule loader); this module only applies them, so that a site's table moves every
figure with it and no factor is written in code. It stands beside ``facts``:
the MME is a fact rules compare with their thresholds.

Three answers are possible, and kept apart because each means something else
to a prescriber: a number; "not applicable" (no current opioid, or buprenorphine
alone, whose MME the CDC table does not convert and to which no MME threshold
applies); and unknown (a current opioid whose dose, or whose factor, is not
known), which a rule must never read as a low dose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from .record import Medicines, OpioidUse
from .record.medicines import OpioidIngredient

__all__ = [
    "DosePer",
    "MmeFactor",
    "MmeTable",
    "current_opioids",
    "dose_items",
    "is_ingredient",
    "mme_per_day",
]

#: How a factor's dose is given: mg a day (tablets, liquids) or mcg an hour (patches).
DosePer = Literal["mg_per_day", "mcg_per_hour"]


@dataclass(frozen=True, slots=True)
class MmeFactor:
    """One ingredient's row of the MME table.

    Attributes:
        ingredient: The opioid ingredient (``OpioidIngredient`` value).
        factor: MME a day per unit of dose; None where the ingredient is not
            converted (buprenorphine): it then adds nothing to the sum.
        per: The unit of dose the factor multiplies.
        rxcui: The ingredient's RxNorm CUI where a source confirmed it.
        sources: Citation keys of ``sources.toml``.
        read_in: Where the factor was read (a document or repository and path).
    """

    ingredient: str
    factor: float | None
    per: DosePer | None
    rxcui: str | None
    sources: tuple[str, ...]
    read_in: str


#: The table by ingredient value.
MmeTable = Mapping[str, MmeFactor]

#: A result too small for two decimals is 0; larger ones keep two decimals, so the
#: engine never sees a number in exponent form (docs/engine.md).
_DECIMALS = 2


def current_opioids(medicines: Medicines, assessed: date) -> list[OpioidUse]:
    """The opioids in use at the assessment: no stop date before it.

    An opioid stopped on the assessment day still counts (pathway.md 5.2: current
    when it has no stop date *before* the assessment): the patient took it that
    day, and tolerance, naloxone and co-prescription cautions still apply.
    """
    return [o for o in medicines.opioids if o.stop_date is None or o.stop_date >= assessed]


def _contribution(opioid: OpioidUse, table: MmeTable) -> float | None:
    """One converted opioid's MME a day; None when unknown."""
    row = table.get(opioid.ingredient.value)
    if row is not None and row.factor is not None:
        dose = opioid.daily_dose_mg if row.per == "mg_per_day" else opioid.mcg_per_hour
        if dose is not None:
            return dose * row.factor
    return opioid.mme_per_day


def mme_per_day(
    opioids: Sequence[OpioidUse], table: MmeTable
) -> tuple[bool, float | None, float | None]:
    """Whether an MME threshold applies to these current opioids, their MME a day, and its floor.

    Returns ``(applies, mme, at_least)``. ``applies`` is False with no opioid or
    only unconverted ones (buprenorphine); both figures are then None. When it
    applies, ``mme`` is the sum of dose times factor (an MME recorded instead of
    the dose is used as given), or None when any one is unknown: a dose not
    recorded, a dose in a unit the factor does not take, or an ingredient the
    table does not hold. ``at_least`` sums the known ones: the whole MME when
    every dose is known, a floor while one is not, so that 120 MME of oxycodone
    beside a codeine of unknown dose still reaches the high threshold.
    """
    converted = [o for o in opioids if not _unconverted(o, table)]
    if not converted:
        return False, None, None
    parts = [_contribution(opioid, table) for opioid in converted]
    at_least = round(sum(part for part in parts if part is not None), _DECIMALS)
    return True, (None if None in parts else at_least), at_least


def dose_items(opioids: Sequence[OpioidUse], table: MmeTable) -> tuple[str, ...]:
    """What the record lacks for these current opioids' MME a day: ``OpioidUse`` field names.

    The dose in the unit the ingredient's factor takes (``daily_dose_mg``, or
    ``mcg_per_hour`` for a patch), or ``mme_per_day`` where the table has no
    factor for the ingredient (``other``): there a recorded dose cannot be
    converted, and asking for it again would tell the clinician to record what
    is already there. Empty when the MME is known or no threshold applies.
    """
    lacking = set()
    for opioid in opioids:
        if _unconverted(opioid, table) or _contribution(opioid, table) is not None:
            continue
        row = table.get(opioid.ingredient.value)
        if row is None or row.factor is None:
            lacking.add("mme_per_day")
        else:
            lacking.add("daily_dose_mg" if row.per == "mg_per_day" else "mcg_per_hour")
    return tuple(sorted(lacking))


def _unconverted(opioid: OpioidUse, table: MmeTable) -> bool:
    row = table.get(opioid.ingredient.value)
    return row is not None and row.factor is None


def is_ingredient(name: str) -> bool:
    """Whether ``name`` is an opioid ingredient the table may hold (``other`` is not)."""
    return name in _INGREDIENTS


_INGREDIENTS: Mapping[str, OpioidIngredient] = {
    member.value: member for member in OpioidIngredient if member is not OpioidIngredient.OTHER
}
