"""CPU-bound simulations of a known cost, for benchmarks."""

from __future__ import annotations

import time

import polars as pl


def spin(params, seed):
    """Burns `ms` milliseconds of this thread's CPU, returns a tiny table.

    CPU time, not wall time: parallelism must be earned. A wall-clock spin lets two threads
    of one process (plain Optuna's `n_jobs=2`) both reach their deadlines while only one
    holds the GIL, and on a busy machine it costs less CPU than it claims.
    """
    deadline = time.thread_time() + float(params.get("ms", 1.0)) / 1000
    while time.thread_time() < deadline:
        pass
    return {"out": pl.DataFrame({"t": [0, 1], "value": [params["x"], params["y"]]})}
