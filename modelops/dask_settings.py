"""The Dask configuration the runner's clusters run with, in one place.

A calibration keeps a few tasks in flight on few cores, so Dask's housekeeping
competes with the simulations. Its defaults poll for a dashboard nobody may be
watching: on 2 cores an idle LocalCluster spent ~6% of a core in the scheduler
and ~5% in each worker. The runner's `local_client` applies these settings, and the
in-cluster scheduler and worker pods carry them as `DASK_*` environment
variables (`as_env`), so `mops run --local` and a cloud run behave alike. Plain data in core: the
control plane's manifest builders carry it without importing Dask.

What stays on, and why: work stealing (workers that join a running cluster
take queued tasks from busy ones); the worker's memory monitor (spill, pause,
and the nanny's restart of a worker process that leaks), checked every second
instead of every 100 ms: a simulation's memory is in its own child process,
which the kernel kills first when memory runs out.
"""

from __future__ import annotations

from collections.abc import Mapping

#: dask.config keys (dotted) and the values the runner uses.
SETTINGS: Mapping[str, object] = {
    # The statistical profiler samples every busy worker thread every 10 ms for the dashboard's profile page.
    "distributed.worker.profile.enabled": False,
    # Event-loop health ticks, 50 a second in every scheduler, worker and nanny; a loop blocked past the
    # warning limit (3 s) is still reported at one tick a second.
    "distributed.admin.tick.interval": "1s",
    # CPU, memory and I/O samples for the dashboard and worker heartbeats, twice a second by default.
    "distributed.admin.system-monitor.interval": "2s",
    # Spill, pause and terminate thresholds of the worker process (the models' memory is the child's).
    "distributed.worker.memory.monitor-interval": "1s",
}


def as_env() -> list[dict[str, str]]:
    """`SETTINGS` as Kubernetes container env, in the form dask.config reads (`DASK_A__B_C=value`)."""
    return [{"name": _env_name(key), "value": _env_value(value)} for key, value in SETTINGS.items()]


def _env_name(key: str) -> str:
    return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))


def _env_value(value: object) -> str:
    return str(value)  # dask.config parses "False" back with literal_eval; "1s" stays a string

