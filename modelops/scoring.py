"""Scoring one parameter set: replicate outputs against target data.

Pure functions, run on Dask workers next to the simulations. The total loss
is the weighted sum of the per-target losses: a loss (`modelops.losses`) or
a negative log-likelihood (`modelops.likelihoods`). What scoring needs of the
target data (its keys and values as arrays) is prepared once per data frame,
not once per trial: a run's every trial is scored against the same frames.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .entrypoints import load_object
from .likelihoods import negative_log_likelihood, replicates_negative_log_likelihood
from .losses import BUILTIN, ON_MEANS, SMALL_ROWS, replicate_mean

# Prepared target data kept per (frame, keys, value, size); a worker scores few distinct targets.
PREPARED_KEPT = 64


class ScoringError(ValueError):
    """Simulation outputs cannot be compared with the target data."""


@dataclass(frozen=True)
class Prepared:
    """Target data as scoring uses it: `frame` (keys, observed, size), and arrays when numpy can match keys."""

    source: pl.DataFrame  # the data frame this was prepared from (kept, so its id names no other)
    frame: pl.DataFrame
    keys: tuple[str, ...]
    dtypes: tuple[pl.DataType, ...]  # the key columns' types: a replicate's must be the same to match
    wanted: list[np.ndarray] | None  # the key columns, when numeric, null-free and unique
    observed: np.ndarray  # the values, as float64
    size: np.ndarray | None


_prepared: dict[tuple, Prepared] = {}


def prepare(observed: pl.DataFrame, keys: Sequence[str], value: str, size: str | None = None) -> Prepared:
    """The target data `observed` ready for scoring; the same frame is prepared once."""
    cache_key = (id(observed), tuple(keys), value, size)
    hit = _prepared.get(cache_key)
    if hit is not None and hit.source is observed:
        return hit
    extra = [] if size is None else [observed[size].alias("size")]
    frame = pl.DataFrame([*(observed[c] for c in keys), observed[value].alias("observed"), *extra])
    wanted = None
    if all(_plain(frame[c]) for c in frame.columns):
        columns = [frame[c].to_numpy() for c in keys]
        if len(np.unique(np.stack(columns, axis=1), axis=0)) == frame.height:
            wanted = columns  # a key the data repeats joins every simulated row of that key: polars says how
    observed_values = frame["observed"].to_numpy().astype(np.float64)
    sizes = None if size is None else frame["size"].to_numpy().astype(np.float64)
    dtypes = tuple(frame.schema[c] for c in keys)
    prepared = Prepared(observed, frame, tuple(keys), dtypes, wanted, observed_values, sizes)
    if len(_prepared) >= PREPARED_KEPT:
        _prepared.clear()
    _prepared[cache_key] = prepared
    return prepared


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
    target = prepare(observed, keys, value, size)
    simulated = _simulated(replicates, target, value, output)
    return _joined(replicates, target, value, output) if simulated is None else _aligned(target, simulated)


def _simulated(
    replicates: Sequence[pl.DataFrame], target: Prepared, value: str, output: str
) -> np.ndarray | None:
    """`_matched`, once every replicate is known to have the columns the target reads."""
    for frame in replicates:
        columns = frame.columns  # a new list per call
        missing = [c for c in [*target.keys, value] if c not in columns]
        if missing:
            raise ScoringError(f"output {output!r} lacks column(s) {missing}; it has {frame.columns}")
    return _matched(replicates, target, value)


def _aligned(target: Prepared, simulated: np.ndarray) -> pl.DataFrame:
    """The aligned frame of matched values: the data's rows once per replicate."""
    count, frame = len(simulated), target.frame

    def tiled(name: str) -> pl.Series:
        return pl.Series(name, np.tile(frame[name].to_numpy(), count), dtype=frame.schema[name])

    return pl.DataFrame([
        *(tiled(c) for c in target.keys),
        pl.Series("replicate", np.repeat(np.arange(count, dtype=np.int64), frame.height)),
        pl.Series("simulated", simulated.ravel()),
        tiled("observed"),
        *([tiled("size")] if target.size is not None else []),
    ])  # fmt: skip


def _matched(replicates: Sequence[pl.DataFrame], target: Prepared, value: str) -> np.ndarray | None:
    """Simulated values as a (replicates, target rows) array, or None where only a join can say.

    Taken by position when a replicate's keys are the data's row for row, else (one key)
    by binary search; only numeric columns without nulls, keys of the data's own type.
    """
    wanted = target.wanted
    if wanted is None or not replicates:
        return None
    rows = []
    for frame in replicates:
        columns = [frame.get_column(c) for c in target.keys]
        values = frame.get_column(value)
        if not _plain(values) or any(s.dtype != d or s.null_count() for s, d in zip(columns, target.dtypes)):
            return None
        found = values.to_numpy().astype(np.float64, copy=False)
        have = [s.to_numpy() for s in columns]
        if len(found) == len(target.observed) and all(_same(h, w) for h, w in zip(have, wanted)):
            rows.append(found)
            continue
        if len(wanted) > 1:
            return None
        order = np.argsort(have[0], kind="stable")
        ranked = have[0][order]
        if ranked.size == 0 or np.any(ranked[1:] == ranked[:-1]):
            return None  # duplicate keys: the join's rows say what happens
        where = np.minimum(np.searchsorted(ranked, wanted[0]), ranked.size - 1)
        if not np.array_equal(ranked[where], wanted[0]):
            return None  # rows missing: the join's error says which
        rows.append(found[order[where]])
    return np.array(rows)  # rows of one length (the data's): np.stack's checks cost more than the copy


