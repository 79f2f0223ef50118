"""Screening a whole export on a Dask cluster: scope, split by patient, screen each partition.

Three passes of Dask tasks (:mod:`.passes`): the first finds who may be in the
pathway's scope from the Patient, Procedure and QuestionnaireResponse files;
the second splits the files the reader reads into partitions by a stable hash
of the patient id (every Patient, the candidates' other resources); the third
screens each partition and writes its Parquet part. Files of types the reader
never reads are not opened. Workers load the rule set once, by version, and
refuse to run if its files changed.

The export, the output and the work directory must be on a file system every
worker sees (a local disk for a local cluster; a shared one for a cluster of
machines), as they are for a Bulk Data export staged for analysis.

A screen marks its output directory as its own (:data:`MARKER`, a file it
holds locked while it runs) and only ever replaces what it wrote there: the
Parquet parts, the work folder, ``summary.json`` and ``measure-report.json``.
``summary.json`` is removed first and written last, so a screen that did not
finish has none, and :func:`.worklist.worklist` refuses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import FbssPathwayError
from ..ruleset import RuleSet, default_ruleset
from .cluster import client_for
from .export import ExportError, FileLimits, read_export
from .passes import run_passes
from .summary import ScreenSummary, summarise

__all__ = ["MARKER", "PATIENTS_DIR", "SUMMARY", "WORK_DIR", "clean_interrupted", "screen_export"]

#: The Parquet parts, inside the output directory.
PATIENTS_DIR = "patients"
#: The raw partitions of the export while a screen runs (removed when it ends).
WORK_DIR = ".work"
#: Written last: a screen's output without it did not finish.
SUMMARY = "summary.json"
_MEASURE_REPORT = "measure-report.json"
#: The file that marks a directory as a screen's output; locked while a screen runs.
MARKER = ".fbss-pathway-screen"
_MARKER_TEXT = b"fbss-pathway screen output: only what a screen wrote here is replaced\n"


def screen_export(
    export: str | Path,
    output: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    assessment_date: date | None = None,
    partition_patients: int = 1000,
    ruleset: RuleSet | None = None,
    progress: bool | None = None,
    max_file_bytes: int | None = None,
    max_file_lines: int | None = None,
    max_gzip_ratio: int | None = None,
) -> ScreenSummary:
    """Screen every patient of a FHIR Bulk Data export; one Parquet row per patient.

    Args:
        export: The export directory (a manifest, or ``<ResourceType>.ndjson`` files).
        output: Created if missing: ``patients/part-*.parquet``, ``summary.json``,
            ``measure-report.json`` (and the marker ``.fbss-pathway-screen``). It
            must be empty or an earlier screen's output (with its marker), of
            which only what the screen wrote is replaced.
        workers: Worker processes of a local cluster (default: the cores).
        scheduler: Address of a running Dask scheduler (``tcp://host:port``)
            instead of a local cluster.
        assessment_date: The day the data stand for; by default the manifest's
            ``transactionTime``, else today.
        partition_patients: The most candidates (patients read in full) a partition
            should hold; see :func:`.passes.plan_partitions`.
        ruleset: From :func:`load_ruleset`; the packaged rules by default. Its
            directory must be readable by every worker.
        progress: A Dask progress bar on stderr (default: when it is a terminal).
        max_file_bytes: The most bytes read from one export file, after
            decompression (default :data:`.export.MAX_FILE_BYTES`, 64 GiB).
        max_file_lines: The most lines in one export file, blank ones included
            (default :data:`.export.MAX_FILE_LINES`, 200 million).
        max_gzip_ratio: The most bytes a gzip file may decompress to per
            compressed byte (default :data:`.export.MAX_GZIP_RATIO`, 200).

    Raises:
        ExportError: the export cannot be read (names the file), a file is past
            a limit, the manifest's ``transactionTime`` is after today, or the
            output cannot be used or written.
        FbssPathwayError: a worker failed or the rule files changed.
        ValueError: an argument is out of range (``assessment_date`` after today too).
    """
    if partition_patients < 1:
        raise ValueError("partition_patients must be at least 1")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (a local cluster) or scheduler (an existing one), not both")
    defaults = FileLimits()
    limits = FileLimits(
        max_bytes=defaults.max_bytes if max_file_bytes is None else max_file_bytes,
        max_lines=defaults.max_lines if max_file_lines is None else max_file_lines,
        max_gzip_ratio=defaults.max_gzip_ratio if max_gzip_ratio is None else max_gzip_ratio,
    )
    source, target = Path(export).resolve(), Path(output).resolve()
    index = read_export(source)
    if assessment_date is not None and assessment_date > date.today():
        # Every record would be refused, after the whole run: refused before it.
        raise ValueError("assessment_date is after today")
    day = assessment_date or index.transaction_day() or date.today()
    if day > date.today():
        raise ExportError("manifest.json: transactionTime is after today (this machine's clock)")
    ruleset = default_ruleset() if ruleset is None else ruleset
    with _own_output(target) as (parts_dir, work):
        return _screen(
            index.files,
            parts_dir,
            work,
            target,
            day,
            ruleset,
            limits,
            workers,
            scheduler,
            partition_patients,
            progress,
            index.notes(),
        )


def _screen(
    files: list[Any],
    parts_dir: Path,
    work: Path,
    target: Path,
    day: date,
    ruleset: RuleSet,
    limits: FileLimits,
    workers: int | None,
    scheduler: str | None,
    partition_patients: int,
    progress: bool | None,
    notes: list[str],
) -> ScreenSummary:
    rules = (str(ruleset.path), ruleset.version)
    show = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    try:
        with client_for(workers, scheduler) as client:
            passes = run_passes(
                client,
                files,
                work,
                parts_dir,
                limits=limits,
                rules=rules,
                assessment_date=day,
                partition_patients=partition_patients,
                show=lambda futures: _progress(futures, show),
            )
            worker_count = len(client.scheduler_info().get("workers", {}))
    except FbssPathwayError:
        raise
    except Exception as error:  # a task failed on a worker: say which kind, not the data
        raise FbssPathwayError(f"the screen failed on a worker ({type(error).__name__})") from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarise(passes, ruleset_version=ruleset.version, assessment_date=day)
    summary.seconds = time.perf_counter() - started
    summary.notes = notes
    summary.workers = worker_count
    _write_json(target / _MEASURE_REPORT, summary.measure_report())
    _write_json(target / SUMMARY, summary.as_json())  # last: the screen is complete
    return summary


@contextmanager
def _own_output(target: Path) -> Iterator[tuple[Path, Path]]:
    """The output made ready, marked as a screen's and locked; yields (parts, work folder).

    Refuses a directory that holds anything but a screen's output (its marker),
    and one that a running screen holds. Removes the summary first, then what
    an earlier screen wrote (nothing else).
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
        present = [path.name for path in target.iterdir()]
    except FileExistsError:  # a file where the directory should be
        raise ExportError(f"cannot use {_short(target)} as the output: not a directory") from None
    except OSError as error:
        raise ExportError(f"cannot use {_short(target)} as the output: {error.strerror}") from None
    marker = target / MARKER
    if present and MARKER not in present:
        raise ExportError(
            f"{target} is neither empty nor an earlier screen's output (no {MARKER}): not used"
        )
    try:
        held = os.open(marker, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise ExportError(f"cannot write {marker}: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(held).st_mode):
            raise ExportError(f"{marker} is not a regular file: not used")
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(f"another screen is writing to {target}: not used") from None
        parts_dir, work = target / PATIENTS_DIR, target / WORK_DIR
        try:
            os.ftruncate(held, 0)
            os.write(held, _MARKER_TEXT)
            for name in (SUMMARY, _MEASURE_REPORT):  # first: an unfinished screen has none
                (target / name).unlink(missing_ok=True)
            for folder in (parts_dir, work):
                _remove(folder)
            parts_dir.mkdir()
            work.mkdir()
        except OSError as error:
            raise ExportError(f"cannot write the output {target}: {error.strerror}") from None
        yield parts_dir, work
    finally:
        os.close(held)  # the lock goes with it


def clean_interrupted(output: Path) -> bool | None:
    """Remove the raw work folder of a screen that was stopped; whether one ran there.

    None: no screen's output. True: a screen is running there now (its marker
    is locked), nothing is touched. False: no screen is running; the work
    folder (the export's raw lines, patient data) is removed if one was left.
    """
    marker = output / MARKER
    try:
        held = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(held).st_mode):
            return None
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            _remove(output / WORK_DIR)
        return False
    finally:
        os.close(held)


def _remove(path: Path) -> None:
    """Remove a folder a screen wrote (a link in its place is removed, never followed)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:60] + "..." + text[-40:]


def _progress(futures: list[Any], show: bool) -> None:
    if show:
        from distributed import progress

        progress(futures)  # type: ignore[no-untyped-call]
        print(file=sys.stderr)


def _write_json(path: Path, data: Any) -> None:
    try:
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror}") from None
