"""A real headless Chromium, driven over the DevTools protocol on a pipe (no driver, no network).

Chromium reads protocol messages on its file descriptor 3 and answers on 4
(``--remote-debugging-pipe``), each message JSON ended by a NUL byte. This
opens a page, records every request and every console message or uncaught
error while it loads, reads the DOM and takes a screenshot. Every read has a
deadline, so a browser that stops answering fails the test instead of hanging.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

#: Flags for a closed network and a root user (as on CI): no sandbox, GPU, first-run
#: screens, background networking, component updates or sync.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
)


def chromium_path() -> str | None:
    """Debian's Chromium (``make unit`` installs it where missing), or FBSS_CHROMIUM."""
    return os.environ.get("FBSS_CHROMIUM") or shutil.which("chromium")


@dataclass
class PageVisit:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # errors and warnings, with their level
    text: str = ""
    stage: str = ""
    screenshot: bytes = b""
    measured: str = ""  # what the caller's script returned
    printed_pages: int = 0  # pages of the page printed to PDF (A4), when asked


class Browser:
    """One Chromium process; use as a context manager."""

    def __init__(self, executable: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="fbss-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        command = " ".join(
            [
                "exec",
                _quote(executable),
                *FLAGS,
                f"--user-data-dir={_quote(self._profile.name)}",
                "about:blank",
                f"3<&{to_browser_read}",
                f"4>&{from_browser_write}",
            ]
        )
        self._process = subprocess.Popen(
            ["bash", "-c", command],  # dash cannot redirect descriptors above 9
            pass_fds=(to_browser_read, from_browser_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if os.environ.get("FBSS_CHROMIUM_LOG") is None else None,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self._send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    def visit(
        self,
        url: str,
        *,
        width: int = 1000,
        height: int = 1400,
        script: str | None = None,
        print_pdf: bool = False,
    ) -> PageVisit:
        """Load ``url`` in a new tab; return its requests, console errors, text and screenshot.

        ``script``: an expression evaluated in the page once loaded (its string value in
        ``measured``); ``print_pdf``: the page printed on A4 and its pages counted.
        """
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable", session=session)
        self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self._events.clear()
        self._send("Page.navigate", {"url": url}, session=session)
        self._wait_for("Page.loadEventFired", session)
        visit = PageVisit()
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
                visit.console.append(f"console.{params['type']}")
            elif method == "Runtime.exceptionThrown":
                visit.console.append("uncaught exception")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                entry = params["entry"]
                visit.console.append(f"{entry['level']}: {entry.get('text', '')[:200]}")
        visit.text = self._evaluate("document.body.innerText", session)
        visit.stage = self._evaluate(
            "(document.getElementById('stage') || {textContent: ''}).textContent", session
        )
        if script is not None:
            visit.measured = self._evaluate(script, session)
        shot = self._send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session
        )
        visit.screenshot = base64.b64decode(shot["data"])
        if print_pdf:
            paper = {"paperWidth": 8.27, "paperHeight": 11.69}  # A4, in inches
            pdf = base64.b64decode(self._send("Page.printToPDF", paper, session)["data"])
            visit.printed_pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        self._send("Target.closeTarget", {"targetId": target})
        return visit

    def _evaluate(self, expression: str, session: str) -> str:
        found = self._send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
        )
        return str(found["result"].get("value", ""))

    def _send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return dict(reply.get("result", {}))
            if "method" in reply:
                self._events.append(reply)

    def _wait_for(self, method: str, session: str) -> None:
        if any(e["method"] == method and e.get("sessionId") == session for e in self._events):
            return
        while True:
            event = self._read()
            if "method" in event:
                self._events.append(event)
                if event["method"] == method and event.get("sessionId") == session:
                    return

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the protocol pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
