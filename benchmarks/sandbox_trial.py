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

then opens the sandbox once per example patient (``--patients``), waits for the
cards, saves two screenshots (``EXAMPLE-0N.png``, the window;
``EXAMPLE-0N-whole.png``, the whole page: every card), prints what the sandbox
shows, presses every card's "Dismiss", and finally prints what the service
logged (hook calls, feedback, refusals).

With ``--rx-sign`` it also opens the sandbox's Rx Sign tab (hook ``order-sign``)
for one example patient (``--rx-patient``, 04 by default), types a medication
into the tab's own search field (``--rx-medication``, oxycodone by default),
picks it from the sandbox's list, chooses a frequency, presses "Sign Order",
waits for the cards, saves ``rx-sign-<patient>.png``, prints the cards and the
shape of the ``draftOrders`` the sandbox sent (member names and value types,
with the medication coding's system and code: no patient data), then
dismisses the card with the sandbox's first override reason. With
``--report`` it presses one patient-view card's "Full report" link in the
sandbox (``--report 04``: that example's first card), catches the address the
sandbox opens, and screenshots the top of that page at 420 px
(``report-420.png``).

    python benchmarks/sandbox_trial.py --sandbox /path/to/sandbox --out build/sandbox
    python benchmarks/sandbox_trial.py --sandbox DIR --rx-sign --report 04
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


#: What every card of the service shows: the stage card's lead (patient-view), the
#: order-sign cards' summary ("... order: check against the FBSS pathway", "...: not
#: supported by the FBSS pathway now") and every card's source label.
CARD_MARKERS = ("PSPS type 2 (FBSS)", "FBSS pathway", "Source: fbss-pathway")


def _wait_for_cards(browser: Browser, session: str, seconds: float = 40) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = browser._evaluate("document.body.innerText", session)
        if any(marker in text for marker in CARD_MARKERS):
            time.sleep(1.0)  # let every card render
            return browser._evaluate("document.body.innerText", session)
        time.sleep(0.5)
    print(f"(no card of the service after {seconds:.0f} s)")
    return browser._evaluate("document.body.innerText", session)


def _open(browser: Browser, url: str, width: int = 1400, height: int = 1800) -> tuple[str, str]:
    """A new tab at ``url``: its target id and session."""
    target = browser._send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser._send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    browser._send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    browser._send("Page.enable", session=session)
    browser._send("Network.enable", session=session)
    browser._send("Page.navigate", {"url": url}, session=session)
    return target, session


def _screenshot(browser: Browser, session: str, path: Path, *, whole: bool = False) -> None:
    shot = browser._send(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": whole},
        session=session,
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def _wait_until(browser: Browser, session: str, expression: str, seconds: float = 20) -> bool:
    """Whether ``expression`` became true in the page within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if browser._evaluate(f"String(Boolean({expression}))", session) == "true":
            return True
        time.sleep(0.25)
    return False


def _shape(value: Any, keep: tuple[str, ...] = ("resourceType", "system", "code")) -> Any:
    """A JSON value's shape: member names and value types; only ``keep``'s strings shown.

    The codes kept are the order's (the medication's RxNorm code, UCUM units), not the
    patient's; every other string, a reference or a date among them, is ``str``.
    """
    if isinstance(value, dict):
        return {
            name: item if name in keep and isinstance(item, str) else _shape(item, keep)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [_shape(item, keep) for item in value]
    return type(value).__name__


def _sent_bodies(browser: Browser, session: str, path: str) -> list[Any]:
    """The JSON bodies the page POSTed to a URL ending in ``path`` (from Network events)."""
    bodies = []
    for event in browser._events:
        if event.get("sessionId") != session or event["method"] != "Network.requestWillBeSent":
            continue
        request = event["params"]["request"]
        if request["method"] == "POST" and request["url"].endswith(path):
            data = request.get("postData")
            if data is None:  # a large body: ask for it
                try:
                    data = browser._send(
                        "Network.getRequestPostData",
                        {"requestId": event["params"]["requestId"]},
                        session=session,
                    )["postData"]
                except RuntimeError:
                    continue
            bodies.append(json.loads(data))
    return bodies


def _cards_json(browser: Browser, session: str) -> str:
    """The service's answer as the sandbox's developer panel shows it."""
    return browser._evaluate(
        "[...document.querySelectorAll('pre, code, .cm-content')]"
        ".map(e => e.innerText).filter(t => t.includes('\"cards\"')).join('\\n')",
        session,
    )


def _rx_sign(
    browser: Browser, front: str, service: str, patient: str, medication: str, out: Path
) -> None:
    """Order ``medication`` in the sandbox's Rx Sign tab for ``patient``; print the cards."""
    url = (
        f"{front}/?fhirServiceUrl={front}/fhir&patientId={patient}"
        f"&serviceDiscoveryURL={service}/cds-services&hook=order-sign&screen=rx-sign"
    )
    target, session = _open(browser, url)
    field = "document.querySelector('input[name=\"medication-input\"]')"
    if not _wait_until(browser, session, field, 40):
        print(f"=== Rx Sign {patient}: the medication field never showed")
        print(browser._evaluate("document.body.innerText", session))
        return
    time.sleep(1.0)  # the patient and the services load
    # Type as a user would: focus the sandbox's own field, insert the text (React sees input
    # events), wait for its list, and press the item whose name is the medication.
    browser._evaluate(f"{field}.focus()", session)
    browser._send("Input.insertText", {"text": medication}, session=session)
    items = "[...document.querySelectorAll('.MuiListItemButton-root')]"
    _wait_until(browser, session, f"{items}.length > 0", 10)
    offered = browser._evaluate(f"{items}.map(e => e.textContent).join('\\n')", session)
    chosen = browser._evaluate(
        f"(() => {{ const wanted = {json.dumps(medication.lower())};"
        f" const item = {items}.find(e => e.textContent.trim().toLowerCase() === wanted)"
        f" || {items}[0]; if (!item) return ''; item.click(); return item.textContent; }})()",
        session,
    )
    print(f"\n=== Rx Sign {patient}: typed {medication!r}; the sandbox offered:\n{offered}")
    print(f"--- chose: {chosen!r}")
    if not chosen:
        return
    # Frequency: the tab's MUI select opens on mousedown; twice daily.
    browser._evaluate(
        "document.querySelector('#dosage-frequency')"
        ".dispatchEvent(new MouseEvent('mousedown', {bubbles: true}))",
        session,
    )
    if _wait_until(browser, session, "document.querySelector('li[data-value=\"bid\"]')", 5):
        browser._evaluate("document.querySelector('li[data-value=\"bid\"]').click()", session)
    time.sleep(0.5)
    form = browser._evaluate(
        "'number ' + document.getElementById('dosage-amount').value + ', '"
        " + ['dosage-frequency', 'supply-duration'].map(id =>"
        " document.getElementById(id).textContent).join(', ')",
        session,
    )
    print(f"--- the form: {form}")
    signed = browser._evaluate(
        "(() => { const b = [...document.querySelectorAll('button')]"
        ".find(b => b.textContent.trim() === 'Sign Order'); if (b) b.click(); return !!b; })()",
        session,
    )
    print(f"--- pressed Sign Order: {signed}")
    text = _wait_for_cards(browser, session)
    _screenshot(browser, session, out / f"rx-sign-{patient}.png", whole=True)
    for body in _sent_bodies(browser, session, "/fbss-pathway-order-sign"):
        context = body.get("context", {})
        print("--- the call's members: " + ", ".join(sorted(body)))
        print("--- context members: " + ", ".join(sorted(context)))
        print("--- draftOrders' shape:")
        print(json.dumps(_shape(context.get("draftOrders")), indent=2))
    start = text.find("Rx Sign", text.find("PAMA Imaging"))
    print(f"--- what the tab shows:\n{text[start:]}")
    print(f"--- the answer, as the developer panel shows it:\n{_cards_json(browser, session)}")
    # Dismiss with a reason: the split button's arrow opens the service's override reasons.
    reason = browser._evaluate(
        "(() => { const arrow = document.querySelector('[aria-label=\"select dismiss reason\"]');"
        " if (!arrow) return ''; arrow.click(); return 'opened'; })()",
        session,
    )
    if reason and _wait_until(browser, session, "document.querySelector('li[role=menuitem]')", 5):
        reason = browser._evaluate(
            "(() => { const item = document.querySelector('li[role=menuitem]');"
            " item.click(); return item.textContent; })()",
            session,
        )
    print(f"--- dismissed with: {reason or '(no override reasons offered)'}")
    time.sleep(1.0)
    browser._send("Target.closeTarget", {"targetId": target})


def _report(browser: Browser, session: str, out: Path) -> None:
    """Press the first card's "Full report" in the sandbox; screenshot that page at 420 px."""
    opened = browser._evaluate(
        "(() => { window.__opened = ''; window.open = (url) => { window.__opened = url;"
        " return null; }; const b = [...document.querySelectorAll('button')]"
        ".find(b => b.textContent.startsWith('Full report')); if (!b) return '';"
        " b.click(); return window.__opened; })()",
        session,
    )
    if not opened:
        print("--- no card with a Full report link")
        return
    print("--- the sandbox opens the card's report link (address not shown: it is the secret)")
    # The top of the page as a phone shows it: the viewport alone, 420 px wide (a
    # screenshot beyond the viewport lays the page out again at another width).
    target, report = _open(browser, opened, width=420, height=1400)
    _wait_until(browser, report, "document.readyState === 'complete'", 20)
    time.sleep(0.5)
    _screenshot(browser, report, out / "report-420.png")
    wide = browser._evaluate(
        "(() => { const w = document.documentElement.clientWidth; return [...document"
        ".querySelectorAll('body *')].filter(e => !e.closest('svg, .ladder')"
        " && e.getBoundingClientRect().right > w + 1).map(e => e.tagName).join(' ')"
        " || 'none'; })()",
        report,
    )
    print(f"--- report at 420 px: elements wider than the page (the ladder scrolls): {wide}")
    print(browser._evaluate("document.body.innerText", report)[:1500])
    browser._send("Target.closeTarget", {"targetId": target})


def main() -> int:
    """Run the trial; print what the sandbox showed and what the service logged."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandbox", type=Path, required=True, help="the sandbox repository")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "sandbox")
    parser.add_argument(
        "--patients", default="01,02,03,04,05,06,07,08", help="patient-view for these examples"
    )
    parser.add_argument("--rx-sign", action="store_true", help="also order in the Rx Sign tab")
    parser.add_argument("--rx-patient", default="04", help="the example patient for Rx Sign")
    parser.add_argument(
        "--rx-medication",
        default="Oxycodone Hydrochloride 5 MG Oral Tablet",
        help="what to type into Rx Sign's medication field (the first match is taken)",
    )
    parser.add_argument(
        "--report",
        metavar="NUMBER",
        help="open this example's first card's Full report link in the sandbox, at 420 px",
    )
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
                numbers = [n.strip() for n in args.patients.split(",") if n.strip()]
                for number in numbers:
                    patient = f"EXAMPLE-{int(number):02d}"
                    url = (
                        f"{front}/?fhirServiceUrl={front}/fhir&patientId={patient}"
                        f"&serviceDiscoveryURL={service}/cds-services"
                        "&hook=patient-view&screen=patient-view"
                    )
                    target, session = _open(browser, url)
                    text = _wait_for_cards(browser, session)
                    _screenshot(browser, session, args.out / f"{patient}.png")
                    _screenshot(browser, session, args.out / f"{patient}-whole.png", whole=True)
                    print(f"\n=== {patient}\n{text}")
                    if args.report and int(number) == int(args.report):
                        _report(browser, session, args.out)
                    dismissed = browser._evaluate(
                        "[...document.querySelectorAll('button')]"
                        ".filter(b => b.textContent.trim() === 'Dismiss')"
                        ".map(b => (b.click(), 1)).length",
                        session,
                    )
                    print(f"--- pressed Dismiss on {dismissed} card(s)")
                    time.sleep(1.0)
                    browser._send("Target.closeTarget", {"targetId": target})
                if args.rx_sign:
                    patient = f"EXAMPLE-{int(args.rx_patient):02d}"
                    _rx_sign(browser, front, service, patient, args.rx_medication, args.out)
            front_server.should_exit = True
        print("\n=== the service's log\n" + log.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
