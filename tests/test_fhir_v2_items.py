"""The FHIR reader and the assessment form for the record's version-2 items.

Red flags are about now (pathway.md 3.2); PHQ-9 item 9 and the scores' dates; the
suicide-risk assessment; medicine classes; pregnancy, cardiac device, hardware
failure; every new item asked on the form and read back. The bundles are assessed
on 2026-10-01 (their timestamp).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from fbss_pathway import PatientRecord
from fbss_pathway.fhir import (
    QUESTIONNAIRE_URL,
    bundle_from_record,
    questionnaire,
    read_bundle,
    response_from_record,
)
from fbss_pathway.fhir.current import RED_FLAG_RECENCY_MONTHS
from fbss_pathway.fhir.reading import STALE_RED_FLAG_WARNING, BundleReading

from .fhir_builders import (
    ICD10CM,
    LOCAL,
    RXNORM,
    SCT,
    bundle,
    condition,
    flag,
    medication,
    observation,
    patient,
    read,
    read_record,
)
from .helpers import unordered

CAUDA = "red_flags.cauda_equina_signs"
ATC = "http://www.whocc.no/atc"

#: The medicine classes the reader sets from coded medications (pathway.md 3.4, 3.5).
_CLASSES = {
    "benzodiazepine",
    "gabapentinoid",
    "nsaid",
    "antithrombotic",
    "antithrombotic_can_pause",
}


def _stale_warnings(reading: BundleReading) -> list[str]:
    return [w.message for w in reading.warnings() if w.rule_id == STALE_RED_FLAG_WARNING]


# --- Red flags are about now (pathway.md 3.2) --------------------------------------------


def test_the_window_is_the_rule_sets_default_of_three_months() -> None:
    assert RED_FLAG_RECENCY_MONTHS == 3


def test_a_cauda_equina_code_from_2021_is_unknown_and_said_so() -> None:
    reading = read(condition("G83.4", recorded="2021-03-04"))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None  # never "no", never "yes"
    [message] = _stale_warnings(reading)
    assert "cauda equina signs: coded since 4 mar 2021, confirm whether new" in message.lower()
    assert "red_flags" not in message  # clinical words, no record path
    assert [i.reason for i in reading.ignored] == [
        "red flag dated more than 3 months before the assessment, or undated: read as unknown"
    ]


def test_the_old_code_warning_carries_its_key() -> None:
    """pathway.md 13 lists ``red_flag_code_old`` among the warning keys; it had no key."""
    reading = read(condition("G83.4", recorded="2021-03-04"))
    recommendation = reading.evaluate(ladder=False)
    assert recommendation is not None
    [warning] = [w for w in recommendation.warnings if w.rule_id == STALE_RED_FLAG_WARNING]
    assert warning.key == "red_flag_code_old"


@pytest.mark.parametrize(
    ("recorded", "flag"),
    [("2026-07-01", True), ("2026-06-30", None)],
    ids=["3 months", "a day more"],
)
def test_a_code_exactly_three_months_old_still_counts(recorded: str, flag: bool | None) -> None:
    """The window's edge, as docs/fhir.md says it (it had said the opposite of the code)."""
    reading = read(condition("G83.4", recorded=recorded))
    assert reading.record is not None
    assert reading.record.assessment_date == date(2026, 10, 1)
    assert reading.record.red_flags.cauda_equina_signs is flag


def test_a_cauda_equina_code_ten_days_old_is_yes() -> None:
    reading = read(condition("G83.4", recorded="2026-09-21"))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is True
    assert reading.stale_red_flags == []


def test_a_later_no_of_the_same_kind_clears_an_old_code() -> None:
    old = condition("G83.4", recorded="2021-03-04")
    later_no = condition("G83.4", verification="refuted", recorded="2026-09-01")
    reading = read(old, later_no)
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is False
    assert reading.stale_red_flags == []


def test_a_no_of_another_kind_does_not_clear_an_old_code() -> None:
    reading = read(condition("G83.4", recorded="2021-03-04"), flag(CAUDA, False))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None
    assert len(_stale_warnings(reading)) == 1


def test_an_old_no_says_nothing_about_now() -> None:
    record = read_record(condition("G83.4", verification="refuted", recorded="2025-01-01"))
    assert record.red_flags.cauda_equina_signs is None


