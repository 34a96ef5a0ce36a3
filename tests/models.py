"""Small simulations for tests: well-behaved, failing, and misbehaving ones."""

from __future__ import annotations

import os
import time

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


def always_fails(params, seed):
    import not_a_real_dependency  # noqa: F401  (the upstream failure: an import inside the model)


def wrong_type(params, seed):
    return {"curve": [1, 2, 3]}


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
