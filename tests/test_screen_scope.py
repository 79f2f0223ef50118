"""A screen that reads only what can change a row gives the rows of a full read (issue 25).

The reference is today's algorithm written out plainly: every line of every file
of the export parsed, grouped by patient in the export's order, and each patient
with a Patient resource read in full (``screening._screen_patient``, the row
builder the screen uses). The screen under test reads the scope files first,
never opens files of types the reader does not read, splits only the
candidates' lines, cuts large files into byte spans, and reads everyone else
from their Patient resource alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway.fhir.operations import may_name_operation
from fbss_pathway.fhir.reading import READ_TYPES, default_codes
from fbss_pathway.population import passes, ranges, screen_export
from fbss_pathway.population.ehr_export import write_ehr_export
from fbss_pathway.population.export import ExportFile, export_files, patient_of, read_lines
from fbss_pathway.population.rows import read_rows
from fbss_pathway.population.scope import _Operations, decode_key
from fbss_pathway.population.screening import _screen_patient
from fbss_pathway.ruleset import default_ruleset
from fbss_pathway.synth import ASSESSMENT_DATE

from .test_population import _messy_export


@pytest.fixture(scope="module")
def ehr_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 patients shaped like a health system's, a tenth of them FBSS patients."""
    directory = tmp_path_factory.mktemp("ehr") / "export"
    write_ehr_export(directory, 200, seed=25, fbss_share=0.1)
    return directory


def full_read_rows(export: Path) -> dict[str, dict[str, Any]]:
    """Today's algorithm: every resource of every file, grouped by patient, read in full."""
    groups: dict[str, list[dict[str, Any]]] = {}
    medications: dict[str, dict[str, Any]] = {}
    for file in export_files(export):
        for _, line in read_lines(file.path):
            try:
                resource = json.loads(line)
            except ValueError:
                continue
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                continue
            if resource["resourceType"] == "Medication":
                medications[str(resource.get("id"))] = resource
            elif (patient := patient_of(resource)) is not None:
                groups.setdefault(patient, []).append(resource)
    ruleset = default_ruleset()
    return {
        patient: _screen_patient(patient, resources, medications, ruleset, ASSESSMENT_DATE)
        for patient, resources in groups.items()
        if any(r["resourceType"] == "Patient" for r in resources)
    }


def rows_of(output: Path) -> dict[str, dict[str, Any]]:
    return {row["patient_id"]: row for row in read_rows(output / "patients")}


def test_the_screen_gives_every_patient_the_row_of_a_full_read(
    cluster: str, ehr_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranges, "SPAN_BYTES", 2_000_000)  # the Observation file: many spans
    summary = screen_export(ehr_export, tmp_path / "out", scheduler=cluster)
    expected = full_read_rows(ehr_export)
    rows = rows_of(tmp_path / "out")
    assert rows.keys() == expected.keys()
    for patient, row in expected.items():
        assert rows[patient] == row, patient
    outcomes = {row["outcome"] for row in rows.values()}
    assert outcomes == {"evaluated", "not_applicable"}
    assert summary.evaluated == sum(1 for p in rows if p.startswith("SYNTH-")) > 10
    # Only the FBSS patients are candidates: routine procedures name no operation.
    assert summary.candidates == summary.evaluated
    assert "ExplanationOfBenefit" in summary.unread_types
    assert set(summary.resources) <= READ_TYPES
    assert summary.out_of_scope_lines > 10 * summary.candidates


