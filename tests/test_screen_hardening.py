"""``fbss-pathway screen`` and ``worklist`` against hostile exports and outputs."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fbss_pathway.cli import main
from fbss_pathway.fhir.bulk import write_bulk_export
from fbss_pathway.population import ExportError, screen_export, worklist
from fbss_pathway.population.export import export_files, export_time, read_lines
from fbss_pathway.population.partition import split_file
from fbss_pathway.population.screening import screen_partition
from fbss_pathway.ruleset import default_ruleset
from fbss_pathway.synth import ASSESSMENT_DATE, synthetic_cohort

SEED = 11
MARKER = ".fbss-pathway-screen"


def _export(directory: Path, count: int = 6) -> Path:
    write_bulk_export(
        synthetic_cohort(count, seed=SEED), directory, transaction_time=ASSESSMENT_DATE
    )
    return directory


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- Only regular files inside the export ---------------------------------------------------


def test_a_linked_ndjson_file_is_refused_never_followed(tmp_path: Path) -> None:
    outside = _export(tmp_path / "outside", 2)
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").symlink_to(outside / "Patient.ndjson")
    with pytest.raises(ExportError, match=r"Patient\.ndjson.*not a regular file"):
        export_files(export)
    (export / "Patient.ndjson").unlink()
    (export / "Patient.ndjson").write_bytes((outside / "Patient.ndjson").read_bytes())
    (export / "Observation.ndjson").symlink_to("/proc/self/environ")
    with pytest.raises(ExportError, match=r"Observation\.ndjson.*not a regular file"):
        export_files(export)


def test_a_manifest_naming_a_link_or_a_special_file_is_refused(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", 2)
    (export / "Patient.ndjson").rename(tmp_path / "Patient.ndjson")
    (export / "Patient.ndjson").symlink_to(tmp_path / "Patient.ndjson")
    with pytest.raises(ExportError, match=r"Patient\.ndjson.*not a regular file"):
        export_files(export)
    (export / "Patient.ndjson").unlink()
    os.mkfifo(export / "Patient.ndjson")
    with pytest.raises(ExportError, match=r"Patient\.ndjson.*not a regular file"):
        export_files(export)


def test_a_linked_manifest_is_refused(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", 2)
    (export / "manifest.json").rename(tmp_path / "manifest.json")
    (export / "manifest.json").symlink_to(tmp_path / "manifest.json")
    with pytest.raises(ExportError, match=r"manifest\.json.*not a regular file"):
        export_files(export)


def test_reading_never_follows_a_link_or_waits_on_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "real.ndjson").write_text('{"resourceType": "Patient", "id": "a"}\n')
    (tmp_path / "link.ndjson").symlink_to(tmp_path / "real.ndjson")
    with pytest.raises(ExportError, match="not a regular file"):
        list(read_lines(tmp_path / "link.ndjson"))
    os.mkfifo(tmp_path / "pipe.ndjson")
    started = time.monotonic()
    with pytest.raises(ExportError, match="not a regular file"):
        list(read_lines(tmp_path / "pipe.ndjson"))
    assert time.monotonic() - started < 5


def test_a_manifest_url_with_a_300_character_name_is_an_export_error(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", 2)
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["output"][0]["url"] = "https://ehr.example/bulk/" + "P" * 300 + ".ndjson"
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportError, match="manifest output"):
        export_files(export)


def test_a_signed_download_url_names_its_file_without_its_query(tmp_path: Path) -> None:
    """A manifest's url with a query (a signed download) looked for "file?x=1" (a review)."""
    export = _export(tmp_path / "export", 2)
    manifest = json.loads((export / "manifest.json").read_text())
    for item in manifest["output"]:
        item["url"] += "?X-Amz-Signature=abc&X-Amz-Expires=300#part"
    (export / "manifest.json").write_text(json.dumps(manifest))
    names = sorted(f.path.name for f in export_files(export))
    assert names == sorted(p.name for p in export.glob("*.ndjson"))


# --- Bounded reading ------------------------------------------------------------------------


