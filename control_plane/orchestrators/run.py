"""The run orchestration: environment → per-run plane → monitor → finish.

Input and state are one plain dict (`run`), carried across `continue_as_new`:
the document, where results go, the deadline, the references the planes hand
on (never a secret), and the progress folded from events.

The monitor handles one wake-up per execution — a progress update, a cancel
request, or a heartbeat timer — then continues as new. History stays a few
events long whatever the trial count, and no wait for an event name is ever
made twice in one execution (the Python SDK hands an early event to every later
wait for the same name).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.durable_functions as df

from control_plane.intake import merge

from .steps import StepFailed, call, status_of

bp = df.Blueprint()

@bp.orchestration_trigger(context_name="context", orchestration="run")
def run_orchestrator(context: df.DurableOrchestrationContext):
    run = context.get_input()
    try:
        if run["phase"] == "accepted":
            yield from _provision(context, run)
        return (yield from _monitor(context, run))
    except StepFailed as failure:
        return (yield from _end(context, run, "failed", {"step": failure.step, "reason": failure.reason}))


def _provision(context: df.DurableOrchestrationContext, run: dict[str, Any]):
    _enter(context, run, "provisioning", "environment")
    request = {
        "environment": run["environment"],
        "target": run["target"],
        "action": "up",
        "azure": run.get("azure"),
        "workspace": run.get("workspace"),
    }
    try:
        environment = yield context.call_sub_orchestrator(
            "environment", request, instance_id=f"{run['run_id']}:environment"
        )
    except Exception as exc:
        raise StepFailed("environment", str(exc).split("\n")[0]) from None
    if environment["phase"] != "ready":
        error = environment["error"]
        raise StepFailed("environment", f"{error['step']}: {error['reason']}")
    if run["target"] == "local":
        yield from _local_plane(context, run)
    else:
        yield from _cluster_plane(context, run, environment["binding"])
    _enter(context, run, "running", "monitor")


def _local_plane(context: df.DurableOrchestrationContext, run: dict[str, Any]):
    """Dask and the runner as processes on the Function App's host."""
    ref = {"run_id": run["run_id"]}
    run["plane"] = {"status": ["local_runner_status", ref], "stop": ["local_stop_run", ref]}
    _enter(context, run, "starting", "workspace")
    compute = run["spec"].get("compute") or {}
    workspace = yield from call(
        context,
        "workspace",
        "local_start_workspace",
        ref | {"workers": compute.get("workers") or 2, "threads_per_worker": compute.get("threads_per_worker") or 1},
    )
    _enter(context, run, "starting", "runner")
    yield from call(
        context,
        "runner",
        "local_start_runner",
        ref
        | {
            "spec": run["spec"],
            "spec_dir": run["spec_dir"],
            "results_url": run["results_url"],
            "scheduler_address": workspace["scheduler_address"],
            "storage_url": "memory",
        },
    )


def _cluster_plane(context: df.DurableOrchestrationContext, run: dict[str, Any], environment: dict[str, Any]):
    """The run's namespace, its PostgreSQL when asked, and the runner Job on the shared workspace."""
    cluster = environment["cluster"]
    _enter(context, run, "starting", "namespace")
    pull_secret = (run.get("workspace") or {}).get("image_pull_secret")
    created = yield from call(context, "namespace", "k8s_ensure_run_namespace", {
        "cluster": cluster, "run_id": run["run_id"], "environment": run["environment"],
        "image_pull_secret": pull_secret})  # fmt: skip
    where = {"cluster": cluster, "namespace": created["namespace"]}
    run["plane"] = {"stop": ["k8s_delete_run", where]}
    postgres = None
    store = run["spec"].get("central_store")
    if store is not None:
        _enter(context, run, "starting", "postgres")
        postgres = yield from call(context, "postgres", "k8s_ensure_postgres", where | {
            "size": store.get("size", "10Gi"), "storage_class": store.get("storage_class"),
            "version": store.get("version")})  # fmt: skip
    _enter(context, run, "starting", "runner")
    runner = yield from call(context, "runner", "k8s_start_runner", where | {
        "run_id": run["run_id"],
        "image": (run.get("workspace") or {}).get("image"),
        "spec": run["spec"],
        "spec_dir": run["spec_dir"],
        "scheduler_address": environment["workspace"]["scheduler_address"],
        "results_url": run["results_url"],
        "postgres": postgres,
        "runners": (run["spec"].get("compute") or {}).get("runners", 1),
        "image_pull_secret": pull_secret,
    })  # fmt: skip
    run["plane"]["status"] = ["k8s_runner_status", where | {"job_name": runner["job_name"]}]


