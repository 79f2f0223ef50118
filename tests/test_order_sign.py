"""The order-sign guardrail over HTTP: a warning when an ordered step is not supported now."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx2
import pytest

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.cards import card_problems
from fbss_pathway.cds_hooks.hooks import ORDER_SIGN_ID, prefetch_from_bundle
from fbss_pathway.cds_hooks.order_card import OVERRIDE_SYSTEM
from fbss_pathway.cds_hooks.service import create_app
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record
from fbss_pathway.record import SurgicalOpinion

from .servers import LoopbackServer, free_port

CPT = "http://www.ama-assn.org/go/cpt"
BLOCK, RADIOFREQUENCY, TRIAL, IMPLANT, FUSION = "64493", "64635", "63650", "63685", "22612"


@pytest.fixture(scope="module")
def service() -> Iterator[LoopbackServer]:
    # The examples are assessed on 2026-10-01: scores and screens age from there.
    with LoopbackServer(create_app(today=lambda: date(2026, 10, 1)), free_port()) as server:
        yield server


def _example(prefix: str) -> PatientRecord:
    path = next(p for p in example_paths() if p.name.startswith(prefix))
    return PatientRecord.model_validate_json(path.read_bytes())


def _order(code: str, system: str = CPT) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": str(uuid.uuid4()),
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": system, "code": code}]},
    }


def _sign(service: LoopbackServer, record: PatientRecord, *orders: dict[str, Any]) -> Any:
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": record.patient_id,
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order} for order in orders],
            },
        },
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }
    response = httpx2.post(f"{service.base}/cds-services/{ORDER_SIGN_ID}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()["cards"]
    for card in result:
        assert card_problems(card) == [], card
    return result


@pytest.mark.parametrize(
    ("example", "code"),
    [
        ("04_", RADIOFREQUENCY),  # positive block: radiofrequency is the next step
        ("05_", TRIAL),  # SCS criteria met, work-up done: the trial is the next step
        ("02_", "97110"),  # exercise therapy is not a ladder step: no opinion
    ],
)
def test_an_order_the_pathway_recommends_gets_no_card(
    service: LoopbackServer, example: str, code: str
) -> None:
    assert _sign(service, _example(example), _order(code)) == []


def test_a_supported_step_brings_what_goes_beside_it_when_signed(service: LoopbackServer) -> None:
    # An MDT review: a supported radiofrequency order gave no card, so the antithrombotic
    # plan and the cardiac-device check, shown at patient-view, were lost at signing.
    record = _example("04_")
    record = record.model_copy(
        update={
            "medicines": record.medicines.model_copy(update={"antithrombotic": True}),
            "scs": record.scs.model_copy(update={"cardiac_implantable_device": True}),
        }
    )
    [card] = _sign(service, record, _order(RADIOFREQUENCY))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Radiofrequency denervation: supported; before it:")
    assert "Periprocedural antithrombotic plan" in card["detail"]
    assert "cardiac implantable device" in card["detail"]
    assert "overrideReasons" not in card  # nothing to override: the step is supported


def test_an_scs_trial_with_a_red_flag_is_warned_with_the_red_flag(service: LoopbackServer) -> None:
    [card] = _sign(service, _example("01_"), _order(TRIAL))
    # Emergency is not urgent (pathway.md 11): an order signed beside an emergency red
    # flag is critical and says so in its summary (a clinician's review: it was a
    # warning that never said "emergency").
    assert card["indicator"] == "critical"
    assert card["summary"] == (
        "SCS trial: not supported by the FBSS pathway now; emergency: same-day assessment first"
    )
    assert "A red flag" in card["detail"]
    assert "emergency assessment" in card["detail"].lower()
    assert "Spinal cord stimulation: blocked" in card["detail"]
    assert {reason["system"] for reason in card["overrideReasons"]} == {OVERRIDE_SYSTEM}


def test_an_implant_while_scs_is_deferred_names_the_deferral(service: LoopbackServer) -> None:
    [card] = _sign(service, _example("06_"), _order(IMPLANT))
    assert "Spinal cord stimulation: blocked." in card["detail"]
    assert "deferred until a psychological evaluation" in card["detail"]  # the deferral's reason
    assert "Not met" in card["detail"]
    assert "The pathway recommends instead:** Spinal cord stimulation: blocked" in card["detail"]


def test_a_block_before_the_conservative_trial_failed_names_the_criterion(
    service: LoopbackServer,
) -> None:
    [card] = _sign(service, _example("02_"), _order(BLOCK), _order(BLOCK))  # one card per step
    assert "Not met (Diagnostic medial branch block" in card["detail"]
    assert "Conservative trial failed" in card["detail"]
    assert card["source"]["topic"]["code"].startswith("RFD-")


def test_a_reoperation_is_warned_with_the_caution(service: LoopbackServer) -> None:
    [card] = _sign(service, _example("02_"), _order(FUSION))
    assert card["summary"].startswith("Re-operation: not supported")
    # an ordered re-operation puts surgery in question: the figures come with it (8)
    assert "Caution before another operation" in card["detail"]
    assert "% of patients improving" in card["detail"]


def test_a_reoperation_the_surgeon_advised_is_supported_with_the_figures_as_information(
    service: LoopbackServer,
) -> None:
    # A clinician's review: a correctable lesion with the surgeon's opinion "operation
    # advised" on record made the re-operation order "not supported" (its option in place,
    # no surgical-opinion step left). pathway.md 8: the opinion comes first, and an
    # ordered re-operation brings the figures "as information, not as a warning".
    record = _example("11_").model_copy(
        update={"surgical_opinion": SurgicalOpinion.OPERATION_ADVISED}
    )
    cards = _sign(service, record, _order(FUSION))
    assert not [c for c in cards if "not supported" in c["summary"]]
    assert all(c["indicator"] == "info" for c in cards)
    [figures] = cards
    assert figures["summary"].startswith("Re-operation: supported")
    assert "% of patients improving" in figures["detail"]


def test_local_codes_and_r5_code_references_are_read(service: LoopbackServer) -> None:
    local = _order("treatment.scs_trial", "urn:fbss-pathway:item")
    r5 = _order(TRIAL)
    r5["code"] = {"concept": r5["code"]}
    assert len(_sign(service, _example("01_"), local)) == 1
    assert len(_sign(service, _example("01_"), r5)) == 1


def test_feedback_with_an_override_reason_logs_the_code_only(
    service: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    [card] = _sign(service, _example("01_"), _order(TRIAL))
    reason = card["overrideReasons"][0]
    with caplog.at_level(logging.INFO, logger="fbss_pathway.cds_hooks"):
        response = httpx2.post(
            f"{service.base}/cds-services/{ORDER_SIGN_ID}/feedback",
            json={
                "feedback": [
                    {
                        "card": card["uuid"],
                        "outcome": "overridden",
                        "overrideReason": {"reason": reason, "userComment": "EXAMPLE-01 insists"},
                        "outcomeTimestamp": "2026-11-22T10:00:00Z",
                    }
                ]
            },
            timeout=30,
        )
    assert response.status_code == 200
    assert f'"reason": "{reason["code"]}"' in caplog.text
    assert "EXAMPLE-01" not in caplog.text


def test_draft_orders_that_are_not_a_bundle_are_400(service: LoopbackServer) -> None:
    record = _example("02_")
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id, "draftOrders": 5},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }
    response = httpx2.post(f"{service.base}/cds-services/{ORDER_SIGN_ID}", json=body, timeout=30)
    assert response.status_code == 400
    assert "draftOrders" in response.json()["issue"][0]["diagnostics"]


def test_an_order_is_judged_as_of_the_services_date_and_its_card_shows_the_dates() -> None:
    # Example 03 was operated on 2026-08-10: on 2026-10-01, one month later, the
    # pain is not yet FBSS and radiofrequency is deferred; the card says so and
    # shows the dates it counts from.
    record = _example("03_")
    with LoopbackServer(create_app(today=lambda: date(2026, 10, 1)), free_port()) as dated:
        (card,) = _sign(dated, record, _order(RADIOFREQUENCY))
    assert "the last operation was 1 month ago" in card["detail"]
    dates = (
        "Assessed 1 Oct 2026 · age 54 · "
        "decompression or discectomy L5-S1 on 10 Aug 2026 (1 month ago)"
    )
    assert dates in card["detail"].splitlines()


# --- Medication orders (pathway.md 5.2) ------------------------------------------------

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _medication(code: str, display: str, *, r5: bool = False) -> dict[str, Any]:
    concept = {"coding": [{"system": RXNORM, "code": code, "display": display}]}
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": str(uuid.uuid4()),
        "status": "draft",
        "intent": "order",
    }
    if r5:
        order["medication"] = {"concept": concept}
    else:
        order["medicationCodeableConcept"] = concept
    return order


OXYCODONE = ("7804", "oxycodone hydrochloride 5 MG Oral Tablet")


def test_an_opioid_order_for_a_patient_not_on_opioids_is_warned(service: LoopbackServer) -> None:
    # Example 02 takes no opioid: NG59's advice not to start one, the MME now, override reasons.
    [card] = _sign(service, _example("02_"), _medication(*OXYCODONE))
    assert card["indicator"] == "warning"
    assert card["summary"] == "Oxycodone order: check against the PSPS type 2 (FBSS) pathway first"
    assert "Oxycodone hydrochloride 5 MG Oral Tablet: an opioid ordered for" in card["detail"]
    assert "do not start opioids for chronic low back pain or sciatica" in card["detail"]
    assert "**Current opioids, MME a day:** none" in card["detail"]
    assert any(
        line.startswith("Assessed 1 Oct 2026 · age ") for line in card["detail"].splitlines()
    )
    assert "The pathway recommends instead:** Conservative care" in card["detail"]
    assert card["source"]["topic"]["code"] == "CON-08"
    assert {reason["system"] for reason in card["overrideReasons"]} == {OVERRIDE_SYSTEM}


def test_an_opioid_order_beside_a_benzodiazepine_says_what_it_would_bring(
    service: LoopbackServer,
) -> None:
    record = _example("02_")
    record = record.model_copy(
        update={"medicines": record.medicines.model_copy(update={"benzodiazepine": True})}
    )
    [card] = _sign(service, record, _medication(*OXYCODONE, r5=True))
    assert "If signed: an opioid with a benzodiazepine" in card["detail"]
    assert "If signed: offer naloxone" in card["detail"]


def test_an_opioid_order_for_a_patient_on_opioids_gives_the_current_mme(
    service: LoopbackServer,
) -> None:
    # Example 04's opioid is an analgesic treatment without a dose: its MME is unknown.
    [card] = _sign(service, _example("04_"), _medication("7052", "morphine sulfate 10 MG"))
    assert "**Current opioids, MME a day:** unknown" in card["detail"]
    assert "On an opioid: review its benefit and harm" in card["detail"]
    # The order, named, on top of the current opioid: the stewardship point leads the why.
    assert card["summary"] == "Morphine order: check against the PSPS type 2 (FBSS) pathway first"
    head = "**Morphine sulfate 10 MG: an opioid added to a current opioid (MME a day unknown"
    assert card["detail"].startswith(head)
    why = card["detail"].split("**Why:**")[1].strip().splitlines()
    assert why[0].startswith("- Another opioid on top of a current one: review the current")
    assert card["source"]["topic"]["code"] == "MED-04"


def test_an_opioid_on_top_of_a_listed_opioid_and_a_benzodiazepine_names_both(
    service: LoopbackServer,
) -> None:
    record = _example("02_")
    data = record.model_dump(mode="json", exclude_none=True)
    data["medicines"]["benzodiazepine"] = True
    data["medicines"]["opioids"] = [{"ingredient": "tramadol", "daily_dose_mg": 100}]
    record = PatientRecord.model_validate(data)
    [card] = _sign(service, record, _medication(*OXYCODONE))
    assert "an opioid added to a current opioid (tramadol; 20 MME a day)" in card["detail"]
    why = card["detail"].split("**Why:**")[1].strip().splitlines()
    assert why[0].startswith("- Another opioid on top of a current one")
    assert why[1].startswith("- An opioid with a benzodiazepine: together they raise the risk")
    assert len(card["summary"]) < 140


def test_a_benzodiazepine_order_is_warned_and_other_medicines_are_not(
    service: LoopbackServer,
) -> None:
    [card] = _sign(service, _example("02_"), _medication("3322", "diazepam 5 MG Oral Tablet"))
    summary = "Diazepam 5 MG Oral Tablet order: check against the PSPS type 2 (FBSS) pathway first"
    assert card["summary"] == summary
    assert "If signed: a benzodiazepine is recorded" in card["detail"]
    assert _sign(service, _example("02_"), _medication("5640", "ibuprofen 400 MG")) == []


def test_discovery_says_order_sign_checks_opioid_and_benzodiazepine_orders(
    service: LoopbackServer,
) -> None:
    services = httpx2.get(f"{service.base}/cds-services", timeout=30).json()["services"]
    [order_sign] = [s for s in services if s["id"] == ORDER_SIGN_ID]
    assert "opioid or benzodiazepine order" in order_sign["description"]
