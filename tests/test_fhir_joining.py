"""Charts as integrators write them: one treatment, operation or patient from several resources.

Each test states a claim of docs/fhir.md ("One treatment from several
resources", "Age", "Duplicates", "Unreadable values") and failed before the
reader joined resources.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from fbss_pathway.fhir import QUESTIONNAIRE_URL, read_bundle
from fbss_pathway.fhir.reading import CONFLICT_WARNING, UNREADABLE_WARNING
from fbss_pathway.record import TreatmentKind

from .fhir_builders import CPT, LOINC, PATIENT, RXNORM, bundle, observation, patient
from .helpers import facts_of

EXTENSION = "urn:fbss-pathway:extension:"


def procedure(
    code: str, day: str, *, ident: str | None = None, levels: tuple[str, ...] = (), **details: Any
) -> dict[str, Any]:
    """A completed CPT-coded Procedure, with treatment-detail extensions."""
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "completed",
        "subject": {"reference": PATIENT},
        "code": {"coding": [{"system": CPT, "code": code}]},
        "performedDateTime": day,
    }
    if ident is not None:
        resource["id"] = ident
    if levels:
        resource["bodySite"] = [{"text": level} for level in levels]
    extensions = []
    for name, value in details.items():
        key = "valueDecimal" if isinstance(value, int | float) else "valueCode"
        extensions.append({"url": EXTENSION + name.replace("_", "-"), key: value})
    if extensions:
        resource["extension"] = extensions
    return resource


def form(*groups: list[dict[str, Any]], ident: str = "qr1", **answers: Any) -> dict[str, Any]:
    """The assessment QuestionnaireResponse: treatment groups and single answers."""
    items: list[dict[str, Any]] = [{"linkId": "treatments", "item": group} for group in groups]
    for link, answer in answers.items():
        items.append({"linkId": link.replace("__", "."), "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": ident,
        "status": "completed",
        "questionnaire": QUESTIONNAIRE_URL,
        "subject": {"reference": PATIENT},
        "authored": "2026-09-01",
        "item": items,
    }


def group(kind: str, day: str, **details: Any) -> list[dict[str, Any]]:
    """A form ``treatments`` group."""
    answers = [
        {"linkId": "treatments.kind", "answer": [{"valueCoding": {"code": kind}}]},
        {"linkId": "treatments.start_date", "answer": [{"valueDate": day}]},
    ]
    for name, value in details.items():
        answer: dict[str, Any]
        if isinstance(value, bool):
            answer = {"valueBoolean": value}
        elif isinstance(value, int | float):
            answer = {"valueDecimal": value}
        else:
            answer = {"valueCoding": {"code": value}}
        answers.append({"linkId": f"treatments.{name}", "answer": [answer]})
    return answers


def of_kind(reading: Any, kind: TreatmentKind) -> list[Any]:
    assert reading.record is not None
    return [t for t in reading.record.treatments if t.kind is kind]


def test_a_coded_block_and_its_form_group_are_one_block_with_the_forms_relief() -> None:
    reading = read_bundle(
        bundle(
            procedure("64493", "2026-06-01", ident="mbb1"),
            form(group("medial_branch_block", "2026-06-01", relief_percent=80)),
        )
    )
    [block] = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    assert block.relief_percent == 80
    assert reading.conflicts == []
    assert reading.record is not None
    assert facts_of(reading.record)["block_relief_percent"] == 80


def test_details_that_disagree_are_a_conflict_naming_both_resources_and_left_unknown() -> None:
    reading = read_bundle(
        bundle(
            procedure("64493", "2026-06-01", ident="mbb1", relief_percent=30),
            form(group("medial_branch_block", "2026-06-01", relief_percent=80)),
        )
    )
    [block] = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    assert block.relief_percent is None
    [conflict] = reading.conflicts
    assert conflict.resources == ("Procedure/mbb1", "QuestionnaireResponse/qr1")
    recommendation = reading.evaluate()
    assert recommendation is not None
    [warning] = [w for w in recommendation.warnings if w.rule_id == CONFLICT_WARNING]
    assert "Procedure/mbb1" in warning.message
    assert "QuestionnaireResponse/qr1" in warning.message
    assert reading.record is not None
    assert "block_relief_percent" not in facts_of(reading.record)


def test_blocks_at_two_levels_on_one_day_stay_two_and_a_form_group_without_levels_joins_both() -> (
    None
):
    reading = read_bundle(
        bundle(
            procedure("64493", "2026-06-01", ident="a", levels=("L4-L5",)),
            procedure("64493", "2026-06-01", ident="b", levels=("L5-S1",)),
            form(group("medial_branch_block", "2026-06-01", relief_percent=70)),
        )
    )
    blocks = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    assert [b.relief_percent for b in blocks] == [70, 70]
    assert reading.conflicts == []


def test_same_day_blocks_at_two_levels_are_read_per_level_whatever_their_order() -> None:
    a = procedure("64493", "2026-06-01", ident="a", levels=("L4-L5",), relief_percent=80)
    b = procedure("64493", "2026-06-01", ident="b", levels=("L5-S1",), relief_percent=20)
    for resources in ((a, b), (b, a)):
        reading = read_bundle(bundle(*resources))
        assert reading.record is not None
        blocks = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
        assert sorted(tuple(b.levels or ()) for b in blocks) == [("L4-L5",), ("L5-S1",)]
        facts = facts_of(reading.record)
        assert facts["block_on_record"] is True
        # pathway.md 6: the best level's reading wins, never the order of the entries
        assert facts["block_reading"] == "positive"
        assert facts["block_levels"] == "L4-L5"
        assert facts["block_relief_percent"] == 80


def test_weekly_billed_exercise_sessions_are_one_course_with_the_forms_adherence() -> None:
    first = date(2026, 3, 2)
    sessions = [
        procedure("97110", (first + timedelta(weeks=week)).isoformat(), ident=f"pt{week}")
        for week in range(12)
    ]
    reading = read_bundle(
        bundle(*sessions, form(group("exercise_therapy", "2026-03-02", adherence="good")))
    )
    [course] = of_kind(reading, TreatmentKind.EXERCISE_THERAPY)
    assert course.start_date == first
    assert course.duration_weeks == 12
    assert course.sessions == 12
    assert course.adherence == "good"
    assert reading.record is not None
    assert facts_of(reading.record)["exercise_weeks"] == 12


def test_a_gap_of_more_than_four_weeks_starts_a_new_course_and_the_form_length_wins() -> None:
    days = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-04-06", "2026-04-13"]
    sessions = [procedure("97110", day, ident=f"s{n}") for n, day in enumerate(days)]
    reading = read_bundle(
        bundle(*sessions, form(group("exercise_therapy", "2026-04-06", duration_weeks=6)))
    )
    courses = of_kind(reading, TreatmentKind.EXERCISE_THERAPY)
    assert [(c.start_date.isoformat(), c.duration_weeks, c.sessions) for c in courses] == [
        ("2026-01-05", 3, 3),
        ("2026-04-06", 6, 2),
    ]


def test_a_lone_billed_session_gives_no_course_length() -> None:
    reading = read_bundle(bundle(procedure("97110", "2026-05-04")))
    [course] = of_kind(reading, TreatmentKind.EXERCISE_THERAPY)
    assert course.duration_weeks is None
    assert course.sessions == 1
    assert reading.record is not None
    assert "exercise_weeks" not in facts_of(reading.record)  # unknown, never 0


def test_an_analgesic_requested_and_stated_on_one_day_is_one_and_two_drugs_are_two() -> None:
    def med(kind: str, code: str, display: str) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": kind,
            "status": "active",
            "subject": {"reference": PATIENT},
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM, "code": code, "display": display}]
            },
        }
        if kind == "MedicationRequest":
            resource |= {"intent": "order", "authoredOn": "2026-01-10"}
        else:
            resource["effectiveDateTime"] = "2026-01-10"
        return resource

    oxycodone = "oxyCODONE Hydrochloride 5 MG Oral Tablet"
    reading = read_bundle(
        bundle(
            med("MedicationRequest", "1049621", oxycodone),
            med("MedicationStatement", "1049621", oxycodone),
            med("MedicationRequest", "197806", "Ibuprofen 600 MG Oral Tablet"),
            form(group("analgesics", "2026-01-10", opioid=True, side_effects="severe")),
        )
    )
    analgesics = of_kind(reading, TreatmentKind.ANALGESICS)
    assert sorted((a.opioid, a.side_effects) for a in analgesics) == [
        (False, None),
        (True, "severe"),
    ]
    assert reading.conflicts == []


def test_an_operation_coded_and_on_the_form_is_counted_once() -> None:
    operation_group = {
        "linkId": "operations",
        "item": [
            {"linkId": "operations.date", "answer": [{"valueDate": "2024-03-01"}]},
            {
                "linkId": "operations.kind",
                "answer": [{"valueCoding": {"code": "decompression_discectomy"}}],
            },
            {"linkId": "operations.levels", "answer": [{"valueString": "L4-L5"}]},
        ],
    }
    response = form()
    response["item"] = [operation_group]
    reading = read_bundle(bundle(response))  # the builder adds CPT 63030 on 2024-03-01
    assert reading.record is not None
    [operation] = reading.record.operations
    assert operation.levels == ["L4-L5"]


def age_observation(years: int, day: str) -> dict[str, Any]:
    return observation("30525-0", {"valueQuantity": {"value": years}}, system=LOINC, when=day)


def with_birth(birth: str | None, *resources: dict[str, Any]) -> dict[str, Any]:
    chart = bundle(*resources)
    chart["entry"][0]["resource"] = patient(birth_date=birth)
    return chart


def test_an_old_age_observation_never_puts_an_adult_out_of_scope() -> None:
    # 17 in 1989 and born in 1972: consistent, no conflict; age from the birth date.
    reading = read_bundle(with_birth("1972-01-15", age_observation(17, "1989-06-01")))
    assert reading.record is not None
    assert reading.record.age_years == 54
    assert reading.conflicts == []
    # Without a birth date, the old observation is aged by the years since.
    reading = read_bundle(with_birth(None, age_observation(17, "1989-06-01")))
    assert reading.record is not None
    assert reading.record.age_years == 54


def test_the_birth_date_outvotes_an_age_observation_and_the_disagreement_is_a_conflict() -> None:
    reading = read_bundle(with_birth("2015-02-01", age_observation(54, "2026-09-01")))
    assert reading.record is None
    assert "under 18: the pathway is for adults" in reading.not_applicable
    [conflict] = reading.conflicts
    assert conflict.item == "age_years"
    reading = read_bundle(with_birth("1972-01-15", age_observation(17, "2026-09-01")))
    assert reading.record is not None
    assert reading.record.age_years == 54
    assert [c.item for c in reading.conflicts] == ["age_years"]


def test_a_patient_present_twice_with_different_birth_dates_has_no_age_and_a_conflict() -> None:
    chart = bundle()
    chart["entry"].append({"resource": patient(birth_date="2010-01-01")})
    for entries in (chart["entry"], list(reversed(chart["entry"]))):
        reading = read_bundle({**chart, "entry": entries})
        assert reading.record is not None
        assert reading.record.age_years is None
        assert [c.resources for c in reading.conflicts] == [("Patient/p1",)]


def test_a_resource_present_twice_is_read_once_and_a_later_version_wins() -> None:
    block = procedure("64493", "2026-06-01", ident="mbb1", relief_percent=80)
    reading = read_bundle(bundle(block, dict(block)))
    assert len(of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)) == 1
    assert any(i.reason == "the same resource again: read once" for i in reading.ignored)
    old = {**block, "meta": {"versionId": "1"}, "extension": []}
    new = {**block, "meta": {"versionId": "2"}}
    reading = read_bundle(bundle(new, old))
    [read] = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    assert read.relief_percent == 80


def test_copies_that_differ_in_a_detail_keep_the_treatment_with_that_detail_unknown() -> None:
    # An MDT review: an implant present twice, its relief 20 % in one copy and 60 % in the
    # other, vanished, and the cards offered an SCS assessment to a patient with a device.
    implant = procedure("63685", "2025-03-01", ident="imp1", relief_percent=20)
    other = procedure("63685", "2025-03-01", ident="imp1", relief_percent=60)
    for pair in ((implant, other), (other, implant)):
        reading = read_bundle(bundle(*pair))
        [read] = of_kind(reading, TreatmentKind.SCS_IMPLANT)
        assert read.relief_percent is None  # the copies disagree: unknown, never either
        [conflict] = [c for c in reading.conflicts if c.item == "Procedure resource"]
        assert conflict.resources == ("Procedure/imp1",)
        assert "agree" in conflict.resolution


def test_copies_that_differ_in_whose_they_are_or_their_status_are_not_read() -> None:
    done = procedure("63685", "2025-03-01", ident="imp1")
    for changed in ({"subject": {"reference": "Patient/other"}}, {"status": "entered-in-error"}):
        reading = read_bundle(bundle(done, {**done, **changed}))
        assert of_kind(reading, TreatmentKind.SCS_IMPLANT) == []


def test_an_unreadable_value_is_unknown_named_in_a_warning_and_missing() -> None:
    reading = read_bundle(
        bundle(
            procedure("97110", "2026-03-02", ident="ex1", duration_weeks=9000),
            observation("44261-6", {"valueInteger": 40}),
        )
    )
    [exercise] = of_kind(reading, TreatmentKind.EXERCISE_THERAPY)  # kept: it was tried
    assert exercise.duration_weeks is None
    assert set(reading.unreadable) == {
        "psychosocial.phq9",
        "treatments[exercise_therapy].duration_weeks",
    }
    recommendation = reading.evaluate()
    assert recommendation is not None
    texts = [w.message for w in recommendation.warnings if w.rule_id == UNREADABLE_WARNING]
    assert len(texts) == 2
    assert any("Procedure/ex1" in text for text in texts)
    fields = {m.field for m in recommendation.missing}
    assert "treatments[exercise_therapy, most recent].duration_weeks" in fields
    assert "psychosocial.phq9" in fields
    assert "40" not in " ".join(texts)


def test_joining_never_depends_on_the_order_of_the_entries() -> None:
    first = date(2026, 3, 2)
    resources = [
        *(procedure("97110", (first + timedelta(weeks=w)).isoformat()) for w in range(6)),
        procedure("64493", "2026-06-01", ident="a", levels=("L4-L5",), relief_percent=60),
        procedure("64493", "2026-06-01", ident="b", levels=("L5-S1",)),
        form(
            group("medial_branch_block", "2026-06-01", relief_percent=60),
            group("exercise_therapy", "2026-03-09", adherence="partial"),
        ),
    ]
    expected = read_bundle(bundle(*resources))
    for seed in range(5):
        shuffled = resources[:]
        random.Random(seed).shuffle(shuffled)
        reading = read_bundle(bundle(*shuffled))
        assert reading.record == expected.record
        assert [(c.item, c.resources) for c in reading.conflicts] == [
            (c.item, c.resources) for c in expected.conflicts
        ]


def test_the_integrators_guide_example_procedure_is_read_as_it_says() -> None:
    import json
    import re
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "integrators.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- example:procedure -->\n```json\n(.*?)```", guide, re.S)
    assert found is not None
    example = json.loads(found[1])
    example["subject"] = {"reference": PATIENT}
    reading = read_bundle(bundle(example))
    [block] = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    assert (block.relief_percent, block.relief_duration_months) == (80, 0.1)
    assert reading.ignored == []


def test_a_form_group_naming_its_resource_joins_it_whatever_the_dates_and_levels() -> None:
    named = group("medial_branch_block", "2026-06-02", relief_percent=75)
    named.append(
        {
            "linkId": "treatments.record",
            "answer": [{"valueReference": {"reference": "Procedure/b"}}],
        }
    )
    reading = read_bundle(
        bundle(
            procedure("64493", "2026-06-01", ident="a", levels=("L4-L5",)),
            procedure("64493", "2026-06-01", ident="b", levels=("L5-S1",)),
            form(named),
        )
    )
    blocks = of_kind(reading, TreatmentKind.MEDIAL_BRANCH_BLOCK)
    assert sorted((b.start_date.isoformat(), b.relief_percent or 0) for b in blocks) == [
        ("2026-06-01", 0),
        ("2026-06-01", 75),
    ]
    [conflict] = reading.conflicts  # the form's day differs from the Procedure's
    assert conflict.resources == ("Procedure/b", "QuestionnaireResponse/qr1")


def test_the_questionnaire_asks_which_resource_a_treatment_group_describes() -> None:
    from fbss_pathway.fhir import questionnaire

    [treatments] = [i for i in questionnaire()["item"] if i["linkId"] == "treatments"]
    [record] = [i for i in treatments["item"] if i["linkId"] == "treatments.record"]
    assert record["type"] == "reference"


def test_conflict_and_unreadable_warnings_name_items_in_clinical_words() -> None:
    reading = read_bundle(
        bundle(
            procedure("64493", "2026-06-01", ident="mbb1", relief_percent=30),
            form(group("medial_branch_block", "2026-06-01", relief_percent=80)),
            observation("44261-6", {"valueInteger": 40}),
        )
    )
    recommendation = reading.evaluate()
    assert recommendation is not None
    texts = [w.message for w in recommendation.warnings if w.rule_id.startswith("FHIR-")]
    assert any("Medial branch block: pain relief achieved" in text for text in texts)
    assert any("PHQ-9 depression score" in text for text in texts)
    for text in texts:  # no record paths or field names (pathway.md section 11)
        assert "_" not in text.split("(")[0], text
