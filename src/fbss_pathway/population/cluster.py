"""The Dask client a screen runs on: a running scheduler's, or a local cluster's own.

A local cluster's worker processes get glibc's allocator settings of
:data:`WORKER_ALLOCATOR` before they start. Dask sets ``MALLOC_TRIM_THRESHOLD_``
to 64 KiB for its workers, so that freed memory goes back to the system; setting
it also stops glibc from raising its mmap threshold (128 KiB) as programs free
large blocks. A split task reads its span a 1 MiB block at a time, so every
block became a fresh mapping, faulted in and zeroed a page at a time, then
unmapped: on the EHR-shaped export about 230,000 page faults a pass and a
fifth of the split's CPU, and two workers doing so slowed each other (the kernel
zeroing pages for both). Blocks now come from the heap and stay there while the
task runs; a worker keeps at most 64 MiB free at the top of its heap
(docs/performance.md, "Population screening of an EHR-shaped export").

glibc reads these variables when a process starts, so they are set where Dask
sets its own, in ``distributed.nanny.pre-spawn-environ``, and in this process's
environment while the cluster runs (the nanny prefers what is there). The
nanny writes its workers' settings there too (``OMP_NUM_THREADS``,
``PYTHONHASHSEED``, ...): the environment is put back as it was when the
cluster closes. Other C libraries ignore them.

The workers also run without Dask's statistical profiler
(:data:`WORKER_CONFIG`). It samples the task thread's stack every 10 ms from
the worker's event loop, taking the interpreter lock from the task each time,
for a dashboard the screen never shows: a worker spent about a tenth more CPU
on the same screen with it (docs/performance.md, "The workers' profiler").

A cluster the caller runs (``scheduler=``) is theirs to configure:
docs/population.md says how.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["WORKER_ALLOCATOR", "WORKER_CONFIG", "client_for", "cores"]

#: glibc allocator settings of a local cluster's workers: blocks under 16 MiB (a read
#: block, a run of lines, a line at the size limit) from the heap, and at most 64 MiB
#: kept free at its top.
WORKER_ALLOCATOR = {
    "MALLOC_MMAP_THRESHOLD_": 16 * 1024 * 1024,
    "MALLOC_TRIM_THRESHOLD_": 64 * 1024 * 1024,
}

#: Dask settings of a local cluster's workers: no statistical profiler (see above).
WORKER_CONFIG: dict[str, object] = {"distributed.worker.profile.enabled": False}


@contextmanager
def client_for(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client on the given scheduler, or on a local cluster of worker processes."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:  # type: ignore[no-untyped-call]
            yield client
        return
    settings: dict[str, object] = {
        f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ALLOCATOR.items()
    }
    settings.update(WORKER_CONFIG)  # each nanny hands its worker the configuration set here
    saved = dict(os.environ)
    try:
        # Dask's nanny prefers a variable already in this environment to its
        # configuration (an earlier cluster in this process leaves Dask's 64 KiB there).
        os.environ.update({name: str(value) for name, value in WORKER_ALLOCATOR.items()})
        with dask.config.set(settings):
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers or cores(),
                threads_per_worker=1,  # the rule engine runs one session at a time per process
                processes=True,
                dashboard_address=None,
                # The scheduler's HTTP server (metrics) on a free loopback port, never 8787:
                # another Dask on the machine must not move it with a warning.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                # Not even a task's failure: the screen says which kind of error, and
                # a traceback's message could quote a line of the export.
                silence_logs=logging.CRITICAL,
            )
        with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
            yield client
    finally:
        _restore(saved)


def _restore(saved: dict[str, str]) -> None:
    """This process's environment as it was (Dask's nanny writes its workers' settings there)."""
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
