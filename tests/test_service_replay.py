"""The register of seen token ids (issue 25): shared by workers, bounded work, restart-safe.

The register is a real SQLite file; the served tests run ``fbss-pathway serve
--workers 2`` and read which worker answered each call from its log.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fbss_pathway.cds_hooks import replay
from fbss_pathway.cds_hooks.auth import (
    LEEWAY,
    Authenticator,
    AuthError,
    KeyNotCachedError,
    TrustedClient,
)
from fbss_pathway.cds_hooks.replay import SharedReplays
from fbss_pathway.cds_hooks.service import SERVICE_ID, create_app

from .servers import LoopbackServer, free_port
from .test_service_http import ASSESSED, EC_KEY, ISSUER, ROTATED_KEY, _call, _jwk, _token

NOW = 1_800_000_000.0


def _rows(path: Path) -> int:
    """The rows in a register file, read by a connection of the test's own."""
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT count(*) FROM seen").fetchone()[0]
    db.close()
    return count


def test_a_token_id_is_accepted_once_until_it_expires(tmp_path: Path) -> None:
    register = SharedReplays(tmp_path / "seen.sqlite", LEEWAY)
    assert register.first_use(ISSUER, "jti-1", NOW + 300, NOW)
    assert not register.first_use(ISSUER, "jti-1", NOW + 300, NOW + 1)
    # Still refused within the leeway after exp; accepted again once past it.
    assert not register.first_use(ISSUER, "jti-1", NOW + 300, NOW + 300 + LEEWAY)
    assert register.first_use(ISSUER, "jti-1", NOW + 700, NOW + 301 + LEEWAY)
    assert not register.first_use(ISSUER, "jti-1", NOW + 700, NOW + 302 + LEEWAY)
    # The same id from another issuer is another token, and no pair spells another.
    assert register.first_use("https://other.example.org", "jti-1", NOW + 300, NOW)
    assert register.first_use("https://a", "bjti", NOW + 300, NOW)
    assert register.first_use("https://ab", "jti", NOW + 300, NOW)


def test_the_file_holds_no_token_id_in_clear(tmp_path: Path) -> None:
    register = SharedReplays(tmp_path / "seen.sqlite", LEEWAY)
    assert register.first_use(ISSUER, "MRN-4711-SECRET-JTI", NOW + 300, NOW)
    register.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert b"MRN-4711" not in stored
    assert ISSUER.encode() not in stored


def test_a_register_opened_later_refuses_what_an_earlier_one_recorded(tmp_path: Path) -> None:
    # A restarted worker opens the file again; the process that recorded may be gone.
    script = (
        "import sys; from fbss_pathway.cds_hooks.replay import SharedReplays\n"
        f"assert SharedReplays(sys.argv[1], 30).first_use('i', 'jti', {NOW + 300}, {NOW})\n"
        "import os; os._exit(0)  # no clean close: as a killed worker leaves it\n"
    )
    path = tmp_path / "seen.sqlite"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert not SharedReplays(path, LEEWAY).first_use("i", "jti", NOW + 300, NOW + 5)


def test_a_purge_deletes_a_bounded_batch_and_goes_on_while_batches_are_full(
    tmp_path: Path,
) -> None:
    path = tmp_path / "seen.sqlite"
    register = SharedReplays(path, LEEWAY, purge_batch=100, purge_seconds=60)
    for number in range(250):
        assert register.first_use(ISSUER, f"old-{number}", NOW + 300, NOW)
    later = NOW + 300 + LEEWAY + 1  # every old token has expired
    for number in range(10):
        assert register.first_use(ISSUER, f"live-{number}", later + 300, later)
        expired_left = max(0, 250 - 100 * (number + 1))
        assert _rows(path) == expired_left + number + 1
    # The last batch ran short: the next purge waits purge_seconds, whatever expires.
    for number in range(50):
        assert register.first_use(ISSUER, f"brief-{number}", later + 1, later)
    assert register.first_use(ISSUER, "a", later + 300, later + 1 + LEEWAY + 1)
    assert _rows(path) == 10 + 50 + 1
    assert register.first_use(ISSUER, "b", later + 300, later + 61)
    assert _rows(path) == 10 + 1 + 1


