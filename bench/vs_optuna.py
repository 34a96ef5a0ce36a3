"""`mops` against the loop a modeller would write with plain Optuna.

    .venv/bin/python -m bench.vs_optuna [--quick]

Same model (`bench.models:spin`, 2 replicates), same loss (MSE of the replicate
mean against the same data), same TPE sampler and seed, same budget and two
workers: the plain side is `study.optimize(objective, n_jobs=2)` in one process,
ours is `calibrate` on 2 Dask worker processes, busy mode, in-memory study, no
confirmation phase and no report (the plain loop does neither). The runner's
start-up and teardown seconds are printed beside its throughput.
Last line: {"cheap_ratio", "slow_ratio"}, each mops throughput / plain throughput.
"""

from __future__ import annotations

import json
import time

import numpy as np
import optuna

from .common import document, quick_flag, spec_and_data, timed_run, workspace
from .models import spin

CASES = {"cheap": (1.0, 1000), "slow": (20.0, 150)}  # simulation ms, trials
QUICK = {"cheap": (1.0, 60), "slow": (20.0, 10)}
TARGET = np.array([0.5, 0.5])


def plain_optuna(ms: float, trials: int) -> float:
    """Wall seconds of the plain loop."""

    def objective(trial: optuna.Trial) -> float:
        params = {"x": trial.suggest_float("x", 0.0, 1.0), "y": trial.suggest_float("y", 0.0, 1.0), "ms": ms}
        runs = [spin(params, seed)["out"]["value"].to_numpy() for seed in range(2)]
        return float(np.mean((np.mean(runs, axis=0) - TARGET) ** 2))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=2)
    return time.perf_counter() - started


def main() -> None:
    cases = QUICK if quick_flag(__doc__) else CASES
    ratios = {}
    with workspace() as (client, folder):
        for case, (ms, trials) in cases.items():
            spec, observed = spec_and_data(document(ms, trials), folder)
            plain = plain_optuna(ms, trials)
            phases: dict = {}
            ours = timed_run(client, spec, observed, folder, f"vs-{case}", phases=phases)
            ratios[f"{case}_ratio"] = round(plain / ours, 3)
            print(f"{case:5} ({ms:g} ms x 2 replicates, {trials} trials): "
                  f"plain Optuna {trials / plain:7.1f} trials/s, mops {trials / ours:7.1f} trials/s "
                  f"(start-up {phases['startup']:.2f} s, teardown {phases['teardown']:.2f} s)")  # fmt: skip
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()