def test_an_undated_coded_red_flag_is_unknown_and_said_so() -> None:
    reading = read(flag("red_flags.suspected_malignancy", True, when=None))
    assert reading.record is not None
    assert reading.record.red_flags.suspected_malignancy is None
    [message] = _stale_warnings(reading)
    assert "coded without a date" in message


def test_the_window_is_three_months_as_the_rules_count_them() -> None:
    # Assessed 2026-10-01: a code of 2026-07-01 is exactly 3 months old, not older (it
    # counts, as a screen of that day does in the rules); one of 06-30 is older.
    assert read_record(condition("G83.4", recorded="2026-07-01")).red_flags.cauda_equina_signs
    older = read_record(condition("G83.4", recorded="2026-06-30"))
    assert older.red_flags.cauda_equina_signs is None


def test_a_recent_and_an_old_code_give_yes() -> None:
    record = read_record(
        condition("G83.4", recorded="2021-03-04"), condition("G83.4", recorded="2026-09-01")
    )
    assert record.red_flags.cauda_equina_signs is True


def test_an_old_hardware_failure_is_a_known_finding_and_an_unknown_red_flag() -> None:
    reading = read(condition("T84.216A", recorded="2022-05-01"))
    assert reading.record is not None
    assert reading.record.findings.hardware_failure is True
    assert reading.record.red_flags.suspected_structural_failure is None
    assert len(_stale_warnings(reading)) == 1
    recent = read_record(condition("T84.216A", recorded="2026-09-15"))
    assert recent.red_flags.suspected_structural_failure is True
    assert recent.findings.hardware_failure is True


# --- PHQ-9 item 9 and the scores' dates ------------------------------------------------


def _phq9(value: int, when: str | None = "2026-08-01") -> dict[str, Any]:
    return observation("44261-6", {"valueInteger": value}, when=when)


def _item9(answer: dict[str, Any], when: str | None = "2026-08-01") -> dict[str, Any]:
    return observation("44260-8", answer, when=when)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": "http://loinc.org", "code": "LA6568-5"}]
                }
            },
            0,
        ),
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": "http://loinc.org", "code": "LA6570-1"}]
                }
            },
            2,
        ),
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": "http://loinc.org", "code": "LA6571-9"}]
                }
            },
            3,
        ),
        ({"valueInteger": 1}, 1),
    ],
)
def test_phq9_item9_is_read_from_loinc_44260_8(answer: dict[str, Any], expected: int) -> None:
    record = read_record(_item9(answer))
    assert record.psychosocial.phq9_item9 == expected
    assert record.psychosocial.phq9_date == date(2026, 8, 1)


def test_the_scores_dates_are_their_observations_dates() -> None:
    record = read_record(
        _phq9(12),
        _item9({"valueInteger": 1}),
        observation("70274-6", {"valueInteger": 9}, when="2026-07-15T10:00:00+02:00"),
    )
    mood = record.psychosocial
    assert (mood.phq9, mood.phq9_item9, mood.phq9_date) == (12, 1, date(2026, 8, 1))
    assert (mood.gad7, mood.gad7_date) == (9, date(2026, 7, 15))


def test_a_score_on_the_assessment_day_leaves_the_date_at_its_default() -> None:
    record = read_record(_phq9(12, when="2026-10-01"))
    assert record.psychosocial.phq9 == 12
    assert record.psychosocial.phq9_date is None  # absent: the assessment date


def test_the_newest_phq9_is_read_whole_never_a_total_and_item9_of_different_days() -> None:
    record = read_record(
        _phq9(4, when="2026-05-01"), _item9({"valueInteger": 3}, when="2026-08-01")
    )
    mood = record.psychosocial
    assert (mood.phq9, mood.phq9_item9, mood.phq9_date) == (None, 3, date(2026, 8, 1))


@pytest.mark.parametrize("item9_on", ["2026-09-01", "2026-09-14"])
def test_a_positive_item9_stands_when_a_later_phq9_does_not_answer_it(item9_on: str) -> None:
    # pathway.md 3.4: item 9 >= 1 asks for a suicide-risk assessment "until a suicide-risk
    # assessment dated on or after that PHQ-9 is on record". An outside review: a later
    # total without item 9 (or one a day apart from it) dropped the prompt.
    reading = read(_item9({"valueInteger": 2}, when=item9_on), _phq9(12, when="2026-09-15"))
    assert reading.record is not None
    mood = reading.record.psychosocial
    assert (mood.phq9, mood.phq9_item9, mood.phq9_date) == (12, 2, date(2026, 9, 15))
    [carried] = [c for c in reading.conflicts if c.item == "psychosocial.phq9_item9"]
    assert "stands" in carried.resolution
    result = reading.evaluate(ladder=False)
    assert result is not None
    assert "suicide_risk_assessment" in {a.code.value for a in result.actions}