def test_a_gzip_bomb_of_newlines_is_refused_quickly(tmp_path: Path) -> None:
    bomb = tmp_path / "Observation.ndjson.gz"
    bomb.write_bytes(gzip.compress(b"\n" * 200_000_000, 9))  # 200 MB from about 200 KB
    started = time.monotonic()
    with pytest.raises(ExportError, match=r"Observation\.ndjson\.gz.*(bytes|compressed)"):
        list(read_lines(bomb))  # the default limits: no more than 100 times its size
    assert time.monotonic() - started < 20


def test_the_limits_on_a_file_are_configurable(tmp_path: Path) -> None:
    from fbss_pathway.population.export import FileLimits

    path = tmp_path / "Patient.ndjson"
    path.write_bytes(b'{"resourceType": "Patient", "id": "a"}\n' * 1000)
    assert len(list(read_lines(path))) == 1000
    with pytest.raises(ExportError, match="more than 999 lines"):
        list(read_lines(path, FileLimits(max_lines=999)))
    with pytest.raises(ExportError, match="more than 1,000 bytes"):
        list(read_lines(path, FileLimits(max_bytes=1000)))
    blank = tmp_path / "Blank.ndjson"
    blank.write_bytes(b"\n" * 5000)
    with pytest.raises(ExportError, match="more than 4,999 lines"):  # blank lines count
        list(read_lines(blank, FileLimits(max_lines=4999)))


def test_lines_keep_their_numbers_across_blank_runs_and_blocks(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    long = b'{"resourceType": "Patient", "id": "' + b"x" * 3_000_000 + b'"}'
    path.write_bytes(b"\n\n  \n" + long + b"\r\n" + b"\n" * 2_000_000 + b'{"a": 1}')
    found = list(read_lines(path))
    assert [number for number, _ in found] == [4, 2_000_005]
    assert found[0][1].rstrip() == long
    assert found[1][1] == b'{"a": 1}'


def test_a_screen_refuses_a_file_past_its_limit_naming_it(cluster: str, tmp_path: Path) -> None:
    export = _export(tmp_path / "export", 4)
    # 4 patients: more Observation lines than 40, fewer Procedure and Patient lines
    with pytest.raises(ExportError, match=r"Observation\.ndjson.*more than 40 lines"):
        screen_export(export, tmp_path / "out", scheduler=cluster, max_file_lines=40)


def _medication(number: int) -> bytes:
    return json.dumps(
        {
            "resourceType": "Medication",
            "id": f"med-{number}",
            "code": {"text": "an unrelated medicine " + "x" * 200},
        }
    ).encode()


def test_medication_resources_are_never_all_held_in_memory(tmp_path: Path) -> None:
    export = _export(tmp_path / "export", 3)
    medications = export / "Medication.ndjson"
    medications.write_bytes(b"\n".join(_medication(n) for n in range(80_000)) + b"\n")
    size = medications.stat().st_size
    assert size > 20_000_000
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["output"].append({"type": "Medication", "url": "Medication.ndjson"})
    (export / "manifest.json").write_text(json.dumps(manifest))
    work = tmp_path / "work"
    (tmp_path / "parts").mkdir()
    files = export_files(export)
    tracemalloc.start()
    try:
        for index, file in enumerate(files):
            split_file(file, index, work, 2)
        _, split_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ruleset = default_ruleset()
        for partition in range(2):
            screen_partition(
                partition,
                work,
                tmp_path / "parts",
                (str(ruleset.path), ruleset.version),
                ASSESSMENT_DATE,
                partitions=2,
            )
        _, screen_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A bounded buffer (8 MB) when splitting; the partition's own medicines when screening.
    assert split_peak < size * 0.75, f"splitting held {split_peak / 1e6:.0f} MB"
    assert screen_peak < size / 4, f"screening held {screen_peak / 1e6:.0f} MB"


@pytest.mark.parametrize(
    "written",
    [
        "Medication/{}",
        "urn:uuid:{}",  # as Synthea's bulk files write references (a review found it lost)
        "https://ehr.example/fhir/Medication/{}/_history/2",
    ],
)
def test_a_referenced_medication_still_reaches_its_patient(
    cluster: str, tmp_path: Path, written: str
) -> None:
    """Statements naming their medicine by reference read as those naming it by code.

    However the reference is written: relative, ``urn:uuid:`` or an absolute URL.
    """
    export = _export(tmp_path / "export", 8)
    plain = screen_export(export, tmp_path / "plain", scheduler=cluster, partition_patients=2)
    statements = [
        json.loads(line)
        for line in (export / "MedicationStatement.ndjson").read_text().splitlines()
        if line.strip()
    ]
    shared = []
    for number, statement in enumerate(statements):
        medicine = {"resourceType": "Medication", "id": f"shared-{number}"}
        medicine["code"] = statement.pop("medicationCodeableConcept")
        statement["medicationReference"] = {"reference": written.format(f"shared-{number}")}
        shared.append(medicine)
    (export / "MedicationStatement.ndjson").write_text(
        "\n".join(json.dumps(s) for s in statements) + "\n"
    )
    unrelated = [json.loads(_medication(n)) for n in range(50)]
    (export / "Medication.ndjson").write_text(
        "\n".join(json.dumps(m) for m in [*unrelated, *shared]) + "\n"
    )
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["output"].append({"type": "Medication", "url": "Medication.ndjson"})
    (export / "manifest.json").write_text(json.dumps(manifest))
    referenced = screen_export(export, tmp_path / "with", scheduler=cluster, partition_patients=2)
    assert referenced.shared_resources == 50 + len(shared)
    assert statements
    keep = ("stage", "actions", "missing_count", "warnings")

    def rows(out: Path) -> dict[str, tuple[object, ...]]:
        return {e.patient_id: tuple(getattr(e, k, None) for k in keep) for e in worklist(out)}

    assert rows(tmp_path / "with") == rows(tmp_path / "plain")
    assert plain.read == referenced.read == 8


# --- Outputs: only what a screen wrote is replaced ------------------------------------------


def test_an_output_with_a_summary_but_no_marker_is_never_emptied(
    cluster: str, tmp_path: Path
) -> None:
    export = _export(tmp_path / "export", 2)
    someone = tmp_path / "someone-elses"
    (someone / "patients").mkdir(parents=True)
    (someone / "patients" / "results.csv").write_text("keep me")
    (someone / "summary.json").write_text("{}")
    with pytest.raises(ExportError, match="neither empty nor an earlier screen"):
        screen_export(export, someone, scheduler=cluster)
    assert (someone / "patients" / "results.csv").read_text() == "keep me"


def test_a_screen_replaces_its_own_output_and_only_what_it_wrote(
    cluster: str, tmp_path: Path
) -> None:
    export, out = _export(tmp_path / "export", 3), tmp_path / "out"
    screen_export(export, out, scheduler=cluster)
    assert (out / MARKER).is_file()
    (out / "notes.txt").write_text("mine")
    second = screen_export(export, out, scheduler=cluster)
    assert second.read == 3
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / ".work").exists()


