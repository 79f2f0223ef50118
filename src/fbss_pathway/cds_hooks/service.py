"""A CDS Hooks 2.0 service (ASGI, Starlette): discovery, the patient-view hook, feedback.

Start it with ``fbss-pathway serve`` (localhost:8080 by default). What the
client did not prefetch (a key missing or null) is fetched from the call's
``fhirServer`` when the service may fetch from it (:mod:`.fetch`); otherwise a
missing key gets 412 (the assessment form's only a warning), and a null key
means the client has no such data. Keys the service did not name are read too.
The prefetch is read with the FHIR reader's safety rules for ``context.patientId``
(resources about another patient are ignored), as of today or the date
``create_app(today=...)`` gives; a patient outside the pathway gets
``200 {"cards": []}`` (unless a search that could not be read may change that:
then the ``FHIR-UNREAD`` card), and conflicting entries become warning cards.

Malformed requests get 400 with a FHIR OperationOutcome naming the problem; the
log records request ids, outcomes and timings, never patient data or tokens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from functools import partial
from typing import Any

from anyio import CapacityLimiter, to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..ruleset import RuleSet, default_ruleset
from .auth import Authenticator, AuthError, KeyNotCachedError, TrustedClient
from .calls import (
    DEFAULT_MAX_BODY,
    RefusedCallError,
    json_response,
    outcome,
    read_call,
    safe_id,
)
from .feedback import MAX_FEEDBACK_ITEMS, feedback_events
from .hooks import HOOKS, ORDER_SIGN_ID, SERVICE_ID, order_sign, patient_view, report_page
from .prefetch import (
    PREFETCH,
    complete_prefetch,
    needs_fetch,
    prefetch_from_bundle,
    unnamed_keys,
)
from .report_links import (
    MemoryReports,
    ReportStore,
    StoredCall,
    new_secret,
    report_route,
)

__all__ = [
    "MAX_FEEDBACK_ITEMS",
    "ORDER_SIGN_ID",
    "PREFETCH",
    "SERVICE_ID",
    "create_app",
    "prefetch_from_bundle",
]

#: Calls whose body is at most this many bytes are read and evaluated on the event
#: loop (an example chart of 12 KB takes about 1.3 ms); larger ones in worker threads.
INLINE_MAX_BODY = 64 * 1024
log = logging.getLogger("fbss_pathway.cds_hooks")


def create_app(
    *,
    ruleset: RuleSet | None = None,
    authenticator: Authenticator | None = None,
    cors_origins: Sequence[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    today: Callable[[], date] | None = None,
    reports: ReportStore | None = None,
    report_base: str | None = None,
) -> Starlette:
    """The ASGI application.

    Args:
        ruleset: The rules; the packaged rules by default.
        authenticator: Verifies each call's JWT (docs/cds-hooks.md); without it
            every caller is served, for a service on a loopback address only.
        cors_origins: Browser origins allowed to call (none by default); ``*``
            only without authentication.
        max_body: The largest request body read, in bytes.
        today: The date the service assesses as of, asked once per call
            (``date.today`` by default, so a running service moves on at
            midnight); a fixed date lets tests and replays of old calls give the
            answers of that day.
        reports: Where calls wait for their full-report link to be opened
            (:mod:`.report_links`); this process's memory by default.
        report_base: The service's address as the clinician's browser reaches it,
            for report links; by default the address the call came to.
    """
    rules = ruleset or default_ruleset()
    assessment_date = today or date.today
    if not callable(assessment_date):
        raise ValueError("today must be a function giving the assessment date")
    computing = _ComputePool()
    kept: ReportStore = reports if reports is not None else MemoryReports()
    if authenticator is not None and "*" in cors_origins:
        raise ValueError("CORS for any origin ('*') is refused together with authentication")

    async def guarded(
        request: Request, answer: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Authenticate, then answer; refusals become OperationOutcomes, never tracebacks."""
        try:
            request.state.client = None
            if authenticator is not None:
                client = await _verified(authenticator, request)
                request.state.client = client
                # The issuer is a configured client's name; never the token or its claims.
                _event("authenticated", issuer=client.issuer, endpoint=_endpoint(request))
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
            description = (
                "Explained treatment-pathway stage and actions for persistent pain after "
                "lumbar spine surgery (FBSS / PSPS type 2). Supports, does not replace, "
                "clinical judgement."
            )
            services = [
                {
                    "hook": "patient-view",
                    "id": SERVICE_ID,
                    "title": "FBSS treatment pathway",
                    "description": description,
                    "prefetch": PREFETCH,
                },
                {
                    "hook": "order-sign",
                    "id": ORDER_SIGN_ID,
                    "title": "FBSS pathway guardrail at order signing",
                    "description": "Warns when an ordered block, radiofrequency denervation, "
                    "SCS trial or implant, or lumbar re-operation is not what the FBSS pathway "
                    "supports for the patient now, and says why; and warns at every opioid or "
                    "benzodiazepine order for a patient on the pathway, with the current "
                    "morphine milligram equivalents a day and what the order would bring.",
                    "prefetch": PREFETCH,
                },
            ]
            _event("discovery", status=200, services=len(services))
            return json_response({"services": services})

        return await guarded(request, answer)

    async def hook(request: Request) -> Response:
        async def answer(request: Request) -> Response:
            started = time.perf_counter()
            hook_name = HOOKS.get(request.path_params["service_id"])
            if hook_name is None:
                raise RefusedCallError(404, "not-found", "no such CDS service")
            body = await read_call(request, max_body)
            instance = body.get("hookInstance")
            if body.get("hook") != hook_name or not isinstance(instance, str) or not instance:
                raise RefusedCallError(
                    400, "invalid", f"expected hook '{hook_name}' and a hookInstance"
                )
            context = body.get("context")
            if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
                raise RefusedCallError(400, "invalid", "context.patientId is required")
            if hook_name == "order-sign" and "draftOrders" not in context:
                raise RefusedCallError(400, "invalid", "context.draftOrders is required")
            # Fetching waits on the network in a thread of its own. Reading and the
            # engine take about 0.1 ms per KB of chart: a small call is answered
            # on the event loop (a stall of a few ms at most; handing it to a thread
            # measured as costly as the work), a large one in a pool of threads
            # sized to the cores, so that a large chart never stalls other callers.
            client, authenticated = request.state.client, authenticator is not None
            inline = request.state.body_size <= INLINE_MAX_BODY
            if needs_fetch(body, client, authenticated):
                prefetch, unread = await run_in_threadpool(
                    complete_prefetch, body, client, authenticated
                )
                inline = False  # what was fetched may be large
            else:  # only checks which keys are present: no network, no waiting
                prefetch, unread = complete_prefetch(body, client, authenticated)
            assessed = assessment_date()

            def link(stored: StoredCall) -> str:
                secret = new_secret()
                kept.put(secret, stored.pack(), time.time())
                base = (report_base or str(request.base_url)).rstrip("/")
                return f"{base}/reports/{secret}"

            if hook_name == "order-sign":
                work = partial(
                    order_sign,
                    prefetch,
                    context["patientId"],
                    rules,
                    unread,
                    assessed,
                    context["draftOrders"],
                    link,
                )
            else:
                work = partial(
                    patient_view, prefetch, context["patientId"], rules, unread, assessed, link
                )
            if inline:
                result, ignored = work()
            else:
                result, ignored = await to_thread.run_sync(work, limiter=computing.limiter())
            _event(
                "hook",
                hook=hook_name,
                hook_instance=safe_id(instance),
                status=200,
                cards=len(result),
                ignored=ignored,
                unread=sorted(unread),
                unnamed_keys=unnamed_keys(prefetch),
                ms=round((time.perf_counter() - started) * 1e3, 1),
            )
            return json_response({"cards": result})

        return await guarded(request, answer)

    async def feedback(request: Request) -> Response:
        async def answer(request: Request) -> Response:
            body = await _service_call(request, max_body)
            for fields in feedback_events(body):  # ids, outcomes and reason codes only
                _event("feedback", **fields)
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
            report_route(kept, partial(report_page, rules=rules), computing.limiter),
        ],
        middleware=middleware,
    )


