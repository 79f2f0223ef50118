"""Draft orders (CDS Hooks ``order-sign``): which of them are steps of the ladder.

A ServiceRequest whose code the mapping reads as a medial branch block,
radiofrequency denervation, an SCS trial or implant, or a lumbar spine
operation is a step the pathway has an opinion on; every other order is not
looked at. Codes are the same as for procedures (``codes.toml``), including
this library's own ``treatment.<kind>`` and ``operation.<kind>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..record import TreatmentKind
from ..steps import Step
from .codes import LOCAL_SYSTEM, CodeMap
from .entries import codings
from .errors import FhirError
from .reading import default_codes

__all__ = ["OrderedStep", "ordered_steps"]

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


def ordered_steps(draft_orders: Any, codes: CodeMap | None = None) -> list[OrderedStep]:
    """The ladder steps among the draft orders (a Bundle); FhirError when it is not one."""
    codes = codes or default_codes()
    if not isinstance(draft_orders, Mapping) or draft_orders.get("resourceType") != "Bundle":
        raise FhirError("context.draftOrders: must be a FHIR Bundle")
    listed = draft_orders.get("entry") or []
    if not isinstance(listed, list):
        raise FhirError("context.draftOrders entry: must be an array")
    found = []
    for number, entry in enumerate(listed):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "ServiceRequest":
            continue
        code = resource.get("code")
        # R5 wraps the code in a CodeableReference (code.concept); R4 has the concept itself.
        if isinstance(code, Mapping) and "concept" in code:
            code = code["concept"]
        concept = codings(code)
        if concept is None:
            raise FhirError(f"context.draftOrders entry[{number}] (ServiceRequest) code: not FHIR")
        step = _step(concept, codes)
        if step is not None:
            ident = resource.get("id")
            found.append(OrderedStep(step, number, ident if isinstance(ident, str) else None))
    return found


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
