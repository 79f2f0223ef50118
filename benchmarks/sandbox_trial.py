"""Trying the service in the CDS Hooks Sandbox, a real client, in headless Chromium.

Not part of the test suite: the sandbox is built from its public repository
(https://github.com/cds-hooks/sandbox, ``npm install && npm run build``), which
CI cannot download. Given that build, this script starts on loopback:

* a FHIR server (fhirsnake, from ``make unit``'s ``.venv-fhirsnake``) holding the
  example bundles (``examples/fhir``: invented names and birth dates);
* a front server giving the sandbox's files and, under ``/fhir``, the FHIR
  server (same origin, so the browser needs no CORS for it) with a minimal
  CapabilityStatement, which fhirsnake lacks;
* ``fbss-pathway serve`` with authentication: the sandbox as its one trusted
  client (issuer ``https://sandbox.cds-hooks.org``, its published ES384 key
  from the repository's ``keys/jwk-keypair.json``, its ``jku`` allow-listed),
  CORS for the front server's origin;

then opens the sandbox once per example patient, waits for the cards, saves a
screenshot, prints what the sandbox shows, presses every card's "Dismiss", and
finally prints what the service logged (hook calls, feedback, refusals).

    python benchmarks/sandbox_trial.py --sandbox /path/to/sandbox --out build/sandbox
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser import Browser, chromium_path  # noqa: E402
from tests.servers import free_port  # noqa: E402

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
CAPABILITY = {"resourceType": "CapabilityStatement", "status": "active", "fhirVersion": "4.0.1"}


def _fhir_files(root: Path) -> None:
    """The example bundles as fhirsnake's resource files."""
    for path in sorted((ROOT / "examples" / "fhir").glob("*.bundle.json")):
        bundle = json.loads(path.read_text())
        for number, entry in enumerate(bundle["entry"]):
            resource = entry["resource"]
            kind = resource["resourceType"]
            ident = resource.get("id") or f"{path.stem.split('_')[0]}-{number}"
            resource = {**resource, "id": ident}
            (root / "resources" / kind).mkdir(parents=True, exist_ok=True)
            (root / "resources" / kind / f"{ident}.json").write_text(json.dumps(resource))


@contextmanager
def _process(command: list[str], port: int, **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, text=True, **kwargs)
    try:
        deadline = time.monotonic() + 60
        while True:  # listening (the service answers 401 to anyone without a token)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start listening") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


def _front(build: Path, fhir: str) -> Starlette:
    client = httpx2.AsyncClient(base_url=fhir, timeout=30)

    async def proxy(request: Request) -> Response:
        path = request.path_params["path"]
        if path == "metadata":
            return JSONResponse(CAPABILITY, media_type="application/fhir+json")
        answer = await client.get(f"/{path}", params=dict(request.query_params))
        return Response(answer.content, answer.status_code, media_type="application/fhir+json")

    return Starlette(
        routes=[
            Route("/fhir/{path:path}", proxy),
            Mount("/", StaticFiles(directory=build, html=True)),
        ]
    )


def _clients(keys: Path, directory: Path) -> Path:
    pair = json.loads(keys.read_text())
    key = pair["keys"][0] if "keys" in pair else pair
    public = {name: value for name, value in key.items() if name != "d"}  # never the private part
    path = directory / "clients.toml"
    path.write_text(
        f'[[client]]\nissuer = "{SANDBOX_ISSUER}"\n'
        f"jwks = '{json.dumps({'keys': [public]})}'\n"
        f'jku = ["{SANDBOX_JKU}"]\n'
    )
    return path


def _wait_for_cards(browser: Browser, session: str, seconds: float = 40) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = browser._evaluate("document.body.innerText", session)
        if "FBSS pathway" in text:
            time.sleep(1.0)  # let every card render
            return browser._evaluate("document.body.innerText", session)
        time.sleep(0.5)
    return browser._evaluate("document.body.innerText", session)


def main() -> int:
    """Run the trial; print what the sandbox showed and what the service logged."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandbox", type=Path, required=True, help="the sandbox repository")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "sandbox")
    args = parser.parse_args()
    build, keys = args.sandbox / "build", args.sandbox / "keys" / "jwk-keypair.json"
    executable = chromium_path()
    if executable is None or not (build / "app.bundle.js").exists():
        print("needs Chromium and a built sandbox (npm install && npm run build)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    fhirsnake = ROOT / ".venv-fhirsnake"
    package = next((fhirsnake / "lib").glob("python3*/site-packages/fhirsnake"))
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        _fhir_files(work)
        fhir_port, front_port, service_port = free_port(), free_port(), free_port()
        fhir = f"http://127.0.0.1:{fhir_port}"
        front = f"http://127.0.0.1:{front_port}"
        service = f"http://127.0.0.1:{service_port}"
        fhir_command = [str(fhirsnake / "bin" / "python"), "-m", "uvicorn", "main:app"]
        fhir_command += ["--app-dir", str(package), "--port", str(fhir_port)]
        fhir_command += ["--log-level", "warning"]
        serve = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(service_port)]
        serve += ["--clients", str(_clients(keys, work)), "--base-url", service]
        serve += ["--cors-origin", front]
        log = work / "service.log"
        with (
            _process(fhir_command, fhir_port, cwd=work, stderr=subprocess.DEVNULL),
            log.open("w") as log_file,
            _process(serve, service_port, stderr=log_file),
        ):
            config = uvicorn.Config(
                _front(build, fhir), host="127.0.0.1", port=front_port, log_level="warning"
            )
            front_server = uvicorn.Server(config)
            threading.Thread(target=front_server.run, daemon=True).start()
            while not front_server.started:
                time.sleep(0.05)
            with Browser(executable, timeout=60) as browser:
                for number in range(1, 9):
                    patient = f"EXAMPLE-{number:02d}"
                    url = (
                        f"{front}/?fhirServiceUrl={front}/fhir&patientId={patient}"
                        f"&serviceDiscoveryURL={service}/cds-services"
                    )
                    target = browser._send("Target.createTarget", {"url": "about:blank"})
                    session = browser._send(
                        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
                    )["sessionId"]
                    browser._send(
                        "Emulation.setDeviceMetricsOverride",
                        {"width": 1400, "height": 1800, "deviceScaleFactor": 1, "mobile": False},
                        session=session,
                    )
                    browser._send("Page.enable", session=session)
                    browser._send("Page.navigate", {"url": url}, session=session)
                    text = _wait_for_cards(browser, session)
                    shot = browser._send(
                        "Page.captureScreenshot", {"format": "png"}, session=session
                    )
                    (args.out / f"{patient}.png").write_bytes(base64.b64decode(shot["data"]))
                    print(f"\n=== {patient}\n{text}")
                    dismissed = browser._evaluate(
                        "[...document.querySelectorAll('button')]"
                        ".filter(b => b.textContent.trim() === 'Dismiss')"
                        ".map(b => (b.click(), 1)).length",
                        session,
                    )
                    print(f"--- pressed Dismiss on {dismissed} card(s)")
                    time.sleep(1.0)
                    browser._send("Target.closeTarget", {"targetId": target["targetId"]})
            front_server.should_exit = True
        print("\n=== the service's log\n" + log.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
