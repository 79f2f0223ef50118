"""Opioids with their doses from MedicationStatement, MedicationRequest and AllergyIntolerance.

The record's ``medicines.opioids`` (pathway.md 2, 5.2) lists each opioid,
current or stopped, with its ingredient, dose and dates. A statement or request
the code mapping reads as an opioid analgesic is read here as well (lazily:
nothing here runs for any other resource). Each gives one draft per opioid
ingredient it names (``opioids.toml``: RxNorm CUI, SNOMED CT substance, or the
ingredient's name in the drug's name; a product the mapping calls an opioid
without naming one of them is ``other``), which :mod:`.opioid_courses` joins
into one use per ingredient and course. Choices (docs/fhir.md, "Opioids"):

- ``active`` is current; ``completed`` and ``stopped`` are stopped on the
  ``effectivePeriod.end``, else on the latest date the resource gives
  (``dateAsserted``, its start), else on the assessment date: never in use.
  Every other status sets nothing and is listed, as for analgesics (statuses
  are allow-lists, docs/fhir.md).
- A dosage that does not give a dose is unknown and, while the opioid is
  current, in ``unreadable`` (a warning naming the resource, never the value);
  no dosage at all is simply unknown (nothing was recorded to read).
- An opioid allergy or intolerance is side effects of that opioid (severe when
  its criticality is high or a reaction was severe, else mild); with no use of
  that opioid on record, a stopped use is added with those side effects.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, with_config
from typing_extensions import TypedDict

from ..record import OpioidIngredient
from ..record.medicines import PATCH_INGREDIENTS
from .codes import EXTENSION, LOCAL_SYSTEM, RXNORM, CodeMapError
from .dosage import daily_dose, strength_in
from .entries import RawEntry, validate
from .shapes import _STRICT, CodeableConcept, FhirDateTime, codings_of, first_code
from .statements import when_of

if TYPE_CHECKING:
    from .resources import Chart

__all__ = [
    "RECORD_PART",
    "SNOMED",
    "Ingredient",
    "ingredients",
    "read_allergy",
    "read_opioid",
]

SNOMED = "http://snomed.info/sct"
#: The extension saying which part of the record a written statement is for
#: (``treatments`` or ``medicines.opioids``): without it, a statement is both.
RECORD_PART = f"{EXTENSION}record-part"
_STOPPED = frozenset({"completed", "stopped"})
_SEVERE = "severe"


@with_config(_STRICT)
class _Reaction(TypedDict, total=False):
    severity: str | None


@with_config(_STRICT)
class Allergy(TypedDict, total=False):
    """AllergyIntolerance: the substance, statuses, criticality and reactions' severity."""

    code: CodeableConcept | None
    verificationStatus: CodeableConcept | None
    criticality: str | None
    reaction: list[_Reaction] | None
    recordedDate: FhirDateTime | None
    onsetDateTime: FhirDateTime | None


_ALLERGY: TypeAdapter[Allergy] = TypeAdapter(Allergy)


@dataclass(frozen=True, slots=True)
class Ingredient:
    """An opioid ingredient of ``opioids.toml``."""

    name: str
    ingredient: OpioidIngredient
    rxcui: str | None
    snomed: str | None
    pattern: re.Pattern[str]


def ingredients() -> tuple[Ingredient, ...]:
    """The packaged opioid ingredients, read once."""
    if not _INGREDIENTS:
        path = resources.files("fbss_pathway.fhir").joinpath("opioids.toml")
        try:
            rows = tomllib.loads(path.read_text(encoding="utf-8"))["ingredient"]
            _INGREDIENTS.extend(
                Ingredient(
                    row["name"],
                    OpioidIngredient(row["ingredient"]),
                    row.get("rxcui"),
                    row.get("snomed"),
                    re.compile(rf"(?<![a-z]){re.escape(row['name'])}(?![a-z])"),
                )
                for row in rows
            )
        except (KeyError, ValueError, TypeError) as error:
            raise CodeMapError(f"opioids.toml: not a valid ingredient table ({error})") from error
    return tuple(_INGREDIENTS)


_INGREDIENTS: list[Ingredient] = []


Named = list[tuple[OpioidIngredient, str | None, int]]


def named(concept: CodeableConcept | None) -> Named:
    """(ingredient, display, where its name ends in the display) for each opioid it names.

    A chart repeats its drugs (refills): what each concept names is remembered
    (bounded: emptied when full, and long text is not remembered).
    """
    codings = tuple(
        (coding.get("system"), coding.get("code"), coding.get("display"))
        for coding in codings_of(concept)
    )
    key = (codings, concept.get("text") if concept else None)
    found = _NAMED.get(key)
    if found is None:
        found = _named(*key)
        if sum(len(part or "") for coding in codings for part in coding) <= 512:
            if len(_NAMED) >= 1024:
                _NAMED.clear()
            _NAMED[key] = found
    return list(found)


_NAMED: dict[Any, Named] = {}


