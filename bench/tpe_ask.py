"""What one TPE proposal costs the runner, against Optuna's TPESampler on the same history.

    .venv/bin/python -m bench.tpe_ask [--quick]

Busy mode's pattern: a study with a history of finished trials (3 continuous
parameters, one log-scaled; values from a noisy quadratic) and 3 trials in
flight; each step tells the oldest one and asks one, the engine's single ask as
a trial finishes. Only `study.ask` is timed. Samplers, in interleaved rounds on
copies of the same history: Optuna's `TPESampler`, `IncrementalTPE` on the
whole history, and the runner's sampler (`make_sampler`: IncrementalTPE on a
bounded history, which at 1,000 trials fits on 525 of them), all with the
runner's options (multivariate, constant liar) and seed.
Last line: {"<history>": {"optuna_ms", "incremental_ms", "runner_ms", "incremental_ratio", "runner_ratio"},
"load"}: ratios Optuna's median ms per ask / ours (above 1: ours is cheaper), the 1-minute load average at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.samplers import TPESampler
from optuna.trial import create_trial

from runner.algorithms.optuna_algorithm import make_sampler
from runner.algorithms.tpe import IncrementalTPE

from .common import quick_flag

SPACE = {"a": FloatDistribution(0.0, 1.0), "b": FloatDistribution(1e-3, 10.0, log=True), "c": FloatDistribution(-5, 5)}
OPTIONS = {"multivariate": True, "constant_liar": True}
HISTORIES, ASKS, ROUNDS, RUNNING = (200, 1000), 100, 3, 3


def value(params: dict, rng: np.random.Generator) -> float:
    return (params["a"] - 0.3) ** 2 + np.log10(params["b"]) ** 2 / 4 + (params["c"] / 5) ** 2 + rng.normal(0, 0.01)


def history(n: int) -> list:
    """`n` finished trials spread like a TPE search's: most near the optimum, the rest anywhere."""
    rng = np.random.default_rng(7)
    trials = []
    for _ in range(n):
        near = rng.random() < 0.6
        params = {
            "a": float(np.clip(rng.normal(0.3, 0.05) if near else rng.uniform(0, 1), 0, 1)),
            "b": float(np.exp(np.clip(rng.normal(0, 0.3) if near else rng.uniform(np.log(1e-3), np.log(10)),
                                      np.log(1e-3), np.log(10)))),  # fmt: skip
            "c": float(np.clip(rng.normal(0, 0.5) if near else rng.uniform(-5, 5), -5, 5)),
        }
        trials.append(create_trial(params=params, distributions=SPACE, value=value(params, rng)))
    return trials


def ms_per_ask(sampler: optuna.samplers.BaseSampler, finished: list, asks: int) -> float:
    """Median milliseconds of `asks` single asks, each after a tell, with `RUNNING` trials in flight."""
    study = optuna.create_study(sampler=sampler)
    study.add_trials(finished)
    rng = np.random.default_rng(3)
    running = [study.ask(SPACE) for _ in range(RUNNING)]
    costs = []
    for _ in range(asks):
        done = running.pop(0)
        study.tell(done, value(done.params, rng))
        started = time.perf_counter()
        running.append(study.ask(SPACE))
        costs.append(time.perf_counter() - started)
    return 1000 * statistics.median(costs)


def main() -> None:
    quick = quick_flag(__doc__)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {
        "optuna": lambda: TPESampler(seed=1, **OPTIONS),
        "incremental": lambda: IncrementalTPE(seed=1, **OPTIONS),
        "runner": lambda: make_sampler("tpe", 1, {}),
    }
    asks, rounds = (20, 1) if quick else (ASKS, ROUNDS)
    results = {}
    for n in HISTORIES:
        finished = history(n)
        costs: dict[str, list[float]] = {name: [] for name in samplers}
        for _ in range(rounds):
            for name, make in samplers.items():
                costs[name].append(ms_per_ask(make(), finished, asks))
        ms = {name: statistics.median(values) for name, values in costs.items()}
        print(f"{n:5} finished, {RUNNING} in flight: ms per ask " + ", ".join(f"{k} {v:.2f}" for k, v in ms.items()))
        results[str(n)] = {f"{k}_ms": round(v, 3) for k, v in ms.items()} | {
            "incremental_ratio": round(ms["optuna"] / ms["incremental"], 2),
            "runner_ratio": round(ms["optuna"] / ms["runner"], 2),
        }
    print(json.dumps(results | {"load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
