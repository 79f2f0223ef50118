"""Real servers for tests: an ASGI app under uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
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
