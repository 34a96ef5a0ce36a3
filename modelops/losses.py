"""Built-in losses over an aligned frame.

Every loss, built-in or user-supplied, takes the same *aligned* frame: the
target's key columns, ``replicate``, ``simulated`` and ``observed``, one row
per (key, replicate). Built-ins compare the replicate mean with the data and
average over observations, so targets of different lengths weigh alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl

Loss = Callable[[pl.DataFrame], float]


# Below this many aligned rows polars' grouped mean is a compensated sum in row order (from it on,
# its result depends on how it splits the rows: measured with polars 2.1); numpy gives those bits.
SMALL_ROWS = 1000


def _mean_by_key(aligned: pl.DataFrame) -> pl.DataFrame:
    """The replicate mean of `simulated` and the `observed` value, one row per key, in the data's order."""
    keys = [c for c in aligned.columns if c not in ("replicate", "simulated", "observed")]
    means = _blocks_mean(aligned, keys) if aligned.height < SMALL_ROWS else None
    if means is not None:
        return means
    return aligned.group_by(keys, maintain_order=True).agg(
        pl.col("simulated").mean(), pl.col("observed").first()
    )


def _blocks_mean(aligned: pl.DataFrame, keys: list[str]) -> pl.DataFrame | None:
    """The grouped mean for a frame of whole replicate blocks with the same unique numeric keys; else None.

    Kahan-compensated over the replicates in order, as polars sums a small group, so the
    losses keep their bits (tests/test_scoring.py compares the two).
    """
    replicate = aligned["replicate"].to_numpy()
    count = int(replicate[-1]) + 1 if aligned.height else 0
    rows = aligned.height // count if count else 0
    if not rows or rows * count != aligned.height:
        return None
    if not np.array_equal(replicate, np.repeat(np.arange(count), rows)):
        return None
    columns = [aligned[c] for c in keys]
    if not all(s.dtype.is_numeric() and not s.null_count() for s in columns):
        return None
    blocks = [s.to_numpy().reshape(count, rows) for s in columns]
    if not all(np.array_equal(b, np.broadcast_to(b[0], b.shape)) for b in blocks):
        return None
    first = np.stack([b[0] for b in blocks], axis=1)
    if len(np.unique(first, axis=0)) != rows:
        return None  # keys repeat within a block: grouping merges them
    simulated = aligned["simulated"]
    if simulated.dtype != pl.Float64 or simulated.null_count():
        return None
    values = simulated.to_numpy().reshape(count, rows)
    if not np.isfinite(values).all():
        return None
    total, carry = np.zeros(rows), np.zeros(rows)
    for row in values:
        step = row - carry
        moved = total + step
        carry = (moved - total) - step
        total = moved
    return pl.DataFrame([pl.Series("simulated", total / count), aligned["observed"][:rows]])


def mse(aligned: pl.DataFrame) -> float:
    """Mean squared error of the replicate mean."""
    frame = _mean_by_key(aligned)
    error = frame["simulated"] - frame["observed"]
    return float((error * error).mean())  # the same bits as `** 2`, which polars runs as a query


def rmse(aligned: pl.DataFrame) -> float:
    """Root mean squared error of the replicate mean."""
    return mse(aligned) ** 0.5


def mae(aligned: pl.DataFrame) -> float:
    """Mean absolute error of the replicate mean."""
    frame = _mean_by_key(aligned)
    return float((frame["simulated"] - frame["observed"]).abs().mean())


def poisson(aligned: pl.DataFrame) -> float:
    """Mean Poisson negative log-likelihood of the data, rate = replicate mean (counts)."""
    frame = _mean_by_key(aligned)
    rate = frame["simulated"].cast(pl.Float64).clip(lower_bound=1e-9)
    observed = frame["observed"].cast(pl.Float64)
    lgamma = pl.Series([math.lgamma(x + 1) for x in observed], dtype=pl.Float64)
    return float((rate - observed * rate.log() + lgamma).mean())


BUILTIN: dict[str, Loss] = {"mse": mse, "rmse": rmse, "mae": mae, "poisson": poisson}