def test_a_screen_running_in_an_output_keeps_another_out(cluster: str, tmp_path: Path) -> None:
    export, out = _export(tmp_path / "export", 2), tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("fbss-pathway screen\n")
    with (out / MARKER).open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running screen holds it
        with pytest.raises(ExportError, match="another screen"):
            screen_export(export, out, scheduler=cluster)


@pytest.mark.parametrize("where", ["long", "under_a_file"])
def test_outputs_that_cannot_be_written_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    export = _export(tmp_path / "export", 2)
    (tmp_path / "file").write_text("a file")
    out = tmp_path / ("P" * 300) if where == "long" else tmp_path / "file" / "out"
    code, _, err = _run(capsys, "screen", str(export), "-o", str(out), "--workers", "1")
    assert code == 1
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# --- An interrupted screen ------------------------------------------------------------------


def test_a_worklist_refuses_an_unfinished_screen_and_cleans_its_raw_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "patients").mkdir(parents=True)
    (out / ".work" / "p00000").mkdir(parents=True)
    (out / ".work" / "p00000" / "f00000.ndjson").write_text('{"resourceType": "Patient"}\n')
    (out / MARKER).write_text("fbss-pathway screen\n")
    with pytest.raises(ExportError, match="did not finish"):
        list(worklist(out))
    assert not (out / ".work").exists()
    code, _, err = _run(capsys, "worklist", str(out))
    assert code == 1
    assert "did not finish" in err


