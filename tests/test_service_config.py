"""Configuring the service: trusted clients from TOML; no unauthenticated service off loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.auth import ClientsError, load_clients
from fbss_pathway.cds_hooks.hooks import prefetch_from_bundle
from fbss_pathway.cds_hooks.workers import _listening
from fbss_pathway.cli import example_paths, main
from fbss_pathway.fhir import bundle_from_record

from .servers import free_port, wait_until_answering

KEY = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(text)
    return path


def test_clients_load_from_a_table_a_json_string_or_a_url(tmp_path: Path) -> None:
    key = {**KEY, "kid": "k1"}
    inline = ", ".join(f'{name} = "{value}"' for name, value in key.items())
    path = _write(
        tmp_path,
        f'[[client]]\nissuer = "https://a"\njwks = {{ keys = [ {{ {inline} }} ] }}\n'
        f"[[client]]\nissuer = \"https://b\"\njwks = '{json.dumps({'keys': [key]})}'\n"
        '[[client]]\nissuer = "https://c"\njwks_url = "https://c/jwks.json"\n'
        'jku = ["https://c/jwks.json"]\n',
    )
    clients = load_clients(path)
    assert [c.issuer for c in clients] == ["https://a", "https://b", "https://c"]
    assert clients[0].jwks == clients[1].jwks
    assert clients[2].jku == ("https://c/jwks.json",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "no [[client]] tables"),
        ('[[client]]\nissuer = "https://a"\n', "exactly one of jwks"),
        ('[[client]]\nissuer = "https://a"\njwks = "{not json"\n', "not a JSON Web Key Set"),
        ('[[client]]\nissuer = "https://a"\njwks = { keys = [ { kty = "EC" } ] }\n', "usable"),
        ('[[client]]\nissuer = "https://a"\njwks_url = "file:///etc/passwd"\n', "http(s) URL"),
        ('[[client]]\nissuer = "https://a"\njwks_url = "https://a"\nsecret = 1\n', "unknown key"),
        ("[[client]\n", "cannot read"),
    ],
)
def test_a_bad_clients_file_names_the_entry(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ClientsError) as caught:
        load_clients(_write(tmp_path, text))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0 without authentication"),
        (["--host", "192.0.2.10"], "without authentication"),
        (["--clients", "{clients}"], "--clients needs --base-url"),
        (
            ["--clients", "{clients}", "--base-url", "https://cds.example", "--cors-origin", "*"],
            "'*' is refused together with --clients",
        ),
    ],
)
def test_serve_refuses_to_start_insecurely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    clients = _write(tmp_path, '[[client]]\nissuer = "https://a"\njwks_url = "https://a/k"\n')
    argv = ["serve", *(arg.format(clients=clients) for arg in args)]
    assert main(argv) == 1
    assert expected in capsys.readouterr().err


def _call(record: PatientRecord) -> dict[str, object]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


def _two_workers() -> tuple[subprocess.Popen[str], str]:
    """``serve --workers 2`` on a free loopback port, answering; the process and its URL."""
    port = free_port()
    command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", "2"], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{base}/cds-services", server)
    return server, base


def _hook_workers(log: str) -> list[int]:
    """The worker process of each hook call the log records."""
    events = [json.loads(line) for line in log.splitlines() if line.startswith('{"')]
    return [event["worker"] for event in events if event.get("event") == "hook"]


def test_serve_runs_worker_processes_that_share_keep_alive_connections() -> None:
    # An EHR opens its connections together and keeps them: each worker listens on
    # a socket of its own, so the connections (and the calls) spread over both.
    record = PatientRecord.model_validate_json(example_paths()[3].read_bytes())
    server, base = _two_workers()
    try:
        connections = [httpx2.Client(base_url=base, timeout=30) for _ in range(20)]
        for _ in range(2):
            for connection in connections:
                response = connection.post("/cds-services/fbss-pathway", json=_call(record))
                assert response.status_code == 200
                # The stage card: "PSPS type 2 (FBSS): <headline>" and every option's verdict.
                # The served command assesses as of the clock (no date to pin), so the
                # stage itself is left to the tests that pin the date.
                stage_card = response.json()["cards"][0]
                assert stage_card["summary"].startswith("PSPS type 2 (FBSS): ")
                assert "**Options:**" in stage_card["detail"].splitlines()
        for connection in connections:
            connection.close()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert err.count("Started server process") == 2  # two workers
    assert '"event": "unauthenticated"' in err
    served = _hook_workers(err)
    assert len(served) == 40  # every call logged, by the worker that answered it
    assert len(set(served)) == 2  # 20 connections on one worker: 2 in a million


def test_serve_restarts_a_worker_that_dies() -> None:
    record = PatientRecord.model_validate_json(example_paths()[3].read_bytes())
    server, base = _two_workers()
    try:
        workers = [
            int(line.rsplit("[", 1)[1].rstrip("]"))
            for line in _lines_until(server, "Started server process", 2)
        ]
        os.kill(workers[0], signal.SIGKILL)
        assert _lines_until(server, "worker restarted", 1)
        assert _lines_until(server, "Started server process", 1)  # its replacement
        for _ in range(10):  # new connections reach the replacement and the survivor
            response = httpx2.post(f"{base}/cds-services/fbss-pathway", json=_call(record))
            assert response.status_code == 200
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert server.returncode == 0


def _lines_until(server: subprocess.Popen[str], text: str, count: int) -> list[str]:
    """Read the server's log until ``count`` lines hold ``text``; those lines."""
    assert server.stderr is not None
    found: list[str] = []
    deadline = time.monotonic() + 60
    while len(found) < count:
        assert time.monotonic() < deadline, f"no {text!r} in the log"
        line = server.stderr.readline()
        assert line, "the server stopped"
        if text in line:
            found.append(line.strip())
    return found


def test_worker_sockets_give_connections_without_nagle_delays() -> None:
    # Each worker's socket is made by hand; asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on connections whose socket says it is TCP. Without that,
    # a response written in two parts (head, body) waited for the client's delayed
    # ACK: 44 ms a call with two workers against 1.4 ms with one (measured).
    async def accepted_without_nagle() -> int:
        listening = _listening("127.0.0.1", 0)
        seen: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connection = writer.get_extra_info("socket")
            seen.append(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname())
            while not seen:
                await asyncio.sleep(0.01)
            writer.close()
        return seen[0]

    assert asyncio.run(accepted_without_nagle()) != 0
