"""The pathway assessment's QuestionnaireResponse, as an EHR's form sends it, for service tests."""

from __future__ import annotations

from typing import Any

from fbss_pathway.fhir import QUESTIONNAIRE_URL

_ANSWER = {bool: "valueBoolean", int: "valueInteger", float: "valueDecimal", str: "valueString"}


def form(
    patient_id: str, answers: dict[str, Any], *, authored: str = "2026-09-30"
) -> dict[str, Any]:
    """A completed response answering ``answers`` (linkId: value), one item each, unnested."""
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"form-{patient_id}",
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "authored": authored,
        "subject": {"reference": f"Patient/{patient_id}"},
        "item": [
            {"linkId": link, "answer": [{_ANSWER[type(value)]: value}]}
            for link, value in answers.items()
        ],
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    """A search result holding the resources, as a prefetch key carries it."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
