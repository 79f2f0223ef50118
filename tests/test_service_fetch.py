"""Fetching what was not prefetched: from a real FHIR server (fhirsnake, from PyPI) on loopback.

fhirsnake serves resource files and answers every search with all resources of
the type (it ignores search parameters), so each search returns every example
patient's resources: the reader's patient guard must keep only the called
patient's. Each example patient has an assessment form (QuestionnaireResponse)
on the server too, and one more patient has a red flag ticked only on the form:
every other patient is sent that form as well, and must not inherit it. Paging
and OperationOutcome answers, which fhirsnake does not produce, are tested
against a scripted loopback endpoint (a stand-in, said so).
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx2
import pytest

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.auth import TrustedClient
from fbss_pathway.cds_hooks.fetch import fetch_missing
from fbss_pathway.cds_hooks.hooks import PREFETCH, SERVICE_ID, fhir_server_for, prefetch_from_bundle
from fbss_pathway.cds_hooks.service import create_app
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

from .forms import form, searchset
from .servers import LoopbackServer, fhirsnake, free_port


def _records() -> list[PatientRecord]:
    return [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]


def _form(record: PatientRecord) -> dict[str, Any]:
    """The example's form: it repeats a red-flag answer its coded chart already gives."""
    return form(str(record.patient_id), {INFECTION: bool(record.red_flags.suspected_infection)})


INFECTION = "red_flags.suspected_infection"


#: The examples' own assessment date (the form is authored the day before): the service
#: assesses as of it, so that the examples' scores and red flags do not age with the clock.
ASSESSED = date(2026, 10, 1)


def _infection_on_the_form_only() -> tuple[PatientRecord, dict[str, Any]]:
    """A patient whose suspected infection is ticked on the form only (coded chart: example 02)."""
    record = _records()[1]
    flags = record.red_flags.model_copy(update={"suspected_infection": None})
    record = record.model_copy(update={"patient_id": "FORM-ONLY-INFECTION", "red_flags": flags})
    return record, form("FORM-ONLY-INFECTION", {INFECTION: True})


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    charts = [(record, _form(record)) for record in _records()]
    resources = []
    for record, answered in [*charts, _infection_on_the_form_only()]:
        entries = [*bundle_from_record(record)["entry"], {"resource": answered}]
        for number, entry in enumerate(entries):
            resource = entry["resource"]
            resources.append({"id": f"{record.patient_id}-{number}", **resource})
    with fhirsnake(resources, tmp_path_factory.mktemp("fhirsnake")) as base:
        yield base


@pytest.fixture(scope="module")
def service() -> Iterator[LoopbackServer]:
    app = create_app(today=lambda: ASSESSED)
    with LoopbackServer(app, free_port()) as server:  # loopback: no authentication
        yield server


def _hook(service: LoopbackServer, record: PatientRecord, **call: Any) -> httpx2.Response:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
        **call,
    }
    return httpx2.post(f"{service.base}/cds-services/{SERVICE_ID}", json=body, timeout=60)


def _shown(cards: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["summary"], c["indicator"], c["source"]["label"]) for c in cards]


@pytest.mark.parametrize("record", _records(), ids=lambda r: str(r.patient_id))
def test_without_prefetch_the_cards_equal_those_of_the_prefetch_call(
    service: LoopbackServer, fhir_server: str, record: PatientRecord
) -> None:
    prefetch = prefetch_from_bundle(bundle_from_record(record))
    prefetch["questionnaireResponses"] = searchset(_form(record))
    prefetched = _hook(service, record, prefetch=prefetch)
    fetched = _hook(
        service,
        record,
        fhirServer=fhir_server,
        fhirAuthorization={"access_token": "t0ken", "token_type": "Bearer", "scope": "x"},
    )
    assert prefetched.status_code == fetched.status_code == 200, fetched.text
    assert _shown(fetched.json()["cards"]) == _shown(prefetched.json()["cards"])


def test_without_prefetch_the_form_is_fetched_and_only_the_patients_own_is_read(
    service: LoopbackServer, fhir_server: str
) -> None:
    record, _ = _infection_on_the_form_only()
    fetched = _hook(service, record, fhirServer=fhir_server)
    assert fetched.status_code == 200, fetched.text
    cards = fetched.json()["cards"]
    # From the form: the stage card's headline names the red-flag tier, and the
    # "Now: ..." card asks for the emergency assessment (suspected infection,
    # systemic signs unrecorded).
    assert cards[0]["summary"].startswith("PSPS type 2 (FBSS): Emergency: "), cards[0]["summary"]
    now = [card for card in cards if card["summary"].startswith("Now: ")]
    assert [card["summary"] for card in now] == ["Now: Emergency assessment"]
    assert now[0]["indicator"] == cards[0]["indicator"] == "critical"
    assert not any("FHIR-" in card["detail"] for card in cards)  # read whole, no conflict
    # Every other patient was sent this form too (fhirsnake ignores the patient
    # parameter); the parametrised test above shows none of them took it.


def test_a_server_that_cannot_be_reached_is_412_not_no_data(service: LoopbackServer) -> None:
    record = _records()[0]
    response = _hook(service, record, fhirServer=f"http://127.0.0.1:{free_port()}/fhir")
    assert response.status_code == 412
    assert "no data could be read" in response.text


