"""Runner throughput against a plain sequential ask -> simulate -> tell loop.

    .venv/bin/python -m bench.runner_overhead

Both sides run the same document (Optuna TPE, 2 replicates per trial, a loss
against target data, no confirmation phase and no report: the same work) on
this machine in the same run. The runner uses a local
Dask cluster of 2 single-thread worker processes, whose simulations run in
warm child processes (isolation on, as always); the baseline calls the model in
its own process. Prints a table, then a last line of JSON: {"costly_ratio",
"cheap_ratio", "pg_trial_overhead_ms", "isolation_ms_per_sim",
"isolation_ms_per_sim_packed", "cheap_startup_s", "costly_startup_s"}, where a
ratio is runner throughput / sequential throughput (whole wall times, fixed costs
included: the trial counts amortise them as a real run does; the cheap case's is the
median of interleaved rounds,
and the start-up and teardown seconds are printed beside them), the PostgreSQL overhead is the extra wall time per trial of a
PostgreSQL study over an in-memory one, and the isolation cost is the extra
time per simulation of running a batch of 2 (one cheap trial) or 16 (a packed
task) near-free simulations in a warm child rather than in process.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from modelops.services.execute import run_simulation
from modelops.services.executor import simulate, warm
from modelops.spec import parse_spec, preflight
from modelops_contracts import SimTask, UniqueParameterSet

from .common import document, timed_run, workspace
from .plain_loop import plain_optuna
from .storage_overhead import postgres

# Simulation ms, trials, rounds. 200 costly trials amortise the start-up (~0.6 s) as a real run does; the
# cheap case stays at 150, where its start-up is ~0.1 s and TPE's growing ask cost does not yet dominate the
# sequential loop (at 1,000 trials it does, and the ratio would credit the runner's bounded history).
# A cheap round takes ~0.5 s a side, where one burst of the machine's other work moved one ratio by a
# third (1.16-1.72 in four rounds of the same code): its ratio is the median of several interleaved rounds.
CASES = {"cheap": (1.0, 150, 7), "costly": (50.0, 200, 1)}
PG_TRIALS = 150


def sequential(spec, observed) -> float:
    """The baseline: one process, ask -> simulate every replicate -> score -> tell."""
    started = time.perf_counter()
    plain_optuna(spec, observed)
    return time.perf_counter() - started


def pg_overhead_ms(client, spec, observed, folder: Path) -> float | None:
    """Extra wall time per trial of a PostgreSQL study (the tests' throwaway server) over memory."""
    with postgres() as url:
        if url is None:  # no PostgreSQL on this machine
            return None
        memory = timed_run(client, spec, observed, folder, "pg-base")
        shared = timed_run(client, spec, observed, folder, "pg", url)
    return (shared - memory) / spec.budget.trials * 1000


def isolation_ms_per_sim(batch: int, rounds: int = 200) -> float:
    """Extra time per simulation of a warm child over calling the model here, for near-free simulations.

    Rounds alternate between the two and the median difference is taken, so a
    busy machine's bursts weigh on both sides alike.
    """
    pset = UniqueParameterSet.from_dict({"x": 0.5, "y": 0.5, "ms": 0.0})
    tasks = [SimTask("installed", "bench.models:spin", pset, seed) for seed in range(batch)]
    warm("bench.models:spin")
    simulate(tasks)
    differences = []
    for _ in range(rounds):
        started = time.perf_counter()
        simulate(tasks)
        isolated = time.perf_counter() - started
        started = time.perf_counter()
        for task in tasks:
            run_simulation(task.entrypoint, pset.params, task.seed)
        differences.append(isolated - (time.perf_counter() - started))
    return statistics.median(differences) / batch * 1000


def main() -> None:
    results: dict[str, float | None] = {}
    with workspace() as (client, folder):
        for case, (ms, trials, rounds) in CASES.items():
            spec = parse_spec(document(ms, trials))
            observed = preflight(spec, folder)
            ratios, startups = [], []
            for round_ in range(rounds):
                base = sequential(spec, observed)
                phases: dict = {}
                ours = timed_run(client, spec, observed, folder, f"{case}-memory-{round_}", phases=phases)
                ratios.append(base / ours)
                startups.append(phases["startup"])
                print(f"{case:6} ({ms:g} ms x 2 replicates, {trials} trials): "
                      f"sequential {trials / base:7.1f} trials/s, runner {trials / ours:7.1f} trials/s "
                      f"(of its {ours:.2f} s: start-up {phases['startup']:.2f} s, teardown {phases['teardown']:.2f} s)")  # fmt: skip
            results[f"{case}_ratio"] = round(statistics.median(ratios), 3)
            results[f"{case}_startup_s"] = round(statistics.median(startups), 3)
        spec = parse_spec(document(CASES["cheap"][0], PG_TRIALS))
        overhead = pg_overhead_ms(client, spec, preflight(spec, folder), folder)
        results["pg_trial_overhead_ms"] = None if overhead is None else round(overhead, 2)
        print("PostgreSQL study:", "not available here" if overhead is None else f"+{overhead:.2f} ms per trial")
    for key, batch in (("isolation_ms_per_sim", 2), ("isolation_ms_per_sim_packed", 16)):
        results[key] = round(isolation_ms_per_sim(batch), 3)
        print(f"isolation, batches of {batch:2}: +{results[key]:.3f} ms per simulation")
    keys = ("costly_ratio", "cheap_ratio", "pg_trial_overhead_ms", "isolation_ms_per_sim", "isolation_ms_per_sim_packed",
            "cheap_startup_s", "costly_startup_s")  # fmt: skip
    print(json.dumps({k: results[k] for k in keys}))


if __name__ == "__main__":
    main()
