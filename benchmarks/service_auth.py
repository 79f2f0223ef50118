"""Loopback benchmark of the authenticated CDS Hooks service (issue 25): a fresh JWT per call.

Run with ``make bench-service-auth``. It starts ``fbss-pathway serve --workers 2
--clients ...`` on 127.0.0.1 and sends patient-view calls from 20 keep-alive
connections, each call with its own ES384 token (all signed before the run, so
signing costs the load generator nothing while it is timed). Each server is
measured twice: with the register of seen token ids nearly empty, then with
100,000 live token ids (and 50,000 expired ones) written into the workers'
shared register file, as five minutes at 330 calls a second leave it. It prints
p50/p99, calls a second, the CPU a call costs the service and the load
generator, and the ratio of throughput with 100,000 live ids to the start.

Side by side with the service before issue 25 (``BEFORE``, taken from git into
a temporary directory: its whole package, so its register and its
verification in a thread), runs alternating, so that the machine's changing
speed falls on both. One run without authentication gives the floor.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from service import CLIENTS, _client, _cpu_seconds, _request  # benchmarks/ is the script's folder
from versions import ROOT, unpack_version

from fbss_pathway import PatientRecord
from fbss_pathway.cli import example_paths

CALLS = 3_000
WARM_UP = 200
LIVE_IDS = 100_000
EXPIRED_IDS = 50_000
ISSUER = "https://ehr.example.org"
#: The version compared: the service before issue 25's work on the register.
BEFORE = "cf0aaf8"
KEY = ec.generate_private_key(ec.SECP384R1())


def _clients_file(directory: str) -> str:
    public = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "bench-1"}
    path = Path(directory) / "clients.toml"
    key_set = json.dumps({"keys": [public]})
    path.write_text(f"[[client]]\nissuer = {json.dumps(ISSUER)}\njwks = '{key_set}'\n")
    return str(path)


def _signed_calls(port: int, bodies: list[bytes], count: int, signed: bool) -> list[bytes]:
    """``count`` HTTP requests, each with a token of its own (signed now, used once)."""
    now = int(time.time())
    audience = f"http://127.0.0.1:{port}/cds-services/fbss-pathway"
    requests = []
    for number in range(count):
        head = (
            f"POST /cds-services/fbss-pathway HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n"
        )
        if signed:
            claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300}
            token = jwt.encode(
                {**claims, "jti": str(uuid.uuid4())},
                KEY,
                algorithm="ES384",
                headers={"kid": "bench-1"},
            )
            head += f"Authorization: Bearer {token}\r\n"
        body = bodies[number % len(bodies)]
        requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return requests


async def _load(port: int, requests: list[bytes]) -> list[float]:
    times: list[float] = []
    shares = [requests[start::CLIENTS] for start in range(CLIENTS)]
    await asyncio.gather(*(_client(port, share, times) for share in shares))
    return times


@dataclass
class Run:
    """One timed load's figures."""

    p50: float
    p99: float
    rate: float
    server_cpu: float  # seconds of CPU per call, the service's processes
    client_cpu: float  # seconds of CPU per call, the load generator


def _timed(server: subprocess.Popen[bytes], port: int, requests: list[bytes]) -> Run:
    server_before, client_before = _cpu_seconds(server.pid), time.process_time()
    started = time.perf_counter()
    times = sorted(asyncio.run(_load(port, requests)))
    wall = time.perf_counter() - started
    return Run(
        p50=statistics.median(times),
        p99=times[round(0.99 * (len(times) - 1))],
        rate=len(times) / wall,
        server_cpu=(_cpu_seconds(server.pid) - server_before) / len(times),
        client_cpu=(time.process_time() - client_before) / len(times),
    )


