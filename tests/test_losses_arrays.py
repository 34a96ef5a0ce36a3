"""The built-in losses from arrays (what scoring runs) have the bits of the polars formulas they replace."""

import math

import numpy as np
import polars as pl
import pytest

from modelops.losses import IN_ORDER_ROWS, SMALL_ROWS, _mean_by_key
from modelops.scoring import align, score, target_loss


def reference(loss: str, aligned: pl.DataFrame) -> float:
    """The losses as they were computed before: polars expressions over the replicate mean."""
    frame = _mean_by_key(aligned)
    simulated, observed = frame["simulated"], frame["observed"]
    if loss == "poisson":
        rate, counts = simulated.cast(pl.Float64).clip(lower_bound=1e-9), observed.cast(pl.Float64)
        lgamma = pl.Series([math.lgamma(x + 1) for x in counts], dtype=pl.Float64)
        return float((rate - counts * rate.log() + lgamma).mean())
    error = simulated - observed
    if loss == "mae":
        return float(error.abs().mean())
    mse = float((error * error).mean())
    return mse**0.5 if loss == "rmse" else mse


def random_case(rng, rows: int, count: int, shuffled: bool):
    """Target data (integer counts or floats) and `count` replicate tables of its keys, maybe reordered."""
    keys = rng.permutation(10 * rows)[:rows]
    values = rng.poisson(5.0, rows) if rng.random() < 0.5 else rng.standard_normal(rows) * 10.0 ** rng.integers(-3, 4)
    observed = pl.DataFrame({"t": keys, "v": values, "n": rng.integers(20, 40, rows)})
    replicates = []
    for _ in range(count):
        order = rng.permutation(rows) if shuffled else np.arange(rows)
        simulated = np.abs(rng.standard_normal(rows)) * 10.0 ** rng.integers(-3, 4, rows)
        replicates.append(pl.DataFrame({"t": keys[order], "v": simulated[order]}))
    return observed, replicates


@pytest.mark.parametrize("seed", range(3))
def test_losses_from_arrays_equal_the_polars_formulas_on_random_data(seed):
    rng = np.random.default_rng(seed)
    sizes = [1, 2, 3, IN_ORDER_ROWS - 1, IN_ORDER_ROWS, IN_ORDER_ROWS + 1, *rng.integers(4, 300, 6)]
    for rows in sizes:
        count = int(rng.integers(1, max(2, min(9, (SMALL_ROWS - 1) // rows + 1))))
        observed, replicates = random_case(rng, int(rows), count, shuffled=bool(rng.random() < 0.5))
        aligned = align(replicates, observed, ["t"], "v", "out")
        for loss in ("mse", "rmse", "mae", "poisson"):
            target = {"keys": ["t"], "value": "v", "loss": loss, "weight": 1.0}
            fast = score({"out": target}, {"out": observed}, [{"out": r} for r in replicates])[1]["out"]
            assert fast == reference(loss, aligned) == target_loss(target, aligned, {}), (rows, count, loss)


@pytest.mark.parametrize("likelihood", ["poisson", "negative_binomial", "binomial", "beta_binomial", "normal"])
def test_likelihoods_from_arrays_equal_the_frame_computation(likelihood):
    rng = np.random.default_rng(7)
    for rows in (1, 5, 200):
        observed, replicates = random_case(rng, rows, 3, shuffled=True)
        observed = observed.with_columns(v=pl.Series(rng.integers(0, 20, rows)))
        if likelihood in ("binomial", "beta_binomial"):
            replicates = [r.with_columns(v=pl.Series(rng.uniform(0.05, 0.95, rows))) for r in replicates]
        target = {"keys": ["t"], "value": "v", "likelihood": likelihood, "weight": 1.0,
                  "dispersion": "k", "sd": 2.0, "size": "n"}  # fmt: skip
        fast = score({"out": target}, {"out": observed}, [{"out": r} for r in replicates], {"k": 3.0})[1]["out"]
        aligned = align(replicates, observed, ["t"], "v", "out", "n")
        assert fast == target_loss(target, aligned, {"k": 3.0})
