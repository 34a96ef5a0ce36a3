"""Cleanup of a run whose orchestration failed outside its own code.

A run cleans up after itself when it ends (run.py `_end`), but an orchestration the
extension fails (a status over its limits, a bug, a termination) runs none of its code
again. The sweeper (api/sweeper.py) starts this orchestration for such a run: it only
calls the stop activity of what the run had created (and releases its runner's federated credential), named from the run's last input
(or, before its first execution recorded one, derived from its target), so it shares
no code path with the run orchestration that failed.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from .steps import StepFailed, call, runner_account

bp = df.Blueprint()


def cleanup_request(run: dict[str, Any], environment: dict[str, Any] | None, namespace: str | None,
                    ) -> dict[str, Any] | None:  # fmt: skip
    """What stops `run`'s plane: its recorded stop step, else one derived from its target
    (`environment`: the output of its environment step; `namespace`: the run's namespace name).
    None when the run cannot have created anything yet."""
    plane = run.get("plane") or {}
    stop, release = plane.get("stop"), plane.get("release")
    if stop is None and run.get("target") == "local":
        stop = ["local_stop_run", {"run_id": run["run_id"]}]
    elif stop is None:
        binding = (environment or {}).get("binding") or {}
        if binding.get("cluster") is None or namespace is None:
            return None  # the environment step never finished: no namespace was made
        stop = ["k8s_delete_run", {"cluster": binding["cluster"], "namespace": namespace}]
        if binding.get("identity"):
            release = ["azure_unfederate", runner_account(binding["identity"], namespace)]
    return {"run_id": run["run_id"], "stop": stop, "release": release}


@bp.orchestration_trigger(context_name="context", orchestration="run_cleanup")
def run_cleanup(context: df.DurableOrchestrationContext):
    request = context.get_input()
    activity, payload = request["stop"]
    stopped, error = None, None
    try:
        stopped = yield from call(context, "cleanup", activity, payload | {"purge": False})
    except StepFailed as failure:
        error = failure
    if request.get("release"):  # the runner's federated credential (azure), even if stopping failed
        activity, payload = request["release"]
        try:
            yield from call(context, "cleanup", activity, payload)
        except StepFailed as failure:
            error = error or failure
    if error is not None:
        return {"run_id": request["run_id"], "phase": "failed", "error": {"step": error.step, "reason": error.reason}}
    return {"run_id": request["run_id"], "phase": "cleaned", "stopped": stopped}