def test_a_worklist_waits_for_a_screen_still_running(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "patients").mkdir(parents=True)
    (out / ".work").mkdir()
    (out / MARKER).write_text("fbss-pathway screen\n")
    with (out / MARKER).open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="still running"):
            list(worklist(out))
    assert (out / ".work").exists()


def test_a_failed_screen_leaves_no_summary_of_an_earlier_one(cluster: str, tmp_path: Path) -> None:
    export, out = _export(tmp_path / "export", 3), tmp_path / "out"
    screen_export(export, out, scheduler=cluster)
    assert len(list(worklist(out))) == 3
    with pytest.raises(ExportError, match="more than"):
        screen_export(export, out, scheduler=cluster, max_file_lines=2)
    assert not (out / "summary.json").exists()
    with pytest.raises(ExportError, match="did not finish"):
        list(worklist(out))


def test_the_command_line_takes_the_limits_and_says_which_file_passed_one(
    cluster: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = _export(tmp_path / "export", 3)
    out = str(tmp_path / "out")
    args = ["screen", str(export), "-o", out, "--scheduler", cluster, "--no-progress"]
    code, _, err = _run(capsys, *args, "--max-file-lines", "2")
    assert code == 1
    assert err.startswith("error: ")
    assert "more than 2 lines" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, *args, "--max-gzip-ratio", "0")
    assert code == 1
    assert "--max-gzip-ratio must be at least 1" in err


def test_a_future_assessment_date_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every record would be refused as assessed in the future, after a whole run (a review)."""
    export = _export(tmp_path / "export")
    tomorrow = date.today() + timedelta(days=1)
    with pytest.raises(ValueError, match="assessment_date is after today"):
        screen_export(export, tmp_path / "out", workers=1, assessment_date=tomorrow)
    code, _, err = _run(
        capsys,
        "screen",
        str(export),
        "-o",
        str(tmp_path / "out"),
        "--assessment-date",
        tomorrow.isoformat(),
    )
    assert code == 1
    assert "--assessment-date is after today" in err
    assert not (tmp_path / "out").exists()  # refused before anything is written


def _manifest_at(export: Path, transaction_time: str) -> None:
    names = sorted(p.name for p in export.glob("*.ndjson"))
    output = [{"type": name.split(".")[0], "url": f"https://x.example/{name}"} for name in names]
    manifest = {"transactionTime": transaction_time, "request": "x", "output": output}
    (export / "manifest.json").write_text(json.dumps(manifest))


def test_a_transaction_time_is_the_day_of_its_instant_on_this_machine(tmp_path: Path) -> None:
    """An export finished a minute ago, written at +14:00, is not dated tomorrow (a review)."""
    export = _export(tmp_path / "export")
    moment = datetime.now(timezone(timedelta(hours=14))) - timedelta(minutes=1)
    _manifest_at(export, moment.isoformat(timespec="seconds"))
    day = export_time(export)
    assert day == moment.astimezone().date()
    assert day is not None
    assert day <= date.today()
    _manifest_at(export, "2024-08-07T05:00:00+14:00")  # 15:00 on 6 August in UTC
    assert export_time(export) == datetime(2024, 8, 6, 15, tzinfo=UTC).astimezone().date()
    _manifest_at(export, "2024-08-06T18:12:57Z")
    assert export_time(export) == datetime(2024, 8, 6, 18, 12, 57, tzinfo=UTC).astimezone().date()
    _manifest_at(export, "2024-08-06")  # a date alone: as written
    assert export_time(export) == date(2024, 8, 6)


def test_a_manifest_dated_after_today_is_an_export_error(tmp_path: Path) -> None:
    export = _export(tmp_path / "export")
    _manifest_at(export, (date.today() + timedelta(days=3)).isoformat() + "T00:00:00Z")
    with pytest.raises(ExportError, match="transactionTime is after today"):
        screen_export(export, tmp_path / "out", workers=1)


def test_a_manifests_errors_deletions_and_since_are_said_in_the_summary(
    cluster: str, tmp_path: Path
) -> None:
    """A screen of an incomplete export says so, rather than read as if complete (a review)."""
    export = _export(tmp_path / "export")
    manifest = json.loads((export / "manifest.json").read_text())
    plain = screen_export(export, tmp_path / "plain", scheduler=cluster)
    assert plain.notes == []
    manifest["request"] = "https://ehr.example/fhir/Group/g1/$export?_since=2026-01-01T00:00:00Z"
    manifest["error"] = [{"type": "OperationOutcome", "url": "https://x.example/err.ndjson"}]
    manifest["deleted"] = [{"type": "Bundle", "url": "https://x.example/del.ndjson"}]
    (export / "manifest.json").write_text(json.dumps(manifest))
    summary = screen_export(export, tmp_path / "out", scheduler=cluster)
    said = " ".join(summary.notes)
    assert "1 error file(s)" in said
    assert "1 file(s) of deleted resources" in said
    assert "incremental export (_since" in said
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["notes"] == summary.notes
    assert summary.read == plain.read  # the same rows otherwise


def test_a_task_failing_on_a_local_worker_prints_one_line_no_traceback(
    capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Dask's "Compute Failed" block came first, a traceback quoting code (a review)."""
    export = _export(tmp_path / "export", 3)
    with (export / "Observation.ndjson").open("a") as lines:  # a Patient in another type's file
        lines.write(json.dumps({"resourceType": "Patient", "id": "elsewhere"}) + "\n")
    code = main(["screen", str(export), "-o", str(tmp_path / "out"), "--workers", "1"])
    err = capfd.readouterr().err  # the worker processes' output too (file descriptor 2)
    assert code == 1
    assert "a Patient resource in a file of Observation resources" in err
    assert "Traceback" not in err
    assert "Compute Failed" not in err


