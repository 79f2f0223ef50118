"""CDS Hooks: spec-conformant cards, and the real service driven through an HTTP client."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from starlette.testclient import TestClient

from fbss_pathway import ActionCode, PatientRecord, Recommendation, Stage, evaluate
from fbss_pathway.cds_hooks import card_problems, cards
from fbss_pathway.cds_hooks.service import (
    PREFETCH,
    SERVICE_ID,
    create_app,
    prefetch_from_bundle,
)
from fbss_pathway.cli import example_paths
from fbss_pathway.evaluation import patient_context
from fbss_pathway.explain.headline import OPTION_WORDS, VERDICT_WORDS
from fbss_pathway.explain.layout import context_line, date_words
from fbss_pathway.explain.words import code_words, item_label
from fbss_pathway.fhir import bundle_from_record
from fbss_pathway.synth import synthetic_cohort

from .fhir_builders import flag

HOOK = f"/cds-services/{SERVICE_ID}"


def _examples() -> list[PatientRecord]:
    return [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]


def _topics(result: list[dict[str, Any]]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in result]


INDICATORS = ["info", "warning", "critical"]


def _check(recommendation: Recommendation, result: list[dict[str, Any]]) -> None:
    """At most four conforming cards, the stage card first, and nothing of the result lost."""
    for card in result:
        assert card_problems(card) == [], card
    # the stage, the safety actions, one card per option, attention, cautions
    assert 1 <= len(result) <= 4 + len(recommendation.options)
    stage_card = result[0]
    lead = recommendation.headline.split(";")[0].split(" (")[0]
    assert stage_card["summary"].startswith(f"PSPS type 2 (FBSS): {lead}")
    for appraisal in recommendation.options:  # every verdict side by side on the stage card
        assert (
            f"- {OPTION_WORDS[appraisal.option]}: {VERDICT_WORDS[appraisal.verdict]}"
            in (stage_card["detail"])
        )
    highest = max((card["indicator"] for card in result), key=INDICATORS.index)
    assert stage_card["indicator"] == highest
    if recommendation.stage is Stage.URGENT_REVIEW:
        assert stage_card["indicator"] == "critical"
    # A client that sorts by indicator, as the CDS Hooks sandbox does, keeps it first.
    ranked = sorted(result, key=lambda card: -INDICATORS.index(card["indicator"]))
    assert ranked[0] is stage_card
    for card in result:  # a summary names each thing once ("Caution: Caution before" read badly)
        words = card["summary"].lower().replace(":", "").split()
        assert words[0] not in words[1:2], card["summary"]
    details = "\n".join(card["detail"] for card in result)
    for action in recommendation.actions:
        assert code_words(action.code) in details
        assert f"({action.rule_id})" in details
    for warning in recommendation.warnings:
        assert " ".join(warning.message.split()) in details
    for card in result:
        lines = card["detail"].splitlines()
        for number, line in enumerate(lines[:-1]):
            if line.startswith("**") and line.endswith("**"):
                assert lines[number + 1] == "", "a Markdown heading needs a blank line after it"
        assert "unknown %" not in card["detail"]
        assert "yes/yes" not in card["detail"]
    assert len({card["uuid"] for card in result}) == len(result)


def test_cards_for_every_example_and_a_cohort_conform() -> None:
    for record in [*_examples(), *synthetic_cohort(200, seed=31)]:
        recommendation = evaluate(record)
        _check(recommendation, cards(recommendation))


def test_the_stage_card_dates_the_decision() -> None:
    for record in _examples():
        recommendation = evaluate(record, ladder=False)
        stage_card = cards(recommendation)[0]
        dates = context_line(recommendation.patient)
        assert dates in stage_card["detail"].splitlines()
        assert re.match(r"Assessed \d+ \w{3} \d{4} · age \d+ · ", dates)
        last = max(operation.date for operation in record.operations)  # not the first listed
        assert f" on {date_words(last)} (" in dates.split(" · ")[2]
        # without the recommendation's patient context, the record still dates it
        bare = recommendation.model_copy(update={"patient": None})
        from_record = context_line(patient_context(record))
        assert from_record == dates  # one style, whichever it is built from
        assert from_record in cards(bare, record=record)[0]["detail"].splitlines()
        assert card_problems(stage_card) == []
        assert from_record not in cards(bare)[0]["detail"]  # no dates to show
    unknown_age = _examples()[1].model_copy(update={"age_years": None})
    assert " · age not recorded · " in context_line(patient_context(unknown_age))


def test_missing_information_reaches_the_cards_in_clinical_words() -> None:
    recommendation = next(
        result for record in synthetic_cohort(100, seed=32) if (result := evaluate(record)).missing
    )
    detail = cards(recommendation)[0]["detail"]
    assert "**Not recorded** (would change or confirm this):" in detail
    for item in recommendation.missing:
        assert item_label(item.field) in detail
        assert item.field not in detail  # the record path is for software, not for people


def test_an_expected_benefit_of_one_figure_reads_about() -> None:
    # Where surgery is in question (a correctable lesion, one operation): about 30 %.
    record = next(
        r
        for r in _examples()
        if len(r.operations) == 1
        and ActionCode.REOPERATION_CAUTION in evaluate(r, ladder=False).action_codes()
    )
    details = "\n".join(card["detail"] for card in cards(evaluate(record)))
    assert "After one more operation: about 30 % of patients improve." in details


def test_an_action_lists_its_own_inputs_and_counts_those_behind_its_criteria() -> None:
    # Addressing psychological concerns (example 06) reads whether the patient is in
    # position for SCS, which rests on every SCS criterion: the card lists the
    # psychological evaluation and counts the rest rather than listing twenty lines.
    recommendation = evaluate(
        PatientRecord.model_validate_json(example_paths()[5].read_bytes()), ladder=False
    )
    action = next(a for a in recommendation.actions if a.rule_id == "SCS-35")
    card = next(c for c in cards(recommendation) if "(SCS-35)" in c["detail"])
    listed = card["detail"].split("Inputs read:")[1].split("Sources:")[0]
    assert "psychological evaluation" in listed.lower()
    assert "Pain radiates into a leg" not in listed  # an SCS criterion, behind the position
    items = [line for line in listed.splitlines() if line.startswith("- ") and " more " not in line]
    assert f"- and {len(action.inputs) - len(items)} more behind" in listed
    assert len(action.inputs) > len(items)  # the result itself keeps every input


def test_the_stage_card_leads_with_the_headline_and_lists_every_option() -> None:
    recommendation = evaluate(
        PatientRecord.model_validate_json(example_paths()[5].read_bytes()), ladder=False
    )
    stage_card = cards(recommendation)[0]
    lines = stage_card["detail"].splitlines()
    assert lines[0] == f"**{recommendation.headline}**"
    assert "**Options:**" in lines
    assert "- Spinal cord stimulation: blocked" in stage_card["detail"]


def test_card_problems_finds_what_the_spec_forbids() -> None:
    card = {"summary": "x" * 140, "indicator": "urgent", "source": {"label": ""}, "detail": None}
    problems = card_problems(card)
    assert any("140" in p for p in problems)
    assert any("indicator" in p for p in problems)
    assert any("uuid" in p for p in problems)
    assert any("card.detail is null" in p for p in problems)
    assert any("card.source.label is null or empty" in p for p in problems)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def _request(record: PatientRecord) -> dict[str, Any]:
    """A patient-view call whose prefetch is the record's bundle."""
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id or "anonymous"},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


