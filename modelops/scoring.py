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

    Rows come in replicate blocks, each in the target data's order. Numeric keys found
    once each in every replicate are matched with numpy; anything else (other key types,
    duplicates, missing rows, casts) is joined by polars, all replicates at once: for the
    small tables most models return, each polars call costs more than the arithmetic.
    """
    for frame in replicates:
        missing = [c for c in [*keys, value] if c not in frame.columns]
        if missing:
            raise ScoringError(f"output {output!r} lacks column(s) {missing}; it has {frame.columns}")
    extra = [] if size is None else [observed[size].alias("size")]
    target = pl.DataFrame([*(observed[c] for c in keys), observed[value].alias("observed"), *extra])
    simulated = _matched(replicates, target, keys, value)
    if simulated is None:
        return _joined(replicates, target, keys, value, output)
    count = len(replicates)

    def tiled(name: str) -> pl.Series:
        return pl.Series(name, np.tile(target[name].to_numpy(), count), dtype=target.schema[name])

    return pl.DataFrame([
        *(tiled(c) for c in keys),
        pl.Series("replicate", np.repeat(np.arange(count, dtype=np.int64), target.height)),
        pl.Series("simulated", simulated.ravel()),
        tiled("observed"),
        *([tiled("size")] if size else []),
    ])  # fmt: skip


def _matched(
    replicates: Sequence[pl.DataFrame], target: pl.DataFrame, keys: list[str], value: str
) -> np.ndarray | None:
    """Simulated values as a (replicates, target rows) array, or None where only a join can say.

    Taken by position when a replicate's keys are the data's row for row, else (one key)
    by binary search; only numeric columns without nulls, keys of the data's own type.
    """
    if not all(_plain(target[c]) for c in target.columns) or not replicates:
        return None
    wanted = [target[c].to_numpy() for c in keys]
    if len(np.unique(np.stack(wanted, axis=1), axis=0)) != target.height:
        return None  # a key the data repeats joins every simulated row of that key
    rows = []
    for frame in replicates:
        columns = [frame[c] for c in keys]
        values = frame[value]
        if not _plain(values) or any(s.dtype != target.schema[c] or s.null_count() for s, c in zip(columns, keys)):
            return None
        found = values.to_numpy().astype(np.float64, copy=False)
        have = [s.to_numpy() for s in columns]
        if frame.height == target.height and all(np.array_equal(h, w) for h, w in zip(have, wanted)):
            rows.append(found)
            continue
        if len(keys) > 1:
            return None
        order = np.argsort(have[0], kind="stable")
        ranked = have[0][order]
        if ranked.size == 0 or np.any(ranked[1:] == ranked[:-1]):
            return None  # duplicate keys: the join's rows say what happens
        where = np.minimum(np.searchsorted(ranked, wanted[0]), ranked.size - 1)
        if not np.array_equal(ranked[where], wanted[0]):
            return None  # rows missing: the join's error says which
        rows.append(found[order[where]])
    return np.stack(rows)


def _plain(series: pl.Series) -> bool:
    return series.dtype.is_numeric() and not series.null_count()


def _joined(
    replicates: Sequence[pl.DataFrame], target: pl.DataFrame, keys: list[str], value: str, output: str
) -> pl.DataFrame:
    """`align` by one polars join of the data with every replicate's rows."""
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
    extra = ["size"] if "size" in target.columns else []
    return joined.select([*keys, "replicate", "simulated", "observed", *extra])


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
