"""Screening a whole export on a Dask cluster: partition by patient, then screen each partition.

Two passes of Dask tasks. The first splits every export file into partitions by
a stable hash of the patient id (one task per file, streaming); the second
screens each partition (one task per partition) and writes its Parquet part.
Partitions are sized from the number of Patient resources so that each holds
about half of ``partition_patients`` (the bound), which keeps a worker's memory
independent of the export's size. Workers load the rule set once, by version,
and refuse to run if its files changed.

The export, the output and the work directory must be on a file system every
worker sees (a local disk for a local cluster; a shared one for a cluster of
machines), as they are for a Bulk Data export staged for analysis.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import FbssPathwayError
from ..ruleset import RuleSet, default_ruleset
from .export import ExportError, export_files, export_time
from .partition import count_patients, split_file
from .screening import screen_partition
from .summary import ScreenSummary, summarise

__all__ = ["PATIENTS_DIR", "screen_export"]

#: The Parquet parts, inside the output directory.
PATIENTS_DIR = "patients"
_WORK_DIR = ".work"


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
) -> ScreenSummary:
    """Screen every patient of a FHIR Bulk Data export; one Parquet row per patient.

    Args:
        export: The export directory (a manifest, or ``<ResourceType>.ndjson`` files).
        output: Created if missing: ``patients/part-*.parquet``, ``summary.json``,
            ``measure-report.json``. It must be empty or an earlier screen's
            output, which is replaced.
        workers: Worker processes of a local cluster (default: the cores).
        scheduler: Address of a running Dask scheduler (``tcp://host:port``)
            instead of a local cluster.
        assessment_date: The day the data stand for; by default the manifest's
            ``transactionTime``, else today.
        partition_patients: The most patients a partition should hold.
        ruleset: From :func:`load_ruleset`; the packaged rules by default. Its
            directory must be readable by every worker.
        progress: A Dask progress bar on stderr (default: when it is a terminal).

    Raises:
        ExportError: the export cannot be read (names the file).
        FbssPathwayError: a worker failed or the rule files changed.
        ValueError: an argument is out of range.
    """
    if partition_patients < 1:
        raise ValueError("partition_patients must be at least 1")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (a local cluster) or scheduler (an existing one), not both")
    source, target = Path(export).resolve(), Path(output).resolve()
    files = export_files(source)
    day = assessment_date or export_time(source) or date.today()
    ruleset = default_ruleset() if ruleset is None else ruleset
    rules = (str(ruleset.path), ruleset.version)
    parts_dir, work = target / PATIENTS_DIR, target / _WORK_DIR
    if target.exists() and any(target.iterdir()) and not (target / "summary.json").exists():
        raise ExportError(f"{target} is neither empty nor an earlier screen's output: not used")
    for old in (parts_dir, work):
        shutil.rmtree(old, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    work.mkdir()
    show = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    try:
        with _client(workers, scheduler) as client:
            patient_files = [f for f in files if f.resource_type == "Patient"]
            patients = sum(client.gather(client.map(count_patients, patient_files)))
            partitions = max(1, math.ceil(2 * patients / partition_patients))
            splitting = client.map(
                split_file,
                files,
                range(len(files)),
                workdir=work,
                partitions=partitions,
                pure=False,
            )
            _progress(splitting, show)
            splits = client.gather(splitting)
            screening = client.map(
                screen_partition,
                range(partitions),
                workdir=work,
                output=parts_dir,
                rules=rules,
                assessment_date=day,
                pure=False,
            )
            _progress(screening, show)
            parts = client.gather(screening)
            worker_count = len(client.scheduler_info().get("workers", {}))
    except FbssPathwayError:
        raise
    except Exception as error:  # a task failed on a worker: say which kind, not the data
        raise FbssPathwayError(f"the screen failed on a worker ({type(error).__name__})") from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarise(splits, parts, ruleset_version=ruleset.version, assessment_date=day)
    summary.seconds = time.perf_counter() - started
    summary.workers = worker_count
    _write_json(target / "summary.json", summary.as_json())
    _write_json(target / "measure-report.json", summary.measure_report())
    return summary


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client on the given scheduler, or on a local cluster of worker processes."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:  # type: ignore[no-untyped-call]
            yield client
        return
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers or _cores(),
        threads_per_worker=1,  # the rule engine runs one session at a time per process
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def _progress(futures: list[Any], show: bool) -> None:
    if show:
        from distributed import progress

        progress(futures)  # type: ignore[no-untyped-call]
        print(file=sys.stderr)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
