"""A CDS Hooks 2.0 service (ASGI, Starlette): discovery, the patient-view hook, feedback.

Start it with ``fbss-pathway serve`` (localhost:8080 by default). What the
client did not prefetch (a key missing or null) is fetched from the call's
``fhirServer`` when the service may fetch from it (:mod:`.fetch`); otherwise a
missing key gets 412, and a null key means the client has no such data.
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
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from functools import partial
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import EvaluationError
from ..fhir import FhirError, read_bundle
from ..recommendation import PathwayWarning
from ..ruleset import RuleSet, default_ruleset
from .auth import Authenticator, AuthError, TrustedClient
from .calls import DEFAULT_MAX_BODY, RefusedCallError, outcome, read_call, safe_id
from .cards import cards
from .fetch import fetch_missing

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
#: The rule id of the warning that some data could not be read from the FHIR server.
UNREAD_WARNING = "FHIR-UNREAD"
log = logging.getLogger("fbss_pathway.cds_hooks")


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


def create_app(
    *,
    ruleset: RuleSet | None = None,
    authenticator: Authenticator | None = None,
    cors_origins: Sequence[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
) -> Starlette:
    """The ASGI application.

    Args:
        ruleset: The rules; the packaged rules by default.
        authenticator: Verifies each call's JWT (docs/cds-hooks.md); without it
            every caller is served, for a service on a loopback address only.
        cors_origins: Browser origins allowed to call (none by default); ``*``
            only without authentication.
        max_body: The largest request body read, in bytes.
    """
    rules = ruleset or default_ruleset()
    if authenticator is not None and "*" in cors_origins:
        raise ValueError("CORS for any origin ('*') is refused together with authentication")

    async def guarded(
        request: Request, answer: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Authenticate, then answer; refusals become OperationOutcomes, never tracebacks."""
        try:
            request.state.client = None
            if authenticator is not None:
                request.state.client = await run_in_threadpool(
                    authenticator.verify, request.headers.get("authorization"), request.url.path
                )
            return await answer(request)
        except AuthError as error:
            _event("refused", status=401, reason=error.reason)
            response = outcome(401, "login", f"not authenticated: {error.reason}")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        except RefusedCallError as error:
            _event("refused", status=error.status, reason=error.message)
            return error.response()
        except ClientDisconnect:
            _event("client disconnected")
            return Response(status_code=400)

    async def discovery(request: Request) -> Response:
        async def answer(_: Request) -> Response:
            service = {
                "hook": "patient-view",
                "id": SERVICE_ID,
                "title": "FBSS treatment pathway",
                "description": "Explained treatment-pathway stage and actions for persistent "
                "pain after lumbar spine surgery (FBSS / PSPS type 2). Supports, does not "
                "replace, clinical judgement.",
                "prefetch": PREFETCH,
            }
            return JSONResponse({"services": [service]})

        return await guarded(request, answer)

    async def hook(request: Request) -> Response:
        async def answer(request: Request) -> Response:
            started = time.perf_counter()
            body = await _service_call(request, max_body)
            instance = body.get("hookInstance")
            if body.get("hook") != "patient-view" or not isinstance(instance, str) or not instance:
                raise RefusedCallError(
                    400, "invalid", "expected hook 'patient-view' and a hookInstance"
                )
            context = body.get("context")
            if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
                raise RefusedCallError(400, "invalid", "context.patientId is required")
            prefetch = body.get("prefetch")
            if not isinstance(prefetch, dict):
                prefetch = {}
            unread: dict[str, str] = {}
            server = _fhir_server(body, request.state.client, authenticator is not None)
            if server is not None and any(prefetch.get(key) is None for key in PREFETCH):
                fetched = await run_in_threadpool(
                    partial(
                        fetch_missing,
                        prefetch,
                        PREFETCH,
                        fhir_server=server,
                        access_token=_access_token(body),
                        patient_id=context["patientId"],
                    )
                )
                prefetch, unread = fetched.prefetch, fetched.unread
                if all(prefetch.get(key) is None for key in PREFETCH):
                    raise RefusedCallError(
                        412, "incomplete", "no data could be read from the FHIR server"
                    )
            missing = [key for key in PREFETCH if key not in prefetch]
            if missing:
                raise RefusedCallError(
                    412, "incomplete", f"required prefetch missing: {', '.join(missing)}"
                )
            # Off the event loop, so that a large chart never stalls other callers.
            result, ignored = await run_in_threadpool(
                _answer, prefetch, context["patientId"], rules, unread
            )
            _event(
                "hook",
                hook_instance=safe_id(instance),
                status=200,
                cards=len(result),
                ignored=ignored,
                unread=sorted(unread),
                ms=round((time.perf_counter() - started) * 1e3, 1),
            )
            return JSONResponse({"cards": result})

        return await guarded(request, answer)

    async def feedback(request: Request) -> Response:
        async def answer(request: Request) -> Response:
            body = await _service_call(request, max_body)
            items = body.get("feedback")
            if not isinstance(items, list) or not items:
                raise RefusedCallError(400, "invalid", "feedback must be a non-empty array")
            for number, item in enumerate(items):
                if (
                    not isinstance(item, dict)
                    or not isinstance(item.get("card"), str)
                    or item.get("outcome") not in _FEEDBACK_OUTCOMES
                    or not isinstance(item.get("outcomeTimestamp"), str)
                ):
                    raise RefusedCallError(
                        400,
                        "invalid",
                        f"feedback[{number}] needs card, outcome and outcomeTimestamp",
                    )
            for item in items:  # card ids and outcomes only: comments may hold patient data
                _event("feedback", card=safe_id(item["card"]), outcome=item["outcome"])
            return Response(status_code=200)

        return await guarded(request, answer)

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
            )
        )
    return Starlette(
        routes=[
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/{service_id}", hook, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        ],
        middleware=middleware,
    )


async def _service_call(request: Request, max_body: int) -> dict[str, Any]:
    if request.path_params["service_id"] != SERVICE_ID:
        raise RefusedCallError(404, "not-found", "no such CDS service")
    return await read_call(request, max_body)


def _fhir_server(
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


def _answer(
    prefetch: dict[str, Any], patient_id: str, rules: RuleSet, unread: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """The cards for a prefetch (run in a worker thread), and how many resources were ignored."""
    try:
        reading = read_bundle(
            _bundle_of(prefetch), assessment_date=date.today(), patient_id=patient_id
        )
        recommendation = reading.evaluate(ruleset=rules)
    except FhirError as error:
        raise RefusedCallError(400, "invalid", str(error)) from None
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        raise RefusedCallError(
            400, "invalid", f"the prefetched data is not a valid record: {fields}"
        ) from None
    except EvaluationError:
        raise RefusedCallError(
            500, "exception", "the rule engine failed; no recommendation"
        ) from None
    if recommendation is None:  # outside the pathway: an answer, not an error
        return [], len(reading.ignored)
    if unread:
        what = "; ".join(f"{key} ({reason})" for key, reason in sorted(unread.items()))
        warning = PathwayWarning(
            rule_id=UNREAD_WARNING,
            message=f"Not read from the EHR's FHIR server: {what}. "
            "The items these would give are unknown, not absent.",
        )
        recommendation = recommendation.model_copy(
            update={"warnings": [warning, *recommendation.warnings]}
        )
    return cards(recommendation, ruleset=rules), len(reading.ignored)


def _event(event: str, **fields: Any) -> None:
    """One log line, a JSON object of fields that never hold patient data or tokens."""
    log.info(json.dumps({"event": event, **fields}, sort_keys=True))
