import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# A quick default for local runs; CI (CI=true) explores more, deterministically.
settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile(
    "ci",
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A real local Dask cluster: a scheduler and 2 worker processes; yields its address."""
    from distributed import LocalCluster

    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # The scheduler's HTTP server (metrics) on a free loopback port, never 8787:
        # another Dask on the machine must not move it with a warning.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    ) as local:
        yield local.scheduler_address
