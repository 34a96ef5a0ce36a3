"""A Dask cluster on this machine, sized to it, for `--local` runs."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from distributed import Client, LocalCluster


@contextlib.contextmanager
def local_client(workers: int | None = None, threads_per_worker: int = 1) -> Iterator[Client]:
    """Worker processes (one per core by default), closed on exit whatever happens."""
    n_workers = workers or os.cpu_count() or 1
    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        preload=["runner.worker_setup"],  # workers leave Ctrl-C to the runner
    ) as cluster, Client(cluster) as client:
        yield client