def test_discovery_lists_the_patient_view_and_order_sign_services(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    view, guard = response.json()["services"]
    assert (view["hook"], view["id"]) == ("patient-view", SERVICE_ID)
    assert (guard["hook"], guard["id"]) == ("order-sign", f"{SERVICE_ID}-order-sign")
    assert view["description"]
    assert view["prefetch"] == guard["prefetch"] == PREFETCH
    assert all("{{context.patientId}}" in template for template in PREFETCH.values())


def test_each_example_goes_through_the_service_as_evaluate_says(client: TestClient) -> None:
    for record in _examples():
        response = client.post(HOOK, json=_request(record))
        assert response.status_code == 200, response.text
        # The service assesses today; the examples were assessed on their own date.
        expected = evaluate(record.model_copy(update={"assessment_date": date.today()}))
        _check(expected, response.json()["cards"])


def test_missing_prefetch_is_412(client: TestClient) -> None:
    request = _request(_examples()[0])
    del request["prefetch"]["observations"]
    response = client.post(HOOK, json=request)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "observations" in response.json()["issue"][0]["diagnostics"]
    without = _request(_examples()[0])
    del without["prefetch"]
    assert client.post(HOOK, json=without).status_code == 412


def test_null_prefetch_means_no_data_and_stays_unknown(client: TestClient) -> None:
    record = _examples()[1]
    request = _request(record)
    request["prefetch"]["observations"] = None
    response = client.post(HOOK, json=request)
    assert response.status_code == 200
    detail = response.json()["cards"][0]["detail"]
    assert "**Not recorded**" in detail


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"hook": "order-sign", "hookInstance": "x", "context": {}}', "patient-view"),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {}}', "patientId"),
    ],
)
def test_malformed_requests_get_400_with_an_operation_outcome(
    client: TestClient, body: bytes, expected: str
) -> None:
    response = client.post(HOOK, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert expected in outcome["issue"][0]["diagnostics"]


def test_malformed_fhir_in_the_prefetch_is_400_naming_the_element(client: TestClient) -> None:
    request = _request(_examples()[1])
    observation = request["prefetch"]["observations"]["entry"][0]["resource"]
    observation["valueInteger"] = "MRN-SECRET"
    observation.pop("valueQuantity", None)
    response = client.post(HOOK, json=request)
    assert response.status_code == 400
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "(Observation)" in diagnostics
    assert "MRN-SECRET" not in diagnostics
    request = _request(_examples()[1])
    request["prefetch"]["patient"] = "Patient/123"
    assert client.post(HOOK, json=request).status_code == 400


def test_an_unknown_service_is_404(client: TestClient) -> None:
    assert client.post("/cds-services/other", json=_request(_examples()[0])).status_code == 404


def test_feedback_is_accepted_and_logged_without_patient_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    record = _examples()[0]
    with caplog.at_level(logging.INFO, logger="fbss_pathway.cds_hooks"):
        card = client.post(HOOK, json=_request(record)).json()["cards"][0]
        feedback = {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"userComment": "patient EXAMPLE-01 declined"},
                    "outcomeTimestamp": "2026-11-21T10:00:00Z",
                }
            ]
        }
        response = client.post(f"{HOOK}/feedback", json=feedback)
    assert response.status_code == 200
    assert card["uuid"] in caplog.text
    assert "EXAMPLE-01" not in caplog.text
    assert record.patient_id == "EXAMPLE-01"


