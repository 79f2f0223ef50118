"""Remembering the ``jti`` of every token until it expires, so that none is accepted twice.

CDS Hooks' JWT profile requires refusing a replayed token. One process keeps the
register in memory. Several worker processes (``serve --workers N``) must share
it, or a token refused by one worker would be accepted by another: they share
an SQLite file in a private temporary directory that the command creates and
removes. Expired tokens are forgotten (they cannot be replayed anyway). The
shared register stores a keyed digest of issuer and token id and the expiry,
never a token, a token id in clear, or patient data.

Every call checks its token, so the shared register's check must cost the same
with 100,000 live tokens as with none (issue 25: a full-scan purge and a
synced commit on every call took 8-10 ms a call at 100,000 rows, and two workers
then served fewer calls than one). Each check is one indexed statement; expired
rows are purged through an index on the expiry, in bounded batches, at most
once every :data:`PURGE_SECONDS` per process unless a batch came back full.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Protocol

__all__ = [
    "BUSY_SECONDS",
    "PURGE_BATCH",
    "PURGE_SECONDS",
    "MemoryReplays",
    "RegisterUnavailableError",
    "ReplayRegister",
    "SharedReplays",
]

#: The most expired rows one purge deletes: a purge holds the register's write lock
#: (the other workers' checks wait for it), so it is kept to about a millisecond.
PURGE_BATCH = 500
#: Seconds between purges in one process while batches come back short.
PURGE_SECONDS = 1.0
#: The longest wait for another worker's lock on the register before a check fails.
BUSY_SECONDS = 2.0


class RegisterUnavailableError(RuntimeError):
    """The shared register could not be read (locked too long, or SQLite failed).

    A token that could not be checked is not accepted; the message names no token.
    """


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


# One statement per check. A new token id is inserted; a known one whose token has
# expired (beyond the leeway) takes the new expiry; a live one changes no row: the
# count of rows changed is the answer, with no second statement and no exception.
_CHECK = (
    "INSERT INTO seen (token, expires) VALUES (?, ?) "
    "ON CONFLICT (token) DO UPDATE SET expires = excluded.expires WHERE seen.expires < ?"
)
# Walks the expiry index from its oldest end: bounded work however many rows live.
_PURGE = (
    "DELETE FROM seen WHERE token IN "
    "(SELECT token FROM seen WHERE expires < ? ORDER BY expires LIMIT ?)"
)


class SharedReplays:
    """A register shared by the worker processes of one service, in an SQLite file.

    What it must guarantee: a token id recorded by one worker is refused by every
    other from that moment, and by a worker started later (a restarted one).
    SQLite's WAL mode gives both without syncing to disk: a committed write is
    in the WAL file, in the operating system's cache, and every process reads
    it through the shared WAL index; a process that dies leaves it there. What
    syncing would add is surviving a power loss or a crash of the operating
    system, which ends the service and its register anyway (``serve`` starts a
    new register in a new directory), so ``synchronous=OFF``: a commit is a
    write to the cache, not a wait for the disk (the wait for the disk, held
    under the write lock, made the other worker's checks wait and then sleep
    in SQLite's busy handler: p99 of 192-319 ms in issue 25).

    Args:
        path: The SQLite file (created when missing).
        leeway: Seconds a token is still accepted after its ``exp``.
        purge_batch: The most expired rows one purge deletes.
        purge_seconds: Seconds between purges while batches come back short.
    """

    def __init__(
        self,
        path: str | Path,
        leeway: float,
        *,
        purge_batch: int = PURGE_BATCH,
        purge_seconds: float = PURGE_SECONDS,
    ) -> None:
        if purge_batch < 1:
            raise ValueError(f"purge_batch={purge_batch} must be at least 1")
        if not purge_seconds >= 0:
            raise ValueError(f"purge_seconds={purge_seconds} must not be negative")
        self._leeway = leeway
        self._purge_batch = purge_batch
        self._purge_seconds = purge_seconds
        self._next_purge = -math.inf
        self._lock = threading.Lock()
        # One connection per process, used under the lock (the service's threads
        # share it); autocommit: each statement is its own transaction.
        self._db = sqlite3.connect(
            str(path), timeout=0, check_same_thread=False, isolation_level=None
        )  # timeout=0: waits for the lock are this class's own (``_execute``)
        # Closed when the register is collected (or at exit), never left to the GC's warning.
        self.close = weakref.finalize(self, self._db.close)
        with self._lock:  # the workers start together: each statement may wait its turn
            self._execute("PRAGMA journal_mode=WAL")
            self._execute("PRAGMA synchronous=OFF")  # see the class's docstring
            self._execute(
                "CREATE TABLE IF NOT EXISTS seen "
                "(token BLOB PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID"
            )
            self._execute("CREATE INDEX IF NOT EXISTS seen_by_expiry ON seen (expires)")

    def first_use(self, issuer: str, jti: str, expires: float, now: float) -> bool:
        """Record a token id; False when it was seen before and has not expired."""
        token = _digest(issuer, jti)
        forgotten_before = now - self._leeway
        with self._lock:
            if now >= self._next_purge:
                self._purge(forgotten_before, now)
            changed = self._execute(_CHECK, (token, expires, forgotten_before))
        return changed == 1

    def _purge(self, forgotten_before: float, now: float) -> None:
        """Delete one batch of expired rows; purge again at the next check if it was full."""
        deleted = self._execute(_PURGE, (forgotten_before, self._purge_batch))
        full = deleted >= self._purge_batch
        self._next_purge = now if full else now + self._purge_seconds

    def _execute(self, statement: str, values: tuple[object, ...] = ()) -> int:
        """Run one statement (its own transaction); the count of rows it changed.

        SQLite's own wait for a lock held by another worker sleeps 1, 2, 5, 10 ms
        and more between tries, and under load another worker can take the lock
        each time in between (measured: waits of 40-340 ms when two processes
        check without pause). Checks and purges hold the lock for tens of
        microseconds, so the wait here starts at 50 µs and doubles up to 1 ms.

        Raises:
            RegisterUnavailableError: the lock was not free for :data:`BUSY_SECONDS`,
                or SQLite failed.
        """
        delay, deadline = 50e-6, time.monotonic() + BUSY_SECONDS
        while True:
            try:
                return self._db.execute(statement, values).rowcount
            except sqlite3.Error as error:
                busy = isinstance(error, sqlite3.OperationalError) and (
                    error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                )
                if not busy:  # a full disk, a removed file: SQLite's words, never values
                    raise RegisterUnavailableError(
                        f"the register of seen tokens failed ({type(error).__name__})"
                    ) from None
                if time.monotonic() > deadline:
                    raise RegisterUnavailableError(
                        f"the register of seen tokens stayed locked for {BUSY_SECONDS:g} s"
                    ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1e-3)


def _digest(issuer: str, jti: str) -> bytes:
    """The key a token id is stored under: 16 bytes, whatever the id's length.

    A digest keeps rows small and equal in size (an id is any string the client
    chose) and keeps token ids out of the file. Two live ids sharing a digest
    would refuse the second token; at 16 bytes that is about 1 in 10^28 for
    100,000 live ids. The issuer's length comes first, so that no issuer and id
    pair can spell another.
    """
    text = f"{len(issuer)}:{issuer}{jti}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).digest()
