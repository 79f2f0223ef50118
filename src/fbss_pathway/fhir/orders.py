"""Draft orders (CDS Hooks ``order-sign``): ladder steps, opioids and benzodiazepines.

A ServiceRequest whose code the mapping reads as a medial branch block,
radiofrequency denervation, an SCS trial or implant, or a lumbar spine
operation is a step the pathway has an opinion on. Codes are the same as for
procedures (``codes.toml``), including this library's own ``treatment.<kind>``
and ``operation.<kind>``.

A MedicationRequest is an opioid order when the reader would read its
medication as an opioid analgesic (``codes.toml``: WHO ATC N02A, RxNorm
ingredient CUIs and names), or when its RxNorm code is an ingredient CUI of the
rule set's MME table; a benzodiazepine order when it is in the medicine class
``medicines.benzodiazepine`` (``medicines.toml``). Every other order is not
looked at: nothing here guesses a code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..mme import MmeTable, is_ingredient
from ..record import OpioidIngredient, TreatmentKind
from ..steps import Step
from .codes import LOCAL_SYSTEM, RXNORM, CodeMap
from .entries import codings
from .errors import FhirError
from .reading import default_codes

__all__ = ["OrderedMedicine", "OrderedStep", "ordered_medicines", "ordered_steps"]

_TREATMENT_STEPS = {
    TreatmentKind.MEDIAL_BRANCH_BLOCK: Step.MEDIAL_BRANCH_BLOCK,
    TreatmentKind.RADIOFREQUENCY_DENERVATION: Step.RADIOFREQUENCY_DENERVATION,
    TreatmentKind.SCS_TRIAL: Step.SCS_TRIAL,
    TreatmentKind.SCS_IMPLANT: Step.SCS_IMPLANT,
}


@dataclass(frozen=True, slots=True)
class OrderedStep:
    """A draft order that is a step of the ladder."""

    step: Step
    entry: int
    resource_id: str | None


MedicineClass = Literal["opioid", "benzodiazepine"]


@dataclass(frozen=True, slots=True)
class OrderedMedicine:
    """A draft medication order of a class the pathway warns about (pathway.md 5.2).

    ``ingredient`` is the opioid ingredient the MME table names, where the coding
    says which (``other`` when it does not); None for a benzodiazepine. ``name``
    is what the order calls the medicine (its text, else a coding's display): a
    drug's name, not patient data.
    """

    kind: MedicineClass
    entry: int
    resource_id: str | None
    ingredient: OpioidIngredient | None = None
    name: str | None = None


def _resources(draft_orders: Any, resource_type: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The draft orders of one resource type, by entry number; FhirError when not a Bundle."""
    if not isinstance(draft_orders, Mapping) or draft_orders.get("resourceType") != "Bundle":
        raise FhirError("context.draftOrders: must be a FHIR Bundle")
    listed = draft_orders.get("entry") or []
    if not isinstance(listed, list):
        raise FhirError("context.draftOrders entry: must be an array")
    found = []
    for number, entry in enumerate(listed):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and resource.get("resourceType") == resource_type:
            found.append((number, resource))
    return found


def _concept(
    resource: Mapping[str, Any], element: str, number: int, resource_type: str
) -> list[tuple[str | None, str | None, str | None]]:
    code = resource.get(element)
    # R5 wraps the code in a CodeableReference (code.concept); R4 has the concept itself.
    if isinstance(code, Mapping) and "concept" in code:
        code = code["concept"]
    concept = codings(code)
    if concept is None:
        raise FhirError(
            f"context.draftOrders entry[{number}] ({resource_type}) {element}: not FHIR"
        )
    return concept


def _ident(resource: Mapping[str, Any]) -> str | None:
    ident = resource.get("id")
    return ident if isinstance(ident, str) else None


def ordered_steps(draft_orders: Any, codes: CodeMap | None = None) -> list[OrderedStep]:
    """The ladder steps among the draft orders (a Bundle); FhirError when it is not one."""
    codes = codes or default_codes()
    found = []
    for number, resource in _resources(draft_orders, "ServiceRequest"):
        step = _step(_concept(resource, "code", number, "ServiceRequest"), codes)
        if step is not None:
            found.append(OrderedStep(step, number, _ident(resource)))
    return found


def ordered_medicines(
    draft_orders: Any, table: MmeTable, codes: CodeMap | None = None
) -> list[OrderedMedicine]:
    """The opioid and benzodiazepine orders among the draft orders (a Bundle).

    R4 gives the medication as ``medicationCodeableConcept``, R5 as
    ``medication.concept``; an order naming a Medication resource by reference
    alone is not read (its code is elsewhere).
    """
    codes = codes or default_codes()
    cuis = {row.rxcui: name for name, row in table.items() if row.rxcui is not None}
    found = []
    for number, resource in _resources(draft_orders, "MedicationRequest"):
        element = "medication" if "medication" in resource else "medicationCodeableConcept"
        concept = _concept(resource, element, number, "MedicationRequest")
        ingredient = _opioid(concept, codes, cuis)
        name = _name(resource.get(element), concept)
        if ingredient is not None:
            found.append(OrderedMedicine("opioid", number, _ident(resource), ingredient, name))
        elif any(
            entry.item == "medicines.benzodiazepine"
            for system, code, display in concept
            for entry in codes.find("medicine", system, code, display)
        ):
            found.append(OrderedMedicine("benzodiazepine", number, _ident(resource), None, name))
    return found


#: The longest medicine name an order's card repeats (a free text may be long).
_NAME_LIMIT = 80


def _name(code: Any, concept: list[tuple[str | None, str | None, str | None]]) -> str | None:
    """The medicine as the order names it: the concept's text, else its first display."""
    if isinstance(code, Mapping) and "concept" in code:
        code = code["concept"]
    text = code.get("text") if isinstance(code, Mapping) else None
    if not isinstance(text, str) or not text.strip():
        text = next((display for _, _, display in concept if display and display.strip()), None)
    if text is None:
        return None
    words = " ".join(text.replace("*", " ").replace("_", " ").split())
    return words if len(words) <= _NAME_LIMIT else words[: _NAME_LIMIT - 1].rstrip() + "…"


def _opioid(
    concept: list[tuple[str | None, str | None, str | None]],
    codes: CodeMap,
    cuis: Mapping[str, str],
) -> OpioidIngredient | None:
    """The ordered opioid's ingredient (``other`` when unnamed), or None: not an opioid."""
    opioid = False
    for system, code, display in concept:
        if system == RXNORM and code is not None and code in cuis:
            return OpioidIngredient(cuis[code])
        for entry in codes.find("medication", system, code, display):
            if entry.opioid:
                opioid = True
                if entry.name is not None and is_ingredient(entry.name):
                    return OpioidIngredient(entry.name)
    return OpioidIngredient.OTHER if opioid else None


def _step(found: list[tuple[str | None, str | None, str | None]], codes: CodeMap) -> Step | None:
    for system, code, _ in found:
        if system == LOCAL_SYSTEM and code:
            group, _, kind = code.partition(".")
            if group == "operation":
                return Step.REOPERATION
            if group == "treatment" and kind in _TREATMENT_STEPS:
                return _TREATMENT_STEPS[TreatmentKind(kind)]
        entries = codes.find("procedure", system, code)
        for entry in entries:
            if entry.operation is not None:
                return Step.REOPERATION
            if entry.treatment in _TREATMENT_STEPS:
                return _TREATMENT_STEPS[entry.treatment]
    return None
