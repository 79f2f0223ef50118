"""A CDS Hooks 2.0 service (ASGI, Starlette): discovery, the patient-view hook, feedback.

Start it with ``fbss-pathway serve`` (localhost:8080 by default). The hook reads
only prefetched data: it does not call the client's FHIR server, so a request
without every prefetch key gets 412, as the specification asks. A prefetch key
whose value is null means the client has no such data; those items stay unknown.
The prefetch is read with the FHIR reader's safety rules for ``context.patientId``
(resources about another patient are ignored); a patient outside the pathway
gets ``200 {"cards": []}``, and conflicting entries become warning cards.

Malformed requests get 400 with a FHIR OperationOutcome naming the problem; the
log records request ids, outcomes and timings, never patient data.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import EvaluationError
from ..fhir import FhirError, read_bundle
from ..ruleset import RuleSet, default_ruleset
from .cards import cards

__all__ = ["PREFETCH", "SERVICE_ID", "create_app", "prefetch_from_bundle"]

SERVICE_ID = "fbss-pathway"
#: What the hook needs, fetched by the client: every key must be present (null: no data).
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medications": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
}
_FEEDBACK_OUTCOMES = {"accepted", "overridden"}
log = logging.getLogger("fbss_pathway.cds_hooks")


def _outcome(status: int, code: str, message: str) -> JSONResponse:
    """An error as a FHIR OperationOutcome."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return JSONResponse(body, status_code=status, media_type="application/fhir+json")


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


async def _call_body(request: Request) -> dict[str, Any] | JSONResponse:
    """The JSON object a call to this service posted, or the error response to send."""
    if request.path_params["service_id"] != SERVICE_ID:
        return _outcome(404, "not-found", "no such CDS service")
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _outcome(400, "invalid", "the request body is not valid JSON")
    if not isinstance(body, dict):
        return _outcome(400, "invalid", "the request body must be a JSON object")
    return body


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


def create_app(*, ruleset: RuleSet | None = None) -> Starlette:
    """The ASGI application; ``ruleset`` defaults to the packaged rules."""
    rules = ruleset or default_ruleset()

    async def discovery(request: Request) -> Response:
        service = {
            "hook": "patient-view",
            "id": SERVICE_ID,
            "title": "FBSS treatment pathway",
            "description": "Explained treatment-pathway stage and actions for persistent pain "
            "after lumbar spine surgery (FBSS / PSPS type 2). Supports, does not replace, "
            "clinical judgement.",
            "prefetch": PREFETCH,
        }
        return JSONResponse({"services": [service]})

    async def hook(request: Request) -> Response:
        started = time.perf_counter()
        body = await _call_body(request)
        if isinstance(body, JSONResponse):
            return body
        instance = body.get("hookInstance")
        if body.get("hook") != "patient-view" or not isinstance(instance, str) or not instance:
            return _outcome(400, "invalid", "expected hook 'patient-view' and a hookInstance")
        context = body.get("context")
        if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
            return _outcome(400, "invalid", "context.patientId is required")
        prefetch = body.get("prefetch")
        if not isinstance(prefetch, dict):
            prefetch = {}
        missing = [key for key in PREFETCH if key not in prefetch]
        if missing:
            log.info("hook %s: 412, prefetch missing: %s", instance, ", ".join(missing))
            return _outcome(412, "incomplete", f"required prefetch missing: {', '.join(missing)}")
        try:
            reading = read_bundle(
                _bundle_of(prefetch),
                assessment_date=date.today(),
                patient_id=context["patientId"],
            )
            recommendation = reading.evaluate(ruleset=rules)
        except FhirError as error:
            return _outcome(400, "invalid", str(error))
        except ValidationError as error:
            fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
            return _outcome(400, "invalid", f"the prefetched data is not a valid record: {fields}")
        except EvaluationError as error:
            log.error("hook %s: evaluation failed: %s", instance, error)
            return _outcome(500, "exception", "the rule engine failed; no recommendation")
        if recommendation is None:  # outside the pathway: an answer, not an error
            log.info("hook %s: patient outside the pathway, no cards", instance)
            return JSONResponse({"cards": []})
        result = cards(recommendation, ruleset=rules)
        log.info(
            "hook %s: %d card(s), %d resource(s) ignored, %.1f ms",
            instance,
            len(result),
            len(reading.ignored),
            (time.perf_counter() - started) * 1e3,
        )
        return JSONResponse({"cards": result})

    async def feedback(request: Request) -> Response:
        body = await _call_body(request)
        if isinstance(body, JSONResponse):
            return body
        items = body.get("feedback")
        if not isinstance(items, list) or not items:
            return _outcome(400, "invalid", "feedback must be a non-empty array")
        for number, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("card"), str)
                or item.get("outcome") not in _FEEDBACK_OUTCOMES
                or not isinstance(item.get("outcomeTimestamp"), str)
            ):
                return _outcome(
                    400, "invalid", f"feedback[{number}] needs card, outcome and outcomeTimestamp"
                )
        for item in items:  # card ids and outcomes only: comments may hold patient data
            log.info("feedback: card %s %s", item["card"], item["outcome"])
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/{service_id}", hook, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        ],
        # Browser-based clients such as the public CDS Hooks sandbox call across origins.
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
            )
        ],
    )
