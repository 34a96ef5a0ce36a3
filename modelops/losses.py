"""Built-in losses over an aligned frame.

Every loss, built-in or user-supplied, takes the same *aligned* frame: the
target's key columns, ``replicate``, ``simulated`` and ``observed``, one row
per (key, replicate). Built-ins compare the replicate mean with the data and
average over observations, so targets of different lengths weigh alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import polars as pl

Loss = Callable[[pl.DataFrame], float]


def _mean_by_key(aligned: pl.DataFrame) -> pl.DataFrame:
    keys = [c for c in aligned.columns if c not in ("replicate", "simulated", "observed")]
    return aligned.group_by(keys, maintain_order=True).agg(
        pl.col("simulated").mean(), pl.col("observed").first()
    )


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
