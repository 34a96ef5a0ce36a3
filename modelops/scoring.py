"""Scoring one parameter set: replicate outputs against target data.

Pure functions, run on Dask workers next to the simulations. The total loss
is the weighted sum of the per-target losses: a loss (`modelops.losses`) or
a negative log-likelihood (`modelops.likelihoods`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl

from .entrypoints import load_object
from .likelihoods import negative_log_likelihood
from .losses import BUILTIN


class ScoringError(ValueError):
    """Simulation outputs cannot be compared with the target data."""


def align(
    replicates: Sequence[pl.DataFrame],
    observed: pl.DataFrame,
    keys: list[str],
    value: str,
    output: str,
    size: str | None = None,
) -> pl.DataFrame:
    """One row per (target key, replicate): keys, replicate, simulated, observed (and `size`, if named).

    Rows come in replicate blocks, each in the target data's order.
    """
    extra = [] if size is None else [pl.col(size).alias("size")]
    target = observed.select([*keys, pl.col(value).alias("observed"), *extra])
    parts = []
    for index, frame in enumerate(replicates):
        missing = [c for c in [*keys, value] if c not in frame.columns]
        if missing:
            raise ScoringError(f"output {output!r} lacks column(s) {missing}; it has {frame.columns}")
        simulated = frame.select(
            *[pl.col(c).cast(target.schema[c]) for c in keys], pl.col(value).cast(pl.Float64).alias("simulated")
        )
        joined = target.join(simulated, on=keys, how="left", maintain_order="left")
        absent = joined["simulated"].null_count()
        if absent:
            raise ScoringError(
                f"output {output!r} (replicate {index}) has no {value!r} for {absent} of {target.height} target rows"
            )
        parts.append(joined.with_columns(pl.lit(index, dtype=pl.Int64).alias("replicate")))
    return pl.concat(parts).select([*keys, "replicate", "simulated", "observed", *(["size"] if size else [])])


def target_loss(target: Mapping, aligned: pl.DataFrame, params: Mapping[str, float]) -> float:
    """The target's loss, or its negative log-likelihood when it has a `likelihood`."""
    if target.get("likelihood"):
        what, value = f"likelihood {target['likelihood']!r}", negative_log_likelihood(target, aligned, params)
    else:
        loss = target.get("loss") or "mse"
        what, value = f"loss {loss!r}", float((BUILTIN.get(loss) or load_object(loss))(aligned))
    if not math.isfinite(value):
        raise ScoringError(f"{what} is {value}")
    return value


def score(
    targets: Mapping[str, Mapping],
    observed: Mapping[str, pl.DataFrame],
    outputs: Sequence[Mapping[str, pl.DataFrame]],
    params: Mapping[str, float] | None = None,
) -> tuple[float, dict[str, float]]:
    """Total (weighted-sum) loss and per-target losses.

    `targets` maps target name to its spec fields (keys, value, loss or
    likelihood, weight, output); `outputs` holds each replicate's decoded
    outputs, in replicate order; `params` are the trial's parameters (for a
    dispersion or sd fitted as a parameter).
    """
    per_target: dict[str, float] = {}
    total = 0.0
    for name, target in targets.items():
        output = target.get("output") or name
        frames = []
        for index, replicate in enumerate(outputs):
            if output not in replicate:
                raise ScoringError(
                    f"simulation returned no output {output!r} (replicate {index}); it returned {sorted(replicate)}"
                )
            frames.append(replicate[output])
        aligned = align(frames, observed[name], target["keys"], target["value"], output, target.get("size"))
        per_target[name] = target_loss(target, aligned, params or {})
        total += target["weight"] * per_target[name]
    return total, per_target