@pytest.mark.parametrize(
    "body",
    [{}, {"feedback": []}, {"feedback": [{"card": "x", "outcome": "liked"}]}, {"feedback": "x"}],
)
def test_malformed_feedback_is_400(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post(f"{HOOK}/feedback", json=body)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_patient_outside_the_pathway_gets_no_cards(client: TestClient) -> None:
    request = _request(_examples()[1])
    request["prefetch"]["procedures"] = None  # no operation on record
    response = client.post(HOOK, json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_an_old_red_flag_code_leads_what_to_do_now(client: TestClient) -> None:
    request = _request(_examples()[1])
    undated_cauda_equina = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{request['context']['patientId']}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G83.4"}]},
    }
    request["prefetch"]["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": undated_cauda_equina}],
    }
    request["prefetch"]["observations"]["entry"].append(
        {
            "resource": {
                **flag("red_flags.cauda_equina_signs", False),
                "subject": undated_cauda_equina["subject"],
            }
        }
    )
    result = client.post(HOOK, json=request).json()["cards"]
    details = "\n".join(card["detail"] for card in result)
    # An undated code is about no known time: the flag is unknown, never a "yes" for ever
    # nor a "no" (pathway.md 3.2); the gate holds and the screen is asked for.
    assert result[0]["indicator"] != "critical"
    assert "Complete red flag screen" in details
    # The old code to confirm leads the card of what to do now, in words (pathway.md 3.2
    # and 11; a clinician's review found it as the last line of the last card, by its key).
    [now] = [card for card in result if card["summary"].startswith("Now:")]
    assert now["summary"].endswith("; confirm an old red-flag code")
    assert now["detail"].startswith("- Confirm whether new: New or worsening cauda equina signs")
    assert "red_flag_code_old" not in details
    assert "confirm whether new" not in "\n".join(
        card["detail"] for card in result if card is not now
    )
    # Summaries are words for clinicians, never a warning's key (pathway.md 11).
    summaries = " ".join(card["summary"] for card in result)
    assert "red_flag_code_old" not in summaries
    assert "FHIR-" not in summaries


