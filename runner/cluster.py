"""A Dask cluster on this machine, sized to it, for `--local` runs."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import dask
from distributed import Client, LocalCluster

from modelops.dask_settings import SETTINGS


@contextlib.contextmanager
def local_client(workers: int | None = None, threads_per_worker: int = 1, *, processes: bool = True) -> Iterator[Client]:
    """Workers (one per core by default), closed on exit whatever happens.

    The runner's Dask settings (modelops.dask_settings) are in force while the
    cluster lives: the scheduler and client here read them, and each nanny hands
    them to its worker process. Worker processes ignore Ctrl-C (the runner
    handles it); thread workers share this process and its signal handling. The
    scheduler's HTTP server takes a free port, so a busy 8787 (another cluster,
    a notebook) is no warning.
    """
    n_workers = workers or os.cpu_count() or 1
    with dask.config.set(dict(SETTINGS)), LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        **({"preload": ["runner.worker_setup"]} if processes else {}),
    ) as cluster, Client(cluster) as client:
        yield client
