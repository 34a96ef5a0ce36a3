"""The one way a simulation runs: in a warm child process, never in the caller's.

The runner's Dask tasks and both `SimulationService`s call `simulate`. A batch
of simulations is one round trip to a child: parameters and seeds in, Arrow IPC
bytes back, or, for trials the child scores itself (`simulate_and_score`, what
`run_trials` uses), their scores. What a simulation can do to its process — segfault, abort,
`os._exit`, run out of memory, hang — ends that child only: the simulation it was
running gets a diagnostic (what killed it, the tail of its stdout and stderr),
the child is replaced, and the rest of the batch goes on.

A simulation that crashes its process is run once more in a fresh child (an OOM
kill may have been a neighbour's fault); crashing again fails it for good
(`SimulationCrashed`). One that outlives `timeout` seconds is stopped
(`SimulationTimeout`). Either way its group (its trial) is failed, so the other
simulations of the group are not run.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from modelops_contracts import ErrorInfo, SimReturn, SimTask, TableArtifact

from .bundle_environment import environment_for
from .pool import POOLS, Death, Environment, Simulation
from .sim_cache import cache_for

# What a failed simulation leaves for its trial's diagnostics: traceback, stdout and stderr tails.
Diagnostics = dict[str, Any]
Replicate = tuple[SimReturn, Diagnostics | None]

CRASHED = "SimulationCrashed"
TIMED_OUT = "SimulationTimeout"
NOT_RUN = "NotRun"
NOT_STARTED = "SimulationNotStarted"


def simulate(
    tasks: Sequence[SimTask], *, timeout: float | None = None, environment: Environment | None = None
) -> list[Replicate]:
    """Run `tasks` as one group (one trial's replicates); results in task order."""
    return simulate_groups([tasks], timeout=timeout, environment=environment)[0]


def simulate_groups(
    groups: Sequence[Sequence[SimTask]], *, timeout: float | None = None, environment: Environment | None = None
) -> list[list[Replicate]]:
    """Run every group's tasks in one batch; a group with a crashed or timed-out task stops there.

    By default they run in the environment of their bundle (one run's tasks share it); with a
    simulation cache configured for the bundle, stored outputs are reused (`sim_cache`).
    """
    cache = cache_for(groups)
    if cache is not None:
        return cache.through(groups, lambda misses: _simulate_groups(misses, timeout, environment))
    return _simulate_groups(groups, timeout, environment)


def simulate_and_score(
    groups: Sequence[Sequence[SimTask]],
    observed: Mapping[str, Any],
    targets: Mapping[str, Mapping],
    *,
    timeout: float | None = None,
    environment: Environment | None = None,
) -> list[tuple[list[Replicate | float], dict[str, Any] | None]] | None:
    """`simulate_groups` for groups that are trials, each scored in the child against `observed` and
    `targets` (`scoring.scored`), so no output is encoded, sent and decoded only to be scored.

    Per group: its replicates (a completed one as its seconds, a failed one as a `Replicate`) and its
    score, None unless all completed. None when a simulation cache is configured: it stores outputs.
    """
    if cache_for(groups) is not None:
        return None
    scores: list[dict[str, Any] | None] = [None] * len(groups)
    results = _simulate_groups(groups, timeout, environment, (_key(observed, targets), (observed, targets), scores))
    return list(zip(results, scores))


# Keys children know (observed, targets) pairs by, per pair's ids: a worker's pump passes the same pair each call.
_KEYS: dict[tuple[int, int], tuple[int, Mapping, Mapping]] = {}
_NEXT_KEY = itertools.count()
KEYS_KEPT = 16


def _key(observed: Mapping, targets: Mapping) -> int:
    """A key for this pair, never given to another (the pair is held while its ids are remembered)."""
    ids = id(observed), id(targets)
    known = _KEYS.get(ids)
    if known is None or known[1] is not observed or known[2] is not targets:
        if len(_KEYS) >= KEYS_KEPT:
            _KEYS.clear()
        known = _KEYS[ids] = next(_NEXT_KEY), observed, targets
    return known[0]


def _simulate_groups(
    groups: Sequence[Sequence[SimTask]],
    timeout: float | None,
    environment: Environment | None,
    scoring: tuple[object, tuple, list] | None = None,
) -> list[list[Replicate]]:
    """`simulate_groups`; with `scoring` (key, (observed, targets), a list it fills with each group's score),
    a completed simulation's result is its seconds (`simulate_and_score`)."""
    environment = environment or environment_for(next((t.bundle_ref for group in groups for t in group), None))
    results: list[list[Replicate | float | None]] = [[None] * len(group) for group in groups]
    pending = [(g, i) for g, group in enumerate(groups) for i in range(len(group))]
    crashes: dict[tuple[int, int], list[str]] = {}
    while pending:
        try:
            child = POOLS.checkout(environment)
        except OSError as exc:  # no such interpreter or working directory, no room for its folder, ...
            error = ErrorInfo(NOT_STARTED, f"cannot start a simulation process: {exc}")
            for g, i in pending:
                results[g][i] = SimReturn(task_id=groups[g][i].task_id, outputs={}, error=error), None
            break
        batch = [groups[g][i] for g, i in pending]
        preload = sorted({task.entrypoint for task in batch})  # imported before the first timeout starts
        trials = None if scoring is None else (*scoring[:2], _ends(groups, pending))
        outcomes, death = child.run([_simulation(task) for task in batch], timeout, preload, environment.env, trials)
        for (g, i), (outcome, tails, scored) in zip(pending, outcomes):
            if scoring is not None and outcome[1] is None:  # completed: its outputs were scored in the child
                results[g][i] = outcome[3]
                scoring[2][g] = scored
            else:
                results[g][i] = _replicate(groups[g][i], outcome, tails)
        POOLS.checkin(environment, child)
        if death is None:
            break
        pending = pending[len(outcomes) :]
        g, i = pending[0]
        if scoring is not None:  # the dead child held the outputs of the trial's replicates before this one
            pending[:0] = [(g, j) for j in range(i)]
        reasons = crashes.setdefault((g, i), []) if not death.timed_out else []
        reasons.append(death.reason)
        if death.timed_out or len(reasons) == 2:
            results[g][i] = _failed(groups[g][i], death, reasons)
            pending = [(h, j) for h, j in pending if h != g]
            for j in range(i + 1, len(groups[g])):
                results[g][j] = _not_run(groups[g][j], i)
    return [[r for r in group if r is not None] for group in results]


def warm(entrypoint: str | None = None, *, environment: Environment | None = None) -> None:
    """Start a child for `environment` (and import `entrypoint` in it), so the first simulation finds it ready."""
    environment = environment or Environment.current()
    child = POOLS.checkout(environment)
    child.run([], preload=[entrypoint] if entrypoint else [])
    POOLS.checkin(environment, child)


def _ends(groups: Sequence[Sequence[SimTask]], pending: list[tuple[int, int]]) -> dict[int, tuple[int, dict]]:
    """For the child to score: each trial's last simulation in the batch -> its first, the trial's parameters."""
    ends, first = {}, 0
    for k, (g, _) in enumerate(pending):
        if k + 1 == len(pending) or pending[k + 1][0] != g:
            ends[k] = first, dict(groups[g][0].params.params)
            first = k + 1
    return ends


def _simulation(task: SimTask) -> Simulation:
    return task.entrypoint, dict(task.params.params), task.seed, task.outputs


def _replicate(task: SimTask, outcome: tuple, tails: tuple[str, str] | None) -> Replicate:
    outputs, error, trace, seconds = outcome
    if error is None:
        artifacts = {name: TableArtifact.from_bytes(data) for name, data in outputs.items()}
        return SimReturn.succeeded(task.task_id, artifacts, seconds), None
    stdout, stderr = tails or ("", "")
    diagnostics = {"traceback": trace, "stdout": stdout, "stderr": stderr}
    return SimReturn(task_id=task.task_id, outputs={}, error=ErrorInfo(*error), metrics={"seconds": seconds}), diagnostics


def _failed(task: SimTask, death: Death, reasons: list[str]) -> Replicate:
    if death.timed_out:
        error = ErrorInfo(TIMED_OUT, f"the simulation {death.reason} and was stopped")
    else:
        told = reasons[0] if len(set(reasons)) == 1 else ", then ".join(reasons)
        error = ErrorInfo(CRASHED, f"the simulation crashed its process twice: {told}")
    diagnostics = {"traceback": None, "stdout": death.stdout, "stderr": death.stderr}
    return SimReturn(task_id=task.task_id, outputs={}, error=error, metrics={"seconds": death.seconds}), diagnostics


def _not_run(task: SimTask, failed: int) -> Replicate:
    error = ErrorInfo(NOT_RUN, f"not run: simulation {failed} of its group failed for good")
    return SimReturn(task_id=task.task_id, outputs={}, error=error, metrics={"seconds": 0.0}), None
