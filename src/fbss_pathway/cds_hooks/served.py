"""The service as ``fbss-pathway serve`` configures it, built once in each worker process.

``serve`` writes its settings (rules, trusted clients, the shared registers'
files, CORS origins, the body limit, the report links' lifetime) into one
environment variable as JSON; uvicorn starts each worker from
:func:`app_from_environment`, so that every worker loads the same rules and
trusts the same clients, and the workers share one register of seen token ids
and one store of report links.
"""

from __future__ import annotations

import gc
import json
import logging
import os

from starlette.applications import Starlette

from ..ruleset import load_ruleset
from .auth import LEEWAY, Authenticator, load_clients
from .calls import DEFAULT_MAX_BODY
from .replay import SharedReplays
from .report_links import REPORT_LIFETIME, MemoryReports, ReportStore, SharedReports
from .service import create_app

__all__ = ["SERVE_SETTINGS", "app_from_environment"]


#: The environment variable ``fbss-pathway serve`` passes its settings in, to each worker.
SERVE_SETTINGS = "FBSS_PATHWAY_SERVE"


def app_from_environment() -> Starlette:
    """The application as ``fbss-pathway serve`` configured it (one per worker process).

    uvicorn starts each worker from this factory; the settings come from the
    environment, so that every worker loads the same rules and trusted clients.
    """
    settings = json.loads(os.environ.get(SERVE_SETTINGS, "{}"))
    if not logging.getLogger().handlers:  # a worker process: log as the command does
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    authenticator = None
    if settings.get("clients"):
        clients = load_clients(settings["clients"])
        # Worker processes share one replay register, so a token is accepted once in all.
        shared = settings.get("replays")
        replays = SharedReplays(shared, LEEWAY) if shared else None
        authenticator = Authenticator(clients, settings["base_url"], replays=replays)
    lifetime = float(settings.get("report_seconds") or REPORT_LIFETIME)
    shared_reports = settings.get("reports")
    reports: ReportStore = (
        SharedReports(shared_reports, lifetime) if shared_reports else MemoryReports(lifetime)
    )
    app = create_app(
        ruleset=load_ruleset(settings.get("rules")),
        authenticator=authenticator,
        cors_origins=settings.get("cors_origins") or (),
        max_body=settings.get("max_body") or DEFAULT_MAX_BODY,
        reports=reports,
        report_base=settings.get("base_url"),
    )
    # What the worker made so far (modules, rules, code mapping: tens of thousands of
    # objects, kept for its life) is left out of the collector's passes: a call then
    # costs tens of µs less, and no full pass over them stalls a call now and then.
    gc.freeze()
    return app
