"""The fbss-pathway command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fbss_pathway.cli import example_paths, main

from .helpers import patched


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in example_paths() if p.name.startswith("04_"))
    code, out, _ = run(capsys, "evaluate", str(path))
    assert code == 0
    assert "Stage: radiofrequency" in out
    assert "radiofrequency_denervation  [RFD-06]" in out


def test_evaluate_json_is_the_full_recommendation(capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in example_paths() if p.name.startswith("05_"))
    code, out, _ = run(capsys, "evaluate", "--format", "json", str(path))
    data = json.loads(out)
    assert code == 0
    assert data["stage"] == "neuromodulation"
    assert {"actions", "missing", "warnings", "trace", "ruleset_version", "stage_basis"} <= set(
        data
    )


def test_evaluate_an_invalid_record_names_the_field_not_the_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record = patched({"patient_id": "MRN-SECRET", "psychosocial": {"phq9": 31}})
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(record, default=str))
    code, out, err = run(capsys, "evaluate", str(path))
    assert code == 1
    assert out == ""
    assert "psychosocial.phq9" in err
    assert "MRN-SECRET" not in err
    assert "31" not in err


def test_evaluate_malformed_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"assessment_date": ')
    code, _, err = run(capsys, "evaluate", str(path))
    assert code == 1
    assert "is not JSON" in err


def test_demo_evaluates_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert out.count("Stage: ") == len(example_paths())
    for stage in (
        "urgent_review",
        "conservative",
        "radiofrequency",
        "neuromodulation",
        "specialist_review",
    ):
        assert f"Stage: {stage}" in out


def test_schema_prints_the_record_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out)["title"] == "PatientRecord"


def test_rules_lists_rules_with_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules")
    assert code == 0
    assert "RED-01" in out
    assert "[nice_ng59]" in out
    assert "rules valid" in out


def test_rules_validates_another_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "sources.toml").write_text("")
    code, _, err = run(capsys, "rules", str(tmp_path))
    assert code == 1
    assert "parameters.toml: is missing" in err
