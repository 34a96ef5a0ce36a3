"""Re-simulating a parameter set against the observed data: the best fit, posterior draws.

The best fit runs with the seeds its trial was scored with (`replicate_seeds` in
trials.parquet), so what the report draws is what the calibration saw. The
frames are saved beside the results (`best_fit_<target>.parquet`,
`posterior_fit_<target>.parquet`) for the report and for the user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from modelops.ipc import from_ipc
from modelops.scoring import align
from modelops.seeds import replicate_seeds
from modelops.services.executor import simulate
from modelops.spec import RunSpec
from modelops_contracts import SimTask, UniqueParameterSet, make_param_id

POSTERIOR_DRAWS = 20


class SimulationFailed(RuntimeError):
    """A re-simulation failed as its trial could have (the executor's error type and message)."""


def seeds_for(params: Mapping[str, Any], replicates: int) -> tuple[int, ...]:
    """The seeds the runner gives `replicates` replicates of `params`."""
    return replicate_seeds(make_param_id(dict(params)), replicates)


def simulate_fit(
    spec: RunSpec, observed: Mapping[str, pl.DataFrame], params: Mapping[str, Any], seeds: Sequence[int]
) -> dict[str, pl.DataFrame]:
    """Per target, one row per (key, replicate): the keys, `replicate`, `simulated`, `observed`."""
    pset = UniqueParameterSet.from_dict(dict(params))
    tasks = [SimTask(spec.model.bundle_ref, spec.model.entrypoint, pset, int(seed)) for seed in seeds]
    outputs = []
    for result, _ in simulate(tasks):  # in a simulation child, as in the run: no crash or output reaches here
        if result.error is not None:
            raise SimulationFailed(f"{result.error.error_type}: {result.error.message}")
        outputs.append(from_ipc({name: artifact.inline for name, artifact in result.outputs.items()}))
    fits = {}
    for name, target in spec.targets.items():
        output = spec.target_output(name)
        frames = [replicate[output] for replicate in outputs]
        fits[name] = align(frames, observed[name], target.keys, target.value, output)
    return fits


def posterior_draws(posterior: pl.DataFrame, parameters: Sequence[str], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` particles drawn by their `weight` (equal weights without one), with replacement."""
    weights = (
        posterior["weight"].cast(pl.Float64).fill_null(0.0).to_numpy()
        if "weight" in posterior.columns
        else np.ones(posterior.height)
    )
    rows = np.random.default_rng(seed).choice(posterior.height, size=n, replace=True, p=weights / weights.sum())
    drawn = posterior[rows.tolist()]
    return [{p: row[posterior_column(posterior, p)] for p in parameters} for row in drawn.iter_rows(named=True)]


def posterior_column(posterior: pl.DataFrame, parameter: str) -> str:
    """A posterior names a parameter's column `params_<name>` (as trials.parquet does) or `<name>`."""
    return f"params_{parameter}" if f"params_{parameter}" in posterior.columns else parameter


def draws_fit(
    spec: RunSpec, observed: Mapping[str, pl.DataFrame], draws: Sequence[Mapping[str, Any]]
) -> dict[str, pl.DataFrame]:
    """One replicate of each posterior draw, per target, with a `draw` column."""
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in spec.targets}
    for index, params in enumerate(draws):
        for name, frame in simulate_fit(spec, observed, params, seeds_for(params, 1)).items():
            parts[name].append(frame.with_columns(pl.lit(index, dtype=pl.Int64).alias("draw")))
    return {name: pl.concat(frames) for name, frames in parts.items() if frames}
