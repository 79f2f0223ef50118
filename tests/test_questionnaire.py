"""The pathway assessment as a FHIR Questionnaire: complete, valid, and read back exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from fbss_pathway import PatientRecord
from fbss_pathway.cli import example_paths, main
from fbss_pathway.fhir import (
    QUESTIONNAIRE_URL,
    questionnaire,
    read_bundle,
    response_from_record,
)
from fbss_pathway.synth import synthetic_cohort

from .fhir_builders import condition, patient
from .helpers import unordered


def _examples() -> list[PatientRecord]:
    return [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]


def _link_ids(items: list[dict[str, Any]]) -> set[str]:
    found = set()
    for item in items:
        found.add(item["linkId"])
        found |= _link_ids(item.get("item", []))
    return found


def _schema_paths(schema: dict[str, Any], node: dict[str, Any], prefix: str) -> set[str]:
    """Every item of the record, from its JSON Schema (independent of the generator)."""
    paths = set()
    for name, spec in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        paths.add(path)
        for option in [spec, spec.get("items", {}), *spec.get("anyOf", [])]:
            ref = option.get("$ref") or option.get("items", {}).get("$ref")
            if ref:
                target = schema["$defs"][ref.rsplit("/", 1)[1]]
                paths |= _schema_paths(schema, target, f"{path}.")
    return paths


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def test_the_questionnaire_is_valid_fhir_and_asks_for_every_record_item() -> None:
    form = questionnaire()
    Questionnaire.model_validate(form)
    assert form["url"] == QUESTIONNAIRE_URL
    schema = PatientRecord.model_json_schema()
    # every record item, and the one question that is not an item (which resource a
    # treatment group describes)
    expected = (_schema_paths(schema, schema, "") - {"patient_id"}) | {"treatments.record"}
    assert _link_ids(form["item"]) == expected


def test_choices_offer_the_record_values() -> None:
    questions = {q["linkId"]: q for q in questionnaire()["item"]}
    kinds = [o["valueCoding"]["code"] for o in questions["operations"]["item"][1]["answerOption"]]
    assert kinds == ["decompression_discectomy", "laminectomy", "fusion", "other"]
    assert questions["operations"]["repeats"] is True


@pytest.mark.parametrize("record", [*_examples(), *synthetic_cohort(40, seed=8)], ids=str)
def test_a_response_reads_back_into_the_same_record(record: PatientRecord) -> None:
    response = response_from_record(record)
    QuestionnaireResponse.model_validate(response)
    reading = read_bundle(_bundle(patient(record.patient_id or "p1", birth_date=None), response))
    assert reading.record is not None
    assert unordered(reading.record) == unordered(record)
    assert reading.ignored == []


def _minimal(**extra: Any) -> dict[str, Any]:
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_URL}|0.1.0",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-09-01",
        "item": [
            {"linkId": "assessment_date", "answer": [{"valueDate": "2026-09-01"}]},
            {
                "linkId": "operations",
                "item": [
                    {"linkId": "operations.date", "answer": [{"valueDate": "2024-02-01"}]},
                    {"linkId": "operations.kind", "answer": [{"valueCoding": {"code": "fusion"}}]},
                ],
            },
        ],
    }
    response.update(extra)
    return response


def test_unanswered_questions_stay_unknown() -> None:
    reading = read_bundle(_bundle(patient(birth_date=None), _minimal()))
    record = reading.record
    assert record is not None
    assert str(record.assessment_date) == "2026-09-01"
    assert record.pain.back_nrs is None
    assert record.red_flags.cauda_equina_signs is None
    assert record.treatments == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "in-progress"}, "status is not completed or amended"),
        ({"questionnaire": "http://example.org/Questionnaire/other"}, "not a response to"),
    ],
)
def test_responses_that_are_not_the_completed_assessment_are_listed(
    change: dict[str, Any], reason: str
) -> None:
    reading = read_bundle(_bundle(patient(birth_date=None), _minimal(**change)))
    assert reading.record is None  # its operation did not count
    assert reason in reading.ignored[0].reason


def test_an_answered_no_does_not_outvote_a_red_flag_condition() -> None:
    response = _minimal()
    response["item"].append(
        {
            "linkId": "red_flags",
            "item": [
                {"linkId": "red_flags.cauda_equina_signs", "answer": [{"valueBoolean": False}]}
            ],
        }
    )
    coded = condition("G83.4", recorded="2026-08-20")  # a red flag is about now (3.2)
    reading = read_bundle(_bundle(patient(birth_date=None), response, coded))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is True
    assert [c.item for c in reading.conflicts] == ["red_flags.cauda_equina_signs"]


def test_an_answer_out_of_scale_is_listed_not_fatal() -> None:
    response = _minimal()
    response["item"].append(
        {"linkId": "pain", "item": [{"linkId": "pain.back_nrs", "answer": [{"valueInteger": 12}]}]}
    )
    response["item"].append({"linkId": "no.such.item", "answer": [{"valueInteger": 1}]})
    reading = read_bundle(_bundle(patient(birth_date=None), response))
    assert reading.record is not None
    assert reading.record.pain.back_nrs is None
    assert sorted(i.reason for i in reading.ignored) == [
        "an answer to a question the assessment does not have",
        "pain.back_nrs: value outside the item's scale or of the wrong type",
    ]


def test_the_command_prints_the_questionnaire(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["questionnaire"]) == 0
    assert json.loads(capsys.readouterr().out) == questionnaire()
