"""A stochastic SIR model in discrete time (chain binomial).

Each day every susceptible person is infected with probability
1 - exp(-beta * I / N) and every infectious person recovers with probability
1 - exp(-gamma). The output is the daily incidence (new infections).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

POPULATION = 100_000
INITIAL_INFECTED = 50
DAYS = 100


def simulate(params: Mapping[str, float], seed: int) -> dict[str, pl.DataFrame]:
    beta, gamma = float(params["beta"]), float(params["gamma"])
    rng = np.random.default_rng(seed)
    recover = 1.0 - math.exp(-gamma)
    susceptible, infectious = POPULATION - INITIAL_INFECTED, INITIAL_INFECTED
    incidence = np.zeros(DAYS, dtype=np.int64)
    for day in range(DAYS):
        new_infections = rng.binomial(susceptible, 1.0 - math.exp(-beta * infectious / POPULATION))
        recoveries = rng.binomial(infectious, recover)
        susceptible -= new_infections
        infectious += new_infections - recoveries
        incidence[day] = new_infections
    return {"incidence": pl.DataFrame({"day": np.arange(1, DAYS + 1), "incidence": incidence})}
