"""The integrator charts of tests/integrator/, dated for one assessment day.

The charts and records store every date relative to the assessment day: a
string ``@D`` is that day, ``@D-400`` 400 days before it, and the date may be
followed by the rest of a FHIR dateTime (``@D-400T09:30:00-05:00``). The tests
materialise them for one fixed day, so that every path (the record, the reader,
the service, the screen) sees the same dates.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

__all__ = ["CASES", "INTEGRATOR", "assessment_day", "chart", "materialise", "record"]

INTEGRATOR = Path(__file__).parent / "integrator"
#: The case names: each has ``<name>.chart.json`` (a FHIR Bundle) and ``<name>.record.json``.
CASES = tuple(sorted(p.name.removesuffix(".chart.json") for p in INTEGRATOR.glob("*.chart.json")))
_OFFSET = re.compile(r"@D([+-]\d+)?")


def assessment_day() -> date:
    """The one assessment day of every path: 60 days ago (the record refuses a future one)."""
    return date.today() - timedelta(days=60)


def materialise(value: Any, day: date) -> Any:
    """``value`` with every ``@D[+-N]`` replaced by the ISO date it stands for."""
    if isinstance(value, str):
        return _OFFSET.sub(lambda m: (day + timedelta(days=int(m[1] or 0))).isoformat(), value)
    if isinstance(value, list):
        return [materialise(item, day) for item in value]
    if isinstance(value, dict):
        return {key: materialise(item, day) for key, item in value.items()}
    return value


def chart(name: str, day: date) -> dict[str, Any]:
    """The case's FHIR Bundle, dated for ``day``."""
    loaded: dict[str, Any] = json.loads((INTEGRATOR / f"{name}.chart.json").read_text())
    return dict(materialise(loaded, day))


def record(name: str, day: date) -> dict[str, Any]:
    """What the chart means clinically, as ``PatientRecord`` data, dated for ``day``."""
    loaded: dict[str, Any] = json.loads((INTEGRATOR / f"{name}.record.json").read_text())
    return dict(materialise(loaded, day))
