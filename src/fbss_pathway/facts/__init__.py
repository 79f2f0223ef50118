"""The facts rules are written in: named values read from a patient record.

A rule file never reaches into the record's structure; it names facts from this
catalogue, and each fact says which record field it reads. That keeps rules
readable to a clinician, lets the loader reject a misspelt fact, and lets every
recommendation show the record fields behind it.

Extraction makes no clinical decisions: it selects (the most recent treatment
of a kind), counts and measures time. Thresholds and judgements live in the
rule files. An unknown item is absent from the extracted facts, never False.
"""

from __future__ import annotations

from .catalogue import FACTS, STEP_RECORDS, FactSpec, FactType, FactValue
from .extract import extract_facts
from .months import add_calendar_months, calendar_months, months_begun, months_reached

__all__ = [
    "FACTS",
    "STEP_RECORDS",
    "FactSpec",
    "FactType",
    "FactValue",
    "add_calendar_months",
    "calendar_months",
    "extract_facts",
    "months_begun",
    "months_reached",
]
