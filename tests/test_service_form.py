"""The assessment form through the service, keys it did not name, and the date it assesses as of.

Issue 19: the QuestionnaireResponse never reached the service (no prefetch key,
and a key the service did not name was dropped), so a red flag ticked only on
the form was lost; the service assessed as of the machine's today with no way
to fix the date.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.service import PREFETCH, SERVICE_ID, create_app, prefetch_from_bundle
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

from .fhir_builders import flag
from .forms import form, searchset

HOOK = f"/cds-services/{SERVICE_ID}"
#: The examples' own assessment date: the service assesses as of it in these tests.
ASSESSED = date(2026, 10, 1)
INFECTION = "red_flags.suspected_infection"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(today=lambda: ASSESSED)) as test_client:
        yield test_client


def _example(prefix: str) -> PatientRecord:
    path = next(p for p in example_paths() if p.name.startswith(prefix))
    return PatientRecord.model_validate_json(path.read_bytes())


def _infection_unrecorded() -> PatientRecord:
    """Example 02 (conservative) whose coded chart says nothing of a suspected infection."""
    record = _example("02_")
    flags = record.red_flags.model_copy(update={"suspected_infection": None})
    return record.model_copy(update={"red_flags": flags})


def _call(record: PatientRecord) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


def _cards(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(HOOK, json=body)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def _urgent(cards: list[dict[str, Any]]) -> bool:
    """Urgent review as the cards show it.

    The stage card's headline names the red-flag tier ("PSPS type 2 (FBSS): Emergency: ..."
    or "Urgent: ..."), and the "Now: ..." card leads with that tier's assessment.
    """
    summary: str = cards[0]["summary"]
    tier = summary.startswith(("PSPS type 2 (FBSS): Emergency: ", "PSPS type 2 (FBSS): Urgent: "))
    now = [card["summary"] for card in cards if card["summary"].startswith("Now: ")]
    return tier and any(
        text.startswith(("Now: Emergency assessment", "Now: Urgent specialist review"))
        for text in now
    )


def _topics(cards: list[dict[str, Any]]) -> set[str]:
    return {card["source"].get("topic", {}).get("code") for card in cards}


def test_discovery_asks_for_the_assessment_form_for_both_hooks(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert [service["hook"] for service in services] == ["patient-view", "order-sign"]
    for service in services:
        template = service["prefetch"]["questionnaireResponses"]
        assert template == "QuestionnaireResponse?patient={{context.patientId}}"


def test_the_documented_prefetch_keys_are_the_services() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "cds-hooks.md").read_text()
    rows = re.findall(r"^  \| `(\w+)` \| `([^`]+)` \|$", docs, flags=re.MULTILINE)
    assert dict(rows) == PREFETCH


def test_a_red_flag_ticked_only_on_the_form_gets_urgent_review(client: TestClient) -> None:
    record = _infection_unrecorded()
    body = _call(record)
    assert not _urgent(_cards(client, body))  # the coded chart alone: conservative
    body["prefetch"]["questionnaireResponses"] = searchset(
        form(str(record.patient_id), {INFECTION: True})
    )
    cards = _cards(client, body)
    assert _urgent(cards)
    assert cards[0]["indicator"] == "critical"


def test_resources_under_a_key_the_service_did_not_name_are_read_and_counted(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    record = _infection_unrecorded()
    body = _call(record)
    key = f"{record.patient_id} infection notes"  # a key's text may hold anything: never logged
    body["prefetch"][key] = searchset(form(str(record.patient_id), {INFECTION: True}))
    with caplog.at_level(logging.INFO, logger="fbss_pathway.cds_hooks"):
        cards = _cards(client, body)
    assert _urgent(cards)
    hooks = [json.loads(r.getMessage()) for r in caplog.records if '"hook"' in r.getMessage()]
    assert hooks[-1]["unnamed_keys"] == 1
    assert "infection notes" not in caplog.text
    assert str(record.patient_id) not in caplog.text


def test_another_patients_resources_under_an_unnamed_key_are_ignored(client: TestClient) -> None:
    record = _infection_unrecorded()
    body = _call(record)
    someone_else = {**flag("red_flags.cauda_equina_signs", True), "subject": {"reference": "x"}}
    body["prefetch"]["extra"] = searchset(form("someone-else", {INFECTION: True}), someone_else)
    assert not _urgent(_cards(client, body))


def test_a_value_under_an_unnamed_key_that_is_no_resource_is_400_without_the_key(
    client: TestClient,
) -> None:
    body = _call(_example("02_"))
    body["prefetch"]["MRN-123456"] = "not a resource"
    response = client.post(HOOK, json=body)
    assert response.status_code == 400
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "a key the service did not name" in diagnostics
    assert "MRN-123456" not in diagnostics


def test_a_call_without_the_form_is_answered_saying_the_form_was_not_sent(
    client: TestClient,
) -> None:
    body = _call(_example("02_"))
    del body["prefetch"]["questionnaireResponses"]  # a client written before the key existed
    cards = _cards(client, body)
    assert "FHIR-UNREAD" in _topics(cards)
    detail = "\n".join(card["detail"] for card in cards)
    assert "questionnaireResponses (the assessment form was not sent)" in detail
    assert "unknown, not absent" in detail
    body["prefetch"]["questionnaireResponses"] = None  # null: the EHR has no form, said so
    assert "FHIR-UNREAD" not in _topics(_cards(client, body))


def test_a_call_lacking_another_key_is_still_412(client: TestClient) -> None:
    body = _call(_example("02_"))
    del body["prefetch"]["questionnaireResponses"], body["prefetch"]["procedures"]
    response = client.post(HOOK, json=body)
    assert response.status_code == 412
    assert response.json()["issue"][0]["diagnostics"] == "required prefetch missing: procedures"


def test_the_service_assesses_as_of_the_date_it_was_given() -> None:
    # Example 03: operated on 2026-08-10. On 2026-10-01 that is too early to call
    # the pain PSPS type 2 (FBSS): the warning of CON-11 on the cautions card, every
    # intervention not yet; by 2026-11-15 it is not.
    body = _call(_example("03_"))
    with TestClient(create_app(today=lambda: ASSESSED)) as early:
        cards = _cards(early, body)
        assert "CON-11" in _topics(cards)
        assert "- Spinal cord stimulation: not yet" in cards[0]["detail"].splitlines()
    with TestClient(create_app(today=lambda: date(2026, 11, 15))) as later:
        cards = _cards(later, body)
        assert "CON-11" not in _topics(cards)
        assert "- Spinal cord stimulation: not yet" not in cards[0]["detail"].splitlines()


def test_a_today_that_is_no_function_is_refused() -> None:
    with pytest.raises(ValueError, match="today must be a function"):
        create_app(today=ASSESSED)  # type: ignore[arg-type]


def test_the_stage_card_shows_age_last_operation_and_months_since(client: TestClient) -> None:
    stage_card = _cards(client, _call(_example("03_")))[0]
    dates = (
        "Assessed 1 Oct 2026 · age 54 · decompression or discectomy L5-S1 on 10 Aug 2026 "
        "(1 month ago)"
    )
    assert dates in stage_card["detail"].splitlines()
    assert "10 Aug 2026" not in stage_card["summary"]  # the summary stays short
