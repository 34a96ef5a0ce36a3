"""Small simulations for tests: well-behaved, failing, and misbehaving ones."""

from __future__ import annotations

import os
import signal
import sys
import random
import time

import numpy as np
import polars as pl

from examples.toy.model import simulate as toy


def quadratic(params, seed):
    """Deterministic: value = (x - 3)^2 + y at every key, so the loss is known exactly."""
    value = (params["x"] - 3.0) ** 2 + params.get("y", 0.0)
    return {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [value] * 3})}


def fails_above_five(params, seed):
    if params["x"] > 5:
        raise ValueError(f"x={params['x']} is out of the model's range")
    return quadratic(params, seed)


def slow_at_one(params, seed):
    if params["x"] == 1:
        time.sleep(0.5)
    return quadratic(params, seed)


def waits_for_release(params, seed):
    """`quadratic`, but at x == 1 it waits until the file $MODELOPS_TEST_RELEASE exists."""
    while params["x"] == 1 and not os.path.exists(os.environ["MODELOPS_TEST_RELEASE"]):
        time.sleep(0.01)
    return quadratic(params, seed)


def always_fails(params, seed):
    import not_a_real_dependency  # noqa: F401  (the upstream failure: an import inside the model)


def wrong_type(params, seed):
    return {"curve": [1, 2, 3]}


def with_scratch_output(params, seed):
    """A target's output and a scratch value no target reads (and no IPC can encode)."""
    return quadratic(params, seed) | {"scratch": object()}


def records_calls(params, seed):
    """Appends to the file named by $MODELOPS_TEST_CALLS, proving whether it ran."""
    with open(os.environ["MODELOPS_TEST_CALLS"], "a") as log:
        log.write(f"{seed}\n")
    return toy(params, seed)


class Seasonal:
    """A class entrypoint with scenarios: `tests.models.Seasonal/summer`."""

    def simulate(self, params, seed, scenario):
        shift = {"summer": 1.0, "winter": -1.0}[scenario]
        return quadratic({"x": params["x"] + shift}, seed)


def logged_quadratic(params, seed):
    """`quadratic`, a little slow, appending "param x,y,seed" to $MODELOPS_TEST_CALLS per call."""
    time.sleep(float(os.environ.get("MODELOPS_TEST_SLEEP", "0.03")))
    with open(os.environ["MODELOPS_TEST_CALLS"], "a") as log:
        log.write(f"{params['x']!r},{params['y']!r},{seed}\n")
    return quadratic(params, seed)


def kills_its_worker_at_one(params, seed):
    """`quadratic`, but at x == 1 it SIGKILLs its parent: the Dask worker process, not just itself."""
    if params["x"] == 1:
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(3600)
    return quadratic(params, seed)


def misbehaves(params, seed):
    """`quadratic`, unless params["how"] says to misbehave first.

    how: segfault | abort | exit | leak | hang | flood | crash_once (crashes unless
    the file $MODELOPS_TEST_CALLS exists, which it creates); anything else is fine.
    """
    how = params["how"]
    print(f"simulating x={params['x']} with {how}", flush=True)
    print(f"about to {how}", file=sys.stderr, flush=True)
    if how == "segfault":
        import ctypes

        ctypes.string_at(0)
    elif how == "abort":
        os.abort()
    elif how == "exit":
        os._exit(3)
    elif how == "leak":
        hoard = []
        while True:
            hoard.append(bytearray(16 << 20))  # touched pages: resident, as a real leak is
    elif how == "hang":
        time.sleep(3600)
    elif how == "flood":
        for line in range(50_000):
            print(f"flood line {line} " + "x" * 200)
        raise RuntimeError("flooded, then failed")
    elif how == "crash_once":
        marker = os.environ["MODELOPS_TEST_CALLS"]
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(9)
    return quadratic(params, seed)


def floods_and_measures(params, seed):
    """Prints for `seconds`, then returns how much it printed and how big its own stdout file is."""
    deadline, printed = time.monotonic() + params["seconds"], 0
    while time.monotonic() < deadline:
        printed += print("x" * 999) or 1000
    sys.stdout.flush()
    return {"size": pl.DataFrame({"printed": [printed], "bytes": [os.fstat(1).st_size]})}


def noisy_quadratic(params, seed):
    """`quadratic` plus unit normal noise drawn from the replicate's seed: a noisy loss with a known mean."""
    noise = random.Random(seed).gauss(0.0, 1.0)
    value = (params["x"] - 3.0) ** 2 + params.get("y", 0.0) + noise
    return {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [value] * 3})}


POISSON_COUNTS = 20


def poisson_counts(params, seed):
    """20 Poisson(lam) counts: with a uniform prior on lam the posterior is a (truncated) Gamma."""
    counts = np.random.default_rng(seed).poisson(params["lam"], POISSON_COUNTS)
    if "MODELOPS_TEST_CALLS" in os.environ:
        time.sleep(float(os.environ.get("MODELOPS_TEST_SLEEP", "0")))
        with open(os.environ["MODELOPS_TEST_CALLS"], "a") as log:
            log.write(f"{params['lam']!r},{seed}\n")
    return {"counts": pl.DataFrame({"i": np.arange(POISSON_COUNTS), "count": counts})}


def mean_gap(aligned):
    """ABC distance on the sufficient statistic: |mean simulated - mean observed|."""
    return abs(aligned["simulated"].mean() - aligned["observed"].mean())


def ridge(params, seed):
    """Deterministic, and only a - b matters: every (a, b) with a - b = 1 fits the zeros exactly."""
    value = params["a"] - params["b"] - 1.0
    return {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [value] * 3})}


def imported(params, seed):
    """Whether this process has imported the module params["module"] (before importing anything itself)."""
    return {"curve": pl.DataFrame({"t": [0], "value": [float(params["module"] in sys.modules)]})}


def its_pid(params, seed):
    """This process's id at every key: a loss against zeros tells which process simulated."""
    return {"curve": pl.DataFrame({"t": [0, 1, 2], "value": [float(os.getpid())] * 3})}
