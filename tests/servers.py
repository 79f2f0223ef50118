"""Real servers for tests: an ASGI app under uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from fbss_pathway.cds_hooks.protocol import SERVER_OPTIONS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class LoopbackServer:
    """uvicorn serving an app on a loopback port, in a thread, for one module's tests."""

    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", **SERVER_OPTIONS
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def wait_until_answering(url: str, process: subprocess.Popen[Any], seconds: float = 60) -> None:
    """Wait for a server process to answer ``url``; fail if it stops or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx2.get(url, timeout=2).raise_for_status()
            return
        except httpx2.HTTPError:
            assert process.poll() is None, f"the server stopped ({url})"
            assert time.monotonic() < deadline, f"the server did not start ({url})"
            time.sleep(0.1)


FHIRSNAKE = Path(__file__).parent.parent / ".venv-fhirsnake"


@contextmanager
def fhirsnake(resources: Iterable[dict[str, Any]], root: Path) -> Iterator[str]:
    """A real FHIR server (fhirsnake, from PyPI, installed by ``make unit``) on loopback.

    It serves ``resources`` (each needs an ``id``) from files under ``root`` and
    answers every search with all resources of the type: it ignores search
    parameters, so a patient's search returns everyone's. Yields its base URL.
    """
    python = FHIRSNAKE / "bin" / "python"
    assert python.exists(), "the test FHIR server is not installed: run make unit"
    for resource in resources:
        folder = root / "resources" / resource["resourceType"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{resource['id']}.json").write_text(json.dumps(resource))
    package = next((FHIRSNAKE / "lib").glob("python3*/site-packages/fhirsnake"))
    port = free_port()
    command = [str(python), "-m", "uvicorn", "main:app", "--app-dir", str(package)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/", server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stderr:
            server.stderr.close()