def test_neither_the_check_nor_the_purge_scans_the_register(tmp_path: Path) -> None:
    """The work of a check is counted in SQLite's own steps, not timed: the same at any size.

    Before issue 25 every check ran a DELETE reading every row: 10,000 live ids
    made each check 100 times the work of 100.
    """
    steps_per_check = []
    for size in (100, 10_000):
        path = tmp_path / f"seen-{size}.sqlite"
        register = SharedReplays(path, LEEWAY, purge_seconds=0)  # purge on every check
        with sqlite3.connect(path) as db:
            db.executemany(
                "INSERT INTO seen VALUES (?, ?)",
                ((replay._digest(ISSUER, str(n)), NOW + 300) for n in range(size)),
            )
        db.close()
        steps = [0]

        def count(steps: list[int] = steps) -> int:
            steps[0] += 1
            return 0  # go on

        register._db.set_progress_handler(count, 1)
        for number in range(20):
            assert register.first_use(ISSUER, f"new-{number}", NOW + 300, NOW + number)
        steps_per_check.append(steps[0] / 20)
    small, large = steps_per_check
    assert large <= 1.2 * small, steps_per_check
    with sqlite3.connect(path) as db:
        plan = " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {replay._PURGE}", (0, 1)))
    db.close()
    assert "USING COVERING INDEX seen_by_expiry" in plan, plan


def test_bad_purge_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="purge_batch=0 must be at least 1"):
        SharedReplays(tmp_path / "seen.sqlite", LEEWAY, purge_batch=0)
    with pytest.raises(ValueError, match="purge_seconds=-1 must not be negative"):
        SharedReplays(tmp_path / "seen.sqlite", LEEWAY, purge_seconds=-1)


