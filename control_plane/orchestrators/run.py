"""The run orchestration: environment → per-run plane → monitor → finish.

Input and state are one plain dict (`run`), carried across `continue_as_new`:
the document, where results go, the deadline, the references the planes hand
on (never a secret), and the progress folded from events.

Every yield goes through the run's `Mailbox`, so a progress or cancel event is
taken whatever it arrives with (another event, a timer, an activity result) and
whenever it arrives (provisioning included). The monitor waits for the first
event or its heartbeat timer, takes every event the replay still holds, then
decides: a cancel ends the run cancelled, a runner's terminal report ends it
completed or failed, anything else continues as new. History stays a few events
long whatever the trial count.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import azure.durable_functions as df

from control_plane.intake import merge

from .mailbox import Mailbox
from .steps import RETRY, StepFailed, call, reason_of, runner_account, status_of

bp = df.Blueprint()


class _Cancelled(Exception):
    """A cancel arrived while the run was being provisioned."""


@bp.orchestration_trigger(context_name="context", orchestration="run")
def run_orchestrator(context: df.DurableOrchestrationContext):
    run = context.get_input()
    mail = Mailbox(context, run)
    try:
        if run["phase"] == "accepted":
            yield from _provision(context, mail, run)
        return (yield from _monitor(context, mail, run))
    except _Cancelled:
        return (yield from _cancel(context, mail, run))
    except StepFailed as failure:
        return (yield from _end(context, run, "failed", {"step": failure.step, "reason": failure.reason}))


def _step(context: df.DurableOrchestrationContext, mail: Mailbox, step: str, activity: str, payload: dict):
    """`steps.call` through the mailbox, so events that arrive meanwhile are taken."""
    try:
        return (yield from mail.until(context.call_activity_with_retry(activity, RETRY, payload)))
    except Exception as exc:  # the SDK raises a bare Exception carrying the activity's failure
        raise StepFailed(step, reason_of(exc)) from None


def _starting(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any], step: str) -> None:
    """The next provisioning step, unless a cancel arrived (what is recorded so far gets removed)."""
    if mail.cancel is not None:
        raise _Cancelled()
    _enter(context, run, "starting", step)


def _provision(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any]):
    _enter(context, run, "provisioning", "environment")
    request = {
        "environment": run["environment"],
        "target": run["target"],
        "action": "up",
        "azure": run.get("azure"),
        "workspace": run.get("workspace"),
    }
    try:
        environment = yield from mail.until(context.call_sub_orchestrator(
            "environment", request, instance_id=f"{run['run_id']}:environment"))  # fmt: skip
    except Exception as exc:
        raise StepFailed("environment", reason_of(exc)) from None
    if environment["phase"] != "ready":
        error = environment["error"]
        raise StepFailed("environment", f"{error['step']}: {error['reason']}")
    if run["target"] == "local":
        yield from _local_plane(context, mail, run)
    else:
        yield from _cluster_plane(context, mail, run, environment["binding"])
    _enter(context, run, "running", "monitor")


def _local_plane(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any]):
    """Dask and the runner as processes on the Function App's host."""
    ref = {"run_id": run["run_id"]}
    run["plane"] = {"status": ["local_runner_status", ref], "stop": ["local_stop_run", ref]}
    _starting(context, mail, run, "workspace")
    compute = run["spec"].get("compute") or {}
    workspace = yield from _step(
        context,
        mail,
        "workspace",
        "local_start_workspace",
        ref | {"workers": compute.get("workers") or 2, "threads_per_worker": compute.get("threads_per_worker") or 1},
    )
    _starting(context, mail, run, "runner")
    yield from _step(
        context,
        mail,
        "runner",
        "local_start_runner",
        ref
        | {
            "spec": run["spec"],
            "spec_dir": run["spec_dir"],
            "bundle_store": run.get("bundle_store"),
            "results_url": run["results_url"],
            "scheduler_address": workspace["scheduler_address"],
            "storage_url": "memory",
        },
    )


def _cluster_plane(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any],
                   environment: dict[str, Any]):  # fmt: skip
    """The run's namespace, its PostgreSQL when asked, and the runner Job on the shared workspace."""
    cluster = environment["cluster"]
    _starting(context, mail, run, "namespace")
    pull_secret = (run.get("workspace") or {}).get("image_pull_secret")
    created = yield from _step(context, mail, "namespace", "k8s_ensure_run_namespace", {
        "cluster": cluster, "run_id": run["run_id"], "environment": run["environment"],
        "image_pull_secret": pull_secret})  # fmt: skip
    where = {"cluster": cluster, "namespace": created["namespace"]}
    run["plane"] = {"stop": ["k8s_delete_run", where]}
    identity = environment.get("identity")
    if identity is not None:  # azure: the runner's account acts as the environment's identity while the run lives
        _starting(context, mail, run, "identity")
        account = runner_account(identity, created["namespace"])
        run["plane"]["release"] = ["azure_unfederate", account]
        yield from _step(context, mail, "identity", "azure_federate", account | {"cluster_name": cluster["cluster_name"]})
    postgres = None
    store = run["spec"].get("central_store")
    if store is not None:
        _starting(context, mail, run, "postgres")
        postgres = yield from _step(context, mail, "postgres", "k8s_ensure_postgres", where | {
            "size": store.get("size", "10Gi"), "storage_class": store.get("storage_class"),
            "version": store.get("version")})  # fmt: skip
    _starting(context, mail, run, "runner")
    runner = yield from _step(context, mail, "runner", "k8s_start_runner", where | {
        "run_id": run["run_id"],
        "image": (run.get("workspace") or {}).get("image"),
        "spec": run["spec"],
        "spec_dir": run["spec_dir"],
        "bundle_store": run.get("bundle_store"),
        "scheduler_address": environment["workspace"]["scheduler_address"],
        "results_url": run["results_url"],
        "postgres": postgres,
        "runners": (run["spec"].get("compute") or {}).get("runners", 1),
        "image_pull_secret": pull_secret,
    })  # fmt: skip
    run["plane"]["status"] = ["k8s_runner_status", where | {"job_name": runner["job_name"]}]


