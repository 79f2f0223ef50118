"""Reading an Observation: a score or a yes/no item, a panel's components, a pain score's site.

Most entries of a chart are Observations, so this is one plain pass: the raw
codes are looked up first (remembered per code mapping), and only an
Observation the mapping knows is validated and read. A preliminary result
counts only as a suspicion; a pain score must say back or leg; a panel (the
PHQ-9 panel with item 9 and the total as components) is read component by
component.
"""

from __future__ import annotations

from typing import Any

from .codes import COMPOSITE_ITEMS, DATE_ITEMS, LOCAL_SYSTEM, SCALAR_ITEMS, CodeEntry
from .entries import RawEntry, codings, validate
from .resources import _MOST_REMEMBERED, OBSERVATION_DONE, Chart, _day, _start
from .shapes import OBSERVATION, Observation, codings_of, first_code
from .statements import When, when_from_first_day, when_of

__all__ = ["read_observation"]

_OBSERVATION_READ = OBSERVATION_DONE | {"preliminary"}  # preliminary: suspicions
_PAIN_ITEMS = frozenset({"pain.back_nrs", "pain.leg_nrs"})


def read_observation(chart: Chart, entry: RawEntry) -> None:
    """A score or a yes/no item; pain scores need a body site saying back or leg.

    A preliminary result counts only as a suspicion: a red flag's "yes", PHQ-9
    item 9 of 1 or more. (Most entries of a chart are Observations: this runs for
    each, so it is one plain pass.)
    """
    found = codings(entry.code)
    if found is not None and not _observes(chart, found):
        if not _components(chart, entry):
            chart.skip(entry, "code not in the mapping")
        return
    resource = validate(entry, OBSERVATION)
    # Valid, so the raw codings had FHIR's shape and ``found`` holds them.
    status = resource.get("status")
    if status not in _OBSERVATION_READ:
        chart.skip(entry, "status is not final, amended or corrected")
        return
    site = resource.get("bodySite")
    sites = {c.get("code") for c in codings_of(site)} if site else set()
    item, sited = None, set()  # sited: items the code sets only with a body site
    entry_found: CodeEntry | None = None
    for system, code, _ in found or ():
        if system == LOCAL_SYSTEM and (code in SCALAR_ITEMS or code in COMPOSITE_ITEMS):
            item = code
            break
        for mapped in chart.codes.find("observation", system, code):
            if mapped.body_site is None or mapped.body_site in sites:
                item, entry_found = mapped.item, mapped
                break
            sited.add(mapped.item)
        if item:
            break
    if item is None:
        if sites:
            why = "body site not in the mapping"
        elif sited <= _PAIN_ITEMS:
            why = "pain score without a body site saying back or leg"
            when = _observed_when(resource)
            chart.unsited_pain.append((when.day if when else None, entry.label))
        else:
            why = "no body site saying which item it is"
        chart.skip(entry, why)
        return
    value = _observed_value(resource)
    if entry_found is not None:
        value = entry_found.answer(value)
    if status == "preliminary" and not _suspicion(item, value):
        # A preliminary result counts only as a suspicion (a red flag, PHQ-9 item 9
        # of 1 or more), never as a "no".
        chart.skip(entry, "status is not final, amended or corrected")
        return
    if value is None:
        chart.skip(entry, "no value")
        return
    when = _observed_when(resource)
    if item in COMPOSITE_ITEMS:
        # This library's own code for the suicide-risk assessment: the outcome as the
        # value, the assessment's date as the observation's.
        outcome = {"outcome": value, "date": when.day if when else None}
        chart.state_composite(entry, item, outcome, When(when.day) if when else None)
        return
    if item in DATE_ITEMS and isinstance(value, str):
        value = _day(value)
    chart.state(entry, item, value, when)


def _components(chart: Chart, entry: RawEntry) -> bool:
    """Read a panel's components the mapping knows, each as an Observation; whether any.

    EHRs send a questionnaire's scores as components of a panel (the PHQ-9 total
    and item 9 inside LOINC 44249-1). Each component named in the mapping is read
    with the panel's status, dates and patient; the others are the panel's own
    business, not listed one by one.
    """
    if not entry.may_hold("component"):
        return False  # most unread Observations: never built from their text
    resource = entry.resource
    components = resource.get("component")
    if not isinstance(components, list):
        return False
    shared = {key: resource[key] for key in _PANEL_KEYS if key in resource}
    read = False
    for component in components:
        if not isinstance(component, dict):
            continue
        found = codings(component.get("code"))
        if not found or not _observes(chart, found):
            continue
        own = {key: value for key, value in component.items() if key.startswith("value")}
        read_observation(chart, entry.part({**shared, "code": component["code"], **own}))
        read = True
    return read


def _observes(chart: Chart, found: list[tuple[str | None, str | None, str | None]]) -> bool:
    """Whether an Observation's codings name an item.

    Remembered for this mapping by the codings (charts repeat a few dozen), when
    they are few and short; bounded (emptied when full).
    """
    key = tuple(found)
    known = chart.observed.get(key)
    if known is None:
        known = any(_observation_code(chart, system, code) for system, code, _ in found)
        if len(key) <= 8 and all(sum(len(part or "") for part in c) <= 256 for c in key):
            if len(chart.observed) >= _MOST_REMEMBERED:
                chart.observed.clear()
            chart.observed[key] = known
    return known


def _observation_code(chart: Chart, system: str | None, code: str | None) -> bool:
    return (system == LOCAL_SYSTEM and (code in SCALAR_ITEMS or code in COMPOSITE_ITEMS)) or bool(
        chart.codes.find("observation", system, code)
    )


_PANEL_KEYS = (
    "resourceType",
    "status",
    "subject",
    "effectiveDateTime",
    "effectivePeriod",
    "effectiveInstant",
    "issued",
)


def _observed_when(resource: Observation) -> When | None:
    """When an Observation was made: its effective time, else when it was issued.

    An effective date to the month or year counts from its first day (docs/fhir.md).
    """
    return (
        when_from_first_day(resource.get("effectiveDateTime"))
        or when_from_first_day(_start(resource.get("effectivePeriod")))
        or when_of(resource.get("effectiveInstant"))
        or when_of(resource.get("issued"))
    )


def _suspicion(item: str, value: Any) -> bool:
    """Whether a preliminary result counts: a red flag's "yes", an item 9 answer above "not at all".

    Not the pathway's threshold (``phq9_item9_positive``, which the rules apply to
    what is read): only a preliminary "not at all", which would read as a "no", is
    left out.
    """
    if item.startswith("red_flags."):
        return bool(value)
    return item == "psychosocial.phq9_item9" and isinstance(value, int) and value > 0


def _observed_value(resource: Observation) -> Any:
    for value in (
        resource.get("valueBoolean"),
        resource.get("valueInteger"),
        resource.get("valueString"),
        resource.get("valueDateTime"),
    ):
        if value is not None:
            return value
    quantity = resource.get("valueQuantity")
    if quantity is not None and quantity.get("value") is not None:
        return quantity.get("value")
    concept = resource.get("valueCodeableConcept")
    if concept is not None:
        return first_code(concept)
    return None
