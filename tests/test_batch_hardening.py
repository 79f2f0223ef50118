"""``fbss-pathway batch`` against hostile outputs, streams, a killed run and blank lines."""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import ndjson as ndjson_module
from fbss_pathway.cli import main
from fbss_pathway.ndjson import run_batch
from fbss_pathway.synth import synthetic_cohort

COMMAND = str(Path(sys.executable).parent / "fbss-pathway")


def _cohort(path: Path, count: int = 5, *, repeat: int = 1) -> bytes:
    text = b"".join(
        record.model_dump_json(exclude_none=True).encode() + b"\n"
        for record in synthetic_cohort(count, seed=4)
    )
    path.write_bytes(text * repeat)
    return text * repeat


def _never_evaluated(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any, **__: Any) -> Any:
        raise AssertionError("the batch was evaluated before its output was checked")

    monkeypatch.setattr(ndjson_module, "evaluate_outcomes", fail)


# --- Outputs --------------------------------------------------------------------------------


def test_a_named_pipe_as_output_is_refused_and_left_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, fifo = tmp_path / "cohort.ndjson", tmp_path / "pipe"
    _cohort(source)
    os.mkfifo(fifo)
    _never_evaluated(monkeypatch)
    assert main(["batch", str(source), "-o", str(fifo), "--processes", "1"]) == 1
    err = capsys.readouterr().err
    assert "not a regular file" in err
    assert "Traceback" not in err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("through_a_link", [False, True])
def test_a_device_node_as_output_is_never_replaced(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    through_a_link: bool,
) -> None:
    source, device = tmp_path / "cohort.ndjson", tmp_path / "null"
    _cohort(source)
    try:  # a private /dev/null (character device 1, 3): needs root (CI runs as root)
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    target = device
    if through_a_link:
        target = tmp_path / "link"
        target.symlink_to(device)
    _never_evaluated(monkeypatch)
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 1
    assert "not a regular file" in capsys.readouterr().err
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert os.lstat(target).st_mode == os.lstat(target).st_mode  # still there, as it was


