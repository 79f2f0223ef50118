"""The full report one click from a card, at an unguessable address that expires.

A card has room for the decision, not for its whole basis: each card links to
the patient's full report (options, the ladder picture, actions with their
inputs, missing information, sources). The clinician's browser opens the link
without the EHR's token, so the address itself is the key: 32 random bytes
(``secrets.token_urlsafe``), valid for :data:`REPORT_LIFETIME` seconds.

What is kept is the call's own data, nothing new: the record the service read
and the names of searches it could not read, compressed, under the SHA-256 of
the secret (the store never holds an address that opens a report). A report is
rendered only when its link is opened. One worker keeps them in memory; the
workers of one ``serve`` share an SQLite file in the server's private
temporary directory (removed when it stops), so that any worker answers the
link. Neither the secret nor the page is ever logged (uvicorn's access log is
off: :mod:`.protocol`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
import weakref
import zlib
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import msgspec
from anyio import CapacityLimiter, to_thread
from pydantic_core import PydanticSerializationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import EvaluationError
from ..record import PatientRecord

__all__ = [
    "REPORT_LIFETIME",
    "MemoryReports",
    "ReportStore",
    "SharedReports",
    "StoredCall",
    "new_secret",
    "report_route",
]

#: Seconds a report link stays valid (docs/cds-hooks.md, "The full report").
REPORT_LIFETIME = 15 * 60
#: Reports one worker keeps in memory at most: the oldest go first.
MEMORY_LIMIT = 5000
#: Expired rows removed at most per purge (a bounded piece of work, off the hot path).
_PURGE_BATCH = 500
#: A purge at most once per this many stored reports.
_PURGE_EVERY = 64


def new_secret() -> str:
    """The secret of one link: 32 random bytes, URL-safe (about 43 characters)."""
    return secrets.token_urlsafe(32)


_ENCODER = msgspec.json.Encoder()


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii", "replace")).digest()


class StoredCall:
    """What a report is rendered from: the record read, the searches not read, the day."""

    def __init__(self, record: PatientRecord, unread: dict[str, str], assessed: date) -> None:
        self.record = record
        self.unread = unread
        self.assessed = assessed

    def pack(self) -> bytes:
        """Compressed JSON (a record is about 2.3 KB of JSON, 1.1 KB compressed).

        This runs on every call answered with cards, so it is made cheap: written by
        pydantic's and msgspec's JSON writers (about a third of the time of Python
        values written by :mod:`json`), compressed at zlib's fastest level (half the
        time of its default, for 4 % more bytes). Text those writers refuse (a lone
        surrogate: a validated record holds none, the reasons a search was not read
        are the service's words) is written by :mod:`json` instead. :meth:`unpack`
        reads either back to an equal record.
        """
        unread, assessed = self.unread, self.assessed.isoformat()
        try:
            record = self.record.model_dump_json(exclude_none=True).encode()
            rest = _ENCODER.encode({"unread": unread, "assessed": assessed})
        except (PydanticSerializationError, UnicodeEncodeError):
            data = {
                "record": self.record.model_dump(mode="json", exclude_none=True),
                "unread": unread,
                "assessed": assessed,
            }
            return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)
        return zlib.compress(b'{"record":' + record + b"," + rest[1:], 1)

    @classmethod
    def unpack(cls, packed: bytes) -> StoredCall:
        """The call back, validated again (the store is ours, the check is cheap)."""
        data: dict[str, Any] = json.loads(zlib.decompress(packed))
        record = PatientRecord.model_validate(data["record"])
        return cls(record, dict(data["unread"]), date.fromisoformat(data["assessed"]))


class ReportStore(Protocol):
    """Where calls wait for their report link to be opened."""

    def put(self, secret: str, packed: bytes, now: float) -> None:
        """Keep a call under a link's secret until ``now`` + the lifetime."""
        ...

    def get(self, secret: str, now: float) -> bytes | None:
        """The call of a live link; None when unknown or expired (no difference said)."""
        ...


class MemoryReports:
    """The links of one worker process, at most :data:`MEMORY_LIMIT`."""

    def __init__(self, lifetime: float = REPORT_LIFETIME) -> None:
        self.lifetime = lifetime
        self._kept: dict[bytes, tuple[float, bytes]] = {}
        self._expiries: list[tuple[float, int, bytes]] = []  # expiry, then the order kept
        self._counter = 0
        self._lock = threading.Lock()

    def put(self, secret: str, packed: bytes, now: float) -> None:
        """Keep a call; forget the expired and, past the limit, the oldest."""
        key, expires = _key(secret), now + self.lifetime
        with self._lock:
            while self._expiries and (
                self._expiries[0][0] < now or len(self._expiries) >= MEMORY_LIMIT
            ):
                self._kept.pop(heapq.heappop(self._expiries)[2], None)
            self._kept[key] = (expires, packed)
            self._counter += 1
            heapq.heappush(self._expiries, (expires, self._counter, key))

    def get(self, secret: str, now: float) -> bytes | None:
        """The call of a live link, or None."""
        with self._lock:
            kept = self._kept.get(_key(secret))
        if kept is None or kept[0] < now:
            return None
        return kept[1]


class SharedReports:
    """Links every worker of one service can answer: an SQLite file they share."""

    def __init__(self, path: str | Path, lifetime: float = REPORT_LIFETIME) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._stored = 0
        self._db = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        self.close = weakref.finalize(self, self._db.close)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            # A link lost in a crash is asked for again from the EHR: no fsync per call.
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS reports (key BLOB PRIMARY KEY, "
                "expires REAL NOT NULL, packed BLOB NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS reports_expiry ON reports (expires)")

    def put(self, secret: str, packed: bytes, now: float) -> None:
        """Keep a call; now and then remove a bounded batch of expired ones (by the index)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO reports (key, expires, packed) VALUES (?, ?, ?)",
                (_key(secret), now + self.lifetime, packed),
            )
            self._stored += 1
            if self._stored % _PURGE_EVERY == 0:
                self._db.execute(
                    "DELETE FROM reports WHERE key IN "
                    "(SELECT key FROM reports WHERE expires < ? LIMIT ?)",
                    (now, _PURGE_BATCH),
                )

    def get(self, secret: str, now: float) -> bytes | None:
        """The call of a live link, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT packed FROM reports WHERE key = ? AND expires >= ?", (_key(secret), now)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def count(self) -> int:
        """Rows kept, expired ones not yet purged included (tests watch the purge)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM reports").fetchone()[0])


#: A link's secret as :func:`new_secret` writes it; anything else is not looked up.
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
#: A report is patient data: never cached, never sent on as a referrer, never sniffed.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
log = logging.getLogger("fbss_pathway.cds_hooks")


def report_route(
    store: ReportStore, render: Callable[[StoredCall], str], limiter: Callable[[], CapacityLimiter]
) -> Route:
    """``GET /reports/{secret}``: a card's full report, rendered when opened.

    No token: a browser opens it, and the address is the key. Unknown and
    expired links get the same 404; the log says the status, never the secret.
    """

    async def report(request: Request) -> Response:
        secret = request.path_params["secret"]
        packed = store.get(secret, time.time()) if _SECRET.fullmatch(secret) else None
        if packed is None:
            _event(404)
            return Response(
                "This report link is unknown or has expired: open the patient's cards again.",
                status_code=404,
                media_type="text/plain",
                headers=_HEADERS,
            )
        try:
            work = partial(render, StoredCall.unpack(packed))
            page = await to_thread.run_sync(work, limiter=limiter())
        except (EvaluationError, ValueError) as error:  # names the kind, never the data
            _event(500, error=type(error).__name__)
            return Response("The report could not be made.", status_code=500, headers=_HEADERS)
        _event(200)
        return Response(page, media_type="text/html; charset=utf-8", headers=_HEADERS)

    return Route("/reports/{secret}", report, methods=["GET"])


def _event(status: int, **fields: Any) -> None:
    line = {"event": "report", "status": status, "worker": os.getpid(), **fields}
    log.info(json.dumps(line, sort_keys=True))
