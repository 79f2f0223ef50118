"""``fbss-pathway serve``: the CDS Hooks service, refused unless it is safe to start."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

from ..ruleset import RuleSet
from .inputs import InputError

__all__ = ["serve"]


def serve(args: argparse.Namespace, ruleset: RuleSet) -> int:
    """Start the CDS Hooks service as configured; runs until stopped."""
    from ..cds_hooks.auth import Authenticator, load_clients
    from ..cds_hooks.protocol import SERVER_OPTIONS
    from ..cds_hooks.served import SERVE_SETTINGS
    from ..cds_hooks.workers import run_workers

    authenticator = None
    if args.clients is not None:
        if not args.base_url:
            raise InputError("--clients needs --base-url: tokens are checked against that URL")
        authenticator = Authenticator(load_clients(args.clients), args.base_url)
    elif not _is_loopback(args.host):
        raise InputError(
            f"refusing to serve on {args.host} without authentication: "
            "give --clients (trusted EHRs) and --base-url, or use a loopback address"
        )
    if authenticator is not None and "*" in args.cors_origin:
        raise InputError("--cors-origin '*' is refused together with --clients")
    try:  # a clear error before the server starts, rather than uvicorn's log line
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as error:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # pragma: no cover
    if authenticator is None:  # pragma: no cover - from here it runs until stopped
        logging.getLogger("fbss_pathway.cds_hooks").warning(
            json.dumps({"event": "unauthenticated", "detail": "every caller is served"})
        )
    # Several workers share the register of seen token ids (replays) and the calls
    # waiting for their report link to be opened, in a private directory (0700) that
    # lives as long as the server.
    shared = tempfile.mkdtemp(prefix="fbss-pathway-replays-") if args.workers > 1 else None
    settings = {  # what each worker process builds its application from
        "rules": args.rules,
        "clients": args.clients,
        "base_url": args.base_url,
        "cors_origins": args.cors_origin,
        "max_body": args.max_body,
        "replays": str(Path(shared) / "replays.sqlite") if shared else None,
        "reports": str(Path(shared) / "reports.sqlite") if shared else None,
        "report_seconds": args.report_minutes * 60,
    }
    os.environ[SERVE_SETTINGS] = json.dumps(settings)  # pragma: no cover
    try:  # pragma: no cover - runs until stopped
        run_workers(args.host, args.port, args.workers, SERVER_OPTIONS)
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
    return 0  # pragma: no cover


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