def test_no_item9_is_carried_beside_a_total_over_24() -> None:
    # A total of 25 needs an item 9 of at least 1 of its own: an older 1 carried beside it
    # could contradict it (the record refuses that); unanswered, MOOD-12 asks already.
    reading = read(_item9({"valueInteger": 1}, when="2026-09-01"), _phq9(26, when="2026-09-15"))
    assert reading.record is not None
    assert reading.record.psychosocial.phq9_item9 is None
    result = reading.evaluate(ladder=False)
    assert result is not None
    assert "suicide_risk_assessment" in {a.code.value for a in result.actions}


def test_an_older_item9_of_not_at_all_is_not_carried() -> None:
    reading = read(_item9({"valueInteger": 0}, when="2026-09-01"), _phq9(6, when="2026-09-15"))
    assert reading.record is not None
    assert reading.record.psychosocial.phq9_item9 is None  # unknown for the latest PHQ-9
    assert not [c for c in reading.conflicts if c.item == "psychosocial.phq9_item9"]


def test_an_item9_above_its_total_leaves_the_total_unknown_and_is_listed() -> None:
    reading = read(_phq9(2), _item9({"valueInteger": 3}))
    assert reading.record is not None
    assert (reading.record.psychosocial.phq9, reading.record.psychosocial.phq9_item9) == (None, 3)
    assert [c.item for c in reading.conflicts] == ["psychosocial.phq9"]


def _panel(*components: dict[str, Any], status: str = "final") -> dict[str, Any]:
    """A PHQ-9 panel (LOINC 44249-1) whose items and total are components, as EHRs send it."""
    panel = observation("44249-1", {}, when="2026-08-01", status=status)
    panel["component"] = list(components)
    return panel


