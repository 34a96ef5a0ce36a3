"""A stochastic SIR model in discrete time (chain binomial).

Parametrised as epidemiologists calibrate it: the basic reproduction number
`R0` and the recovery rate `gamma` (1/gamma is the mean infectious period), so
transmission is beta = R0 * gamma. Each day every susceptible person is
infected with probability 1 - exp(-beta * I / N) and every infectious person
recovers with probability 1 - exp(-gamma).

Outputs: `incidence` (new infections per day) and `prevalence` (people
infectious at the end of each day). Incidence alone leaves R0 and gamma
correlated along a ridge; prevalence, whose size scales with the infectious
period, pins gamma down.
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
    gamma = float(params["gamma"])
    beta = float(params["R0"]) * gamma
    rng = np.random.default_rng(seed)
    recover = 1.0 - math.exp(-gamma)
    susceptible, infectious = POPULATION - INITIAL_INFECTED, INITIAL_INFECTED
    incidence = np.zeros(DAYS, dtype=np.int64)
    prevalence = np.zeros(DAYS, dtype=np.int64)
    for day in range(DAYS):
        new_infections = rng.binomial(susceptible, 1.0 - math.exp(-beta * infectious / POPULATION))
        recoveries = rng.binomial(infectious, recover)
        susceptible -= new_infections
        infectious += new_infections - recoveries
        incidence[day] = new_infections
        prevalence[day] = infectious
    days = np.arange(1, DAYS + 1)
    return {
        "incidence": pl.DataFrame({"day": days, "incidence": incidence}),
        "prevalence": pl.DataFrame({"day": days, "prevalence": prevalence}),
    }
