"""CPU-bound simulations of a known cost, for benchmarks."""

from __future__ import annotations

import time

import polars as pl


def spin(params, seed):
    """Burns `ms` milliseconds of CPU (not sleep: parallelism must be earned), returns a tiny table."""
    deadline = time.perf_counter() + float(params.get("ms", 1.0)) / 1000
    while time.perf_counter() < deadline:
        pass
    return {"out": pl.DataFrame({"t": [0, 1], "value": [params["x"], params["y"]]})}