def test_a_register_locked_too_long_refuses_the_token_with_a_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seen.sqlite"
    clients = (TrustedClient(ISSUER, jwks={"keys": [_jwk(EC_KEY, "ec-1")]}),)
    base = "https://cds.example.org"
    authenticator = Authenticator(clients, base, replays=SharedReplays(path, LEEWAY))
    monkeypatch.setattr(replay, "BUSY_SECONDS", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        token = _token(base)
        with pytest.raises(AuthError, match="could not be checked") as refused:
            authenticator.verify(f"Bearer {token}", f"/cds-services/{SERVICE_ID}")
        assert token not in str(refused.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    later = authenticator.verify(f"Bearer {_token(base)}", f"/cds-services/{SERVICE_ID}")
    assert later.issuer == ISSUER


def test_a_register_that_fails_refuses_the_token_never_a_500(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite"
    clients = (TrustedClient(ISSUER, jwks={"keys": [_jwk(EC_KEY, "ec-1")]}),)
    base = "https://cds.example.org"
    authenticator = Authenticator(clients, base, replays=SharedReplays(path, LEEWAY))
    with sqlite3.connect(path) as other:
        other.execute("DROP TABLE seen")  # the file no longer holds a register
    other.close()
    token = _token(base)
    with pytest.raises(AuthError, match="could not be checked") as refused:
        authenticator.verify(f"Bearer {token}", f"/cds-services/{SERVICE_ID}")
    assert token not in str(refused.value)


# --- Served by two workers ------------------------------------------------------------------


class _ServedLog:
    """``serve --workers 2`` with a trusted client, its log read as it is written."""

    def __init__(self, tmp_path: Path) -> None:
        clients = tmp_path / "clients.toml"
        key_set = json.dumps({"keys": [_jwk(EC_KEY, "ec-1")]})
        clients.write_text(f"[[client]]\nissuer = {json.dumps(ISSUER)}\njwks = '{key_set}'\n")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
        command += ["--workers", "2", "--clients", str(clients), "--base-url", self.base]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, count: int) -> list[str]:
        """The first ``count`` log lines holding ``text``, waiting for them."""
        deadline = time.monotonic() + 60
        while True:
            found = [line for line in list(self.lines) if text in line]
            if len(found) >= count:
                return found[:count]
            assert self.process.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, f"no {text!r} in the log"
            time.sleep(0.05)

    def events(self, name: str) -> list[dict[str, Any]]:
        events = [json.loads(line) for line in list(self.lines) if line.startswith('{"')]
        return [event for event in events if event.get("event") == name]

    def worker_pids(self, count: int) -> list[int]:
        started = self.wait_for("Started server process", count)
        return [int(line.rsplit("[", 1)[1].split("]")[0]) for line in started]

    def post(self, token: str) -> httpx2.Response:
        """A patient-view call on a new connection (the kernel picks the worker)."""
        return httpx2.post(
            f"{self.base}/cds-services/{SERVICE_ID}",
            json=_call(),
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[_ServedLog]:
    server = _ServedLog(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _refused_by(server: _ServedLog, token: str, calls: int) -> set[int]:
    """Send a token on new connections; every answer is a replay: the workers that said so."""
    before = len(server.events("refused"))
    for _ in range(calls):
        response = server.post(token)
        assert response.status_code == 401, response.text
        assert "jti replayed" in response.text
    time.sleep(0.2)  # the last log lines
    return {event["worker"] for event in server.events("refused")[before:]}


def test_a_token_is_refused_by_the_other_worker_and_by_a_restarted_one(
    served: _ServedLog,
) -> None:
    first, second = served.worker_pids(2)
    token = _token(served.base)
    assert served.post(token).status_code == 200
    served.wait_for('"event": "hook"', 1)
    accepted_by = served.events("hook")[0]["worker"]
    other = second if accepted_by == first else first
    # 30 new connections miss a worker with a chance of 2 in a billion.
    assert _refused_by(served, token, 30) == {first, second}
    os.kill(accepted_by, signal.SIGKILL)  # the worker that recorded the token dies
    served.wait_for("worker restarted", 1)
    restarted = served.worker_pids(3)[2]
    assert _refused_by(served, token, 30) == {other, restarted}
    assert served.post(_token(served.base)).status_code == 200  # new tokens still pass


# --- Verified on the event loop, keys fetched off it ----------------------------------------


class _HeldKeySet(http.server.ThreadingHTTPServer):
    """A key server that answers only when released: a slow EHR key endpoint."""

    def __init__(self, keys: dict[str, Any]) -> None:
        body, self.release = json.dumps(keys).encode(), threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                release.wait(30)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/jwks.json"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_a_token_whose_key_is_fetched_never_holds_up_other_calls() -> None:
    key_server = _HeldKeySet({"keys": [_jwk(ROTATED_KEY, "rotated-1")]})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = TrustedClient(ISSUER, jwks={"keys": [_jwk(EC_KEY, "ec-1")]}, jku=(key_server.url,))
    app = create_app(authenticator=Authenticator((client,), base), today=lambda: ASSESSED)
    url = f"{base}/cds-services/{SERVICE_ID}"
    try:
        with LoopbackServer(app, port):
            fetching: list[int] = []
            rotated = _token(base, key=ROTATED_KEY, kid="rotated-1", jku=key_server.url)

            def call_with_rotated_key() -> None:
                headers = {"authorization": f"Bearer {rotated}"}
                fetching.append(httpx2.post(url, json=_call(), headers=headers).status_code)

            waiting = threading.Thread(target=call_with_rotated_key)
            waiting.start()
            time.sleep(0.3)  # the call is waiting on the key server
            for _ in range(3):  # answered on the event loop meanwhile
                headers = {"authorization": f"Bearer {_token(base)}"}
                assert httpx2.post(url, json=_call(), headers=headers).status_code == 200
            assert fetching == []
            key_server.release.set()
            waiting.join(timeout=30)
            assert fetching == [200]
    finally:
        key_server.release.set()
        key_server.shutdown()
        key_server.server_close()


def test_verifying_without_fetching_asks_for_a_fetch_before_counting_one() -> None:
    key_server = _HeldKeySet({"keys": [_jwk(ROTATED_KEY, "rotated-1")]})
    key_server.release.set()
    base = "https://cds.example.org"
    client = TrustedClient(ISSUER, jwks={"keys": [_jwk(EC_KEY, "ec-1")]}, jku=(key_server.url,))
    authenticator = Authenticator((client,), base)
    path = f"/cds-services/{SERVICE_ID}"
    try:
        rotated = _token(base, key=ROTATED_KEY, kid="rotated-1", jku=key_server.url)
        for _ in range(2):  # not counted as a fetch: the second try still asks
            with pytest.raises(KeyNotCachedError):
                authenticator.verify(f"Bearer {rotated}", path, may_fetch=False)
        assert authenticator.verify(f"Bearer {rotated}", path).issuer == ISSUER
        again = _token(base, key=ROTATED_KEY, kid="rotated-1", jku=key_server.url)
        assert authenticator.verify(f"Bearer {again}", path, may_fetch=False).issuer == ISSUER
    finally:
        key_server.shutdown()
        key_server.server_close()
