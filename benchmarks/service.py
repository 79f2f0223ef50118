"""Loopback benchmark of the CDS Hooks service: hook-call latency under 20 concurrent clients.

Run with ``make bench-service``. It starts ``fbss-pathway serve`` on 127.0.0.1 (a
free port), with one worker process and then one per core, sends a bounded
number of patient-view calls built from the example patients from this process
(20 concurrent clients), prints p50/p99 against the targets (p50 <= 15 ms,
p99 <= 50 ms) and the throughput, and stops the server.

Then the same side by side with an earlier version (``LANDED``, taken from git
into a temporary directory), runs alternating, so that the machine's changing
speed falls on both: the ratio of CPU per call is the steady figure. Each row
also shows how many calls each worker answered: the kernel spreads the 20
connections over the workers' sockets by a hash, so one worker often holds 11
to 13 of them, and its calls wait longer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from versions import unpack_version  # benchmarks/ is the script's folder

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.service import prefetch_from_bundle
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

CLIENTS = 20
CALLS = 2_000
#: The version compared side by side: the service as it landed before the reader's
#: per-entry work was cut and the workers' sockets were marked TCP (2026-11-22).
LANDED = "9624e66"


def _request(record: PatientRecord) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id or "x"},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


async def _client(port: int, requests: list[bytes], times: list[float]) -> None:
    """One keep-alive HTTP/1.1 connection sending its share of the calls, one at a time.

    Hand-written on asyncio streams rather than a full HTTP client: the load
    generator shares the machine's cores with the service, so the less CPU it
    spends per call, the more the figures describe the service.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(_CONTENT_LENGTH.search(head)[1])  # type: ignore[index]
            await reader.readexactly(length)
            times.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"the service answered {status}")
    finally:
        writer.close()


_CONTENT_LENGTH = re.compile(rb"(?i)content-length: *(\d+)")


def _http(port: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST /cds-services/fbss-pathway HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def _load(port: int, requests: list[bytes], calls: int) -> list[float]:
    times: list[float] = []
    shares = [
        [requests[n % len(requests)] for n in range(start, calls, CLIENTS)]
        for start in range(CLIENTS)
    ]
    await asyncio.gather(*(_client(port, share, times) for share in shares))
    return times


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and of its child processes, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: parent pid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


@dataclass
class Run:
    """One load run's figures."""

    p50: float
    p99: float
    rate: float
    server_cpu: float  # seconds of CPU per call, the service's processes
    client_cpu: float  # seconds of CPU per call, the load generator
    split: str  # the calls each worker answered (each client makes the same number)


def measure(workers: int, source: str | None = None) -> Run:
    """Start ``serve --workers N`` and load it with CALLS calls from CLIENTS connections.

    ``source``: the directory of another version's package to serve instead.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": source} if source else None
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([*command, "--workers", str(workers)], stderr=log, env=env)
        try:
            for _ in range(300):
                try:
                    httpx2.get(f"{base}/cds-services", timeout=1).raise_for_status()
                    break
                except httpx2.HTTPError:
                    time.sleep(0.1)
            requests = [
                _http(port, _request(PatientRecord.model_validate_json(p.read_bytes())))
                for p in example_paths()
            ]
            asyncio.run(_load(port, requests, 200))  # warm up every worker's engine
            server_before, client_before = _cpu_seconds(server.pid), time.process_time()
            started = time.perf_counter()
            times = sorted(asyncio.run(_load(port, requests, CALLS)))
            wall = time.perf_counter() - started
            server_cpu = _cpu_seconds(server.pid) - server_before
            client_cpu = time.process_time() - client_before
        finally:
            server.terminate()
            server.wait(timeout=10)
        log.seek(0)
        answered = Counter(
            event.get("worker") for event in map(_event, log) if event.get("event") == "hook"
        )
    return Run(
        p50=statistics.median(times),
        p99=times[round(0.99 * (len(times) - 1))],
        rate=len(times) / wall,
        server_cpu=server_cpu / len(times),
        client_cpu=client_cpu / len(times),
        split=" / ".join(f"{n:,}" for n in sorted(answered.values(), reverse=True)),
    )


def _event(line: str) -> dict[str, Any]:
    """A line of the service's log as its JSON object (other lines as an empty one)."""
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _row(label: str, run: Run, cores: int, workers: int) -> str:
    # With CLIENTS calls always in flight, a call waits for the others (Little's law:
    # p50 ~ CLIENTS / calls per second). The cores finish at most cores / (CPU per
    # call) calls a second, each worker process (one GIL) at most 1 / its share,
    # the single-process load generator at most 1 / its share.
    most = min(
        cores / (run.server_cpu + run.client_cpu),
        workers / run.server_cpu,
        1 / run.client_cpu,
    )
    bound = CLIENTS / most
    return (
        f"| {label} | {run.p50 * 1e3:.1f} ms ({'met' if run.p50 <= 0.015 else 'MISSED'}) "
        f"| {run.p99 * 1e3:.1f} ms ({'met' if run.p99 <= 0.05 else 'MISSED'}) "
        f"| {run.rate:,.0f} calls/s | {run.server_cpu * 1e3:.2f} ms / "
        f"{run.client_cpu * 1e3:.2f} ms | >= {bound * 1e3:.1f} ms | {run.split} |"
    )


def main() -> int:
    """Measure with one worker and with one per core, then against LANDED; print the figures."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    print(f"CDS Hooks patient-view on loopback, {CLIENTS} concurrent clients, {CALLS:,} calls;")
    print(f"the load generator is a separate process on the same {cores} core(s).\n")
    header = (
        "| {} | p50 (target <= 15 ms) | p99 (target <= 50 ms) | throughput "
        "| CPU per call: service / load generator | p50 the cores allow "
        "| calls per worker (warm-up included) |\n"
        "|---|---|---|---|---|---|---|"
    )
    print(header.format("workers"))
    for workers in sorted({1, cores}):
        print(_row(str(workers), measure(workers), cores, workers))
    with tempfile.TemporaryDirectory() as directory:
        source = unpack_version(LANDED, directory)
        if source is None:
            print("\nNot a git checkout: no side-by-side comparison.")
            return 0
        print(f"\nSide by side with {LANDED}, {cores} worker(s), runs alternating:\n")
        print(header.format("version"))
        ratios = []
        for _ in range(2):
            now, then = measure(cores), measure(cores, source)
            ratios.append(now.server_cpu / then.server_cpu)
            print(_row("now", now, cores, cores))
            print(_row(LANDED, then, cores, cores))
        print(f"\nService CPU per call, now / {LANDED}: {statistics.mean(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
