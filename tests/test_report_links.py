"""The full report one click from a card: an unguessable, short-lived address any worker answers.

Unit tests of the two stores (memory; an SQLite file shared by processes), the
route through the ASGI app, and ``serve --workers 2`` over HTTP: every card's
link opens the report whichever worker answers, an unknown or expired link is
404, and neither the secret nor the page reaches the log.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from fbss_pathway import PatientRecord, evaluate
from fbss_pathway.cds_hooks.hooks import prefetch_from_bundle
from fbss_pathway.cds_hooks.report_links import (
    MEMORY_LIMIT,
    MemoryReports,
    SharedReports,
    StoredCall,
    new_secret,
)
from fbss_pathway.cds_hooks.service import create_app
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

from .servers import free_port, wait_until_answering

ASSESSED = date(2026, 10, 1)


def _record(index: int = 3) -> PatientRecord:
    return PatientRecord.model_validate_json(example_paths()[index].read_bytes())


def _call(record: PatientRecord) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


def test_a_kept_call_comes_back_as_it_went_in() -> None:
    record = _record()
    stored = StoredCall(record, {"conditions": "timed out"}, ASSESSED)
    back = StoredCall.unpack(stored.pack())
    assert back.record == record
    assert back.unread == {"conditions": "timed out"}
    assert back.assessed == ASSESSED
    assert len(stored.pack()) < 2000  # compressed: a link costs little to keep


def test_memory_links_expire_and_the_oldest_go_past_the_limit() -> None:
    store = MemoryReports(lifetime=60)
    secret = new_secret()
    store.put(secret, b"call", now=1000)
    assert store.get(secret, now=1059) == b"call"
    assert store.get(secret, now=1061) is None  # expired
    assert store.get(new_secret(), now=1000) is None  # never given
    first = new_secret()
    store.put(first, b"first", now=2000)
    for _ in range(MEMORY_LIMIT):
        store.put(new_secret(), b"x", now=2000)
    assert store.get(first, now=2000) is None  # the oldest made room


def test_shared_links_are_answered_by_another_process_connection(tmp_path: Path) -> None:
    path = tmp_path / "reports.sqlite"
    one, other = SharedReports(path, lifetime=60), SharedReports(path, lifetime=60)
    secret = new_secret()
    one.put(secret, b"call", now=1000)
    assert other.get(secret, now=1030) == b"call"
    assert other.get(secret, now=1061) is None
    # Only the secret's hash is kept: the file never holds an address that opens a report.
    assert secret.encode() not in path.read_bytes()


def test_the_shared_store_forgets_expired_calls_in_bounded_batches(tmp_path: Path) -> None:
    store = SharedReports(tmp_path / "reports.sqlite", lifetime=10)
    for _ in range(1000):
        store.put(new_secret(), b"old", now=0)
    assert store.count() == 1000
    for _ in range(64):  # one purge's worth of new calls, long after the old expired
        store.put(new_secret(), b"new", now=100)
    assert store.count() == 1000 + 64 - 500  # one batch removed, not a full scan
    for _ in range(64):
        store.put(new_secret(), b"new", now=100)
    assert store.count() == 128  # the rest of the expired in the next batch


@pytest.fixture
def client() -> Any:
    with TestClient(create_app(today=lambda: ASSESSED)) as test_client:
        yield test_client


def test_every_card_links_to_the_full_report_of_that_call(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fbss_pathway")
    record = _record()
    answer = client.post("/cds-services/fbss-pathway", json=_call(record))
    cards = answer.json()["cards"]
    links = {json.dumps(card["links"]) for card in cards}
    assert len(links) == 1  # one report per call, on every card
    link = cards[0]["links"][0]
    assert link["type"] == "absolute"
    assert "expires in 15 minutes" in link["label"]
    page = client.get(link["url"])
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    expected = evaluate(record.model_copy(update={"assessment_date": ASSESSED}))
    assert expected.headline in page.text
    assert "Assessed 1 Oct 2026" in page.text
    secret = link["url"].rsplit("/", 1)[1]
    logged = caplog.text
    assert secret not in logged  # the key to a patient's report is never written down
    assert expected.headline not in logged


@pytest.mark.parametrize("secret", ["x" * 43, "short", "a" * 44, "%2e%2e"])
def test_an_unknown_link_is_404_saying_nothing_of_any_report(
    client: TestClient, secret: str
) -> None:
    answer = client.get(f"/reports/{secret}")
    assert answer.status_code == 404
    assert answer.headers["cache-control"] == "no-store"


def test_an_expired_link_is_404() -> None:
    store = MemoryReports(lifetime=0)
    app = create_app(today=lambda: ASSESSED, reports=store)
    with TestClient(app) as client:
        answer = client.post("/cds-services/fbss-pathway", json=_call(_record()))
        url = answer.json()["cards"][0]["links"][0]["url"]
        assert client.get(url).status_code == 404


def test_links_use_the_configured_address_not_the_host_a_call_names() -> None:
    app = create_app(today=lambda: ASSESSED, report_base="https://cds.example/fbss")
    with TestClient(app) as client:
        answer = client.post("/cds-services/fbss-pathway", json=_call(_record()))
        url = answer.json()["cards"][0]["links"][0]["url"]
    assert url.startswith("https://cds.example/fbss/reports/")


def test_two_workers_answer_each_others_links_and_log_no_secret() -> None:
    port = free_port()
    command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", "2"], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    urls = []
    try:
        wait_until_answering(f"{base}/cds-services", server)
        connections = [httpx2.Client(base_url=base, timeout=30) for _ in range(12)]
        for connection in connections:  # connections spread over both workers
            answer = connection.post("/cds-services/fbss-pathway", json=_call(_record()))
            urls.append(answer.json()["cards"][0]["links"][0]["url"])
        for connection in connections:
            for url in urls:  # each link opened from each connection: both workers answer
                assert connection.get(url).status_code == 200
            assert connection.get(f"{base}/reports/{new_secret()}").status_code == 404
        for connection in connections:
            connection.close()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    events = [json.loads(line) for line in err.splitlines() if line.startswith('{"')]
    served = {event["worker"] for event in events if event.get("event") == "report"}
    assert len(served) == 2  # the links were answered by both workers
    for url in urls:
        assert url.rsplit("/", 1)[1] not in err


def test_order_sign_cards_link_to_the_report_of_the_record_before_the_order(
    client: TestClient,
) -> None:
    record = _record()
    order = {
        "resourceType": "MedicationRequest",
        "id": str(uuid.uuid4()),
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "7804",
                    "display": "oxycodone hydrochloride 5 MG Oral Tablet",
                }
            ]
        },
    }
    call = _call(record)
    call["hook"] = "order-sign"
    call["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order}],
    }
    answer = client.post("/cds-services/fbss-pathway-order-sign", json=call)
    cards = answer.json()["cards"]
    assert cards
    assert len({json.dumps(card["links"]) for card in cards}) == 1
    link = cards[0]["links"][0]
    assert link["label"].startswith("Full report")
    page = client.get(link["url"])
    assert page.status_code == 200
    expected = evaluate(record.model_copy(update={"assessment_date": ASSESSED}))
    assert expected.headline in page.text  # the record as it stands, not as if signed
