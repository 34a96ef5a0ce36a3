"""Scoring one parameter set: replicate outputs against target data.

Pure functions, run on Dask workers next to the simulations. The total loss
is the weighted sum of the per-target losses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl

from .entrypoints import load_object
from .losses import BUILTIN


class ScoringError(ValueError):
    """Simulation outputs cannot be compared with the target data."""


def align(
    replicates: Sequence[pl.DataFrame], observed: pl.DataFrame, keys: list[str], value: str, output: str
) -> pl.DataFrame:
    """One row per (target key, replicate): keys, replicate, simulated, observed."""
    target = observed.select([*keys, pl.col(value).alias("observed")])
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
    return pl.concat(parts).select([*keys, "replicate", "simulated", "observed"])


def target_loss(loss: str, aligned: pl.DataFrame) -> float:
    fn = BUILTIN.get(loss) or load_object(loss)
    value = float(fn(aligned))
    if not math.isfinite(value):
        raise ScoringError(f"loss {loss!r} is {value}")
    return value


def score(
    targets: Mapping[str, Mapping],
    observed: Mapping[str, pl.DataFrame],
    outputs: Sequence[Mapping[str, pl.DataFrame]],
) -> tuple[float, dict[str, float]]:
    """Total (weighted-sum) loss and per-target losses.

    `targets` maps target name to its spec fields (keys, value, loss, weight,
    output); `outputs` holds each replicate's decoded outputs, in replicate order.
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
        aligned = align(frames, observed[name], target["keys"], target["value"], output)
        per_target[name] = target_loss(target["loss"], aligned)
        total += target["weight"] * per_target[name]
    return total, per_target