def _component(code: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {"code": {"coding": [{"system": "http://loinc.org", "code": code}]}, **answer}


def test_phq9_item9_and_total_are_read_from_a_panels_components() -> None:
    # An MDT review: item 9 "nearly every day" inside the panel was dropped, and no
    # suicide-risk prompt followed.
    nearly_every_day = {
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA6571-9"}]}
    }
    reading = read(
        _panel(
            _component("44250-9", {"valueInteger": 2}),  # item 1: not an item the pathway reads
            _component("44260-8", nearly_every_day),
            _component("44261-6", {"valueInteger": 19}),
        )
    )
    assert reading.record is not None
    mood = reading.record.psychosocial
    assert (mood.phq9, mood.phq9_item9, mood.phq9_date) == (19, 3, date(2026, 8, 1))
    result = reading.evaluate()
    assert result is not None
    assert "suicide_risk_assessment" in result.action_codes()
    # Read from the bundle's text (resources left as bytes until read), the same.
    panel = _panel(
        _component("44260-8", nearly_every_day), _component("44261-6", {"valueInteger": 19})
    )
    from_text = read_bundle(json.dumps(bundle(panel)))
    assert from_text.record == read_bundle(bundle(panel)).record
    assert from_text.record is not None
    assert from_text.record.psychosocial.phq9_item9 == 3


def test_a_panel_with_no_component_the_pathway_reads_is_listed_once() -> None:
    reading = read(_panel(_component("44250-9", {"valueInteger": 2})))
    assert [i.reason for i in reading.ignored] == ["code not in the mapping"]


def test_a_panels_components_keep_its_status() -> None:
    reading = read(_panel(_component("44261-6", {"valueInteger": 19}), status="entered-in-error"))
    assert reading.record is not None
    assert reading.record.psychosocial.phq9 is None


def test_a_preliminary_item9_of_one_or_more_counts_as_a_suspicion() -> None:
    # Patient-entered forms arrive preliminary; item 9 >= 1 is a same-day prompt (3.4),
    # so it counts as a red flag's suspicion does; a preliminary 0 is never a "no".
    suspected = read_record(observation("44260-8", {"valueInteger": 2}, status="preliminary"))
    assert suspected.psychosocial.phq9_item9 == 2
    none = read_record(observation("44260-8", {"valueInteger": 0}, status="preliminary"))
    assert none.psychosocial.phq9_item9 is None


def test_a_score_dated_after_the_assessment_is_not_read() -> None:
    reading = read_bundle(bundle(_phq9(12, when="2026-09-01")), assessment_date=date(2026, 6, 1))
    assert reading.record is not None
    assert reading.record.psychosocial.phq9 is None
    assert [i.reason for i in reading.ignored] == ["dated after the assessment"]


# --- Medicines ---------------------------------------------------------------------------


def _medicines(*resources: dict[str, Any]) -> dict[str, Any]:
    return read_record(*resources).medicines.model_dump(include=_CLASSES)


def test_medicine_classes_are_read_from_active_rxnorm_medications() -> None:
    found = _medicines(
        medication("855332", "Warfarin Sodium 5 MG Oral Tablet"),
        medication("563026", "Diazepam [Valium]"),
        medication("310431", "gabapentin 100 MG Oral Capsule", kind="MedicationStatement"),
        medication("310965", "Ibuprofen 200 MG Oral Tablet", kind="MedicationStatement"),
    )
    assert found == {
        "benzodiazepine": True,
        "gabapentinoid": True,
        "nsaid": True,
        "antithrombotic": True,
        "antithrombotic_can_pause": None,  # no standard code: the form asks
    }


def test_an_ingredient_code_without_a_display_is_read() -> None:
    clopidogrel = medication("32968", "")
    del clopidogrel["medicationCodeableConcept"]["coding"][0]["display"]
    assert _medicines(clopidogrel)["antithrombotic"] is True


def test_an_atc_class_is_read() -> None:
    aspirin = medication("", "")
    aspirin["medicationCodeableConcept"] = {"coding": [{"system": ATC, "code": "B01AC06"}]}
    pregabalin = medication("", "")
    pregabalin["medicationCodeableConcept"] = {"coding": [{"system": ATC, "code": "N03AX16"}]}
    found = _medicines(aspirin, pregabalin)
    assert (found["antithrombotic"], found["gabapentinoid"]) == (True, True)


def test_low_dose_aspirin_is_an_antiplatelet_not_an_analgesic_tried() -> None:
    record = read_record(medication("243670", "Aspirin 81 MG Oral Tablet"))
    assert record.medicines.antithrombotic is True
    assert record.treatments == []


def test_an_nsaid_is_both_an_analgesic_tried_and_a_medicine_in_use() -> None:
    record = read_record(medication("849574", "Naproxen sodium 220 MG Oral Tablet"))
    assert record.medicines.nsaid is True
    assert [t.kind for t in record.treatments] == ["analgesics"]


def test_a_stopped_medication_is_tried_but_not_in_current_use() -> None:
    reading = read(
        medication("849574", "Naproxen sodium 220 MG Oral Tablet", status="stopped"),
        medication("855332", "Warfarin Sodium 5 MG Oral Tablet", status="completed"),
    )
    assert reading.record is not None
    assert reading.record.medicines.nsaid is None  # unknown, not "no"
    assert reading.record.medicines.antithrombotic is None
    assert [t.kind for t in reading.record.treatments] == ["analgesics"]  # it was tried
    assert [i.reason for i in reading.ignored] == ["status is not active: not in current use"]


def test_a_chart_without_a_medicine_of_a_class_leaves_the_class_unknown() -> None:
    found = _medicines(medication("860975", "24 HR Metformin hydrochloride 500 MG"))
    assert set(found.values()) == {None}


def test_a_medication_resource_referred_to_is_read() -> None:
    warfarin = {
        "resourceType": "Medication",
        "id": "med-w",
        "code": {"coding": [{"system": RXNORM, "code": "11289", "display": "warfarin"}]},
    }
    request = medication("", "")
    del request["medicationCodeableConcept"]
    request["medicationReference"] = {"reference": "Medication/med-w"}
    assert _medicines(warfarin, request)["antithrombotic"] is True


def test_a_pause_answer_without_an_antithrombotic_is_left_unknown() -> None:
    later_no = flag("medicines.antithrombotic", False, when="2026-09-20")
    pause = flag("medicines.antithrombotic_can_pause", True, when="2026-09-01")
    reading = read(later_no, pause)
    assert reading.record is not None
    assert reading.record.medicines.antithrombotic is False
    assert reading.record.medicines.antithrombotic_can_pause is None
    assert [c.item for c in reading.conflicts] == ["medicines.antithrombotic_can_pause"]


# --- Pregnancy, cardiac device ---------------------------------------------------------------


@pytest.mark.parametrize(("code", "system"), [("77386006", SCT), ("Z33.1", ICD10CM)])
def test_pregnancy_is_read(code: str, system: str) -> None:
    assert read_record(condition(code, system)).scs.pregnancy is True
    refuted = condition(code, system, verification="refuted")
    assert read_record(refuted).scs.pregnancy is False


@pytest.mark.parametrize("code", ["Z95.0", "Z95.810"])
def test_a_cardiac_implantable_device_is_read(code: str) -> None:
    assert read_record(condition(code)).scs.cardiac_implantable_device is True


# --- The assessment form -------------------------------------------------------------------


def _questions(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        found[item["linkId"]] = item
        found.update(_questions(item.get("item", [])))
    return found


NEW_ITEMS = {
    "red_flags.screened_on": "date",
    "red_flags.infection_systemic_signs": "boolean",
    "psychosocial.phq9_item9": "integer",
    "psychosocial.phq9_date": "date",
    "psychosocial.gad7_date": "date",
    "psychosocial.psychological_evaluation_date": "date",
    "psychosocial.suicide_risk_assessment": "group",
    "psychosocial.suicide_risk_assessment.date": "date",
    "psychosocial.suicide_risk_assessment.outcome": "choice",
    "medicines.benzodiazepine": "boolean",
    "medicines.gabapentinoid": "boolean",
    "medicines.nsaid": "boolean",
    "medicines.antithrombotic": "boolean",
    "medicines.antithrombotic_can_pause": "boolean",
    "surgical_opinion": "choice",
    "findings.hardware_failure": "boolean",
    "findings.facet_pain_suspected": "boolean",
    "scs.cardiac_implantable_device": "boolean",
}


def test_the_form_asks_for_every_new_item() -> None:
    questions = _questions(questionnaire()["item"])
    assert {link: questions[link]["type"] for link in NEW_ITEMS} == NEW_ITEMS
    outcome = questions["psychosocial.suicide_risk_assessment.outcome"]
    assert [o["valueCoding"]["code"] for o in outcome["answerOption"]] == [
        "low",
        "moderate",
        "high",
    ]
    opinion = questions["surgical_opinion"]
    assert [o["valueCoding"]["code"] for o in opinion["answerOption"]] == [
        "not_sought",
        "operation_advised",
        "not_surgical",
        "patient_declines",
    ]


def _answer(link: str, value: Any) -> dict[str, Any]:
    key = {bool: "valueBoolean", int: "valueInteger"}.get(type(value))
    if key is None:
        answer = (
            {"valueDate": value}
            if link.endswith(("_date", "_on", ".date"))
            else {"valueCoding": {"code": value}}
        )
    else:
        answer = {key: value}
    return {"linkId": link, "answer": [answer]}


def _form(
    *items: dict[str, Any], authored: str = "2026-09-30", ident: str = "qr1"
) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": ident,
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "authored": authored,
        "item": list(items),
    }


def _group(link: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link, "item": list(items)}


def test_the_form_gives_every_new_item() -> None:
    response = _form(
        _group(
            "red_flags",
            _answer("red_flags.screened_on", "2026-09-15"),
            _answer("red_flags.infection_systemic_signs", False),
        ),
        _group(
            "psychosocial",
            _answer("psychosocial.phq9", 14),
            _answer("psychosocial.phq9_item9", 1),
            _answer("psychosocial.phq9_date", "2026-09-10"),
            _answer("psychosocial.gad7", 6),
            _answer("psychosocial.gad7_date", "2026-09-11"),
            _answer("psychosocial.psychological_evaluation", "no_concerns"),
            _answer("psychosocial.psychological_evaluation_date", "2026-09-12"),
            _group(
                "psychosocial.suicide_risk_assessment",
                _answer("psychosocial.suicide_risk_assessment.date", "2026-09-13"),
                _answer("psychosocial.suicide_risk_assessment.outcome", "low"),
            ),
        ),
        _group(
            "medicines",
            _answer("medicines.benzodiazepine", False),
            _answer("medicines.gabapentinoid", True),
            _answer("medicines.nsaid", False),
            _answer("medicines.antithrombotic", True),
            _answer("medicines.antithrombotic_can_pause", False),
        ),
        _answer("surgical_opinion", "not_surgical"),
        _group(
            "findings",
            _answer("findings.hardware_failure", False),
            _answer("findings.facet_pain_suspected", True),
        ),
        _group("scs", _answer("scs.cardiac_implantable_device", True)),
    )
    reading = read(response)
    assert reading.ignored == []
    record = reading.record
    assert record is not None
    assert record.red_flags.screened_on == date(2026, 9, 15)
    assert record.red_flags.infection_systemic_signs is False
    mood = record.psychosocial
    assert (mood.phq9, mood.phq9_item9, mood.phq9_date) == (14, 1, date(2026, 9, 10))
    assert (mood.gad7, mood.gad7_date) == (6, date(2026, 9, 11))
    assert mood.psychological_evaluation_date == date(2026, 9, 12)
    assert mood.suicide_risk_assessment is not None
    assert mood.suicide_risk_assessment.date == date(2026, 9, 13)
    assert mood.suicide_risk_assessment.outcome == "low"
    assert record.medicines.model_dump(include=_CLASSES) == {
        "benzodiazepine": False,
        "gabapentinoid": True,
        "nsaid": False,
        "antithrombotic": True,
        "antithrombotic_can_pause": False,
    }
    assert record.surgical_opinion == "not_surgical"
    assert record.findings.hardware_failure is False
    assert record.findings.facet_pain_suspected is True
    assert record.scs.cardiac_implantable_device is True


def test_an_incomplete_suicide_risk_assessment_is_listed_not_fatal() -> None:
    only_outcome = _group(
        "psychosocial.suicide_risk_assessment",
        _answer("psychosocial.suicide_risk_assessment.outcome", "high"),
    )
    reading = read(_form(_group("psychosocial", only_outcome)))
    assert reading.record is not None
    assert reading.record.psychosocial.suicide_risk_assessment is None
    assert [i.reason for i in reading.ignored] == [
        "psychosocial.suicide_risk_assessment: incomplete or outside the item's values"
    ]
    assert list(reading.unreadable) == ["psychosocial.suicide_risk_assessment"]


def test_the_most_recent_suicide_risk_assessment_is_read() -> None:
    def assessed(day: str, outcome: str) -> dict[str, Any]:
        return _form(
            _group(
                "psychosocial.suicide_risk_assessment",
                _answer("psychosocial.suicide_risk_assessment.date", day),
                _answer("psychosocial.suicide_risk_assessment.outcome", outcome),
            ),
            ident=f"qr-{day}",
        )

    record = read_record(assessed("2026-09-20", "moderate"), assessed("2026-08-01", "low"))
    risk = record.psychosocial.suicide_risk_assessment
    assert risk is not None
    assert (risk.date, risk.outcome) == (date(2026, 9, 20), "moderate")


def test_a_forms_red_flags_are_dated_by_its_screen() -> None:
    old_screen = _form(
        _answer("red_flags.screened_on", "2026-05-01"),
        _answer(CAUDA, True),
        _answer("red_flags.suspected_malignancy", False),
    )
    reading = read(old_screen, condition("C79.51", recorded="2026-09-20"))
    assert reading.record is not None
    flags = reading.record.red_flags
    assert flags.cauda_equina_signs is None  # a screen of May says nothing about October
    assert flags.suspected_malignancy is True  # the recent code still counts
    assert flags.screened_on is None  # not carried: it would make the recent code unknown
    [message] = _stale_warnings(reading)
    assert "answered on a form of 1 May 2026" in message


def test_a_recent_screen_date_is_kept() -> None:
    record = read_record(
        _form(_answer("red_flags.screened_on", "2026-09-01"), _answer(CAUDA, False))
    )
    assert record.red_flags.screened_on == date(2026, 9, 1)
    assert record.red_flags.cauda_equina_signs is False


def test_a_forms_undated_score_is_never_given_an_older_codes_date() -> None:
    # The form's PHQ-9 (authored 2026-09-30) is newer than the coded one of May: the coded
    # date must not be read as the form's, or a suicide-risk assessment between the two
    # would seem to follow it.
    record = read_record(_phq9(4, when="2026-05-01"), _form(_answer("psychosocial.phq9", 16)))
    assert record.psychosocial.phq9 == 16
    assert record.psychosocial.phq9_date == date(2026, 9, 30)


# --- Round trips -------------------------------------------------------------------------


def _v2_record() -> PatientRecord:
    return PatientRecord.model_validate(
        {
            "patient_id": "v2",
            "assessment_date": "2026-10-01",
            "operations": [{"date": "2024-03-01", "kind": "fusion"}],
            "red_flags": {
                "cauda_equina_signs": False,
                "suspected_infection": True,
                "infection_systemic_signs": False,
                "screened_on": "2026-09-20",
            },
            "findings": {"hardware_failure": True, "facet_pain_suspected": False},
            "psychosocial": {
                "phq9": 11,
                "phq9_item9": 1,
                "phq9_date": "2026-09-02",
                "gad7": 7,
                "psychological_evaluation": "no_concerns",
                "psychological_evaluation_date": "2026-09-05",
                "suicide_risk_assessment": {"date": "2026-09-03", "outcome": "moderate"},
            },
            "medicines": {
                "benzodiazepine": False,
                "gabapentinoid": True,
                "antithrombotic": True,
                "antithrombotic_can_pause": True,
            },
            "surgical_opinion": "operation_advised",
            "scs": {"cardiac_implantable_device": True, "pregnancy": False},
        }
    )


def test_the_new_items_survive_a_round_trip_through_fhir() -> None:
    record = _v2_record()
    written = bundle_from_record(record)
    Bundle.model_validate(written)
    reading = read_bundle(json.dumps(written))
    assert reading.record is not None
    assert unordered(reading.record) == unordered(record)
    assert reading.ignored == []
    assert reading.conflicts == []
    item9 = next(
        e["resource"]
        for e in written["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "44260-8"
    )
    assert item9["effectiveDateTime"] == "2026-09-02"  # the PHQ-9's own date


def test_the_new_items_survive_a_round_trip_through_the_form() -> None:
    record = _v2_record()
    response = response_from_record(record)
    chart = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient("v2", birth_date=None)}, {"resource": response}],
    }
    reading = read_bundle(chart)
    assert reading.record is not None
    assert unordered(reading.record) == unordered(record)
    assert reading.ignored == []


