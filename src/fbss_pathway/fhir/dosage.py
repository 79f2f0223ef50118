"""An opioid's dose out of a FHIR Dosage and the strength in its RxNorm name.

The record holds an opioid's dose as mg a day, or as mcg an hour for a patch
(pathway.md 2, 5.2); MME is worked out downstream from these. What an EHR sends
is a dose per administration (``doseAndRate``) and a timing (``frequency`` per
``period`` ``periodUnit``, or a code such as ``BID``: :mod:`.timing_codes`), with
the strength only in the drug's name
(``oxyCODONE Hydrochloride 5 MG Oral Tablet``). This module works out one from
the other, or says why it cannot: a dose that cannot be worked out is unknown
(then MME is unknown), never a guess. Nothing here sees a patient: it is given
elements and answers with numbers or a reason, and reasons never hold a value.

Units (confirmed in the OMTK MME logic, cqframework/opioid-mme-r4
``input/cql/OMTKLogic.cql``: RxNorm ``MG``, ``MG/ML``, ``MG/HR``, ``MG/ACTUAT``
are UCUM ``mg``, ``mg/mL``, ``mg/h``, ``mg/{actuat}``; doses in ``mg`` or
``ug``; timing units ``s``, ``min``, ``h``, ``d``, ``wk``, ``mo`` (30 days),
``a`` (365 days), FHIR's UnitsOfTime).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .timing_codes import repeat_of_code

__all__ = ["Dose", "Strength", "daily_dose", "strength_in"]

#: Hours in each FHIR unit of time (a month is 30 days, a year 365, as OMTK counts them).
_HOURS = {"s": 1 / 3600, "min": 1 / 60, "h": 1.0, "d": 24.0, "wk": 168.0, "mo": 720.0, "a": 8760.0}
#: A dose given as a count of units of the product (tablets, patches): no unit, or these words.
_COUNTS = frozenset(
    {"", "1", "tablet", "tablets", "tab", "capsule", "capsules", "cap", "patch", "patches"}
    | {"film", "films", "lozenge", "lozenges", "each"}
)
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(MG|MCG)(?:/(ML|HR|ACTUAT))?\b", re.IGNORECASE)
#: The record's bounds of a dose (``DailyDose``): above it a dose is not read.
_MOST = 10000.0


@dataclass(frozen=True, slots=True)
class Strength:
    """An ingredient's strength as its RxNorm name states it: mg per unit, per mL or per hour."""

    mg: float
    per: str  # "unit" (tablet, actuation), "ml" or "hr"


@dataclass(frozen=True, slots=True)
class Dose:
    """What the dosage says: mg a day or mcg an hour, or why neither could be worked out."""

    mg_per_day: float | None = None
    mcg_per_hour: float | None = None
    unknown: str | None = None  # the reason, in words without values


def strength_in(display: str | None, name_end: int) -> Strength | None:
    """The strength stated after an ingredient's name in an RxNorm clinical drug name.

    Args:
        display: The drug's name (``Acetaminophen 325 MG / HYDROcodone Bitartrate 5 MG
            Oral Tablet``).
        name_end: Where the ingredient's name ends in it: the strength read is the first
            one after it, before the next ingredient (`` / ``).
    """
    if not display:
        return None
    # A chart repeats its drugs: names are remembered, bar long ones (text from outside).
    return _strength(display, name_end) if len(display) > 256 else _remembered(display, name_end)


def _strength(display: str, name_end: int) -> Strength | None:
    segment = display[name_end:].split(" / ", 1)[0]
    found = _STRENGTH.search(segment)
    if found is None:
        return None
    value = float(found.group(1))
    mg = value / 1000 if found.group(2).upper() == "MCG" else value
    per = (found.group(3) or "unit").lower()
    return Strength(mg, "unit" if per == "actuat" else per)


_remembered = lru_cache(maxsize=1024)(_strength)


