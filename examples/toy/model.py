"""The original plan's toy simulation: ``x`` times standard normal noise."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl


def simulate(params: Mapping[str, float], seed: int) -> dict[str, pl.DataFrame]:
    n = int(params.get("n", 10))
    values = float(params["x"]) * np.random.default_rng(seed).standard_normal(n)
    return {"output": pl.DataFrame({"iteration": np.arange(n), "value": values})}