def _monitor(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any]):
    """One wake-up per execution. `settle()` is always followed by `continue_as_new` and no
    other yield, so its count of pending events is the same on every replay: what a wake-up
    decides (end the run, check the runner) happens in the next execution."""
    ending = run.pop("ending", None)
    if ending is not None:
        return (yield from _end(context, run, ending["phase"], ending["error"], purge=ending["purge"]))
    context.set_custom_status(status_of(run))  # each execution reports its own; none is inherited
    if run.pop("check", False):
        found = yield from _runner_state(context, mail, run)
        if found["state"] != "running" and _ending(mail, run) is None:
            return (yield from _runner_gone(context, run, found))
    elif _ending(mail, run) is None:  # provisioning may have taken a cancel or the runner's end
        now = context.current_utc_datetime
        deadline = datetime.fromisoformat(run["deadline"])
        if now >= deadline:
            raise StepFailed("monitor", f"the run passed its deadline ({run['deadline']}) and was stopped")
        heartbeat = context.create_timer(min(now + timedelta(seconds=run["heartbeat_seconds"]), deadline))
        run["check"] = yield from mail.next(heartbeat)
        if not run["check"]:
            heartbeat.cancel()
    yield from mail.settle()
    run["ending"] = _ending(mail, run)
    context.set_custom_status(status_of(run))
    context.continue_as_new(run)
    return None


def _ending(mail: Mailbox, run: dict[str, Any]) -> dict[str, Any] | None:
    """How the run ends, if the mailbox says so: a cancel first, then the runner's own report."""
    if mail.cancel is not None:
        return {"phase": "cancelled", "error": None, "purge": bool(mail.cancel.get("purge"))}
    progress = run.get("progress") or {}
    if progress.get("terminal") == "completed":
        return {"phase": "completed", "error": None, "purge": False}
    if progress.get("terminal") == "failed":
        reason = progress.get("reason") or "the runner reported failure"
        return {"phase": "failed", "error": {"step": "runner", "reason": reason}, "purge": False}
    return None


def _cancel(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any]):
    return (yield from _end(context, run, "cancelled", None, purge=bool(mail.cancel.get("purge"))))


def _runner_state(context: df.DurableOrchestrationContext, mail: Mailbox, run: dict[str, Any]):
    """No event for a heartbeat: ask whether the runner is still there (events still taken)."""
    activity, payload = run["plane"]["status"]
    try:
        return (yield from mail.until(context.call_activity_with_retry(activity, RETRY, payload)))
    except Exception as exc:
        raise StepFailed("monitor", reason_of(exc)) from None


def _runner_gone(context: df.DurableOrchestrationContext, run: dict[str, Any], found: dict[str, Any]):
    """The runner is gone: completed if it says so (its last events were lost), else failed."""
    summary = found.get("summary") or {}
    if found.get("exit_code") == 0 and summary.get("status", "completed") == "completed":
        run["progress"] = merge(run.get("progress"), _update_from_summary(summary))
        return (yield from _end(context, run, "completed", None))
    code = found.get("exit_code")
    reason = summary.get("error") or (
        f"the runner exited with code {code}" if code is not None else "the runner is gone"
    )
    return (yield from _end(context, run, "failed", {"step": "runner", "reason": reason}))


def _end(context: df.DurableOrchestrationContext, run: dict[str, Any], phase: str, error, purge: bool = False):
    """Stop what the run started (never the shared environment), then report `phase`."""
    _enter(context, run, "finishing", "cleanup")
    try:
        if "plane" in run:  # only what this run created; the environment is shared
            activity, payload = run["plane"]["stop"]
            try:
                yield from call(context, "cleanup", activity, payload | {"purge": purge})
            except StepFailed as failure:
                stopped = failure
            else:
                stopped = None
            if "release" in run["plane"]:  # the runner's federated credential, even if stopping failed:
                activity, payload = run["plane"]["release"]  # each one left counts against the 20
                yield from call(context, "cleanup", activity, payload)
            if stopped is not None:
                raise stopped
        if purge:
            yield from call(context, "cleanup", "purge_results", {"results_url": run["results_url"]})
    except StepFailed as failure:
        error = error or {"step": failure.step, "reason": failure.reason}
        phase = "failed"
    run["error"] = error
    _enter(context, run, phase, None)
    return status_of(run, full=True)


def _enter(context: df.DurableOrchestrationContext, run: dict[str, Any], phase: str, step: str | None) -> None:
    run["phase"], run["step"] = phase, step
    context.set_custom_status(status_of(run))


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