def daily_dose(dosages: list[Any] | None, strength: Strength | None, *, patch: bool) -> Dose:
    """The dose the dosages give, as the record holds it.

    Concurrent dosages (the same ``sequence``, or none) add up (a morning and an
    evening dose); dosages in sequence (a titration) leave the dose unknown. A
    patch (``patch``, a strength in mg/hr) is dosed per hour while worn: the
    number of patches times the strength, whatever the timing; with no dosage,
    one patch.
    """
    per_hour = strength is not None and strength.per == "hr"
    if not dosages:
        if per_hour and patch and strength is not None:
            return _rate(strength.mg)
        return Dose(unknown="no dosage given")
    sequences = {_sequence(dosage) for dosage in dosages}
    if len(sequences) > 1:
        return Dose(unknown="dosages given in sequence (a titration or taper)")
    total_mg = 0.0
    total_mcg = 0.0
    for dosage in dosages:
        one = _one(dosage if isinstance(dosage, dict) else {}, strength, patch=patch)
        if one.unknown is not None:
            return one
        total_mg += one.mg_per_day or 0.0
        total_mcg += one.mcg_per_hour or 0.0
    if total_mg and total_mcg:
        return Dose(unknown="dosages in mg a day and in mcg an hour together")
    if total_mcg:
        return _bounded(Dose(mcg_per_hour=round(total_mcg, 6)))
    return _bounded(Dose(mg_per_day=round(total_mg, 6)))


def _sequence(dosage: Any) -> Any:
    return dosage.get("sequence") if isinstance(dosage, dict) else None


def _rate(mg_per_hour: float) -> Dose:
    return _bounded(Dose(mcg_per_hour=round(mg_per_hour * 1000, 6)))


def _bounded(dose: Dose) -> Dose:
    value = dose.mg_per_day if dose.mg_per_day is not None else dose.mcg_per_hour
    if value is None or not 0 < value <= _MOST:
        return Dose(unknown="the dose worked out is outside the record's range")
    return dose


def _one(dosage: dict[str, Any], strength: Strength | None, *, patch: bool) -> Dose:
    """The daily dose of one Dosage element."""
    rate = _rate_given(dosage)
    if rate is not None:
        return rate
    as_needed = dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage
    if as_needed:
        return _as_needed(dosage, strength)
    amount = _amount(_dose_quantity(dosage), strength)
    if isinstance(amount, str):
        return Dose(unknown=amount)
    mg, kind = amount
    if kind == "hr":
        if not patch:
            return Dose(unknown="a dose per hour for a medicine that is not a patch")
        return _rate(mg)
    per_day = _doses_per_day(dosage.get("timing"))
    if isinstance(per_day, str):
        return Dose(unknown=per_day)
    return Dose(mg_per_day=mg * per_day)


def _as_needed(dosage: dict[str, Any], strength: Strength | None) -> Dose:
    """As needed: the most a day (``maxDosePerPeriod``), else unknown."""
    ratio = dosage.get("maxDosePerPeriod")
    if not isinstance(ratio, dict):
        return Dose(unknown="as needed without a maximum dose")
    amount = _amount(ratio.get("numerator"), strength)
    if isinstance(amount, str):
        return Dose(unknown=amount)
    mg, kind = amount
    if kind == "hr":
        return Dose(unknown="an as-needed maximum in mg an hour")
    hours = _hours(ratio.get("denominator"))
    if hours is None:
        return Dose(unknown="a maximum dose without a readable period")
    return Dose(mg_per_day=mg * 24 / hours)


def _rate_given(dosage: dict[str, Any]) -> Dose | None:
    """A rate in ``doseAndRate.rateQuantity`` in mg/h or ug/h (a patch's delivery rate)."""
    for given in _list(dosage.get("doseAndRate")):
        rate = given.get("rateQuantity") if isinstance(given, dict) else None
        if isinstance(rate, dict):
            value, unit = _number(rate.get("value")), _unit(rate)
            if value is None or unit not in ("mg/h", "ug/h"):
                return Dose(unknown="a rate in a unit not read")
            return _rate(value if unit == "mg/h" else value / 1000)
    return None