class _ComputePool:
    """The threads hook calls compute in: as many as the process may use cores.

    Created on first use, inside the event loop that uses it.
    """

    def __init__(self) -> None:
        self._limiter: CapacityLimiter | None = None

    def limiter(self) -> CapacityLimiter:
        if self._limiter is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            self._limiter = CapacityLimiter(cores or os.cpu_count() or 1)
        return self._limiter


async def _verified(authenticator: Authenticator, request: Request) -> TrustedClient:
    """The call's client, its token verified on the event loop unless a key must be fetched.

    An ES384 check costs about 0.6-0.9 ms of CPU and the register's check tens of
    microseconds; handing them to a thread added about 0.1 ms of CPU a call and
    the wake-ups of two threads taking turns with the GIL, for no parallel work
    (the signature check holds the GIL). Fetching a key set waits on the
    network, so a token whose key is not cached is verified in a thread.
    """
    authorization, path = request.headers.get("authorization"), _path(request)
    try:
        return authenticator.verify(authorization, path, may_fetch=False)
    except KeyNotCachedError:
        return await run_in_threadpool(authenticator.verify, authorization, path)


async def _service_call(request: Request, max_body: int) -> dict[str, Any]:
    if request.path_params["service_id"] not in HOOKS:
        raise RefusedCallError(404, "not-found", "no such CDS service")
    return await read_call(request, max_body)


#: A path that ``request.url.path`` gives back unchanged: it starts with one slash (a
#: URL without a host would change a leading ``//``) and holds no character Starlette
#: escapes or ``urlsplit`` drops.
_PLAIN_PATH = re.compile(r"/(?:[A-Za-z0-9._~%:@!$&'()*+,;=-][A-Za-z0-9/._~%:@!$&'()*+,;=-]*)?")


def _path(request: Request) -> str:
    """The path called, as ``request.url.path`` gives it.

    Without building the URL for a plain path (Starlette builds it from the
    scope and splits it again: about 15 µs a call).
    """
    path: str = request.scope["path"]
    return path if _PLAIN_PATH.fullmatch(path) else request.url.path


def _endpoint(request: Request) -> str:
    """Which endpoint a call is to, in a word (never the path as sent)."""
    path = _path(request).rstrip("/")
    if path == "/cds-services":
        return "discovery"
    return "feedback" if path.endswith("/feedback") else "hook"


def _event(event: str, **fields: Any) -> None:
    """One log line, a JSON object of fields that never hold patient data or tokens."""
    log.info(json.dumps({"event": event, "worker": os.getpid(), **fields}, sort_keys=True))
