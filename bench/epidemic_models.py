"""Stochastic epidemic models with known truths, for the calibration-quality benchmark.

`seir` is identifiable: daily symptom onsets and a weekly survey that records
who is symptomatic (I) and who tests positive (E + I) pin down R0, the
incubation rate and the recovery rate, and target data made from the expected
trajectory at `SEIR_TRUTH` put the optimum at the truth. Without the test
(E unobserved) R0 trades off against sigma, and seeded with 20 infectious
people the epidemic's random timing makes one evaluation's noise as large as
the loss at the truth: either way near-truth fits do not beat distant ones. `ridge` is
not: its early-growth counts depend on `beta - gamma` only, so every pair on
that line fits equally well — the case a calibration must flag, not hide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

POPULATION = 100_000
SEIR_DAYS = 120
SEIR_SEEDED = 200  # infectious on day 0
SEIR_TRUTH = {"R0": 2.2, "sigma": 0.3, "gamma": 0.15}
SEIR_SPACE = {"R0": {"low": 1.2, "high": 4.0}, "sigma": {"low": 0.1, "high": 1.0}, "gamma": {"low": 0.05, "high": 0.5}}
RIDGE_DAYS = 30
RIDGE_TRUTH = {"beta": 0.35, "gamma": 0.2}
RIDGE_SPACE = {"beta": {"low": 0.2, "high": 0.8}, "gamma": {"low": 0.05, "high": 0.65}}


def seir(params: Mapping[str, float], seed: int) -> dict[str, pl.DataFrame]:
    """Chain-binomial SEIR: daily symptom onsets; people infectious, and infected (E + I), at each day's end."""
    gamma, sigma = float(params["gamma"]), float(params["sigma"])
    beta = float(params["R0"]) * gamma
    rng = np.random.default_rng(seed)
    onset, recover = 1.0 - math.exp(-sigma), 1.0 - math.exp(-gamma)
    s, e, i = POPULATION - SEIR_SEEDED, 0, SEIR_SEEDED
    onsets = np.zeros(SEIR_DAYS, dtype=np.int64)
    prevalence = np.zeros(SEIR_DAYS, dtype=np.int64)
    carrying = np.zeros(SEIR_DAYS, dtype=np.int64)
    for day in range(SEIR_DAYS):
        infected = rng.binomial(s, 1.0 - math.exp(-beta * i / POPULATION))
        sick = rng.binomial(e, onset)
        recovered = rng.binomial(i, recover)
        s, e, i = s - infected, e + infected - sick, i + sick - recovered
        onsets[day], prevalence[day], carrying[day] = sick, i, e + i
    days = np.arange(1, SEIR_DAYS + 1)
    return {
        "onsets": pl.DataFrame({"day": days, "onsets": onsets}),
        "prevalence": pl.DataFrame({"day": days, "prevalence": prevalence}),
        "infected": pl.DataFrame({"day": days, "infected": carrying}),
    }


def ridge(params: Mapping[str, float], seed: int) -> dict[str, pl.DataFrame]:
    """Poisson counts growing at rate beta - gamma: only the difference is identified."""
    days = np.arange(RIDGE_DAYS)
    rate = 10.0 * np.exp((float(params["beta"]) - float(params["gamma"])) * days)
    counts = np.random.default_rng(seed).poisson(rate)
    return {"cases": pl.DataFrame({"day": days, "cases": counts})}


def expected_targets(model, truth: Mapping[str, float], replicates: int = 200) -> dict[str, pl.DataFrame]:
    """Target data: each output's mean over many replicates at the truth, rounded to counts."""
    runs = [model(truth, 10_000 + r) for r in range(replicates)]
    out = {}
    for name, first in runs[0].items():
        key, value = first.columns
        mean = np.mean([run[name][value].to_numpy() for run in runs], axis=0)
        out[name] = pl.DataFrame({key: first[key], value: np.round(mean).astype(np.int64)})
    return out