def _monitor(context: df.DurableOrchestrationContext, run: dict[str, Any]):
    context.set_custom_status(status_of(run))  # each execution reports its own; none is inherited
    now = context.current_utc_datetime
    deadline = datetime.fromisoformat(run["deadline"])
    if now >= deadline:
        raise StepFailed("monitor", f"the run passed its deadline ({run['deadline']}) and was stopped")
    progress = context.wait_for_external_event("progress")
    cancel = context.wait_for_external_event("cancel")
    heartbeat = context.create_timer(min(now + timedelta(seconds=run["heartbeat_seconds"]), deadline))
    woke = yield context.task_any([progress, cancel, heartbeat])
    if woke is not heartbeat:
        heartbeat.cancel()
    if woke is cancel:
        return (yield from _end(context, run, "cancelled", None, purge=bool(_payload(cancel.result).get("purge"))))
    if woke is progress:
        run["progress"] = merge(run.get("progress"), _payload(progress.result))
        terminal = run["progress"].get("terminal")
        if terminal == "completed":
            return (yield from _end(context, run, "completed", None))
        if terminal == "failed":
            reason = run["progress"].get("reason") or "the runner reported failure"
            return (yield from _end(context, run, "failed", {"step": "runner", "reason": reason}))
    else:
        yield from _check_runner(context, run)
        if run["phase"] != "running":
            return status_of(run)
    context.set_custom_status(status_of(run))
    context.continue_as_new(run)
    return None


def _check_runner(context: df.DurableOrchestrationContext, run: dict[str, Any]):
    """No event for a heartbeat: ask whether the runner is still there."""
    activity, payload = run["plane"]["status"]
    found = yield from call(context, "monitor", activity, payload)
    if found["state"] == "running":
        return
    summary = found.get("summary") or {}
    if found.get("exit_code") == 0 and summary.get("status", "completed") == "completed":
        run["progress"] = merge(run.get("progress"), _update_from_summary(summary))  # its last events were lost
        yield from _end(context, run, "completed", None)
        return
    code = found.get("exit_code")
    reason = summary.get("error") or (
        f"the runner exited with code {code}" if code is not None else "the runner is gone"
    )
    yield from _end(context, run, "failed", {"step": "runner", "reason": reason})


def _end(context: df.DurableOrchestrationContext, run: dict[str, Any], phase: str, error, purge: bool = False):
    """Stop what the run started (never the shared environment), then report `phase`."""
    _enter(context, run, "finishing", "cleanup")
    try:
        if "plane" in run:  # only what this run created; the environment is shared
            activity, payload = run["plane"]["stop"]
            yield from call(context, "cleanup", activity, payload | {"purge": purge})
        if purge:
            yield from call(context, "cleanup", "purge_results", {"results_url": run["results_url"]})
    except StepFailed as failure:
        error = error or {"step": failure.step, "reason": failure.reason}
        phase = "failed"
    run["error"] = error
    _enter(context, run, phase, None)
    return status_of(run)


def _enter(context: df.DurableOrchestrationContext, run: dict[str, Any], phase: str, step: str | None) -> None:
    run["phase"], run["step"] = phase, step
    context.set_custom_status(status_of(run))


def _payload(value: Any) -> dict[str, Any]:
    """Event data as a dict (the Python client JSON-encodes `raise_event` data once more)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _update_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_ids": [],
        "done": summary.get("n_trials", 0),
        "failed": summary.get("n_failed", 0),
        "budget": summary.get("budget"),
        "best_loss": summary.get("best_loss"),
        "best_params": summary.get("best_params"),
        "last_event_at": _utc_z(summary.get("finished_at")),
        "started": True,
        "terminal": "completed",
        "summary": None,
        "reason": None,
    }


def _utc_z(moment: str | None) -> str | None:
    """Times as the event intake writes them, so string comparisons order them."""
    if not moment:
        return None
    return datetime.fromisoformat(moment).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