def test_an_existing_directory_as_output_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, folder = tmp_path / "cohort.ndjson", tmp_path / "results"
    _cohort(source)
    folder.mkdir()
    _never_evaluated(monkeypatch)
    assert main(["batch", str(source), "-o", str(folder), "--processes", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{folder} is a directory" in err
    assert "Traceback" not in err
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.ndjson", "results"]


def test_an_output_in_a_missing_directory_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "cohort.ndjson"
    _cohort(source)
    _never_evaluated(monkeypatch)
    target = tmp_path / "absent" / "out.ndjson"
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_dash_writes_the_results_to_standard_output(tmp_path: Path) -> None:
    source = tmp_path / "cohort.ndjson"
    _cohort(source, 4)
    done = subprocess.run(
        [COMMAND, "batch", str(source), "-o", "-", "--processes", "1"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["line"] for line in done.stdout.splitlines()] == [1, 2, 3, 4]
    assert b"records read: 4" in done.stderr


# --- A killed batch -------------------------------------------------------------------------


def test_stale_partial_files_of_a_killed_run_are_removed_and_live_ones_kept(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "cohort.ndjson", tmp_path / "results.ndjson"
    _cohort(source)
    stale = tmp_path / ".results.ndjson.k1ll3d.partial"
    stale.write_bytes(b"half a result\n" * 1000)
    live = tmp_path / ".results.ndjson.running.partial"
    live.write_bytes(b"another run's results\n")
    other = tmp_path / ".other.ndjson.k1ll3d.partial"  # another output's: not this run's to judge
    other.write_bytes(b"x\n")
    with live.open("rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # as a running batch holds its own
        assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 0
        assert not stale.exists()
        assert live.exists()
        assert other.exists()
    assert len(target.read_bytes().splitlines()) == 5


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found.setdefault(int(fields[1]), []).append(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    children, found, todo = _children(), set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_die_with_a_killed_batch_and_the_next_run_removes_its_partial(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "cohort.ndjson", tmp_path / "results.ndjson"
    _cohort(source, 200, repeat=200)  # 40,000 records: long enough to be killed midway
    batch = subprocess.Popen(
        [COMMAND, "batch", str(source), "-o", str(target), "--processes", "2", "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        # the forkserver, two workers and the resource tracker, and results being written
        while time.monotonic() < deadline:
            helpers = _descendants(batch.pid)
            partials = list(tmp_path.glob(".results.ndjson.*.partial"))
            if len(helpers) >= 3 and partials and partials[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the batch did not start its workers")
        helpers = _descendants(batch.pid)
        batch.send_signal(signal.SIGKILL)
        batch.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in helpers):
            time.sleep(0.1)
        left = [pid for pid in helpers if _alive(pid)]
        assert left == [], f"helper processes outlived the killed batch: {left}"
    finally:
        for pid in helpers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert list(tmp_path.glob(".results.ndjson.*.partial"))
    assert not target.exists()
    small = tmp_path / "small.ndjson"
    _cohort(small, 3)
    assert main(["batch", str(small), "-o", str(target), "--processes", "1"]) == 0
    assert list(tmp_path.glob(".results.ndjson.*.partial")) == []


# --- Streams --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/dev/stdin", "-"])
def test_piped_input_is_read_as_a_stream(tmp_path: Path, name: str) -> None:
    text = _cohort(tmp_path / "cohort.ndjson", 6)
    target = tmp_path / "results.ndjson"
    done = subprocess.run(
        [COMMAND, "batch", name, "-o", str(target), "--processes", "1"],
        input=text,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"records read: 6, evaluated: 6" in done.stderr
    assert len(target.read_bytes().splitlines()) == 6


def test_a_named_pipe_is_read_once_as_a_stream_and_never_hangs(tmp_path: Path) -> None:
    text = _cohort(tmp_path / "cohort.ndjson", 6)
    fifo, target = tmp_path / "records.fifo", tmp_path / "results.ndjson"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as writing:  # blocks until the batch opens the pipe
            writing.write(text)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    batch = subprocess.Popen(
        [COMMAND, "batch", str(fifo), "-o", str(target), "--processes", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = batch.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        batch.kill()
        batch.communicate()
        if writer.is_alive():  # release the writer if the batch never opened the pipe
            with fifo.open("rb"):
                pass
        pytest.fail("the batch hung on a named pipe")
    writer.join(timeout=10)
    assert batch.returncode == 0, err
    assert b"records read: 6, evaluated: 6" in err
    assert len(target.read_bytes().splitlines()) == 6


# --- Blank lines and the exit status --------------------------------------------------------


def test_blank_lines_are_skipped_and_lines_keep_their_numbers() -> None:
    records = [r.model_dump_json() for r in synthetic_cohort(3, seed=4)]
    text = f"{records[0]}\n\n   \n{records[1]}\r\n\t\r\n{records[2]}\n\n".encode()
    output = io.BytesIO()
    summary = run_batch(io.BytesIO(text), output, processes=1, progress=False)
    rows = [json.loads(line) for line in output.getvalue().splitlines()]
    assert (summary.read, summary.evaluated, summary.rejected) == (3, 3, 0)
    assert [row["line"] for row in rows] == [1, 4, 6]


def test_a_batch_with_rejected_records_completes_with_its_own_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "cohort.ndjson", tmp_path / "results.ndjson"
    good = _cohort(source, 3)
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 0
    source.write_bytes(good + b'{"pain": \n')
    assert main(["batch", str(source), "-o", str(target), "--processes", "1"]) == 3
    err = capsys.readouterr().err
    assert "records read: 4, evaluated: 3, rejected: 1" in err
    assert len(target.read_bytes().splitlines()) == 4
    parser_help = subprocess.run(
        [COMMAND, "batch", "--help"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    assert "3" in parser_help
    assert "rejected" in parser_help
