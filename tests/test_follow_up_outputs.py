"""Follow-up dates where people read them: cards, the HTML page, the terminal, population rows.

The worklist is tested through the command line on a screen's output written
row by row (the screen itself is tested in test_population.py, where its rows
are compared with ``evaluate_many``).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import PatientRecord, Recommendation, evaluate
from fbss_pathway.cds_hooks.cards import card_problems, cards
from fbss_pathway.cli import main
from fbss_pathway.fhir import read_bundle
from fbss_pathway.fhir.questionnaire import response_from_record
from fbss_pathway.population import worklist
from fbss_pathway.population.rows import SCHEMA, write_rows
from fbss_pathway.population.run import PATIENTS_DIR, SUMMARY
from fbss_pathway.population.screening import _evaluated
from fbss_pathway.report.html import html_report
from fbss_pathway.report.text import format_recommendation

from .helpers import patched

#: An opioid last reviewed on 2026-06-01 (overdue since 2026-09-01) and mood treatment
#: begun on 2026-09-20 (re-screen on 2026-11-15).
DUE = {
    "treatments": [
        {"kind": "exercise_therapy", "start_date": "2024-07-01", "duration_weeks": 16},
        {"kind": "analgesics", "opioid": True},
    ],
    "medicines": {"last_opioid_review": "2026-06-01"},
    "psychosocial": {"mood_treatment_start": "2026-09-20"},
}


@pytest.fixture(scope="module")
def due() -> Recommendation:
    return evaluate(patched(DUE))


def test_the_stage_card_lists_the_dates_overdue_first(due: Recommendation) -> None:
    stage = cards(due)[0]
    assert card_problems(stage) == []
    detail = stage["detail"]
    assert "**Follow-up:**" in detail
    overdue = detail.index("- 1 Sep 2026 · Opioid review (overdue): 3 months after the last")
    assert overdue < detail.index("- 15 Nov 2026 · Mood re-screen (PHQ-9, GAD-7): 8 weeks after")
    assert "cdc2016" not in detail  # sources by name in the report, never by key


def test_a_card_without_dates_has_no_follow_up_block() -> None:
    assert "Follow-up" not in cards(evaluate(patched({})))[0]["detail"]


def test_the_html_page_has_a_follow_up_block(due: Recommendation) -> None:
    page = html_report(due)
    block = page.split('<h2 id="follow-up">Follow-up</h2>', 1)[1].split("<h2>", 1)[0]
    assert '<li class="overdue"><strong>1 Sep 2026 (overdue): Opioid review</strong>' in block
    assert "<strong>15 Nov 2026: " in block
    assert block.index("1 Sep 2026") < block.index("15 Nov 2026")
    assert "Dowell D" in block  # the interval's source, cited
    quiet = html_report(evaluate(patched({})))
    assert "No follow-up date from the pathway." in quiet


def test_the_terminal_summary_lists_the_dates(due: Recommendation) -> None:
    text = format_recommendation(due)
    follow_up = text.split("\nFollow-up\n", 1)[1]
    assert follow_up.startswith("  - 1 Sep 2026 · Opioid review (overdue): 3 months after")
    assert "15 Nov 2026 · Mood re-screen" in follow_up
    assert "\nFollow-up\n" not in format_recommendation(evaluate(patched({}), ladder=False))


def test_a_row_holds_the_next_date_and_its_item(due: Recommendation) -> None:
    row = _evaluated(due)
    assert (row["reassess_due"], row["reassess_item"], row["reassess_overdue"]) == (
        date(2026, 9, 1),
        "opioid_review",
        True,
    )
    assert "reassess_due" not in _evaluated(evaluate(patched({}), ladder=False))
    assert {"reassess_due", "reassess_item", "reassess_overdue"} <= set(SCHEMA.names)


def _row(patient_id: str, **columns: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SCHEMA.names)
    row.update(
        patient_id=patient_id,
        outcome="evaluated",
        stage="conservative",
        actions=["exercise_therapy"],
        red_flags=[],
        warnings=[],
        ruleset_version="test",
    )
    row.update(columns)
    return row


def _due(patient_id: str, day: date, item: str, *, overdue: bool) -> dict[str, Any]:
    """The row of a patient with a follow-up date."""
    return _row(patient_id, reassess_due=day, reassess_item=item, reassess_overdue=overdue)


def _finished_screen(directory: Path, *parts: list[dict[str, Any]]) -> Path:
    """A finished screen's output in ``directory``: one Parquet part per list of rows."""
    (directory / PATIENTS_DIR).mkdir()
    for number, rows in enumerate(parts):
        write_rows(rows, directory / PATIENTS_DIR / f"part-{number:05d}.parquet")
    (directory / SUMMARY).write_text("{}")
    return directory