def test_a_rejected_patient_is_one_line_of_a_text_worklist(
    cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rejection's detail lists its problems a line each; a worklist line is one patient."""
    export = _export(tmp_path / "export", 4)
    lines = (export / "Observation.ndjson").read_text().splitlines()
    broken = json.loads(lines[0])
    broken["valueQuantity"] = {"value": "seven"}  # not a number: the chart is refused
    broken["status"] = 7
    lines[0] = json.dumps(broken)
    (export / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    screen_export(export, tmp_path / "out", scheduler=cluster)
    capsys.readouterr()
    code, out, _ = _run(capsys, "worklist", str(tmp_path / "out"), "--outcome", "rejected")
    assert code == 0
    printed = out.splitlines()
    assert len(printed) == 1
    assert "problem(s)" in printed[0]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("cut", "the gzip file is cut short"),
        ("plain", "not a gzip file, though named .gz"),
    ],
)
def test_an_unreadable_gzip_file_is_said_in_words(tmp_path: Path, content: str, said: str) -> None:
    """Not the names of Python's error classes (EOFError, BadGzipFile): a review."""
    path = tmp_path / "Observation.ndjson.gz"
    text = b'{"resourceType":"Observation","id":"o1"}\n' * 2000
    path.write_bytes(gzip.compress(text)[:200] if content == "cut" else text)
    with pytest.raises(ExportError, match=f"cannot be read \\({said}\\)"):
        list(read_lines(path))


def test_a_limit_names_its_setting_and_an_output_file_is_not_a_directory(
    tmp_path: Path,
) -> None:
    export = _export(tmp_path / "export", 2)
    with pytest.raises(ExportError, match=r"more than 3 lines \(max_file_lines\)"):
        screen_export(export, tmp_path / "out", workers=1, max_file_lines=3)
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(ExportError, match="as the output: not a directory"):
        screen_export(export, tmp_path / "a-file", workers=1)


def test_ndjson_files_not_named_as_a_type_are_said_not_read(cluster: str, tmp_path: Path) -> None:
    """A Bulk Data log.ndjson, or 1.Patient.ndjson, was skipped without a word (a review)."""
    export = _export(tmp_path / "export", 2)
    (export / "manifest.json").unlink()
    (export / "log.ndjson").write_text('{"eventId":"kickoff"}\n')
    (export / "1.Patient.ndjson").write_text("")
    (export / "notes.txt").write_text("not NDJSON: not said")
    summary = screen_export(export, tmp_path / "out", scheduler=cluster)
    assert summary.notes == [
        "note: 2 NDJSON file(s) not read, their names not a resource type's "
        "(<ResourceType>*.ndjson): 1.Patient.ndjson, log.ndjson"
    ]
    assert summary.read == 2