def _same(have: np.ndarray, wanted: np.ndarray) -> bool:
    """Equal key columns of one type and length; integers by their bytes (a fifth of `==` then `all` for a few rows)."""
    return have.tobytes() == wanted.tobytes() if have.dtype.kind in "iu" else bool((have == wanted).all())


def _plain(series: pl.Series) -> bool:
    return series.dtype.is_numeric() and not series.null_count()


def _joined(replicates: Sequence[pl.DataFrame], target: Prepared, value: str, output: str) -> pl.DataFrame:
    """`align` by one polars join of the data with every replicate's rows."""
    count, keys, frame = len(replicates), list(target.keys), target.frame
    heights = [r.height for r in replicates]
    stacked = pl.concat([r.select(*keys, value) for r in replicates], how="vertical_relaxed")
    simulated = stacked.select(
        *[pl.col(c).cast(frame.schema[c]) for c in keys],
        pl.Series("replicate", np.repeat(np.arange(count, dtype=np.int64), heights)),
        pl.col(value).cast(pl.Float64).alias("simulated"),
    )
    blocks = pl.DataFrame({"replicate": np.arange(count, dtype=np.int64)}).join(frame, how="cross")
    joined = blocks.join(simulated, on=[*keys, "replicate"], how="left", maintain_order="left")
    if joined["simulated"].null_count():
        absent = joined.filter(pl.col("simulated").is_null())
        index = absent["replicate"][0]
        count_absent = absent.filter(pl.col("replicate") == index).height
        raise ScoringError(
            f"output {output!r} (replicate {index}) has no {value!r} for {count_absent} of {frame.height} target rows"
        )
    extra = ["size"] if target.size is not None else []
    return joined.select([*keys, "replicate", "simulated", "observed", *extra])


def target_loss(target: Mapping, aligned: pl.DataFrame, params: Mapping[str, float]) -> float:
    """The target's loss, or its negative log-likelihood when it has a `likelihood`."""
    if target.get("likelihood"):
        return _finite(target, negative_log_likelihood(target, aligned, params))
    loss = target.get("loss") or "mse"
    return _finite(target, float((BUILTIN.get(loss) or load_object(loss))(aligned)))


def _finite(target: Mapping, value: float) -> float:
    if not math.isfinite(value):
        likelihood = target.get("likelihood")
        what = f"likelihood {likelihood!r}" if likelihood else f"loss {target.get('loss') or 'mse'!r}"
        raise ScoringError(f"{what} is {value}")
    return value


def _fast_loss(target: Mapping, prepared: Prepared, simulated: np.ndarray, params: Mapping) -> float | None:
    """A built-in loss or a likelihood straight from the matched values, with the frame path's bits; else None."""
    if target.get("likelihood"):
        value = replicates_negative_log_likelihood(target, simulated, prepared.observed, prepared.size, params)
        return _finite(target, value)
    on_means = ON_MEANS.get(target.get("loss") or "mse")
    if on_means is None or simulated.size >= SMALL_ROWS:
        return None  # a user's loss takes the frame; a large one is averaged by polars' grouping
    means = replicate_mean(simulated)
    return None if means is None else _finite(target, on_means(means, prepared.observed))


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
        prepared = prepare(observed[name], target["keys"], target["value"], target.get("size"))
        simulated = _simulated(frames, prepared, target["value"], output)
        loss = None if simulated is None else _fast_loss(target, prepared, simulated, params or {})
        if loss is None:
            aligned = _joined(frames, prepared, target["value"], output) if simulated is None else _aligned(prepared, simulated)
            loss = target_loss(target, aligned, params or {})
        per_target[name] = loss
        total += target["weight"] * loss
    return total, per_target


def scored(
    targets: Mapping[str, Mapping],
    observed: Mapping[str, pl.DataFrame],
    outputs: Sequence[Mapping[str, pl.DataFrame]],
    params: Mapping[str, float],
) -> dict[str, Any]:
    """A trial's score as its outcome holds it: completed with its losses, or failed at scoring and why."""
    try:
        loss, per_target = score(targets, observed, outputs, params)
    except Exception as exc:  # a scoring failure fails this trial only
        return scoring_failed(exc)
    return {"status": "completed", "loss": loss, "target_losses": per_target}


def scoring_failed(exc: Exception) -> dict[str, Any]:
    """The outcome of a trial whose outputs could not be scored (call while handling `exc`)."""
    error = {"stage": "scoring", "type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
    return {"status": "failed", "error": error}
