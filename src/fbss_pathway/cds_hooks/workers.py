"""Several worker processes for the service, each with its own listening socket.

uvicorn's ``--workers`` shares one listening socket between the processes, and
an asyncio server accepts every pending connection at once when it wakes: when
an EHR (or a proxy) opens its keep-alive connections together, one worker takes
them all and the others idle for as long as the connections live (measured: of
20 connections, one worker served 99 % of the calls, and two workers answered no
faster than one). Here each worker listens on a socket of its own, bound to the
same address with ``SO_REUSEPORT``, and the kernel spreads new connections
across the sockets. Where the platform lacks ``SO_REUSEPORT``, uvicorn's own
workers are used.

The supervisor restarts a worker that dies (at most once a second each) and
stops every worker on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["APP", "reuse_port_supported", "run_workers"]

#: The application every worker builds (from the settings in its environment).
APP = "fbss_pathway.cds_hooks.served:app_from_environment"
log = logging.getLogger("fbss_pathway.cds_hooks")


def reuse_port_supported() -> bool:
    """Whether this platform can give each worker a socket of its own on one port."""
    return hasattr(socket, "SO_REUSEPORT")


def run_workers(host: str, port: int, workers: int, options: Mapping[str, Any]) -> None:
    """Serve with ``workers`` processes until SIGINT or SIGTERM; ``options`` go to uvicorn."""
    if workers < 2 or not reuse_port_supported():
        uvicorn.run(APP, factory=True, workers=workers, host=host, port=port, **options)
        return
    sockets = [_listening(host, port) for _ in range(workers)]
    context = multiprocessing.get_context("spawn")
    options = {**options, "host": host, "port": port}  # for the workers' log lines
    processes = [_start(context, sock, options) for sock in sockets]
    started = [time.monotonic()] * workers
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            time.sleep(0.2)
            for number, process in enumerate(processes):
                if not process.is_alive() and time.monotonic() - started[number] >= 1:
                    log.warning('{"event": "worker restarted", "exit_code": %s}', process.exitcode)
                    processes[number] = _start(context, sockets[number], options)
                    started[number] = time.monotonic()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _listening(host: str, port: int) -> socket.socket:
    """A worker's listening socket, marked as TCP.

    The protocol must be named: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    only on connections whose socket says it is TCP, and a response written in
    two parts then waited for the client's delayed ACK (44 ms a call, measured).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _start(
    context: Any, sock: socket.socket, options: Mapping[str, Any]
) -> multiprocessing.process.BaseProcess:
    process: multiprocessing.process.BaseProcess = context.Process(
        target=_worker, args=(sock, dict(options)), name="fbss-pathway-worker"
    )
    process.start()
    return process


def _worker(sock: socket.socket, options: dict[str, Any]) -> None:  # pragma: no cover - a child
    """One worker: uvicorn serving the application on its own socket."""
    config = uvicorn.Config(APP, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])
