"""Shared pieces of the orchestrators: retried steps and the status users see."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

# Activities act on external systems that blip: retry a step before failing the run.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=3)
MAX_REASON = 500


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
        text = text.split("failed: ", 1)[1]
    return text[:MAX_REASON]


def status_of(run: dict[str, Any]) -> dict[str, Any]:
    """The run's public status (custom status and output): small, references only."""
    progress = run.get("progress") or {}
    best_loss = progress.get("best_loss")
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
        "best": None if best_loss is None else {"loss": best_loss, "params": progress.get("best_params")},
        "results": run["results_url"],
        "error": run.get("error"),
        "last_event_at": progress.get("last_event_at"),
    }