class _ScriptedFhir(http.server.ThreadingHTTPServer):
    """A stand-in FHIR endpoint: paged observations, an OperationOutcome, a 404."""

    def __init__(self, patient_id: str) -> None:
        subject = {"reference": f"Patient/{patient_id}"}
        red_flag = {
            "resourceType": "Observation",
            "status": "final",
            "subject": subject,
            "code": {
                "coding": [
                    {"system": "urn:fbss-pathway:item", "code": "red_flags.cauda_equina_signs"}
                ]
            },
            "valueBoolean": True,
            # a red flag is about now (pathway.md 3.2): an undated one would be unknown
            "effectiveDateTime": ASSESSED.isoformat(),
        }
        pages = {
            "/fhir/Observation": {
                "resourceType": "Bundle",
                "type": "searchset",
                "link": [{"relation": "next", "url": "/fhir/page2"}],
                "entry": [],
            },
            "/fhir/page2": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": red_flag}],
            },
            "/fhir/Condition": {"resourceType": "OperationOutcome", "issue": []},
            "/fhir/MedicationStatement": {"resourceType": "Bundle", "type": "searchset"},
        }
        self.seen: list[str] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("authorization", ""))
                answer = pages.get(self.path.split("?")[0])
                self.send_response(200 if answer else 404)
                self.send_header("content-type", "application/fhir+json")
                self.end_headers()
                self.wfile.write(json.dumps(answer or {}).encode())

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}/fhir"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_pages_are_followed_and_unreadable_searches_are_said_not_hidden(
    service: LoopbackServer,
) -> None:
    record = _records()[1]
    full = prefetch_from_bundle(bundle_from_record(record))
    prefetch = {"patient": full["patient"], "procedures": full["procedures"]}
    scripted = _ScriptedFhir(str(record.patient_id))
    try:
        response = _hook(
            service,
            record,
            prefetch=prefetch,
            fhirServer=scripted.base,
            fhirAuthorization={"access_token": "abc", "token_type": "Bearer"},
        )
    finally:
        scripted.shutdown()
        scripted.server_close()
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert cards[0]["indicator"] == "critical"  # the red flag on page 2 was read
    unread = next(c for c in cards if c["source"].get("topic", {}).get("code") == "FHIR-UNREAD")
    assert "conditions (the FHIR server answered with an OperationOutcome)" in unread["detail"]
    assert "medicationRequests (the FHIR server answered 404)" in unread["detail"]
    assert set(scripted.seen) == {"Bearer abc"}
    assert len(scripted.seen) == len(PREFETCH) - len(prefetch) + 1  # one search had 2 pages


def test_with_authentication_only_the_clients_own_fhir_servers_are_fetched_from() -> None:
    client = TrustedClient(
        "https://ehr", jwks_url="https://ehr/k", fhir_servers=("https://ehr/fhir",)
    )
    body = {"fhirServer": "https://ehr/fhir/R4"}
    assert fhir_server_for(body, client, authenticated=True) == "https://ehr/fhir/R4"
    assert (
        fhir_server_for({"fhirServer": "http://169.254.169.254/"}, client, authenticated=True)
        is None
    )
    assert (
        fhir_server_for(body, TrustedClient("https://other", jwks_url="https://o/k"), True) is None
    )
    assert fhir_server_for({"fhirServer": "file:///etc/passwd"}, None, authenticated=False) is None


def test_a_next_page_elsewhere_is_not_followed_with_the_token() -> None:
    asked: list[str] = []

    class Answer:
        def __init__(self, body: dict[str, Any]) -> None:
            self.body = json.dumps(body).encode()

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def read(self, _: int) -> bytes:
            return self.body

    def opener(request: Any, timeout: float) -> Answer:
        asked.append(request.full_url)
        link = [{"relation": "next", "url": "http://169.254.169.254/latest/meta-data"}]
        return Answer({"resourceType": "Bundle", "type": "searchset", "link": link})

    fetched = fetch_missing(
        {},
        {"conditions": "Condition?patient={{context.patientId}}"},
        fhir_server="https://ehr.example/fhir",
        access_token="secret",
        patient_id="p1",
        opener=opener,
    )
    assert asked == ["https://ehr.example/fhir/Condition?patient=p1"]
    assert fetched.unread == {"conditions": "a next page outside the FHIR server"}


def test_redirects_are_not_followed() -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(302)
            self.send_header("location", "/elsewhere")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fetched = fetch_missing(
            {},
            {"patient": "Patient/{{context.patientId}}"},
            fhir_server=f"http://127.0.0.1:{server.server_address[1]}/fhir",
            access_token="secret",
            patient_id="p1",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert hits == ["/fhir/Patient/p1"]
    assert fetched.unread == {"patient": "the FHIR server answered 302"}


@pytest.mark.parametrize(
    ("allowed", "server", "admitted"),
    [
        ("http://127.0.0.1:1892", "http://127.0.0.1:1892/fhir", True),
        ("http://127.0.0.1:1892", "http://127.0.0.1:18921/fhir", False),
        ("https://ehr.example.org", "https://ehr.example.org.attacker.net/fhir", False),
        ("https://ehr.example.org", "https://EHR.example.org:443/fhir", True),
        ("https://ehr.example.org/fhir", "https://ehr.example.org/fhir2", False),
        ("https://ehr.example.org/fhir/", "https://ehr.example.org/fhir/R4", True),
        ("https://ehr.example.org/fhir", "http://ehr.example.org/fhir", False),
        ("https://ehr.example.org", "https://ehr.example.org@attacker.net/fhir", False),
        ("https://ehr.example.org", "https://user@ehr.example.org/fhir", False),
        ("https://ehr.example.org", "https://ehr.example.org:99999/fhir", False),
    ],
)
def test_the_fhir_server_allow_list_compares_origins_and_whole_path_segments(
    allowed: str, server: str, admitted: bool
) -> None:
    client = TrustedClient("https://ehr", jwks_url="https://ehr/k", fhir_servers=(allowed,))
    found = fhir_server_for({"fhirServer": server}, client, authenticated=True)
    assert (found == server) is admitted
