"""Remembering the ``jti`` of every token until it expires, so that none is accepted twice.

CDS Hooks' JWT profile requires refusing a replayed token. One process keeps the
register in memory. Several worker processes (``serve --workers N``) must share
it, or a token refused by one worker would be accepted by another: they share
an SQLite file in a private temporary directory that the command creates and
removes. Expired tokens are forgotten (they cannot be replayed anyway); only
issuers and token ids are stored, never a token or patient data.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Protocol

__all__ = ["MemoryReplays", "ReplayRegister", "SharedReplays"]


class ReplayRegister(Protocol):
    """Where seen token ids are kept until they expire."""

    def first_use(self, issuer: str, jti: str, expires: float, now: float) -> bool:
        """Record a token id; False when it was seen before and has not expired."""
        ...


class MemoryReplays:
    """The register of one process."""

    def __init__(self, leeway: float) -> None:
        self._leeway = leeway
        self._seen: set[tuple[str, str]] = set()
        self._expiries: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def first_use(self, issuer: str, jti: str, expires: float, now: float) -> bool:
        """Record a token id; False when it was seen before and has not expired."""
        seen = (issuer, jti)
        with self._lock:
            while self._expiries and self._expiries[0][0] + self._leeway < now:
                self._seen.discard(heapq.heappop(self._expiries)[1])
            if seen in self._seen:
                return False
            self._seen.add(seen)
            heapq.heappush(self._expiries, (expires, seen))
            return True


class SharedReplays:
    """A register shared by the worker processes of one service, in an SQLite file."""

    def __init__(self, path: str | Path, leeway: float) -> None:
        self._leeway = leeway
        self._lock = threading.Lock()
        # One connection per process, used under the lock (the service's threads share it).
        self._db = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        # Closed when the register is collected (or at exit), never left to the GC's warning.
        self.close = weakref.finalize(self, self._db.close)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS seen (issuer TEXT NOT NULL, jti TEXT NOT NULL, "
                "expires REAL NOT NULL, PRIMARY KEY (issuer, jti))"
            )

    def first_use(self, issuer: str, jti: str, expires: float, now: float) -> bool:
        """Record a token id; False when it was seen before and has not expired."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM seen WHERE expires + ? < ?", (self._leeway, now))
            try:
                self._db.execute(
                    "INSERT INTO seen (issuer, jti, expires) VALUES (?, ?, ?)",
                    (issuer, jti, expires),
                )
            except sqlite3.IntegrityError:
                return False
            return True
