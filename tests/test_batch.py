"""Cohorts: evaluate_many, batch files and the synthetic generator lose nothing and leak nothing."""

from __future__ import annotations

import errno
import io
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import (
    EvaluationError,
    FbssPathwayError,
    PatientRecord,
    Stage,
    evaluate,
    evaluate_many,
    load_ruleset,
)
from fbss_pathway import batch as batch_module
from fbss_pathway import ndjson as ndjson_module
from fbss_pathway.cli import main
from fbss_pathway.ndjson import count_lines, run_batch
from fbss_pathway.synth import synthetic_cohort

from .helpers import patched

SECRET = "MRN-SECRET-4711"


def _mixed_inputs() -> tuple[list[Any], dict[int, str]]:
    """Valid records in every accepted form, with bad ones between; the bad ones' kinds."""
    cohort = list(synthetic_cohort(40, seed=5))
    items: list[Any] = []
    for number, record in enumerate(cohort):
        form = number % 4
        if form == 0:
            items.append(record)
        elif form == 1:
            items.append(record.model_dump(mode="json"))
        elif form == 2:
            items.append(record.model_dump_json())
        else:
            items.append(record.model_dump_json().encode())
    bad = {
        3: "{not json",
        7: b"\xff\xfe\x00",
        11: "[1, 2, 3]",
        15: json.dumps(patched({"patient_id": SECRET, "pain": {"back_nrs": 17}}), default=str),
        19: patched({"patient_id": SECRET, "operations": []}),
        23: 42,
    }
    kinds = {}
    for index, item in bad.items():
        items.insert(index, item)
        kinds[index] = (
            "malformed_json" if isinstance(item, str | bytes) and index != 15 else "invalid_record"
        )
    return items, kinds


@pytest.mark.parametrize("processes", [1, 2])
def test_evaluate_many_answers_every_record_in_input_order(processes: int) -> None:
    items, bad = _mixed_inputs()
    results = list(evaluate_many(items, processes=processes))
    assert [result.index for result in results] == list(range(len(items)))
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        if index in bad:
            assert not result.ok
            assert result.recommendation is None
            assert result.error is not None
            assert result.error.kind == bad[index]
            assert SECRET not in result.error.model_dump_json()
            assert "17" not in result.error.model_dump_json()
        else:
            assert result.ok
            assert result.error is None
            record = (
                item
                if isinstance(item, PatientRecord)
                else PatientRecord.model_validate_json(item)
                if isinstance(item, str | bytes)
                else PatientRecord.model_validate(item)
            )
            assert result.recommendation == evaluate(record, ladder=False)


def test_a_refused_record_names_each_field() -> None:
    item = patched({"pain": {"back_nrs": 17}, "operations": []})
    [result] = evaluate_many([item], processes=1)
    assert result.error is not None
    assert {field.location for field in result.error.fields} == {"pain.back_nrs", "operations"}
    assert result.error.kind == "invalid_record"


def test_an_evaluation_failure_is_a_rejected_record_and_the_batch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = evaluate

    def failing_for_one(record: PatientRecord, **kwargs: Any) -> Any:
        if record.patient_id == SECRET:
            raise EvaluationError("action failed (RuntimeError)", rule_id="IDA-01")
        return real(record, **kwargs)

    monkeypatch.setattr(batch_module, "evaluate", failing_for_one)
    records = [patched({}), patched({"patient_id": SECRET}), patched({})]
    results = list(evaluate_many(records, processes=1))
    assert [result.ok for result in results] == [True, False, True]
    error = results[1].error
    assert error is not None
    assert (error.kind, error.rule_id) == ("evaluation_failed", "IDA-01")
    assert SECRET not in error.model_dump_json()


def test_processes_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="processes"):
        list(evaluate_many([patched({})], processes=0))