def test_the_scope_files_read_in_many_spans_give_the_same_rows(
    cluster: str, ehr_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass's spans are sized for the workers; cut anywhere, the rows stay."""
    scope_files = [
        f for f in export_files(ehr_export) if f.resource_type in ("Patient", "Procedure")
    ]
    monkeypatch.setattr(passes, "SCOPE_SPAN_MIN", 5_000)
    size = passes.scope_span_bytes(scope_files, workers=2)
    assert len(ranges.plan_spans(scope_files, list(range(len(scope_files))), size)) >= 8
    summary = screen_export(ehr_export, tmp_path / "out", scheduler=cluster)
    expected = full_read_rows(ehr_export)
    assert rows_of(tmp_path / "out") == expected
    assert summary.evaluated == sum(1 for p in expected if p.startswith("SYNTH-"))


def test_the_first_pass_is_about_four_spans_a_worker_within_bounds(tmp_path: Path) -> None:
    def files(*sizes: int) -> list[ExportFile]:
        made = []
        for number, size in enumerate(sizes):
            path = tmp_path / f"{number}.ndjson"
            with path.open("wb") as file:
                file.truncate(size)  # sparse: nothing written
            made.append(ExportFile(path, "Procedure"))
        return made

    mib = 1024 * 1024
    assert passes.scope_span_bytes(files(30 * mib, 45 * mib), workers=2) == math.ceil(75 * mib / 8)
    assert passes.scope_span_bytes(files(100 * mib, 200 * mib), workers=1) == ranges.SPAN_BYTES
    assert passes.scope_span_bytes(files(1000, 2000), workers=2) == passes.SCOPE_SPAN_MIN


def test_routine_procedures_name_no_operation(ehr_export: Path) -> None:
    codes = default_codes()
    named = set()
    for _, line in read_lines(ehr_export / "Procedure.ndjson"):
        procedure = json.loads(line)
        if may_name_operation(procedure.get("code"), codes):
            named.add(procedure["subject"]["reference"])
    assert named
    assert all(reference.startswith("Patient/SYNTH-") for reference in named)


_SUBJECT = b',"subject":{"reference":"Patient/a"}}'
#: Lines whose code msgspec keeps as written but will not decode, or not at all.
_ODD_PROCEDURES = [
    b'{"resourceType":"Procedure","code":{"text":"\xff"}' + _SUBJECT,  # not UTF-8
    b'{"resourceType":"Procedure","code":{"n":' + b"9" * 5000 + b"}" + _SUBJECT,
    b'{"resourceType":"Procedure","code":{"n":1e999}' + _SUBJECT,
    b'{"resourceType":"Procedure","code":' + b"[" * 2000 + b"]" * 2000 + _SUBJECT,
    b'{"resourceType":"Procedure","code":{"text":"\\ud800"}' + _SUBJECT,  # a lone surrogate
    b'{"resourceType":"Procedure","code":5,"code":{"text":"twice"}' + _SUBJECT,
    b'{"resourceType":"Procedure","code":null' + _SUBJECT,
    b'{"resourceType":"Procedure"' + _SUBJECT,
    b'{"resourceType":"Patient","id":"a","birthDate":"1970-01-01","code":{"text":"x"}}',
    b'{"resourceType":7,"code":{}}',
]


def test_a_code_as_written_gets_the_answer_of_the_code_read(ehr_export: Path) -> None:
    codes = default_codes()
    operations = _Operations(codes)
    lines = [line for _, line in read_lines(ehr_export / "Procedure.ndjson")] + _ODD_PROCEDURES
    answers = set()
    for line in lines + lines:  # the second time, from the answers kept
        resource = decode_key(line, scope=True)
        read = operations.scope_key(line)
        if resource is None:
            assert read is None
            continue
        assert read is not None
        procedure = resource["resourceType"] == "Procedure"
        answer = procedure and may_name_operation(resource["code"], codes)
        assert read[1] == answer
        assert {k: v for k, v in read[0].items() if k != "code"} == {
            k: v for k, v in resource.items() if k != "code"
        }
        answers.add(answer)
    assert answers == {True, False}


def test_spans_of_a_file_are_accounted_for_as_the_whole_file(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _messy_export(tmp_path / "export")
    whole = screen_export(tmp_path / "export", tmp_path / "whole", scheduler=cluster)
    monkeypatch.setattr(ranges, "SPAN_BYTES", 300)  # every few lines a span of its own
    spans = screen_export(tmp_path / "export", tmp_path / "spans", scheduler=cluster)
    for name in ("lines", "resources", "malformed_lines", "malformed_at", "out_of_scope_lines"):
        assert getattr(spans, name) == getattr(whole, name), name
    assert rows_of(tmp_path / "spans") == rows_of(tmp_path / "whole")
    with pytest.raises(Exception, match=r"Observation\.ndjson: more than 100 lines"):
        screen_export(
            tmp_path / "export", tmp_path / "spans", scheduler=cluster, max_file_lines=100
        )


def test_a_type_the_first_pass_did_not_look_for_is_refused_naming_the_file(
    cluster: str, tmp_path: Path
) -> None:
    _messy_export(tmp_path / "export")
    with (tmp_path / "export" / "Observation.ndjson").open("a") as observations:
        observations.write(json.dumps({"resourceType": "Patient", "id": "HIDDEN"}) + "\n")
    with pytest.raises(Exception, match=r"Observation\.ndjson: a Patient resource in a file of"):
        screen_export(tmp_path / "export", tmp_path / "out", scheduler=cluster)
