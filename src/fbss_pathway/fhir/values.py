"""A value read from FHIR, made fit for its record item (or refused with a reason).

Each item is checked on its own against the record's type for it, so that one
bad entry is listed as ignored instead of failing the whole chart. A pain
score on the 0-10 numeric rating scale given as a decimal (6.5) is rounded half
up to the scale (7), since the scale has whole points only; other whole-number
scores (PHQ-9, GAD-7) accept a decimal only when it is whole (14.0).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .codes import SCALAR_ITEMS, base_type

__all__ = ["NRS_ITEMS", "fit"]

#: Items on the 0-10 numeric rating scale.
NRS_ITEMS = frozenset(item for item in SCALAR_ITEMS if item.endswith("_nrs"))


@cache
def _adapter(item: str) -> TypeAdapter[Any]:
    return TypeAdapter(SCALAR_ITEMS[item])


def fit(item: str, value: Any) -> tuple[Any, str | None]:
    """(value fit for the item, None) or (None, why it does not fit); never echoes the value."""
    if isinstance(value, Decimal):
        value = float(value)
    kind = type(value)
    if kind not in _REMEMBERED or (kind is str and len(value) > _LONGEST_REMEMBERED):
        return _fit(item, value)
    # Scores, yes/no answers, coded answers and dates repeat from chart to chart (each
    # chart has a score's date, a form's answers): remember what each came to. Bounded
    # (emptied when full; texts short enough for an answer only); keyed by type too,
    # since True == 1.
    key = (item, kind, value)
    fitted = _FITTED.get(key)
    if fitted is None:
        if len(_FITTED) >= _MOST_REMEMBERED:
            _FITTED.clear()
        fitted = _FITTED[key] = _fit(item, value)
    return fitted


_FITTED: dict[tuple[str, type, Any], tuple[Any, str | None]] = {}
_MOST_REMEMBERED = 4096
#: The kinds of value whose fit is remembered: immutable, and equal only to their own kind.
_REMEMBERED = frozenset({bool, int, float, str, date})
_LONGEST_REMEMBERED = 64


def _fit(item: str, value: Any) -> tuple[Any, str | None]:
    kind = _kind(item)
    if (kind == "bool") != isinstance(value, bool) or (
        kind == "number" and not isinstance(value, int | float)
    ):
        return None, "value of the wrong type for the item"
    if isinstance(value, float) and _wants_int(item):
        if value.is_integer():
            value = int(value)
        elif item in NRS_ITEMS:
            value = int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        else:
            return None, "not a whole number on the item's scale"
    try:
        return _adapter(item).validate_python(value, strict=False), None
    except ValidationError:
        return None, "value outside the item's scale or of the wrong type"


@cache
def _base(item: str) -> Any:
    """The item's type without Optional and Annotated: bool, int, float or an enum."""
    return base_type(SCALAR_ITEMS[item])[0]


def _wants_int(item: str) -> bool:
    return _base(item) is int


def _kind(item: str) -> str:
    """bool, number or text: the JSON kind a value for the item must have."""
    base = _base(item)
    return "bool" if base is bool else "number" if base in (int, float) else "text"
