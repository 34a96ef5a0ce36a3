"""Functions that run on Dask workers for one trial.

Each worker's trial pump (runner/dispatch.py) calls them. A costly trial's
replicates are split over `simulate_group` calls, and `score_trial` scores
their results where they meet (in the runner, which holds the observed data),
so no call waits on another from inside a worker thread. Cheap trials run
whole, several to a call (`run_trials`), so per-call overhead does not
dominate. Every function that scores returns a list of outcomes, one per trial.
Simulations run in warm child processes (`modelops.services.executor`), one
round trip per call; `run_trials` has the child score each trial too, so no
output is encoded and decoded only to be scored. `timeout` is the document's
`model.timeout_seconds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from modelops.ipc import ipc_to_table
from modelops.scoring import scored, scoring_failed
from modelops.services.executor import Replicate, simulate, simulate_and_score, simulate_groups
from modelops_contracts import SimReturn, SimTask


def simulate_group(tasks: Sequence[SimTask], timeout: float | None = None) -> list[Replicate]:
    return simulate(tasks, timeout=timeout)


def score_trial(
    observed: Mapping[str, pl.DataFrame], targets: Mapping[str, Mapping], params: Mapping, *groups: list[Replicate]
) -> list[dict[str, Any]]:
    """Score one trial (`params`) from its replicate groups; a list of one outcome, like `run_trials`."""
    return [outcome(observed, targets, [r for group in groups for r in group], params)]


def run_trials(
    trials: Sequence[Sequence[SimTask]],
    observed: Mapping[str, pl.DataFrame],
    targets: Mapping[str, Mapping],
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    """Simulate whole trials in one batch, each scored in the simulation child (or here, with a simulation cache)."""
    results = simulate_and_score(trials, observed, targets, timeout=timeout)
    if results is None:
        return outcomes(trials, simulate_groups(trials, timeout=timeout), observed, targets)
    return [_scored_outcome(replicates, score) for replicates, score in results]


def _scored_outcome(replicates: list[Replicate | float], score: dict[str, Any] | None) -> dict[str, Any]:
    """The outcome of a trial scored in its child: its score, or its first failed replicate's error."""
    sim_seconds = sum(r if isinstance(r, float) else r[0].metrics["seconds"] for r in replicates)
    base: dict[str, Any] = {"sim_seconds": sim_seconds, "replicates": len(replicates)}
    for index, replicate in enumerate(replicates):
        if not isinstance(replicate, float):
            return base | _failed(index, *replicate)
    assert score is not None, "a trial whose replicates all completed is scored"
    return base | score


def outcomes(
    trials: Sequence[Sequence[SimTask]],
    groups: Sequence[list[Replicate]],
    observed: Mapping[str, pl.DataFrame],
    targets: Mapping[str, Mapping],
) -> list[dict[str, Any]]:
    """Each trial's outcome from its simulated group; every trial's outputs are decoded before any is scored.

    Alternating polars' IPC reader with scoring made the two cost 15-40% more than in turn
    (measured, 2 replicates of a 2-row table): each evicts the other from the caches.
    """
    tables = [_decoded(group) for group in groups]
    return [
        outcome(observed, targets, group, tasks[0].params.params, decoded)
        for tasks, group, decoded in zip(trials, groups, tables)
    ]


def decode(replicates: list[Replicate]) -> list[dict[str, pl.DataFrame]]:
    """Each replicate's outputs as tables, in replicate order."""
    return [{name: ipc_to_table(a.inline) for name, a in r.outputs.items()} for r, _ in replicates]


def _decoded(replicates: list[Replicate]) -> list[dict[str, pl.DataFrame]] | None:
    """`decode`, or None when it fails: `outcome` decodes again and reports why."""
    try:
        return decode(replicates)
    except Exception:
        return None


def outcome(
    observed: Mapping[str, pl.DataFrame],
    targets: Mapping[str, Mapping],
    replicates: list[Replicate],
    params: Mapping,
    tables: list[dict[str, pl.DataFrame]] | None = None,
) -> dict[str, Any]:
    """A trial's outcome: status, loss, per-target losses, timings, and on failure why (`tables`: decoded already)."""
    sim_seconds = sum(r.metrics["seconds"] for r, _ in replicates)
    base: dict[str, Any] = {"sim_seconds": sim_seconds, "replicates": len(replicates)}
    for index, (result, diagnostics) in enumerate(replicates):
        if result.error is not None:
            return base | _failed(index, result, diagnostics)
    if tables is None:
        try:
            tables = decode(replicates)
        except Exception as exc:  # undecodable outputs fail this trial only
            return base | scoring_failed(exc)
    return base | scored(targets, observed, tables, params)


def _failed(index: int, result: SimReturn, diagnostics: Mapping[str, Any] | None) -> dict[str, Any]:
    assert result.error is not None
    error = {"stage": "simulation", "replicate": index, "type": result.error.error_type, "message": result.error.message}
    return {"status": "failed", "error": error | dict(diagnostics or {})}
