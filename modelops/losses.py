"""Built-in losses over an aligned frame.

Every loss, built-in or user-supplied, takes the same *aligned* frame: the
target's key columns, ``replicate``, ``simulated`` and ``observed``, one row
per (key, replicate). Built-ins compare the replicate mean with the data and
average over observations, so targets of different lengths weigh alike.
Each built-in is also an `ON_MEANS` function of the replicate mean and the
data as arrays, which scoring calls without building the frame; both give
the same bits (tests/test_losses_arrays.py).
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
# Below this many values polars' mean is a plain sum in order over the count; from it on it adds
# blocks of this many pairwise (polars 2.1), so the mean of longer arrays is left to polars.
IN_ORDER_ROWS = 128


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
    """The grouped mean for a frame of whole replicate blocks with the same unique numeric keys; else None."""
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
    means = replicate_mean(simulated.to_numpy().reshape(count, rows))
    return None if means is None else pl.DataFrame([pl.Series("simulated", means), aligned["observed"][:rows]])


def replicate_mean(values: np.ndarray) -> np.ndarray | None:
    """The mean over replicates (rows) of finite values, per column; None if any is not finite.

    Kahan-compensated over the replicates in order, as polars sums a small group, so the
    losses keep their bits (tests/test_scoring.py compares the two).
    """
    if not len(values) or not np.isfinite(values).all():
        return None
    total, carry = values[0] + 0.0, 0.0  # the first step from zero, exactly (adding 0.0 turns -0.0 into 0.0 as it did)
    last = len(values) - 1
    for index in range(1, last + 1):
        step = values[index] if index == 1 else values[index] - carry  # the first carry is 0.0: row - 0.0 is row
        moved = total + step
        if index < last:  # the last step's carry would be dropped
            carry = (moved - total) - step
        total = moved
    return total / values.shape[0]


def _mean(values: np.ndarray) -> float:
    """polars' `Series.mean()` of float64 values, without building a Series when they are few."""
    if 0 < values.size < IN_ORDER_ROWS:
        return float(np.add.accumulate(values)[-1]) / values.size  # in order, as polars adds them
    return float(pl.Series(values, dtype=pl.Float64).mean())


def _on_frame(on_means: Callable[[np.ndarray, np.ndarray], float]) -> Loss:
    def loss(aligned: pl.DataFrame) -> float:
        frame = _mean_by_key(aligned)
        return on_means(frame["simulated"].to_numpy(), frame["observed"].to_numpy().astype(np.float64))

    loss.__name__, loss.__doc__ = on_means.__name__, on_means.__doc__
    return loss


def mse_of_means(simulated: np.ndarray, observed: np.ndarray) -> float:
    """Mean squared error of the replicate mean."""
    error = simulated - observed
    return _mean(error * error)


def rmse_of_means(simulated: np.ndarray, observed: np.ndarray) -> float:
    """Root mean squared error of the replicate mean."""
    return mse_of_means(simulated, observed) ** 0.5


def mae_of_means(simulated: np.ndarray, observed: np.ndarray) -> float:
    """Mean absolute error of the replicate mean."""
    return _mean(np.abs(simulated - observed))


def poisson_of_means(simulated: np.ndarray, observed: np.ndarray) -> float:
    """Mean Poisson negative log-likelihood of the data, rate = replicate mean (counts)."""
    rate = pl.Series(simulated, dtype=pl.Float64).clip(lower_bound=1e-9)  # polars' log, as before
    counts = pl.Series(observed, dtype=pl.Float64)
    lgamma = pl.Series([math.lgamma(x + 1) for x in observed], dtype=pl.Float64)
    return float((rate - counts * rate.log() + lgamma).mean())


ON_MEANS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "mse": mse_of_means, "rmse": rmse_of_means, "mae": mae_of_means, "poisson": poisson_of_means,
}  # fmt: skip
mse, rmse, mae, poisson = (_on_frame(f) for f in ON_MEANS.values())
BUILTIN: dict[str, Loss] = {"mse": mse, "rmse": rmse, "mae": mae, "poisson": poisson}