@pytest.fixture
def screen(tmp_path: Path) -> Path:
    """A finished screen's output with four patients: overdue, due soon, due later, none."""
    rows = [
        _due("p-overdue", date(2026, 9, 1), "opioid_review", overdue=True),
        _due("p-soon", date(2026, 12, 31), "mood_rescreen", overdue=False),
        _due("p-later", date(2027, 1, 1), "implant_review", overdue=False),
        _row("p-none"),
        {**_row("p-rejected"), "outcome": "rejected", "stage": None},
    ]
    return _finished_screen(tmp_path, rows)


def test_the_worklist_lists_who_is_due_on_or_before_a_day(
    screen: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worklist", str(screen), "--due-before", "2026-12-31"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["p-overdue", "p-soon"]
    assert lines[0].split("\t")[2] == "2026-09-01 Opioid review (overdue)"
    assert lines[1].split("\t")[2] == "2026-12-31 Mood re-screen (PHQ-9, GAD-7)"
    assert "2 patients" in captured.err


def test_the_worklist_by_date_combines_with_other_filters_and_gives_json(
    screen: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["worklist", str(screen), "--due-before", "2027-01-01", "--format", "json"]
    assert main(argv) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["patient_id"] for e in entries] == ["p-overdue", "p-soon", "p-later"]
    assert entries[2]["reassess_due"] == "2027-01-01"
    assert entries[0]["reassess_overdue"] is True
    assert main([*argv[:4], "--stage", "radiofrequency"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("written", ["31/12/2026", "20261231", "2026-W53-4"])
def test_a_bad_date_is_refused_naming_the_option(
    screen: Path, capsys: pytest.CaptureFixture[str], written: str
) -> None:
    """Only YYYY-MM-DD, as the help says (Python's ISO reader takes the other two)."""
    with pytest.raises(SystemExit) as stopped:
        main(["worklist", str(screen), "--due-before", written])
    assert stopped.value.code == 2
    assert "--due-before" in capsys.readouterr().err
    with pytest.raises(TypeError, match="due_before must be a date"):
        list(worklist(screen, due_before="2026-12-31"))  # type: ignore[arg-type]


def test_the_worklist_without_a_date_lists_every_patient(screen: Path) -> None:
    assert len(list(worklist(screen))) == 5
    soon = list(worklist(screen, due_before=date(2026, 12, 31)))
    assert [(e.patient_id, e.reassess_item) for e in soon] == [
        ("p-overdue", "opioid_review"),
        ("p-soon", "mood_rescreen"),
    ]


def test_the_assessment_form_carries_the_dates_the_follow_up_reads() -> None:
    """mood_treatment_start and last_opioid_review travel as date answers of the form."""
    record = PatientRecord.model_validate(patched({**DUE, "patient_id": "p1"}))
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1972-01-01"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient}, {"resource": response_from_record(record)}],
    }
    reading = read_bundle(bundle, patient_id="p1", assessment_date=date(2026, 10, 1))
    assert reading.record is not None
    assert reading.record.psychosocial.mood_treatment_start == date(2026, 9, 20)
    assert reading.record.medicines.last_opioid_review == date(2026, 6, 1)
    recommendation = reading.evaluate(ladder=False)
    assert recommendation is not None
    assert [(str(r.item), r.due, r.overdue) for r in recommendation.reassess] == [
        ("opioid_review", date(2026, 9, 1), True),
        ("mood_rescreen", date(2026, 11, 15), False),
    ]


def test_a_worklist_by_date_comes_in_date_order_across_the_screens_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recall list reads from the most overdue down, whatever order the screen wrote.

    Rows come part by part in the order the screen's partitions wrote them (an
    outside review of the screen found the list by date in that order).
    """
    first = [
        _due("p-c", date(2027, 1, 1), "implant_review", overdue=False),
        _due("p-b", date(2026, 12, 1), "mood_rescreen", overdue=False),
    ]
    second = [
        _due("p-a", date(2026, 12, 1), "opioid_review", overdue=False),
        _due("p-z", date(2026, 8, 1), "opioid_review", overdue=True),
    ]
    _finished_screen(tmp_path, first, second)
    due = [e.patient_id for e in worklist(tmp_path, due_before=date(2027, 6, 30))]
    assert due == ["p-z", "p-a", "p-b", "p-c"]  # by date, then by id
    assert [e.patient_id for e in worklist(tmp_path)] == ["p-c", "p-b", "p-a", "p-z"]
    assert main(["worklist", str(tmp_path), "--due-before", "2027-06-30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["p-z", "p-a", "p-b", "p-c"]
