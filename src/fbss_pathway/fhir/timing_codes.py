"""How often a dosage's ``timing.code`` says a dose is given (FHIR R4 timing abbreviations).

An EHR may time a dose only by a code (``BID``, ``Q4H``), with no ``timing.repeat``.
FHIR R4 binds ``Timing.code`` (preferred) to the value set ``timing-abbreviation``
(http://hl7.org/fhir/ValueSet/timing-abbreviation, version 4.0.1): sixteen codes of
HL7 v3 GTSAbbreviation, a case-sensitive code system. The R4 specification says a
code is a complete statement of what a ``repeat`` would say, so a code this module
reads stands for the ``repeat`` it gives (frequency per period, as :mod:`.dosage`
reads them).

Confirmed (codes and definitions) in the FHIR R4 page of the value set,
hl7.org/fhir/R4/valueset-timing-abbreviation.html, and in the package
hl7.fhir.r4.core 4.0.1 as GinoCanessa/fhir-cross-version-source lists it
(docs/R4/ValueSets/TimingAbbreviation.md, commit 1c3e3379): 16 codes.

Read: the codes whose definition states how often, whatever the institution's
clock times: QD, BID, TID, QID ("Two times a day ..."), QOD ("Every Other Day"),
Q1H to Q8H ("Every 4 hours ..."), WK ("Weekly") and MO ("Monthly": a month is 30
days, as :mod:`.dosage` counts ``periodUnit`` ``mo``). Not read: AM and PM ("Every
morning/afternoon at institution specified times") and BED ("At bedtime
(institution specified time)") name a time of day, not how many doses, so the dose
stays unknown and says why. Only a coding in the GTSAbbreviation system is read:
another system's ``BID``, a code with no system, or text alone could mean anything.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GTS_ABBREVIATION", "repeat_of_code"]

GTS_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"

#: Each code read, as the ``repeat`` it stands for: (frequency, period, periodUnit).
_REPEATS: dict[str, tuple[float, float, str]] = {
    "QD": (1, 1, "d"),
    "BID": (2, 1, "d"),
    "TID": (3, 1, "d"),
    "QID": (4, 1, "d"),
    "QOD": (1, 2, "d"),
    "Q1H": (1, 1, "h"),
    "Q2H": (1, 2, "h"),
    "Q3H": (1, 3, "h"),
    "Q4H": (1, 4, "h"),
    "Q6H": (1, 6, "h"),
    "Q8H": (1, 8, "h"),
    "WK": (1, 1, "wk"),
    "MO": (1, 1, "mo"),
}
#: Codes of the value set that name a time of day, not how often: not read.
_TIMES_OF_DAY = frozenset({"AM", "PM", "BED"})


def repeat_of_code(concept: Any) -> dict[str, Any] | str:
    """The ``repeat`` a ``timing.code`` stands for, or why it gives none (no value in it).

    Codings of the concept that are read must agree; a concept whose codings give
    different frequencies is not read.
    """
    codings = concept.get("coding") if isinstance(concept, dict) else None
    read: set[tuple[float, float, str]] = set()
    named_time = False
    for coding in codings if isinstance(codings, list) else []:
        if not isinstance(coding, dict) or coding.get("system") != GTS_ABBREVIATION:
            continue
        code = coding.get("code")
        if code in _REPEATS:
            read.add(_REPEATS[code])
        elif code in _TIMES_OF_DAY:
            named_time = True
    if len(read) > 1:
        return "a timing code whose codings disagree"
    if read:
        frequency, period, unit = read.pop()
        return {"frequency": frequency, "period": period, "periodUnit": unit}
    if named_time:
        return "a timing code naming a time of day, not how often (AM, PM, BED)"
    return "a timing code not among FHIR's timing abbreviations read here"
