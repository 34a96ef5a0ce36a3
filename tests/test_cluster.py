"""The local cluster `mops run --local` makes runs with the runner's Dask settings, in its worker processes too."""

from __future__ import annotations

import dask

from modelops.dask_settings import SETTINGS
from runner.cluster import local_client


def settings() -> dict:
    return {key: dask.config.get(key) for key in SETTINGS}


def test_the_local_cluster_and_its_worker_processes_run_with_the_runners_dask_settings() -> None:
    with local_client(1) as client:
        assert settings() == SETTINGS  # the scheduler and client here
        assert list(client.run(settings).values()) == [SETTINGS]  # the worker, started by its nanny
    assert dask.config.get("distributed.worker.profile.enabled") is True  # Dask's defaults again once it is closed