def test_resources_about_another_patient_never_reach_the_cards(client: TestClient) -> None:
    request = _request(_examples()[1])
    someone_else = {
        **flag("red_flags.cauda_equina_signs", True),
        "subject": {"reference": "Patient/x"},
    }
    request["prefetch"]["observations"]["entry"].append({"resource": someone_else})
    result = client.post(HOOK, json=request).json()["cards"]
    assert result[0]["indicator"] != "critical"
    assert "Urgent" not in result[0]["summary"]


def test_option_card_criteria_give_the_patients_value_against_what_it_needs() -> None:
    lines = [
        line
        for record in _examples()
        for card in cards(evaluate(record))
        for line in card["detail"].splitlines()
        if line.startswith(("- ✓", "- ✗", "- ?"))
    ]
    assert lines
    text = "\n".join(lines)
    assert "phq-9" not in text
    assert "nrs 0-10" not in text
    assert " not no concerns" not in text
    assert "other than no concerns" in text
    assert "(this patient:" not in text  # no nested brackets
    assert "Back pain intensity, NRS 0-10: 7/10; needs at least 5/10" in text
    surgical = [line for line in lines if line.startswith("- ✓ Surgically correctable lesion")]
    assert surgical
    for line in surgical:  # the value that decides comes first; at most four, the rest counted
        shown = line.split(" — this patient: ")[1]
        assert shown.split("; ")[0].endswith(": yes")
        assert len(shown.split("; ")) <= 5


def test_the_stage_card_says_why_an_option_without_its_own_card_is_stopped() -> None:
    """A failed trial is named on the stage card, not only in the full report (Sandbox review)."""
    path = next(p for p in example_paths() if p.name.startswith("17_"))
    result = evaluate(PatientRecord.model_validate_json(path.read_bytes()), ladder=False)
    lines = cards(result)[0]["detail"].splitlines()
    assert "- Spinal cord stimulation: not appropriate" in lines  # the line integrators read
    stops = lines[lines.index("**What stops the others:**") :]
    assert "- Spinal cord stimulation: SCS trial failed" in stops
    assert not any(line.startswith("- Conservative care") for line in stops)


def test_an_option_card_names_one_next_step_the_one_its_summary_gives() -> None:
    # An MDT review: "Spinal cord stimulation: blocked; next: mental health referral" over
    # "Next step: Psychological evaluation" and "Next step: Periprocedural antithrombotic plan".
    records = [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]
    records += list(synthetic_cohort(300, seed=31))
    seen = 0
    for record in records:
        for card in cards(evaluate(record, ladder=False)):
            if "; next: " not in card["summary"] or card["summary"].startswith("PSPS"):
                continue
            named = card["summary"].split("; next: ", 1)[1].lower()
            steps = [line for line in card["detail"].splitlines() if line.startswith("Next step:")]
            assert len(steps) == 1, card["detail"]
            assert steps[0].lower().startswith(f"next step: {named}"), (card["summary"], steps)
            seen += 1
    assert seen
