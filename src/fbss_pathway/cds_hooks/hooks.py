"""Answering the hooks: completing the prefetch, patient-view's cards, order-sign's guardrail.

Both hooks read the same data (the discovery's prefetch templates); what the
client did not prefetch is fetched from its FHIR server when allowed
(:mod:`.fetch`). These functions block (reading, fetching, the engine): the
service runs them in worker threads, off the event loop.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from pydantic import ValidationError

from ..errors import EvaluationError
from ..fhir import FhirError, read_bundle
from ..fhir.orders import ordered_steps
from ..recommendation import PathwayWarning, Recommendation
from ..ruleset import RuleSet
from ..steps import check_step
from .auth import TrustedClient
from .calls import RefusedCallError
from .cards import cards, order_warning_card
from .fetch import fetch_missing

__all__ = [
    "HOOKS",
    "ORDER_SIGN_ID",
    "PREFETCH",
    "SERVICE_ID",
    "UNREAD_WARNING",
    "complete_prefetch",
    "fhir_server_for",
    "needs_fetch",
    "order_sign",
    "patient_view",
    "prefetch_from_bundle",
]

#: The services, by id, and the hook each answers.
SERVICE_ID = "fbss-pathway"
ORDER_SIGN_ID = "fbss-pathway-order-sign"
HOOKS = {SERVICE_ID: "patient-view", ORDER_SIGN_ID: "order-sign"}
#: What the hook needs, fetched by the client: every key must be present (null: no data).
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medications": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
}

#: The rule id of the warning that some data could not be read from the FHIR server.
UNREAD_WARNING = "FHIR-UNREAD"


def prefetch_from_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """What a client would prefetch for this service from a patient's bundle.

    The reverse of how the hook reads its prefetch: the Patient read as a
    resource, each search as a ``searchset`` Bundle, or null when the bundle has
    no such resources. Useful to build test calls and demos.
    """
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry") or []:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry)
    prefetch: dict[str, Any] = {}
    for key, template in PREFETCH.items():
        kind, is_search = template.split("?")[0].split("/")[0], "?" in template
        found = by_type.get(kind, [])
        if not is_search:
            prefetch[key] = found[0]["resource"] if found else None
        else:
            prefetch[key] = (
                {"resourceType": "Bundle", "type": "searchset", "entry": found} if found else None
            )
    return prefetch


def _bundle_of(prefetch: dict[str, Any]) -> dict[str, Any]:
    """One collection Bundle from the prefetched resources and search sets."""
    entries: list[dict[str, Any]] = []
    for key in PREFETCH:
        value = prefetch[key]
        if value is None:
            continue
        if not isinstance(value, dict):
            raise FhirError(f"prefetch {key} is not a FHIR resource")
        if value.get("resourceType") == "Bundle":
            listed = value.get("entry") or []
            if not isinstance(listed, list):
                raise FhirError(f"prefetch {key}: entry must be an array")
            entries += listed  # the reader names any malformed entry
        else:
            entries.append({"resource": value})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def fhir_server_for(
    body: dict[str, Any], client: TrustedClient | None, authenticated: bool
) -> str | None:
    """The call's FHIR server when the service may fetch from it.

    With authentication, only a server on the calling client's ``fhir_servers``
    list: the service never fetches from an address a caller merely names.
    """
    server = body.get("fhirServer")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        return None
    if authenticated and not (
        client is not None and any(server.startswith(allowed) for allowed in client.fhir_servers)
    ):
        return None
    return server


def _access_token(body: dict[str, Any]) -> str | None:
    authorization = body.get("fhirAuthorization")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    return token if isinstance(token, str) and token else None


def patient_view(
    prefetch: dict[str, Any], patient_id: str, rules: RuleSet, unread: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """The cards for a prefetch, and how many resources were ignored."""
    reading = _read(prefetch, patient_id)
    try:
        recommendation = reading.evaluate(ruleset=rules, ladder=False)  # cards do not show it
    except EvaluationError:
        raise RefusedCallError(
            500, "exception", "the rule engine failed; no recommendation"
        ) from None
    if recommendation is None:  # outside the pathway: an answer, not an error
        return [], len(reading.ignored)
    if unread:
        recommendation = _with_unread(recommendation, unread)
    return cards(recommendation, ruleset=rules), len(reading.ignored)


def complete_prefetch(
    body: dict[str, Any], client: TrustedClient | None, authenticated: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The prefetch, completed from the FHIR server where allowed, and what could not be read.

    Raises:
        RefusedCallError: 412 when a key is missing and cannot be fetched, or
            when nothing at all could be read from the server.
    """
    prefetch = body.get("prefetch")
    prefetch = dict(prefetch) if isinstance(prefetch, dict) else {}
    unread: dict[str, str] = {}
    server = fhir_server_for(body, client, authenticated)
    if server is not None and _incomplete(prefetch):
        fetched = fetch_missing(
            prefetch,
            PREFETCH,
            fhir_server=server,
            access_token=_access_token(body),
            patient_id=body["context"]["patientId"],
        )
        prefetch, unread = fetched.prefetch, fetched.unread
        if all(prefetch.get(key) is None for key in PREFETCH):
            raise RefusedCallError(412, "incomplete", "no data could be read from the FHIR server")
    missing = [key for key in PREFETCH if key not in prefetch]
    if missing:
        raise RefusedCallError(
            412, "incomplete", f"required prefetch missing: {', '.join(missing)}"
        )
    return prefetch, unread