def test_a_local_code_gives_the_suicide_risk_assessment_with_its_date() -> None:
    local = observation(
        "psychosocial.suicide_risk_assessment",
        {"valueCodeableConcept": {"coding": [{"code": "high"}]}},
        system=LOCAL,
        when="2026-09-12",
    )
    risk = read_record(local).psychosocial.suicide_risk_assessment
    assert risk is not None
    assert (risk.date, risk.outcome) == (date(2026, 9, 12), "high")


@pytest.mark.parametrize("status", ["in-progress", "stopped"])
def test_a_form_not_yet_completed_counts_only_for_its_suspicions(status: str) -> None:
    # An outside review: a form in progress answering cauda equina "yes" was ignored, and
    # with an earlier completed "no" form an SCS trial was offered. Observations count a
    # preliminary red-flag "yes" or item 9 of 1 or more (a suspicion is enough); a form
    # being filled in is the same.
    earlier_no = _form(
        _group("red_flags", _answer("red_flags.cauda_equina_signs", False)),
        authored="2026-09-20",
        ident="qr0",
    )
    partial = _form(
        _group(
            "red_flags",
            _answer("red_flags.cauda_equina_signs", True),
            _answer("red_flags.suspected_malignancy", False),
        ),
        _group(
            "psychosocial",
            _answer("psychosocial.phq9_item9", 2),
            _answer("psychosocial.phq9", 14),
        ),
        _group("pain", _answer("pain.back_nrs", 3)),
        authored="2026-09-30",
        ident="qr1",
    )
    partial["status"] = status
    reading = read(earlier_no, partial)
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is True
    # Only the suspicions: a "no", a score and a pain rating wait for the completed form.
    assert reading.record.red_flags.suspected_malignancy is None
    assert reading.record.psychosocial.phq9_item9 == 2
    assert reading.record.psychosocial.phq9 is None
    assert reading.record.pain.back_nrs is None
    assert any("suspicions" in i.reason for i in reading.ignored)
    result = reading.evaluate(ladder=False)
    assert result is not None
    assert result.red_flag_tiers


def test_a_form_in_progress_without_a_suspicion_sets_nothing() -> None:
    partial = _form(_group("red_flags", _answer("red_flags.cauda_equina_signs", False)))
    partial["status"] = "in-progress"
    reading = read(partial)
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None
