"""Functions that run on Dask workers for one trial.

Replicate groups are simulated by `simulate_group`; `score_trial` receives the
groups' results as task *arguments* (Dask resolves the futures), so no task ever
waits on another from inside a worker thread. When a trial fits in one group
both steps run in one task (`simulate_and_score`) to save a scheduler round trip.
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
) -> dict[str, Any]:
    """The trial's outcome: status, loss, per-target losses, timings, and on failure why."""
    replicates = [replicate for group in groups for replicate in group]
    sim_seconds = sum(r.metrics["seconds"] for r, _ in replicates)
    outcome: dict[str, Any] = {"sim_seconds": sim_seconds, "replicates": len(replicates)}
    for index, (result, trace) in enumerate(replicates):
        if result.error is not None:
            return outcome | {
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
        return outcome | {
            "status": "failed",
            "error": {
                "stage": "scoring",
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            },
        }
    return outcome | {"status": "completed", "loss": loss, "target_losses": per_target}


def simulate_and_score(
    tasks: Sequence[SimTask], observed: Mapping[str, pl.DataFrame], targets: Mapping[str, Mapping]
) -> dict[str, Any]:
    return score_trial(observed, targets, simulate_group(tasks))
