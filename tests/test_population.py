"""Population screening of Bulk Data exports, on a real Dask cluster started by the tests."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from fhir.resources.R4B.measurereport import MeasureReport

from fbss_pathway import evaluate_many
from fbss_pathway.cli import main
from fbss_pathway.explain.follow_up import next_reassessment
from fbss_pathway.fhir.bulk import write_bulk_export
from fbss_pathway.population import ExportError, screen_export, worklist
from fbss_pathway.population.rows import read_rows
from fbss_pathway.population.screening import UNREAD_LINES_WARNING
from fbss_pathway.synth import ASSESSMENT_DATE, synthetic_cohort

from .servers import free_port

SEED = 11


def rows_of(output: Path) -> dict[str, dict[str, Any]]:
    return {row["patient_id"]: row for row in read_rows(output / "patients")}


def test_a_screen_gives_each_patient_what_evaluate_many_gives(cluster: str, tmp_path: Path) -> None:
    records = list(synthetic_cohort(120, seed=SEED))
    write_bulk_export(records, tmp_path / "export", transaction_time=ASSESSMENT_DATE)
    summary = screen_export(
        tmp_path / "export", tmp_path / "out", scheduler=cluster, partition_patients=20
    )
    expected = {
        str(records[result.index].patient_id): result.recommendation
        for result in evaluate_many(records, processes=1)
    }
    rows = rows_of(tmp_path / "out")
    assert rows.keys() == expected.keys()
    for patient_id, recommendation in expected.items():
        assert recommendation is not None
        row = rows[patient_id]
        assert row["outcome"] == "evaluated"
        assert row["stage"] == recommendation.stage.value, patient_id
        assert row["actions"] == [code.value for code in recommendation.action_codes()]
        assert row["verdicts"] == {
            a.option.value: a.verdict.value for a in recommendation.options
        }, patient_id
        assert row["missing_count"] == len(recommendation.missing)
        assert row["mme_per_day"] == recommendation.mme_per_day
        first = next_reassessment(recommendation.reassess)  # the next follow-up date
        assert row["reassess_due"] == (None if first is None else first.due), patient_id
        assert row["reassess_item"] == (None if first is None else first.item.value)
        assert row["ruleset_version"] == recommendation.ruleset_version
    assert summary.read == summary.evaluated == len(records)
    assert summary.partitions == math.ceil(2 * len(records) / 20)
    assert summary.largest_partition <= 20
    assert summary.workers == 2
    assert sum(summary.stages.values()) == summary.evaluated


def _append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def _messy_export(directory: Path) -> None:
    """Five real patients, and everything an export should not hold but might."""
    records = list(synthetic_cohort(5, seed=SEED))
    write_bulk_export(records, directory, transaction_time=ASSESSMENT_DATE)
    first = records[0].patient_id
    _append(
        directory / "Observation.ndjson",
        "{not json",
        '["a list, not a resource"]',
        json.dumps({"resourceType": "Observation", "status": "final"}),  # whose? nobody's
        json.dumps(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "pain"},
                "subject": {"reference": "Patient/GHOST-1"},  # not in the export
            }
        ),
        json.dumps({"resourceType": "Foo", "subject": {"reference": f"Patient/{first}"}}),
    )
    _append(
        directory / "Patient.ndjson",
        json.dumps({"resourceType": "Patient", "id": "NO-OPERATION"}),
        json.dumps({"resourceType": "Patient", "id": "BROKEN"}),
        json.dumps({"resourceType": "Patient", "id": "NEVER-OPERATED", "birthDate": "1960-01-02"}),
    )
    _append(
        directory / "Observation.ndjson",
        json.dumps(  # malformed, of a patient out of scope: never read
            {
                "resourceType": "Observation",
                "status": "final",
                "code": 5,
                "subject": {"reference": "Patient/NEVER-OPERATED"},
            }
        ),
    )
    _append(
        directory / "QuestionnaireResponse.ndjson",  # a form: in scope, but no Patient
        json.dumps(
            {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "subject": {"reference": "Patient/GHOST-2"},
            }
        ),
    )
    _append(
        directory / "Procedure.ndjson",
        json.dumps(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "subject": {"reference": "Patient/BROKEN"},
                "code": 5,  # not a CodeableConcept
            }
        ),
    )
    (directory / "Organization.ndjson").write_text(
        json.dumps({"resourceType": "Organization", "id": "org-1"}) + "\n"
    )
    with (directory / "Procedure.ndjson").open("rb") as plain:
        (directory / "Procedure.ndjson.gz").write_bytes(gzip.compress(plain.read()))
    (directory / "Procedure.ndjson").unlink()
    manifest = json.loads((directory / "manifest.json").read_text())
    for item in manifest["output"]:
        if item["type"] == "Procedure":
            item["url"] = "https://ehr.example/bulk/Procedure.ndjson.gz"
    manifest["output"].append({"type": "Organization", "url": "Organization.ndjson"})
    manifest["output"].append(
        {"type": "QuestionnaireResponse", "url": "QuestionnaireResponse.ndjson"}
    )
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_every_input_is_accounted_for_and_the_screen_goes_on(cluster: str, tmp_path: Path) -> None:
    _messy_export(tmp_path / "export")
    summary = screen_export(tmp_path / "export", tmp_path / "out", scheduler=cluster)
    rows = rows_of(tmp_path / "out")
    assert summary.read == summary.evaluated + summary.not_applicable + summary.rejected == 8
    assert summary.evaluated == 5
    assert rows["NO-OPERATION"]["outcome"] == "not_applicable"
    assert "no completed lumbar spine operation" in rows["NO-OPERATION"]["detail"]
    assert rows["BROKEN"]["outcome"] == "rejected"
    assert rows["BROKEN"]["error_kind"] == "malformed_resource"
    assert "code" in rows["BROKEN"]["detail"]
    # Out of scope (a full birth date, no operation, no form): read from the Patient alone,
    # so its malformed Observation is never read (a full read rejected the chart).
    assert rows["NEVER-OPERATED"]["outcome"] == "not_applicable"
    assert rows["NEVER-OPERATED"]["detail"] == "no completed lumbar spine operation on record"
    assert summary.candidates == 5 + 2 + 1  # no full birth date, or an operation; GHOST-2's form
    assert summary.malformed_lines == 2
    assert {place.split(":")[0] for place in summary.malformed_at} == {"Observation.ndjson"}
    assert (summary.orphan_resources, summary.orphan_patients) == (1, 1)  # GHOST-2's form
    # GHOST-1's and NEVER-OPERATED's Observations: not in scope, not grouped. (Written
    # with spaces, as json.dumps does, these lines are parsed to be sure whose they are.)
    assert summary.out_of_scope_lines == 2
    assert summary.without_patient == {"Observation": 1}  # nobody's
    assert summary.unread_files == ["Organization.ndjson"]
    assert summary.unread_types == {"Organization": 1}
    assert "Organization" not in summary.resources
    assert summary.resources["Foo"] == 1  # a candidate's: read, and ignored by the reader
    resources = sum(summary.resources.values())
    assert summary.lines == resources + summary.malformed_lines + summary.out_of_scope_lines
    patient_lines = (
        resources - summary.orphan_resources - sum(summary.without_patient.values())
    ) - summary.shared_resources
    assert patient_lines > 0
    text = (tmp_path / "out" / "summary.json").read_text()
    assert "GHOST-1" not in text  # counts, never identifiers


def test_the_measure_report_counts_every_patient_and_is_valid_fhir(
    cluster: str, tmp_path: Path
) -> None:
    _messy_export(tmp_path / "export")
    summary = screen_export(tmp_path / "export", tmp_path / "out", scheduler=cluster)
    report = json.loads((tmp_path / "out" / "measure-report.json").read_text())
    MeasureReport.model_validate(report)
    group = report["group"][0]
    assert group["population"][0]["count"] == summary.read
    strata = group["stratifier"][0]["stratum"]
    assert sum(s["population"][0]["count"] for s in strata) == summary.read


def test_worklists_filter_the_screen(cluster: str, tmp_path: Path) -> None:
    records = list(synthetic_cohort(80, seed=SEED))
    write_bulk_export(records, tmp_path / "export", transaction_time=ASSESSMENT_DATE)
    screen_export(tmp_path / "export", tmp_path / "out", scheduler=cluster)
    rows = rows_of(tmp_path / "out")
    on_rf = {e.patient_id for e in worklist(tmp_path / "out", stage="radiofrequency")}
    assert on_rf == {p for p, r in rows.items() if r["stage"] == "radiofrequency"}
    assert on_rf
    flagged = {e.patient_id for e in worklist(tmp_path / "out", red_flags=True)}
    assert flagged == {p for p, r in rows.items() if r["stage"] == "urgent_review"}
    trial = {e.patient_id for e in worklist(tmp_path / "out", action="scs_trial")}
    assert trial == {p for p, r in rows.items() if "scs_trial" in r["actions"]}
    held = {
        e.patient_id
        for e in worklist(tmp_path / "out", verdicts={"spinal_cord_stimulation": "blocked"})
    }
    assert held == {
        p
        for p, r in rows.items()
        if (r["verdicts"] or {}).get("spinal_cord_stimulation") == "blocked"
    }
    assert held
    both = {
        e.patient_id
        for e in worklist(
            tmp_path / "out",
            verdicts={"spinal_cord_stimulation": "blocked", "conservative_care": "appropriate"},
        )
    }
    assert both <= held
    with pytest.raises(ValueError, match="not_a_verdict"):
        list(worklist(tmp_path / "out", verdicts={"spinal_cord_stimulation": "not_a_verdict"}))
    with pytest.raises(ValueError, match="not_a_stage"):
        list(worklist(tmp_path / "out", stage="not_a_stage"))
    with pytest.raises(ExportError, match="holds no screen"):
        list(worklist(tmp_path / "nothing"))


def test_an_unreadable_export_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="is not a directory"):
        screen_export(tmp_path / "missing", tmp_path / "out", workers=1)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "manifest.json").write_text(
        json.dumps({"output": [{"type": "Patient", "url": "https://x/Patient.ndjson"}]})
    )
    with pytest.raises(ExportError, match=r"Patient\.ndjson is not in"):
        screen_export(tmp_path / "export", tmp_path / "out", workers=1)
    (tmp_path / "someone-elses").mkdir()
    (tmp_path / "someone-elses" / "patients").mkdir()
    (tmp_path / "someone-elses" / "patients" / "notes.txt").write_text("keep me")
    write_bulk_export(
        synthetic_cohort(2, seed=SEED), tmp_path / "good", transaction_time=ASSESSMENT_DATE
    )
    with pytest.raises(ExportError, match="neither empty nor an earlier screen"):
        screen_export(tmp_path / "good", tmp_path / "someone-elses", workers=1)
    assert (tmp_path / "someone-elses" / "patients" / "notes.txt").read_text() == "keep me"


def test_the_command_line_runs_on_a_scheduler_and_workers_started_as_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--scheduler``: a `dask scheduler` and a `dask worker` process on loopback."""
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error"}

    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [dask, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )

    scheduler = start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    worker = None
    try:
        worker = start("worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard")
        # The client retries until the scheduler answers (within the timeout).
        with Client(address, timeout="60s") as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(1, timeout=60)
        assert main(["synth", "40", "--format", "bulk", "-o", str(tmp_path / "export")]) == 0
        export, out = str(tmp_path / "export"), str(tmp_path / "out")
        code = main(["screen", export, "-o", out, "--scheduler", address, "--no-progress"])
        out = capsys.readouterr().out
        assert code == 0
        assert "patients read: 40 = evaluated 40" in out
        assert main(["worklist", str(tmp_path / "out"), "--outcome", "evaluated"]) == 0
        listed = capsys.readouterr().out.strip().splitlines()
        assert len(listed) == 40
        verdict = "conservative_care=appropriate"
        assert main(["worklist", str(tmp_path / "out"), "--verdict", verdict]) == 0
        appropriate = capsys.readouterr().out.strip().splitlines()
        assert 0 < len(appropriate) <= 40
        assert main(["worklist", str(tmp_path / "out"), "--verdict", "scs=blocked"]) != 0
        assert "OPTION=VERDICT" in capsys.readouterr().err
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_without_the_population_extra_the_command_says_what_to_install() -> None:
    script = (
        "import sys; sys.modules['pyarrow'] = None; from fbss_pathway.cli import main; "
        "sys.exit(main(['screen', 'export', '-o', 'out']))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    assert "pip install 'fbss-pathway[population]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_split_again_is_not_counted_twice(tmp_path: Path) -> None:
    """Dask runs a task again when its worker dies: the second run replaces the first."""
    from fbss_pathway.population.export import export_files
    from fbss_pathway.population.partition import split_file

    write_bulk_export(
        synthetic_cohort(30, seed=SEED), tmp_path / "export", transaction_time=ASSESSMENT_DATE
    )
    work = tmp_path / "work"
    files = export_files(tmp_path / "export")
    for _ in range(2):
        for index, file in enumerate(files):
            split_file(file, index, work, 3)
    shards = sum(len(shard.read_bytes().splitlines()) for shard in work.glob("*/f*.ndjson"))
    lines = sum(len(file.path.read_bytes().splitlines()) for file in files)
    assert shards == lines


def test_a_local_clusters_workers_start_with_the_allocator_settings_and_no_profiler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set before each worker starts (glibc reads them then); the caller's environment is kept.

    Dask's own ``MALLOC_TRIM_THRESHOLD_`` of 64 KiB made every 1 MiB block a split task
    reads a fresh mapping, faulted in page by page; Dask's statistical profiler took
    the task's interpreter lock every 10 ms (population/cluster.py). The caller's
    Dask configuration is its own again afterwards.
    """
    import dask

    from fbss_pathway.population.cluster import WORKER_ALLOCATOR, client_for

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    before = dict(os.environ)
    names = tuple(WORKER_ALLOCATOR)
    profiling = dask.config.get("distributed.worker.profile.enabled")
    with client_for(1, None) as client:
        seen = client.run(lambda: {name: os.environ.get(name) for name in names})
        sampled = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert list(seen.values()) == [{name: str(WORKER_ALLOCATOR[name]) for name in names}]
    assert list(sampled.values()) == [False]
    assert dict(os.environ) == before
    assert dask.config.get("distributed.worker.profile.enabled") == profiling


def _with_bytes(path: Path, patient_id: str, kind: str, damage: bytes) -> None:
    """The first ``kind`` line of a patient, with ``damage`` put in a string of its own."""
    lines = path.read_bytes().splitlines()
    for number, line in enumerate(lines):
        named = f'"{patient_id}"'.encode() in line or f"Patient/{patient_id}".encode() in line
        if named and line.startswith(b'{"resourceType":"' + kind.encode() + b'"'):
            lines[number] = line[:-1] + b',"note":"' + damage + b'"}'
            break
    else:
        raise AssertionError(f"no {kind} line of {patient_id}")
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_a_patient_whose_patient_line_is_not_json_gets_a_row_not_dropped(
    cluster: str, tmp_path: Path
) -> None:
    """A legacy-encoded name (one byte not UTF-8) once dropped the patient from every list.

    The split reads the line's id; only the full parse refuses it. The patient is in
    the export, so the row says it cannot be read (a review of the screen).
    """
    records = list(synthetic_cohort(8, seed=SEED))
    write_bulk_export(records, tmp_path / "export", transaction_time=ASSESSMENT_DATE)
    damaged, other, cut, cut_other = (r.patient_id or "" for r in records[:4])
    _with_bytes(tmp_path / "export" / "Patient.ndjson", damaged, "Patient", b"M\xe4ller")
    _with_bytes(tmp_path / "export" / "Observation.ndjson", other, "Observation", b"\xe4")
    # Lines cut short: the split cannot read their ids as JSON, their text names them.
    _cut(tmp_path / "export" / "Patient.ndjson", cut, "Patient")
    _cut(tmp_path / "export" / "Observation.ndjson", cut_other, "Observation")
    summary = screen_export(tmp_path / "export", tmp_path / "out", scheduler=cluster)
    rows = rows_of(tmp_path / "out")
    assert summary.read == 8
    assert summary.orphan_patients == 0
    assert summary.malformed_lines == 4  # each once, wherever it was found
    for patient in (damaged, cut):
        assert rows[patient]["outcome"] == "rejected"
        assert rows[patient]["error_kind"] == "malformed_resource"
        assert "Patient resource is not JSON" in rows[patient]["detail"]
    assert "Ml" not in rows[damaged]["detail"]  # never a value
    # Other patients' unreadable Observations: read without them, and the rows say so.
    for patient in (other, cut_other):
        assert rows[patient]["outcome"] == "evaluated"
        assert UNREAD_LINES_WARNING in rows[patient]["warnings"]
    unread = {p for p, r in rows.items() if UNREAD_LINES_WARNING in r["warnings"]}
    assert unread == {other, cut_other}


def _cut(path: Path, patient_id: str, kind: str) -> None:
    """The first ``kind`` line of a patient, cut short (its end lost)."""
    lines = path.read_bytes().splitlines()
    for number, line in enumerate(lines):
        named = f'"{patient_id}"'.encode() in line or f"Patient/{patient_id}".encode() in line
        if named and line.startswith(b'{"resourceType":"' + kind.encode() + b'"'):
            lines[number] = line[: line.index(patient_id.encode()) + len(patient_id) + 1]
            break
    else:
        raise AssertionError(f"no {kind} line of {patient_id}")
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_a_json_worklist_entry_carries_every_column_of_the_row(
    cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The help said "every column"; missing_count, mme_per_day, error_kind were left out."""
    records = list(synthetic_cohort(6, seed=SEED))
    write_bulk_export(records, tmp_path / "export", transaction_time=ASSESSMENT_DATE)
    screen_export(tmp_path / "export", tmp_path / "out", scheduler=cluster)
    capsys.readouterr()
    assert main(["worklist", str(tmp_path / "out"), "--format", "json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = rows_of(tmp_path / "out")
    assert len(printed) == len(rows) == 6
    for entry in printed:
        row = rows[entry["patient_id"]]
        assert set(row) - set(entry) == {"ruleset_version"}  # in summary.json, once
        for column in ("missing_count", "mme_per_day", "error_kind"):
            assert entry[column] == row[column]
