"""Functions that run on Dask workers for one trial.

A costly trial's replicates are split over `simulate_group` tasks, and
`score_trial` receives their results as task *arguments* (Dask resolves the
futures), so no task ever waits on another from inside a worker thread. Cheap
trials run whole, several to a task (`run_trials`), so scheduler overhead does
not dominate. Every task that scores returns a list of outcomes, one per trial.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from modelops.ipc import ipc_to_table
from modelops.scoring import score
from modelops.services.execute import execute
from modelops_contracts import SimReturn, SimTask

Replicate = tuple[SimReturn, str | None]


def simulate_group(tasks: Sequence[SimTask]) -> list[Replicate]:
    return [execute(task) for task in tasks]


def score_trial(
    observed: Mapping[str, pl.DataFrame], targets: Mapping[str, Mapping], *groups: list[Replicate]
) -> list[dict[str, Any]]:
    """Score one trial from its replicate groups; a list of one outcome, like `run_trials`."""
    return [outcome(observed, targets, [r for group in groups for r in group])]


def run_trials(
    trials: Sequence[Sequence[SimTask]], observed: Mapping[str, pl.DataFrame], targets: Mapping[str, Mapping]
) -> list[dict[str, Any]]:
    """Simulate and score whole trials, one after another, in one task."""
    return [outcome(observed, targets, simulate_group(tasks)) for tasks in trials]


def outcome(
    observed: Mapping[str, pl.DataFrame], targets: Mapping[str, Mapping], replicates: list[Replicate]
) -> dict[str, Any]:
    """A trial's outcome: status, loss, per-target losses, timings, and on failure why."""
    sim_seconds = sum(r.metrics["seconds"] for r, _ in replicates)
    base: dict[str, Any] = {"sim_seconds": sim_seconds, "replicates": len(replicates)}
    for index, (result, trace) in enumerate(replicates):
        if result.error is not None:
            return base | {
                "status": "failed",
                "error": {
                    "stage": "simulation",
                    "replicate": index,
                    "type": result.error.error_type,
                    "message": result.error.message,
                    "traceback": trace,
                },
            }
    try:
        decoded = [{name: ipc_to_table(a.inline) for name, a in r.outputs.items()} for r, _ in replicates]
        loss, per_target = score(targets, observed, decoded)
    except Exception as exc:  # a scoring failure fails this trial only
        return base | {
            "status": "failed",
            "error": {
                "stage": "scoring",
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            },
        }
    return base | {"status": "completed", "loss": loss, "target_losses": per_target}
