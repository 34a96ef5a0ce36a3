"""A Dask cluster on this machine, sized to it, for `--local` runs."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import dask
from distributed import Client, LocalCluster

from modelops.dask_settings import SETTINGS

# The nannies restart dead workers themselves; distributed's lost-worker timeout (15 s) would
# close a nanny for good when its worker is down at the moment a timer set by any earlier loss
# of that worker fires (a second loss, or a restart slower than 15 s on a busy machine).
NEVER_CLOSE_A_LOST_WORKER = {"distributed.deploy.lost-worker-timeout": "365 days"}


@contextlib.contextmanager
def local_client(workers: int | None = None, threads_per_worker: int = 1, *, processes: bool = True) -> Iterator[Client]:
    """Workers (one per core by default), closed on exit whatever happens.

    The runner's Dask settings (modelops.dask_settings) are in force while the
    cluster lives: the scheduler and client here read them, and each nanny hands
    them to its worker process. Worker processes ignore Ctrl-C (the runner
    handles it); thread workers share this process and its signal handling. The
    scheduler's HTTP server takes a free port, so a busy 8787 (another cluster,
    a notebook) is no warning. A worker that dies is restarted by its nanny
    however often it dies and however slowly it starts.
    """
    n_workers = workers or os.cpu_count() or 1
    with dask.config.set(dict(SETTINGS) | NEVER_CLOSE_A_LOST_WORKER), LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        **({"preload": ["runner.worker_setup"]} if processes else {}),
    ) as cluster, Client(cluster) as client:
        yield client
