"""The reader's safety rules (docs/fhir.md): red flags, findings, statuses, whose data, scope."""

from __future__ import annotations

from typing import Any

import pytest

from fbss_pathway.fhir import NotApplicableError, read_bundle, record_from_bundle
from fbss_pathway.fhir.reading import PAIN_SITE_WARNING, STALE_RED_FLAG_WARNING

from .fhir_builders import (
    LOCAL,
    SCT,
    bundle,
    condition,
    flag,
    medication,
    observation,
    operation,
    patient,
)

CAUDA = "red_flags.cauda_equina_signs"


def _red_flag(*resources: dict[str, Any]) -> bool | None:
    reading = read_bundle(bundle(*resources))
    assert reading.record is not None
    return reading.record.red_flags.cauda_equina_signs


# --- Red flags are suspicions --------------------------------------------------------------


def test_an_undated_confirmed_red_flag_is_not_lost_to_a_dated_no() -> None:
    # Version 2 (pathway.md 3.2): an undated code cannot say the flag is new, so the flag
    # is unknown (re-screen) and named in a warning, never "no" (the dated "no" is of
    # another kind and cannot clear it).
    reading = read_bundle(bundle(condition("G83.4"), flag(CAUDA, False, when="2026-09-01")))
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None
    [stale] = reading.stale_red_flags
    assert stale.item == CAUDA
    [warning] = [w for w in reading.warnings() if w.rule_id == STALE_RED_FLAG_WARNING]
    assert "cauda equina signs: coded without a date" in warning.message.lower()
    # What clears it is said, so that a clinician is not sent round in a loop: a recent
    # screen's "no" of another kind does not, the problem-list entry updated does.
    assert "until a later condition says no" in warning.message
    [dropped_no] = [i for i in reading.ignored if i.resource_type == "Observation"]
    assert "another kind" in dropped_no.reason
    assert "more than 3 months" not in dropped_no.reason


def test_an_old_coded_red_flag_beside_a_recent_screen_says_what_clears_it() -> None:
    reading = read_bundle(
        bundle(
            condition("G83.4", recorded="2021-03-04"),
            flag(CAUDA, False, when="2026-09-20"),
        )
    )
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None
    [warning] = [w for w in reading.warnings() if w.rule_id == STALE_RED_FLAG_WARNING]
    assert "coded since 4 Mar 2021" in warning.message
    assert "until a later condition says no" in warning.message
    reasons = {i.resource_type: i.reason for i in reading.ignored}
    assert "another kind" in reasons["Observation"]
    assert "more than 3 months" in reasons["Condition"]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_a_red_flag_and_a_no_of_equal_date_give_the_flag_in_either_order(
    order: tuple[int, int],
) -> None:
    pair = [condition("G83.4", recorded="2026-09-01"), flag(CAUDA, False, when="2026-09-01")]
    assert _red_flag(*(pair[i] for i in order)) is True


@pytest.mark.parametrize(
    "status", ["confirmed", "provisional", "differential", "unconfirmed", None]
)
def test_any_assertion_of_a_red_flag_sets_it(status: str | None) -> None:
    assert _red_flag(condition("G83.4", verification=status, recorded="2026-09-01")) is True


def test_a_preliminary_result_counts_only_as_a_red_flag_suspicion() -> None:
    preliminary_yes = observation(CAUDA, {"valueBoolean": True}, system=LOCAL, status="preliminary")
    assert _red_flag(preliminary_yes) is True
    preliminary_no = observation(CAUDA, {"valueBoolean": False}, system=LOCAL, status="preliminary")
    assert _red_flag(preliminary_no) is None
    score = observation("44261-6", {"valueInteger": 12}, status="preliminary")
    reading = read_bundle(bundle(score))
    assert reading.record is not None
    assert reading.record.psychosocial.phq9 is None