def needs_fetch(body: dict[str, Any], client: TrustedClient | None, authenticated: bool) -> bool:
    """Whether completing the call's prefetch means fetching from its FHIR server."""
    prefetch = body.get("prefetch")
    return fhir_server_for(body, client, authenticated) is not None and _incomplete(
        prefetch if isinstance(prefetch, dict) else {}
    )


def _incomplete(prefetch: dict[str, Any]) -> bool:
    return any(prefetch.get(key) is None for key in PREFETCH)


def _with_unread(recommendation: Recommendation, unread: dict[str, str]) -> Recommendation:
    """The recommendation warning first that some of the patient's data could not be read."""
    what = "; ".join(f"{key} ({reason})" for key, reason in sorted(unread.items()))
    warning = PathwayWarning(
        rule_id=UNREAD_WARNING,
        message=f"Not read from the EHR's FHIR server: {what}. "
        "The items these would give are unknown, not absent.",
    )
    return recommendation.model_copy(update={"warnings": (warning, *recommendation.warnings)})


def order_sign(
    prefetch: dict[str, Any],
    patient_id: str,
    rules: RuleSet,
    unread: dict[str, str],
    draft_orders: Any,
) -> tuple[list[dict[str, Any]], int]:
    """A warning card for each ordered ladder step the pathway does not support now."""
    try:
        steps = ordered_steps(draft_orders)
    except FhirError as error:
        raise RefusedCallError(400, "invalid", str(error)) from None
    if not steps:
        return [], 0
    reading = _read(prefetch, patient_id)
    if reading.record is None:  # outside the pathway: it has no opinion on the order
        return [], len(reading.ignored)
    result = []
    for step in dict.fromkeys(ordered.step for ordered in steps):
        try:
            check = check_step(reading.record, step, ruleset=rules)
        except EvaluationError:
            raise RefusedCallError(500, "exception", "the rule engine failed") from None
        if not check.supported:
            if unread:
                check = replace(check, recommendation=_with_unread(check.recommendation, unread))
            result.append(order_warning_card(check, ruleset=rules))
    return result, len(reading.ignored)


def _read(prefetch: dict[str, Any], patient_id: str) -> Any:
    try:
        return read_bundle(
            _bundle_of(prefetch), assessment_date=date.today(), patient_id=patient_id
        )
    except FhirError as error:
        raise RefusedCallError(400, "invalid", str(error)) from None
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        raise RefusedCallError(
            400, "invalid", f"the prefetched data is not a valid record: {fields}"
        ) from None
