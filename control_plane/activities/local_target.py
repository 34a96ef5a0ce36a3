"""Activities of the `local` target: Dask and the runner as processes on the Functions host.

Thin over `control_plane.local_target.LocalTarget`, plain dicts in and out. The state folder is
the app setting `MODELOPS_LOCAL_STATE_DIR` (default: `modelops-local` in the temp dir).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import azure.durable_functions as df

from control_plane.settings import APP_ROOT, setting
from control_plane.local_target import LocalTarget

bp = df.Blueprint()


def _target() -> LocalTarget:
    state_dir = setting("MODELOPS_LOCAL_STATE_DIR") or Path(tempfile.gettempdir()) / "modelops-local"
    return LocalTarget(Path(state_dir), code_dir=APP_ROOT)


@bp.activity_trigger(input_name="payload")
def local_start_workspace(payload: dict) -> dict:
    """`{run_id, workers, threads_per_worker?, timeout_s?}` -> `{scheduler_address, dashboard_url, workers}`."""
    return _target().start_workspace(
        payload["run_id"],
        payload["workers"],
        threads_per_worker=payload.get("threads_per_worker", 1),
        timeout_s=payload.get("timeout_s", 60.0),
    )


@bp.activity_trigger(input_name="payload")
def local_start_runner(payload: dict) -> dict:
    """`{run_id, spec, spec_dir, bundle_store?, results_url, events_url?, scheduler_address, storage_url?}`
    -> `{runner_id, pid}`.

    Without `events_url` the runner reports to the app's `MODELOPS_EVENTS_URL`; `null` sends no events.
    """
    events_url = payload["events_url"] if "events_url" in payload else setting("MODELOPS_EVENTS_URL") or None
    return _target().start_runner(
        payload["run_id"],
        payload["spec"],
        spec_dir=payload["spec_dir"],
        results_url=payload["results_url"],
        events_url=events_url,
        scheduler_address=payload["scheduler_address"],
        storage_url=payload.get("storage_url", "memory"),
        bundle_store=payload.get("bundle_store"),
    )


@bp.activity_trigger(input_name="payload")
def local_runner_status(payload: dict) -> dict:
    """`{run_id}` -> `{state: running|exited|missing, exit_code, summary}`."""
    return _target().runner_status(payload["run_id"])


@bp.activity_trigger(input_name="payload")
def local_stop_run(payload: dict) -> dict:
    """`{run_id, purge?}` -> `{stopped: [process names]}`; `purge` also drops the run's state and logs, not results."""
    target = _target()
    return target.purge(payload["run_id"]) if payload.get("purge") else target.stop(payload["run_id"])