def _dose_quantity(dosage: dict[str, Any]) -> Any:
    for given in _list(dosage.get("doseAndRate")):
        if not isinstance(given, dict):
            continue
        if "doseQuantity" in given:
            return given["doseQuantity"]
        dose_range = given.get("doseRange")
        if isinstance(dose_range, dict):  # the most the range allows: the safer reading
            return dose_range.get("high")
    return None


def _amount(quantity: Any, strength: Strength | None) -> tuple[float, str] | str:
    """(mg per administration, "unit" or "hr"), or why it cannot be read."""
    if not isinstance(quantity, dict):
        return "no dose per administration"
    value = _number(quantity.get("value"))
    if value is None or value <= 0:
        return "a dose without a readable value"
    unit = _unit(quantity)
    if unit == "mg":
        return value, "unit"
    if unit == "ug":
        return value / 1000, "unit"
    if strength is None:
        return "a dose in units of the product, with no strength in its name"
    if unit == "ml":
        if strength.per != "ml":
            return "a dose in mL of a product whose strength is not per mL"
        return value * strength.mg, "unit"
    if unit in _COUNTS:
        if strength.per == "ml":
            return "a count of a liquid's units"
        return value * strength.mg, strength.per
    return "a dose in a unit not read"


def _doses_per_day(timing: Any) -> float | str:
    """How many administrations a day the timing gives: its ``repeat``, or its ``code``.

    FHIR R4 makes a code a complete statement of the repeat: where both say how
    often they must agree (else the dose is unknown); where the repeat does not
    (bounds alone), the code says it.
    """
    timing = timing if isinstance(timing, dict) else {}
    repeat = timing.get("repeat")
    by_repeat = _per_day(repeat) if isinstance(repeat, dict) else "no timing saying how often"
    if timing.get("code") is None:
        return by_repeat
    by_code = repeat_of_code(timing["code"])
    if isinstance(by_code, str):
        return by_repeat if not isinstance(by_repeat, str) else by_code
    per_day = _per_day(by_code)
    if isinstance(by_repeat, str) or isinstance(per_day, str):
        return per_day
    if abs(by_repeat - per_day) > 1e-9 * per_day:
        return "a timing whose code and repeat disagree"
    return by_repeat


def _per_day(repeat: dict[str, Any]) -> float | str:
    """Administrations a day of a ``repeat`` (``frequency`` per ``period``, or ``timeOfDay``s)."""
    frequency = _number(repeat.get("frequencyMax")) or _number(repeat.get("frequency"))
    times = _list(repeat.get("timeOfDay"))
    if frequency is None:
        frequency = float(len(times)) if times else 1.0
    period = _number(repeat.get("period"))
    unit = repeat.get("periodUnit")
    if period is None and times and unit in (None, "d"):
        period, unit = 1.0, "d"
    if period is None or period <= 0 or unit not in _HOURS:
        return "a timing without a readable period"
    return frequency * 24 / (period * _HOURS[unit])


def _hours(quantity: Any) -> float | None:
    if not isinstance(quantity, dict):
        return None
    value = _number(quantity.get("value"))
    unit = quantity.get("code") or quantity.get("unit")
    if value is None or value <= 0 or unit not in _HOURS:
        return None
    return value * _HOURS[unit]


def _unit(quantity: dict[str, Any]) -> str:
    """The unit, as UCUM code where given (else the unit's text), in lower case."""
    unit = quantity.get("code") or quantity.get("unit") or ""
    unit = unit.strip().lower() if isinstance(unit, str) else "?"
    return {"mcg": "ug", "mcg/h": "ug/h", "mcg/hr": "ug/h", "mg/hr": "mg/h"}.get(unit, unit)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
