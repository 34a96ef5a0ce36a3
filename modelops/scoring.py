"""Scoring one parameter set: replicate outputs against target data.

Pure functions, run on Dask workers next to the simulations. The total loss
is the weighted sum of the per-target losses: a loss (`modelops.losses`) or
a negative log-likelihood (`modelops.likelihoods`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
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

    Rows come in replicate blocks, each in the target data's order. All replicates are
    stacked and joined to the data at once: per-replicate polars calls cost more than
    the arithmetic for the small tables most models return.
    """
    for index, frame in enumerate(replicates):
        missing = [c for c in [*keys, value] if c not in frame.columns]
        if missing:
            raise ScoringError(f"output {output!r} lacks column(s) {missing}; it has {frame.columns}")
    extra = [] if size is None else [pl.col(size).alias("size")]
    target = observed.select([*keys, pl.col(value).alias("observed"), *extra])
    count = len(replicates)
    heights = [frame.height for frame in replicates]
    stacked = pl.concat([frame.select(*keys, value) for frame in replicates], how="vertical_relaxed")
    simulated = stacked.select(
        *[pl.col(c).cast(target.schema[c]) for c in keys],
        pl.Series("replicate", np.repeat(np.arange(count, dtype=np.int64), heights)),
        pl.col(value).cast(pl.Float64).alias("simulated"),
    )
    blocks = pl.DataFrame({"replicate": np.arange(count, dtype=np.int64)}).join(target, how="cross")
    joined = blocks.join(simulated, on=[*keys, "replicate"], how="left", maintain_order="left")
    if joined["simulated"].null_count():
        absent = joined.filter(pl.col("simulated").is_null())
        index = absent["replicate"][0]
        count_absent = absent.filter(pl.col("replicate") == index).height
        raise ScoringError(
            f"output {output!r} (replicate {index}) has no {value!r} for {count_absent} of {target.height} target rows"
        )
    return joined.select([*keys, "replicate", "simulated", "observed", *(["size"] if size else [])])


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
