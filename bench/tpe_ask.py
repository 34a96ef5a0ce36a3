"""What one TPE proposal costs the runner, against Optuna's TPESampler on the same history.

    .venv/bin/python -m bench.tpe_ask [--quick]

Busy mode's pattern: a study with a history of finished trials (3 continuous
parameters, one log-scaled; values from a noisy quadratic) and 3 trials in
flight; each step tells the oldest one and asks one, the engine's single ask as
a trial finishes. Only `study.ask` is timed, the samplers taking turns ask by
ask (`ASKS` each) on copies of the same history: Optuna's `TPESampler`, `IncrementalTPE` on the
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
HISTORIES, ASKS, RUNNING = (200, 1000), 300, 3


def value(params: dict, noise: float) -> float:
    return (params["a"] - 0.3) ** 2 + np.log10(params["b"]) ** 2 / 4 + (params["c"] / 5) ** 2 + noise


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
        trials.append(create_trial(params=params, distributions=SPACE, value=value(params, rng.normal(0, 0.01))))
    return trials


def ms_per_ask(samplers: dict[str, optuna.samplers.BaseSampler], finished: list, asks: int) -> dict[str, float]:
    """Median milliseconds of `asks` single asks per sampler, each after a tell, with `RUNNING` trials in flight;
    the samplers take turns ask by ask, so a change in the machine's load reaches them all alike."""
    studies, running, costs = {}, {}, {name: [] for name in samplers}
    for name, sampler in samplers.items():
        studies[name] = optuna.create_study(sampler=sampler)
        studies[name].add_trials(finished)
        running[name] = [studies[name].ask(SPACE) for _ in range(RUNNING)]
    rng = np.random.default_rng(3)
    for _ in range(asks):
        noise = rng.normal(0, 0.01)
        for name, study in studies.items():
            done = running[name].pop(0)
            study.tell(done, value(done.params, noise))
            started = time.perf_counter()
            running[name].append(study.ask(SPACE))
            costs[name].append(time.perf_counter() - started)
    return {name: 1000 * statistics.median(values) for name, values in costs.items()}


def samplers() -> dict[str, optuna.samplers.BaseSampler]:
    return {
        "optuna": TPESampler(seed=1, **OPTIONS),
        "incremental": IncrementalTPE(seed=1, **OPTIONS),
        "runner": make_sampler("tpe", 1, {}),
    }


def main() -> None:
    asks = 20 if quick_flag(__doc__) else ASKS
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    for n in HISTORIES:
        ms = ms_per_ask(samplers(), history(n), asks)
        print(f"{n:5} finished, {RUNNING} in flight: ms per ask " + ", ".join(f"{k} {v:.2f}" for k, v in ms.items()))
        results[str(n)] = {f"{k}_ms": round(v, 3) for k, v in ms.items()} | {
            "incremental_ratio": round(ms["optuna"] / ms["incremental"], 2),
            "runner_ratio": round(ms["optuna"] / ms["runner"], 2),
        }
    print(json.dumps(results | {"load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
