"""Shared pieces of the orchestrators: retried steps and the status users see."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df

from control_plane.k8s.manifests import RUNNER_ACCOUNT

# Activities act on external systems that blip: retry a step before failing the run.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3)
MAX_REASON = 500
# The extension refuses custom status over 16 KB of UTF-16 (and the run fails outside Python):
# best parameters get half of it, the other fields are bounded by validation and MAX_REASON.
PARAMS_SHOWN_UTF16 = 8 * 1024


class StepFailed(Exception):
    """A step failed after its retries; `step` and `reason` go into the run's status."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


def call(context: df.DurableOrchestrationContext, step: str, activity: str, payload: dict[str, Any]):
    """Run `activity` with retries; a final failure becomes `StepFailed(step, ...)`."""
    try:
        return (yield context.call_activity_with_retry(activity, RETRY, payload))
    except Exception as exc:  # the SDK raises a bare Exception carrying the activity's failure
        raise StepFailed(step, reason_of(exc)) from None


def reason_of(exc: BaseException) -> str:
    """The activity's own message, without the SDK's wrapping and .NET details."""
    text = str(exc).split("\n")[0].strip()
    prefix = "Activity function '"
    if text.startswith(prefix) and "failed: " in text:
        text = text.split("failed: ", 1)[1].strip()
    return text[:MAX_REASON]


def status_of(run: dict[str, Any], full: bool = False) -> dict[str, Any]:
    """The run's public status: references only, and (unless `full`, for the output) within
    the custom-status limit whatever the document: long best parameters are shortened."""
    progress = run.get("progress") or {}
    best_loss = progress.get("best_loss")
    best = None
    if best_loss is not None:
        best = {"loss": best_loss, "params": progress.get("best_params")}
        if not full:
            best |= shown_params(best["params"])
    return {
        "run_id": run["run_id"],
        "phase": run["phase"],
        "step": run.get("step"),
        "target": run["target"],
        "environment": run["environment"],
        "progress": {
            "done": progress.get("done", 0),
            "failed": progress.get("failed", 0),
            "budget": progress.get("budget") or run["spec"]["budget"]["trials"],
        },
        "best": best,
        "results": run["results_url"],
        "provenance": provenance_of(run),
        "error": run.get("error"),
        "last_event_at": progress.get("last_event_at"),
    }


def provenance_of(run: dict[str, Any]) -> dict[str, Any]:
    """What the run's results trace to: the bundle and document from the start, the target files'
    hashes and the runner's version once the runner reported them."""
    bundle = (run["spec"].get("model") or {}).get("bundle") or "installed"
    known = {"bundle": bundle, "bundle_store": run.get("bundle_store") if bundle.startswith("sha256:") else None,
             "spec_sha256": run.get("spec_sha256")}  # fmt: skip
    summary = (run.get("progress") or {}).get("summary") or {}
    return known | (summary.get("provenance") or {})


def shown_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The best parameters as custom status shows them: whole when small, else the first ones
    by name within `PARAMS_SHOWN_UTF16` bytes and how many were left out (the full set is in
    the orchestration's input and the results)."""
    if not params or _utf16(params) <= PARAMS_SHOWN_UTF16:
        return {"params": params}
    shown: dict[str, Any] = {}
    used = 2
    for name in sorted(params):
        cost = _utf16({name: params[name]})
        if used + cost > PARAMS_SHOWN_UTF16:
            break
        shown[name], used = params[name], used + cost
    return {"params": shown, "params_omitted": len(params) - len(shown)}


def _utf16(value: Any) -> int:
    return len(json.dumps(value).encode("utf-16-le"))


def runner_account(identity: dict[str, Any], namespace: str) -> dict[str, str]:
    """The run's runner service account, as the federation activities name it. One credential per run,
    made with its plane and removed at its end: an identity holds 20, so 19 runs at once (docs/deploy.md)."""
    return {"subscription_id": identity["subscription_id"], "resource_group": identity["resource_group"],
            "identity_name": identity["identity_name"], "namespace": namespace, "service_account": RUNNER_ACCOUNT}