def _named(
    codings: tuple[tuple[str | None, str | None, str | None], ...], text: str | None
) -> Named:
    found: dict[OpioidIngredient, tuple[OpioidIngredient, str | None, int]] = {}
    for system, code, display in codings:
        if system == LOCAL_SYSTEM and code and code.startswith("opioid."):
            try:
                ingredient = OpioidIngredient(code.removeprefix("opioid."))
            except ValueError:
                continue
            found.setdefault(ingredient, (ingredient, None, 0))
            continue
        lowered = display.lower() if display else ""
        for known in ingredients():
            by_code = code is not None and (
                (system == RXNORM and code == known.rxcui)
                or (system == SNOMED and code == known.snomed)
            )
            match = known.pattern.search(lowered) if lowered else None
            if match is not None:  # a display naming it also gives the strength
                found[known.ingredient] = (known.ingredient, display, match.end())
            elif by_code:
                found.setdefault(known.ingredient, (known.ingredient, None, 0))
    if not found and text:
        lowered = text.lower()
        for known in ingredients():
            match = known.pattern.search(lowered)
            if match is not None:
                found.setdefault(known.ingredient, (known.ingredient, text, match.end()))
    return sorted(found.values(), key=lambda item: item[0].value)


def record_part(resource: Any) -> str | None:
    """The part of the record a statement written by this library is for, if it says."""
    for extension in resource.get("extension") or []:
        if extension.get("url") == RECORD_PART:
            code = extension.get("valueCode")
            return code if isinstance(code, str) else None
    return None


def read_opioid(
    chart: Chart, entry: RawEntry, concept: CodeableConcept | None, when: date | None
) -> None:
    """The opioid uses a statement or request describes, one draft per ingredient."""
    resource = entry.resource
    status = resource.get("status")
    dosages = resource.get("dosage") if entry.type == "MedicationStatement" else None
    if entry.type == "MedicationRequest":
        dosages = resource.get("dosageInstruction")
    if dosages is not None and not isinstance(dosages, list):
        dosages = [None]  # not FHIR's list: a dosage that gives no dose
    stop: date | None = None
    stopped = status in _STOPPED
    if stopped:
        stop, how = _stopped_on(resource, when)
        if how:
            chart.skip(entry, f"opioid stopped without an end date: {how}")
    details = _details(resource)
    for ingredient, display, end in named(concept) or [(OpioidIngredient.OTHER, None, 0)]:
        draft: dict[str, Any] = {"ingredient": ingredient, "start_date": when, **details}
        if stop is not None:
            draft["stop_date"] = stop
        if "mme_per_day" not in details:
            patch = ingredient in PATCH_INGREDIENTS
            dose = daily_dose(dosages, strength_in(display, end), patch=patch)
            if dose.unknown is not None and _structured(dosages):  # given, yet no dose
                chart.unreadable.setdefault(
                    f"medicines.opioids[{ingredient}].opioid_dose", []
                ).append(entry.label)
            elif dose.mcg_per_hour is not None:
                draft["mcg_per_hour"] = dose.mcg_per_hour
            else:
                draft["daily_dose_mg"] = dose.mg_per_day
        chart.opioid(entry, draft, stopped=stopped)


def _structured(dosages: list[Any] | None) -> bool:
    """Whether a dosage says more than text ("as directed"): then an unknown dose is unreadable.

    A text-only dosage is common and holds nothing to work out: the dose is simply
    unknown (the rules list MME as missing), not a warning on every such chart.
    """
    return any(
        not isinstance(dosage, dict) or any(dosage.get(key) for key in _STRUCTURED)
        for dosage in dosages or []
    )


_STRUCTURED = (
    "doseAndRate",
    "timing",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "maxDosePerPeriod",
)


def _stopped_on(resource: Any, started: date | None) -> tuple[date | None, str]:
    """The day a stopped opioid stopped, and how it was chosen when no end is given."""
    period = resource.get("effectivePeriod")
    end = _day(period.get("end")) if isinstance(period, dict) else None
    if end is not None:
        return end, ""
    asserted = _day(resource.get("dateAsserted"))
    if asserted is not None:
        return asserted, "stopped by the date it was asserted"
    if started is not None:
        return started, "its start date is read as the stop date (never in use)"
    return None, "stopped by the assessment (no date on record)"


def _details(resource: Any) -> dict[str, Any]:
    """Benefit, side effects and MME a day, as this library writes them (extensions)."""
    details: dict[str, Any] = {}
    for extension in resource.get("extension") or []:
        url = extension.get("url") if isinstance(extension, dict) else None
        if url == f"{EXTENSION}benefit" and isinstance(extension.get("valueBoolean"), bool):
            details["benefit"] = extension["valueBoolean"]
        elif url == f"{EXTENSION}side-effects" and isinstance(extension.get("valueCode"), str):
            details["side_effects"] = extension["valueCode"]
        elif url == f"{EXTENSION}mme-per-day":
            value = extension.get("valueDecimal")
            if isinstance(value, int | float) and not isinstance(value, bool):
                details["mme_per_day"] = value
    return details


def read_allergy(chart: Chart, entry: RawEntry) -> None:
    """An opioid allergy or intolerance: side effects of that opioid."""
    resource = validate(entry, _ALLERGY)
    found = named(resource.get("code"))
    if not found:
        chart.skip(entry, "not an opioid allergy or intolerance")
        return
    verification = first_code(resource.get("verificationStatus"))
    if verification in ("refuted", "entered-in-error"):
        chart.skip(entry, f"verification status {verification}: not read")
        return
    severe = resource.get("criticality") == "high" or any(
        reaction.get("severity") == _SEVERE for reaction in resource.get("reaction") or []
    )
    recorded = _day(resource.get("recordedDate")) or _day(resource.get("onsetDateTime"))
    for ingredient, _, _ in found:
        draft = {
            "ingredient": ingredient,
            "side_effects": "severe" if severe else "mild",
            "stop_date": recorded,
        }
        chart.opioid(entry, draft, stopped=True, allergy=True)


def _day(value: Any) -> date | None:
    when = when_of(value) if isinstance(value, str) else None
    return when.day if when is not None else None
