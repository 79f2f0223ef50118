"""Loopback benchmark of the CDS Hooks service: hook-call latency under 20 concurrent clients.

Run with ``make bench-service``. It starts ``fbss-pathway serve`` on 127.0.0.1 (a
free port), with one worker process and then one per core, sends a bounded
number of patient-view calls built from the example patients from this process
(20 concurrent clients), prints p50/p99 against the targets (p50 <= 15 ms,
p99 <= 50 ms) and the throughput, and stops the server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.service import prefetch_from_bundle
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

CLIENTS = 20
CALLS = 2_000


def _request(record: PatientRecord) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id or "x"},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


async def _load(base: str, bodies: list[dict[str, Any]]) -> list[float]:
    times: list[float] = []
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for number in range(CALLS):
        queue.put_nowait(bodies[number % len(bodies)])

    async def client(http: httpx2.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await http.post(f"{base}/cds-services/fbss-pathway", json=body)
            times.append(time.perf_counter() - started)
            response.raise_for_status()

    async with httpx2.AsyncClient(timeout=10) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    return times


def measure(workers: int) -> tuple[float, float, float]:
    """Start ``serve --workers N``, load it; p50 and p99 in seconds, throughput in calls/s."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    command = [Path(sys.executable).with_name("fbss-pathway"), "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", str(workers)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                httpx2.get(f"{base}/cds-services", timeout=1).raise_for_status()
                break
            except httpx2.HTTPError:
                time.sleep(0.1)
        bodies = [
            _request(PatientRecord.model_validate_json(p.read_bytes())) for p in example_paths()
        ]
        asyncio.run(_load(base, bodies[:2]))  # warm up every worker's engine
        started = time.perf_counter()
        times = sorted(asyncio.run(_load(base, bodies)))
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    return statistics.median(times), times[round(0.99 * (len(times) - 1))], len(times) / wall


def main() -> int:
    """Measure with one worker and with one per core; print the figures."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    print(f"CDS Hooks patient-view on loopback, {CLIENTS} concurrent clients, {CALLS:,} calls;")
    print(f"the load generator is a separate process on the same {cores} core(s).")
    print("| workers | p50 | p99 (target <= 50 ms) | p50 target <= 15 ms | throughput |")
    print("|---|---|---|---|---|")
    for workers in sorted({1, cores}):
        p50, p99, rate = measure(workers)
        print(
            f"| {workers} | {p50 * 1e3:.1f} ms | {p99 * 1e3:.1f} ms "
            f"({'met' if p99 <= 0.05 else 'MISSED'}) | {'met' if p50 <= 0.015 else 'MISSED'} "
            f"| {rate:,.0f} calls/s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