def test_workers_refuse_rule_files_that_changed_after_loading(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(load_ruleset().path, rules)
    conservative = rules / "conservative.toml"
    conservative.write_text(conservative.read_text() + "\n# a site's copy\n")
    ruleset = load_ruleset(rules)
    conservative.write_text(conservative.read_text() + "\n# edited while in use\n")
    with pytest.raises(FbssPathwayError, match="worker"):
        list(evaluate_many([patched({})] * 3, processes=2, ruleset=ruleset))


def test_an_empty_batch_yields_nothing() -> None:
    assert list(evaluate_many([], processes=2)) == []


def _batch_file() -> tuple[bytes, int]:
    """Valid, malformed, blank and invalid lines; returns the text and how many are bad.

    The blank line (line 10) is skipped: it is not a record, and not a bad one.
    """
    lines = [record.model_dump_json() for record in synthetic_cohort(30, seed=6)]
    lines[4] = '{"patient_id": "' + SECRET + '", "pain": '  # cut off mid-record
    lines[9] = ""
    lines[14] = json.dumps(patched({"patient_id": SECRET, "age_years": 7}), default=str)
    lines[19] = "null"
    return ("\n".join(lines) + "\r\n").encode(), 3


@pytest.mark.parametrize("processes", [1, 2])
def test_a_batch_file_accounts_for_every_line(processes: int) -> None:
    text, bad = _batch_file()
    output = io.BytesIO()
    summary = run_batch(io.BytesIO(text), output, processes=processes, progress=False)
    rows = [json.loads(line) for line in output.getvalue().splitlines()]
    assert summary.read == len(rows) == 29
    assert summary.read == summary.evaluated + summary.rejected
    assert summary.rejected == bad
    assert sum(summary.stages.values()) == summary.evaluated
    assert [row["line"] for row in rows] == [n for n in range(1, 31) if n != 10]
    assert [row["line"] for row in rows if "error" in row] == [5, 15, 20]
    assert SECRET not in output.getvalue().decode()
    assert rows[13]["error"]["fields"][0]["location"] == "age_years"
    assert rows[0]["patient_id"] == "SYNTH-6-0000001"
    assert rows[0]["recommendation"]["stage"] in set(Stage)


def test_count_lines_counts_what_a_batch_reads_and_the_blank_lines_it_skips(
    tmp_path: Path,
) -> None:
    path = tmp_path / "in.ndjson"
    cases = [(b"", 0, 0), (b"{}", 1, 1), (b"{}\n", 1, 1), (b"{}\n\n{}", 3, 2), (b"\n", 1, 0)]
    for text, lines, records in cases:
        path.write_bytes(text)
        assert count_lines(path) == lines
        with path.open("rb") as source:
            summary = run_batch(source, io.BytesIO(), processes=1, progress=False)
        assert summary.read == records


def test_batch_command_writes_results_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "cohort.ndjson", tmp_path / "results.ndjson"
    text, bad = _batch_file()
    source.write_bytes(text)
    assert bad == 3
    # 3: completed with rejected records (docs: the command's exit status)
    assert main(["batch", str(source), "-o", str(target), "--processes", "2"]) == 3
    summary = capsys.readouterr().err
    assert "records read: 29, evaluated: 26, rejected: 3" in summary
    assert SECRET not in summary
    assert len(target.read_bytes().splitlines()) == 29


def test_batch_command_reports_an_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", str(tmp_path / "absent.ndjson"), "-o", str(tmp_path / "out")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_batch_command_refuses_zero_processes(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["batch", "in.ndjson", "-o", "out.ndjson", "--processes", "0"])
    assert stopped.value.code == 2


def test_synthetic_cohorts_are_seeded_valid_and_reach_every_stage() -> None:
    first = list(synthetic_cohort(400, seed=11))
    assert first == list(synthetic_cohort(400, seed=11))
    assert first != list(synthetic_cohort(400, seed=12))
    stages = Counter(evaluate(record).stage for record in first)
    assert set(stages) == set(Stage)
    assert len({record.patient_id for record in first}) == 400


def test_synth_command_writes_valid_records(tmp_path: Path) -> None:
    target = tmp_path / "cohort.ndjson"
    assert main(["synth", "25", "-o", str(target), "--seed", "3"]) == 0
    lines = target.read_text().splitlines()
    assert len(lines) == 25
    assert [PatientRecord.model_validate_json(line) for line in lines] == list(
        synthetic_cohort(25, seed=3)
    )


def test_a_negative_cohort_size_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        list(synthetic_cohort(-1))


# --- A batch never loses a file -----------------------------------------------------------


def _small_cohort(path: Path, count: int = 5) -> bytes:
    text = b"".join(
        record.model_dump_json(exclude_none=True).encode() + b"\n"
        for record in synthetic_cohort(count, seed=4)
    )
    path.write_bytes(text)
    return text


@pytest.mark.parametrize("through_a_link", [False, True])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], through_a_link: bool
) -> None:
    source = tmp_path / "cohort.ndjson"
    text = _small_cohort(source)
    target = source
    if through_a_link:
        target = tmp_path / "link.ndjson"
        target.symlink_to(source)
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert source.read_bytes() == text


def test_a_failed_write_names_the_output_and_leaves_no_partial_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "cohort.ndjson", tmp_path / "results.ndjson"
    _small_cohort(source)
    target.write_bytes(b"yesterday's results\n")
    written = 0

    def full_disk(self: Any, data: bytes) -> int:
        nonlocal written
        written += 1
        if written > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return len(data)

    monkeypatch.setattr(tempfile._TemporaryFileWrapper, "write", full_disk, raising=False)
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {target}: No space left on device" in err
    assert "None" not in err
    assert target.read_bytes() == b"yesterday's results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.ndjson", "results.ndjson"]


def test_an_interrupted_batch_says_how_far_it_got_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "cohort.ndjson", tmp_path / "results.ndjson"
    _small_cohort(source)
    real = batch_module.evaluate_outcomes

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        for number, outcome in enumerate(real(*args, **kwargs)):
            if number == 3:
                raise KeyboardInterrupt
            yield outcome

    monkeypatch.setattr(ndjson_module, "evaluate_outcomes", interrupted)
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 130
    err = capsys.readouterr().err
    assert f"interrupted after 3 record(s); {target} was not written" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.ndjson"]


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this")


def test_an_input_that_cannot_reach_a_worker_is_that_records_error_only() -> None:
    records: list[Any] = [
        patched({}),
        {**patched({}), "patient_id": _Unpicklable()},
        patched({}),
    ]
    results = list(evaluate_many(records, processes=2))
    assert [result.ok for result in results] == [True, False, True]
    error = results[1].error
    assert error is not None
    assert error.kind == "invalid_record"
    assert "could not be sent to a worker process" in error.message