def test_a_later_no_of_the_same_kind_clears_a_red_flag() -> None:
    earlier = condition("G83.4", recorded="2026-08-01")
    later_no = condition("G83.4", verification="refuted", recorded="2026-09-01")
    assert _red_flag(earlier, later_no) is False
    assert _red_flag(earlier, flag(CAUDA, False, when="2026-09-01")) is True  # another kind


def test_a_refuted_red_flag_alone_is_no_and_an_older_refutation_does_not_clear() -> None:
    assert _red_flag(condition("G83.4", verification="refuted", recorded="2026-09-01")) is False
    older_no = condition("G83.4", verification="refuted", recorded="2024-01-01")
    assert _red_flag(older_no, condition("G83.4", recorded="2026-09-01")) is True


def test_a_red_flag_cleared_by_a_later_condition_reads_no_without_conflict() -> None:
    reading = read_bundle(
        bundle(
            condition("G83.4", recorded="2026-08-01"),
            condition("G83.4", clinical="resolved", recorded="2026-09-01"),
        )
    )
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is False
    assert reading.conflicts == []


def test_snomed_and_icd10cm_red_flags_are_read() -> None:
    reading = read_bundle(
        bundle(
            condition("203241002", SCT, recorded="2026-09-01"),  # osteomyelitis of vertebra
            condition("C79.51", recorded="2026-09-01"),  # secondary malignant neoplasm of bone
            condition("T84216A", recorded="2026-09-01"),  # fixation device breakdown, no dot
            condition("M21.372", recorded="2026-09-01"),  # foot drop
        )
    )
    assert reading.record is not None
    flags = reading.record.red_flags
    assert flags.suspected_infection is True
    assert flags.suspected_malignancy is True
    assert flags.suspected_structural_failure is True
    assert flags.progressive_motor_deficit is True
    assert flags.cauda_equina_signs is None  # not asked is not "no"


# --- Findings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verification", "clinical", "expected"),
    [
        ("confirmed", "active", True),
        (None, None, True),
        ("confirmed", "recurrence", True),
        ("provisional", "active", None),
        ("differential", "active", None),
        ("unconfirmed", "active", None),
        ("refuted", "active", False),
        ("confirmed", "resolved", False),
    ],
)
def test_findings_need_confirmation(
    verification: str | None, clinical: str | None, expected: bool | None
) -> None:
    reading = read_bundle(
        bundle(condition("M47.816", verification=verification, clinical=clinical))
    )
    assert reading.record is not None
    assert reading.record.findings.facet_arthropathy is expected
    if expected is None:
        assert [i.reason for i in reading.ignored] == [
            "findings.facet_arthropathy: not confirmed and active, left unknown"
        ]


def test_equally_recent_disagreeing_findings_stay_unknown_and_are_listed() -> None:
    reading = read_bundle(
        bundle(
            condition("M47.816", recorded="2026-01-01"),
            condition("M47.816", verification="refuted", recorded="2026-01-01"),
        )
    )
    assert reading.record is not None
    assert reading.record.findings.facet_arthropathy is None
    assert [c.item for c in reading.conflicts] == ["findings.facet_arthropathy"]


def test_the_most_recent_score_wins_without_a_conflict() -> None:
    reading = read_bundle(
        bundle(
            observation("44261-6", {"valueInteger": 18}, when="2025-01-01"),
            observation("44261-6", {"valueInteger": 6}, when="2026-09-01T10:00:00+02:00"),
        )
    )
    assert reading.record is not None
    assert reading.record.psychosocial.phq9 == 6
    assert reading.conflicts == []


# --- Statuses are allow-lists ----------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        "preparation",
        "in-progress",
        "on-hold",
        "not-done",
        "stopped",
        "entered-in-error",
        "unknown",
        "some-new-status",
    ],
)
def test_a_procedure_counts_only_when_completed(status: str) -> None:
    planned_fusion = operation("22612", status=status, date="2026-09-15")
    trial = operation("63650", status=status, date="2026-09-15")
    reading = read_bundle(bundle(planned_fusion, trial))
    assert reading.record is not None
    assert [op.kind for op in reading.record.operations] == ["decompression_discectomy"]
    assert reading.record.treatments == []
    assert {(i.entry, i.reason) for i in reading.ignored} == {
        (2, "status is not completed"),
        (3, "status is not completed"),
    }


