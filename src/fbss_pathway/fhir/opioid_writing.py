"""The record's opioids written as MedicationStatements that read back as the same uses.

Each use is one statement: the ingredient as this library's code
(``opioid.<ingredient>``) and, where ``opioids.toml`` has it, its RxNorm CUI;
``active`` while current, ``completed`` with ``effectivePeriod.end`` once
stopped; the dose as a Dosage (mg once a day, or a patch's rate in UCUM
``mg/h``, as RxNorm labels patches); benefit, side effects and MME a day as
this library's extensions. Each carries ``record-part`` = ``medicines.opioids``
so that reading it back adds no analgesic treatment the record does not have
(the record's analgesic treatments are written separately, marked
``treatments``).
"""

from __future__ import annotations

from typing import Any

from ..record import OpioidUse
from .codes import EXTENSION, LOCAL_SYSTEM, RXNORM
from .opioids import RECORD_PART, ingredients

__all__ = ["opioid_statement", "part_extension"]

_UCUM = "http://unitsofmeasure.org"


def part_extension(part: str) -> dict[str, str]:
    """The extension saying which part of the record a written statement is for."""
    return {"url": RECORD_PART, "valueCode": part}


def opioid_statement(use: OpioidUse, subject: dict[str, str]) -> dict[str, Any]:
    """One opioid use as a MedicationStatement."""
    codings = [{"system": LOCAL_SYSTEM, "code": f"opioid.{use.ingredient.value}"}]
    for known in ingredients():
        if known.ingredient is use.ingredient and known.rxcui:
            codings.append({"system": RXNORM, "code": known.rxcui, "display": known.name})
            break
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "status": "active" if use.stop_date is None else "completed",
        "medicationCodeableConcept": {"coding": codings},
        "subject": subject,
    }
    period = {}
    if use.start_date is not None:
        period["start"] = use.start_date.isoformat()
    if use.stop_date is not None:
        period["end"] = use.stop_date.isoformat()
    if period:
        resource["effectivePeriod"] = period
    if use.daily_dose_mg is not None:
        resource["dosage"] = [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": _quantity(use.daily_dose_mg, "mg")}],
            }
        ]
    elif use.mcg_per_hour is not None:
        rate = _quantity(use.mcg_per_hour / 1000, "mg/h")
        resource["dosage"] = [{"doseAndRate": [{"rateQuantity": rate}]}]
    extensions: list[dict[str, Any]] = [part_extension("medicines.opioids")]
    if use.mme_per_day is not None:
        extensions.append({"url": f"{EXTENSION}mme-per-day", "valueDecimal": use.mme_per_day})
    if use.benefit is not None:
        extensions.append({"url": f"{EXTENSION}benefit", "valueBoolean": use.benefit})
    if use.side_effects is not None:
        side_effects = use.side_effects.value
        extensions.append({"url": f"{EXTENSION}side-effects", "valueCode": side_effects})
    resource["extension"] = extensions
    return resource


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": _UCUM, "code": unit}
