"""The fbss-pathway command."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fbss_pathway import load_ruleset
from fbss_pathway.cli import example_paths, main
from fbss_pathway.explain.summary import stage_words
from fbss_pathway.vocabulary import Stage

from .helpers import patched


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in example_paths() if p.name.startswith("04_"))
    code, out, _ = run(capsys, "evaluate", str(path))
    assert code == 0
    assert "Stage: Facet and sacroiliac interventions" in out
    assert "1. Radiofrequency denervation (RFD-17)" in out  # words, the rule as a reference
    assert "radiofrequency_denervation" not in out


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
        assert f"Stage: {stage_words(Stage(stage))}" in out


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


def test_version_names_the_package_and_the_rule_set(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("fbss-pathway 0.1.0, rule set ")
    assert load_ruleset().version in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"age_years": ' + b"9" * 5000 + b"}", "number too large"),
        (b'{"patient_id": "\xff"}', "not UTF-8"),
    ],
)
def test_inputs_that_are_not_plain_json_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    code, out, err = run(capsys, "evaluate", str(path))
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert expected in err
    assert len(err.splitlines()) == 1


def test_evaluate_reads_a_fhir_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).parent.parent / "examples" / "fhir"
    bundle = examples / "04_radiofrequency_positive_block_after_fusion.bundle.json"
    code, out, _ = run(capsys, "evaluate", str(bundle))
    assert code == 0
    assert "Stage: Facet and sacroiliac interventions" in out


def test_evaluate_says_when_a_bundle_is_outside_the_pathway(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "child.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    code, out, _ = run(capsys, "evaluate", str(path))
    assert code == 0
    assert out.startswith(
        "outside the PSPS type 2 (FBSS) pathway: no completed lumbar spine operation"
    )


def test_to_fhir_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = example_paths()[0].read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(record)))
    code, out, _ = run(capsys, "to-fhir", "-")
    assert code == 0
    assert json.loads(out)["resourceType"] == "Bundle"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serve", "--port", "80000"], "--port: must be from 1 to 65535, not 80000"),
        (
            ["batch", "in", "-o", "out", "--processes", "x"],
            "--processes: 'x' is not a whole number",
        ),
        (["synth", "-1", "-o", "out"], "must be at least 0, not -1"),
    ],
)
def test_bad_arguments_are_usage_errors_in_plain_words(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "_positive" not in err


def test_serve_on_a_port_in_use_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port))
    assert code == 1
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_a_closed_output_pipe_ends_quietly() -> None:
    command = [sys.executable, "-m", "fbss_pathway", "synth", "100000", "-o", "-"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        process.stdout.readline()
        process.stdout.close()  # as `| head -1` does
        err = process.stderr.read() if process.stderr else b""
        process.wait(timeout=60)
    assert process.returncode == 141
    assert b"Traceback" not in err
