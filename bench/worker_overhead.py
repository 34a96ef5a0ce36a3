"""What a worker adds per trial on top of the model itself, in process, stage by stage.

    .venv/bin/python -m bench.worker_overhead [--quick]

Times `runner.worker_tasks.run_trials` (simulate every replicate in the warm
child process and score each trial there, bringing back its score) against calling the
model's function for the same replicates in this process: the median over
rounds of each round's difference (the two run side by side and all stages
take turns within a round, so a shared machine's load weighs on them alike;
a best of rounds swung 30% from run to run). Also that difference in CPU time,
this process's and its simulation child's, which waiting for a busy CPU does
not inflate. Other stages are medians over the rounds too. The stages, each timed on its own in this process:
`encode` (the child's Arrow IPC encoding of the outputs), `simulate` (the
whole round trip to the child, model and encoding included: `protocol` is
what it adds to them), `in_process` (`run_simulation` here, as the child
calls it: each model's fresh tables encoded right after it, which costs more
than the two timed apart; `round_trip` is what `simulate` adds to it), `decode` and `score` (the two parts of `outcomes`, which
scores outputs that came back: a costly trial's groups, outputs a simulation cache holds).
Last line: {"overhead_ms", "overhead_cpu_ms", "scoring_ms", and each stage's "<stage>_ms"},
milliseconds per trial of 2 replicates.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import time

import polars as pl

from modelops.ipc import to_ipc
from modelops.scoring import score
from modelops.seeds import replicate_seeds
from modelops.services.execute import run_simulation
from modelops.services.executor import simulate_groups, warm
from modelops.spec import parse_spec
from modelops_contracts import SimTask, UniqueParameterSet
from runner.worker_tasks import decode, outcomes, run_trials

from .common import document, quick_flag
from .models import spin

TRIALS, ROUNDS = 300, 15
QUICK_TRIALS, QUICK_ROUNDS = 40, 4


def main() -> None:
    trials, rounds = (QUICK_TRIALS, QUICK_ROUNDS) if quick_flag(__doc__) else (TRIALS, ROUNDS)
    spec = parse_spec(document(0.0, trials))
    observed = {"out": pl.DataFrame({"t": [0, 1], "value": [0.5, 0.5]})}
    targets = {n: t.model_dump() | {"output": spec.target_output(n)} for n, t in spec.targets.items()}
    psets = [UniqueParameterSet.from_dict({"x": i / trials, "y": 0.5, "ms": 0.0}) for i in range(trials)]
    work = [
        [SimTask(spec.model.bundle_ref, spec.model.entrypoint, p, s, outputs=("out",)) for s in replicate_seeds(p.param_id, 2)]
        for p in psets
    ]
    warm(spec.model.entrypoint)
    simulated = simulate_groups(work)
    returned = [[spin(dict(task.params.params), task.seed) for task in tasks] for tasks in work]

    def model() -> None:
        for tasks in work:
            for task in tasks:
                spin(dict(task.params.params), task.seed)

    def in_process() -> None:  # what the child does per simulation, here: the model, then encoding its fresh tables
        for tasks in work:
            for task in tasks:
                run_simulation(task.entrypoint, task.params.params, task.seed, task.outputs)

    def encode() -> None:
        for outputs in returned:
            for replicate in outputs:
                to_ipc(replicate)

    def decode_all() -> None:
        for replicates in simulated:
            decode(replicates)

    def score_all(decoded: list) -> None:
        for tasks, outputs in zip(work, decoded):
            score(targets, observed, outputs, tasks[0].params.params)

    def scoring() -> None:
        outcomes(work, simulated, observed, targets)

    def worker() -> None:
        results = run_trials(work, observed, targets)
        assert all(o["status"] == "completed" for o in results), results[0]

    def fresh() -> list:  # the tables as outcomes scores them: decoded anew before each round
        return [decode(replicates) for replicates in simulated]

    # model and worker run side by side, so each round's overhead is their paired difference
    stages = {"model": (model, None), "worker": (worker, None), "encode": (encode, None), "in_process": (in_process, None),
              "simulate": (lambda: simulate_groups(work), None), "decode": (decode_all, None), "score": (score_all, fresh),
              "scoring": (scoring, None)}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in stages}
    cpu: dict[str, list[float]] = {"model": [], "worker": []}
    for _ in range(rounds + 1):  # the first warms imports and caches; stages take turns, so load hits all alike
        for name, (fn, setup) in stages.items():
            argument = () if setup is None else (setup(),)
            started, used = time.perf_counter(), time.thread_time() + children_cpu_seconds()
            fn(*argument)
            times[name].append(time.perf_counter() - started)
            if name in cpu:
                cpu[name].append(time.thread_time() + children_cpu_seconds() - used)
    per_trial = {name: [t / trials * 1000 for t in spent[1:]] for name, spent in times.items()}
    middle = {name: statistics.median(spent) for name, spent in per_trial.items()}
    middle["protocol"] = middle["simulate"] - middle["model"] - middle["encode"]
    middle["round_trip"] = middle["simulate"] - middle["in_process"]
    paired = [w - m for w, m in zip(per_trial["worker"], per_trial["model"])]
    overhead, (low, _, high) = statistics.median(paired), statistics.quantiles(paired, n=4)
    cpu_paired = [(w - m) / trials * 1000 for w, m in zip(cpu["worker"][1:], cpu["model"][1:])]
    overhead_cpu = statistics.median(cpu_paired)
    print(f"per trial of 2 replicates, medians of {rounds} rounds: model {middle['model']:.3f} ms, "
          f"worker {middle['worker']:.3f} ms")  # fmt: skip
    print(f"  overhead {overhead:.3f} ms (paired rounds, quartiles {low:.3f}-{high:.3f}); "
          f"in CPU time, this process and its children: {overhead_cpu:.3f} ms")  # fmt: skip
    print(f"  in the child: encode {middle['encode']:.3f} ms; the round trip adds {middle['protocol']:.3f} ms "
          f"(simulate {middle['simulate']:.3f} ms in all)")  # fmt: skip
    print(f"  the child's own work done here takes {middle['in_process']:.3f} ms: the round trip adds "
          f"{middle['round_trip']:.3f} ms to it")  # fmt: skip
    print(f"  here: decode {middle['decode']:.3f} ms, score {middle['score']:.3f} ms (outcomes {middle['scoring']:.3f} ms)")
    figures = {"overhead_ms": overhead, "overhead_cpu_ms": overhead_cpu, "scoring_ms": middle["scoring"]}
    figures |= {f"{name}_ms": middle[name] for name in ("model", "encode", "protocol", "in_process", "round_trip", "simulate", "decode", "score")}
    print(json.dumps({name: round(value, 3) for name, value in figures.items()}))


def children_cpu_seconds() -> float:
    """CPU time of this process's live children (the warm simulation child), from the kernel's
    scheduler statistics: nanoseconds, where rusage would count only children that ended."""
    total = 0
    for listing in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        for pid in open(listing).read().split():
            for stats in glob.glob(f"/proc/{pid}/task/*/schedstat"):
                try:
                    total += int(open(stats).read().split()[0])
                except (OSError, ValueError, IndexError):  # a thread that just ended
                    pass
    return total / 1e9


if __name__ == "__main__":
    main()