@pytest.mark.parametrize(
    ("kind", "status", "taken"),
    [
        ("MedicationStatement", "active", True),
        ("MedicationStatement", "completed", True),
        ("MedicationStatement", "stopped", True),
        ("MedicationStatement", "not-taken", False),
        ("MedicationStatement", "intended", False),
        ("MedicationStatement", "on-hold", False),
        ("MedicationStatement", "entered-in-error", False),
        ("MedicationStatement", "unknown", False),
        ("MedicationRequest", "active", True),
        ("MedicationRequest", "completed", True),
        ("MedicationRequest", "stopped", True),
        ("MedicationRequest", "draft", False),
        ("MedicationRequest", "cancelled", False),
        ("MedicationRequest", "on-hold", False),
        ("MedicationRequest", "garbage", False),
    ],
)
def test_a_medication_counts_only_when_taken(kind: str, status: str, taken: bool) -> None:
    opioid = medication(
        "1049621", "oxyCODONE Hydrochloride 5 MG Oral Tablet", kind=kind, status=status
    )
    reading = read_bundle(bundle(opioid))
    assert reading.record is not None
    assert [t.opioid for t in reading.record.treatments] == ([True] if taken else [])
    if not taken:
        assert [i.reason for i in reading.ignored] == ["status is not active, completed or stopped"]


def test_a_do_not_perform_request_is_not_a_medication_taken() -> None:
    request = {**medication("7804", "oxycodone"), "doNotPerform": True}
    reading = read_bundle(bundle(request))
    assert reading.record is not None
    assert reading.record.treatments == []


def test_an_observation_counts_only_when_final_amended_or_corrected() -> None:
    for status, counted in [
        ("final", True),
        ("amended", True),
        ("corrected", True),
        ("preliminary", False),
        ("registered", False),
        ("cancelled", False),
        ("entered-in-error", False),
        ("unknown", False),
    ]:
        score = observation("44261-6", {"valueInteger": 12}, status=status)
        reading = read_bundle(bundle(score))
        assert reading.record is not None
        assert (reading.record.psychosocial.phq9 == 12) is counted, status


# --- Whose data ---------------------------------------------------------------------------


def test_resources_about_another_patient_are_never_merged() -> None:
    other = "Patient/someone-else"
    reading = read_bundle(
        bundle(
            condition("G83.4", subject=other),
            operation("22612", subject=other),
            observation("44261-6", {"valueInteger": 25}, subject=other),
            medication("7804", "oxycodone", subject=other),
            observation("44261-6", {"valueInteger": 4}, subject="Group/ward-3"),
        )
    )
    assert reading.record is not None
    assert reading.record.red_flags.cauda_equina_signs is None
    assert len(reading.record.operations) == 1
    assert reading.record.psychosocial.phq9 is None
    assert reading.record.treatments == []
    assert [i.reason for i in reading.ignored] == ["about another patient"] * 4 + [
        "its subject is not this patient"
    ]


def test_absolute_and_versioned_references_to_the_patient_are_theirs() -> None:
    score = observation(
        "44261-6", {"valueInteger": 9}, subject="https://ehr.example/fhir/Patient/p1/_history/3"
    )
    reading = read_bundle(bundle(score))
    assert reading.record is not None
    assert reading.record.psychosocial.phq9 == 9


def test_the_hook_patient_decides_whose_data_is_read() -> None:
    data = bundle(observation("44261-6", {"valueInteger": 9}))
    data["entry"].append({"resource": patient("p2")})
    data["entry"].append({"resource": operation(subject="Patient/p2")})
    reading = read_bundle(data, patient_id="p2")
    assert reading.record is not None
    assert reading.record.patient_id == "p2"
    assert reading.record.psychosocial.phq9 is None
    assert sorted(i.reason for i in reading.ignored)[:2] == [
        "about another patient",
        "about another patient",
    ]