def _register_file(server: subprocess.Popen[bytes]) -> Path:
    """The shared register the workers opened (found through their open files)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != server.pid:
                continue  # not one of this server's workers
            for fd in (stat.parent / "fd").iterdir():
                target = os.readlink(fd)
                if target.endswith("replays.sqlite"):
                    return Path(target)
        except OSError:
            continue  # a process that ended meanwhile
    raise RuntimeError("the workers' register file was not found")


def _fill(path: Path, now: float) -> None:
    """Write live and expired token ids into a register, in the columns its version has."""
    with sqlite3.connect(path, timeout=30) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(seen)")]
        if columns == ["issuer", "jti", "expires"]:  # the register before issue 25

            def row(expires: float) -> tuple[Any, ...]:
                return (ISSUER, str(uuid.uuid4()), expires)

            insert = "INSERT INTO seen VALUES (?, ?, ?)"
        else:  # a digest of issuer and id, as random as the digest

            def row(expires: float) -> tuple[Any, ...]:
                return (os.urandom(16), expires)

            insert = "INSERT INTO seen VALUES (?, ?)"
        db.executemany(insert, (row(now + 300) for _ in range(LIVE_IDS)))
        db.executemany(insert, (row(now - 400) for _ in range(EXPIRED_IDS)))
    db.close()


def measure(source: str, clients: str | None) -> tuple[Run, Run | None]:
    """Serve ``source``'s package with two workers; the run at the start and at 100,000 ids."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
    command += ["--workers", "2"]
    if clients:
        command += ["--clients", clients, "--base-url", base]
    bodies = [
        json.dumps(_request(PatientRecord.model_validate_json(p.read_bytes()))).encode()
        for p in example_paths()
    ]
    signed = clients is not None
    requests = _signed_calls(port, bodies, 2 * (WARM_UP + CALLS), signed)
    env = {**os.environ, "PYTHONPATH": source}
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(300):  # any answer (401 without a token) means the workers are up
            try:
                httpx2.get(f"{base}/cds-services", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        time.sleep(1)  # both workers
        asyncio.run(_load(port, requests[:WARM_UP]))
        start = _timed(server, port, requests[WARM_UP : WARM_UP + CALLS])
        if not signed:
            return start, None
        _fill(_register_file(server), time.time())
        asyncio.run(_load(port, requests[WARM_UP + CALLS : 2 * WARM_UP + CALLS]))
        return start, _timed(server, port, requests[2 * WARM_UP + CALLS :])
    finally:
        server.terminate()
        server.wait(timeout=30)


def _row(label: str, run: Run, cores: int) -> str:
    # Little's law: with CLIENTS calls in flight, p50 ~ CLIENTS / calls a second;
    # the cores finish at most cores / (CPU a call, service and load generator).
    bound = CLIENTS * (run.server_cpu + run.client_cpu) / cores
    return (
        f"| {label} | {run.p50 * 1e3:.1f} ms ({'met' if run.p50 <= 0.025 else 'MISSED'}) "
        f"| {run.p99 * 1e3:.1f} ms ({'met' if run.p99 <= 0.05 else 'MISSED'}) "
        f"| {run.rate:,.0f} calls/s | {run.server_cpu * 1e3:.2f} ms / "
        f"{run.client_cpu * 1e3:.2f} ms | >= {bound * 1e3:.1f} ms |"
    )


def main() -> int:
    """Measure this version and BEFORE alternating; print the figures and ratios."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    print(
        f"Authenticated patient-view calls on loopback, `serve --workers 2`, {CLIENTS} "
        f"clients, {CALLS:,} calls a run, a fresh ES384 token per call;\nthe load generator "
        f"is a separate process on the same {cores} core(s).\n"
    )
    print(
        "| version, register | p50 (target <= 25 ms) | p99 (target <= 50 ms) | throughput "
        "| CPU per call: service / load generator | p50 the cores allow |\n"
        "|---|---|---|---|---|---|"
    )
    now_source = str(ROOT / "src")
    kept: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        clients = _clients_file(directory)
        before_source = unpack_version(BEFORE, str(Path(directory) / "before"))
        if before_source is None:
            print("Not a git checkout: no side-by-side comparison.")
        floor, _ = measure(now_source, None)
        print(_row("now, no authentication", floor, cores))
        versions = [("now", now_source)]
        if before_source is not None:
            versions.append((BEFORE, before_source))
        for _ in range(2):
            for label, source in versions:
                start, full = measure(source, clients)
                assert full is not None
                print(_row(f"{label}, empty", start, cores))
                print(_row(f"{label}, {LIVE_IDS:,} live ids", full, cores))
                kept.setdefault(f"{label} throughput at {LIVE_IDS:,} ids / start", []).append(
                    full.rate / start.rate
                )
                kept.setdefault(f"{label} service CPU a call", []).append(start.server_cpu)
    print()
    for name, values in kept.items():
        if "CPU" in name:
            print(f"{name}: " + ", ".join(f"{v * 1e3:.2f} ms" for v in values))
        else:  # the target: within 10 % of the start
            verdict = "met" if min(values) >= 0.9 else "MISSED"
            print(f"{name}: " + ", ".join(f"{v:.2f}" for v in values) + f" ({verdict}: >= 0.90)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