def test_two_patients_without_a_named_one_is_an_error() -> None:
    data = bundle()
    data["entry"].append({"resource": patient("p2")})
    with pytest.raises(Exception, match="more than one Patient"):
        read_bundle(data)


# --- Out of scope is an answer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "with_operation", "reason"),
    [
        ((), False, "no completed lumbar spine operation on record"),
        ((operation(status="preparation"),), False, "no completed lumbar spine operation"),
        ((condition("M96.1"),), False, "no completed lumbar spine operation"),
    ],
)
def test_a_patient_outside_the_pathway_is_an_answer(
    resources: tuple[dict[str, Any], ...], with_operation: bool, reason: str
) -> None:
    data = bundle(*resources, with_operation=with_operation)
    reading = read_bundle(data)
    assert reading.record is None
    assert any(reason in why for why in reading.not_applicable)
    assert reading.evaluate() is None
    with pytest.raises(NotApplicableError, match=r"outside the PSPS type 2 \(FBSS\) pathway"):
        record_from_bundle(data)


def test_a_child_is_outside_the_pathway() -> None:
    data = bundle()
    data["entry"][0]["resource"]["birthDate"] = "2015-02-01"
    reading = read_bundle(data)
    assert reading.record is None
    assert reading.not_applicable == ("under 18: the pathway is for adults",)


@pytest.mark.parametrize("death", [{"deceasedBoolean": True}, {"deceasedDateTime": "2025-02-01"}])
def test_a_patient_who_has_died_is_outside_the_pathway(death: dict[str, Any]) -> None:
    data = bundle()
    data["entry"][0]["resource"].update(death)
    reading = read_bundle(data)
    assert reading.record is None
    assert reading.not_applicable == ("the patient has died",)


# --- Pain scores that say neither back nor leg ---------------------------------------------


def _unsited(value: int, when: str, ident: str) -> dict[str, Any]:
    score = observation("72514-3", {"valueInteger": value}, when=when)
    score["id"] = ident
    return score


def test_pain_scores_without_a_body_site_are_said_to_exist() -> None:
    # An MDT review: every EHR pain score (Synthea's too) lacks a body site, and the cards
    # said only that back and leg pain were not recorded.
    scores = [
        _unsited(v, f"2026-0{m}-01", f"p{m}") for v, m in ((6, 3), (7, 5), (5, 6), (8, 7), (6, 8))
    ]
    reading = read_bundle(bundle(*scores))
    assert reading.record is not None
    assert reading.record.pain.back_nrs is None
    [warning] = [w for w in reading.warnings() if w.rule_id == PAIN_SITE_WARNING]
    text = warning.message
    assert text.startswith("Pain scores recorded without saying back or leg")
    assert "Observation/p8, Observation/p7, Observation/p6 and 2 more" in text  # newest first
    assert "back pain and leg pain are read as unknown" in text
    for value in ("6/10", "7/10", " 8"):  # the values stay in the EHR
        assert value not in text
    result = reading.evaluate()
    assert result is not None
    assert PAIN_SITE_WARNING in {w.rule_id for w in result.warnings}


def test_no_pain_site_warning_once_back_and_leg_are_known() -> None:
    sited = [
        observation("72514-3", {"valueInteger": 7}, site="37822005"),  # back
        observation("72514-3", {"valueInteger": 3}, site="61685007"),  # leg
    ]
    reading = read_bundle(bundle(*sited, _unsited(6, "2026-08-01", "p1")))
    assert all(w.rule_id != PAIN_SITE_WARNING for w in reading.warnings())
    only_back = read_bundle(bundle(sited[0], _unsited(6, "2026-08-01", "p1")))
    [warning] = [w for w in only_back.warnings() if w.rule_id == PAIN_SITE_WARNING]
    assert "leg pain is read as unknown" in warning.message
