"""What a worker adds per trial on top of the model itself, in process, stage by stage.

    .venv/bin/python -m bench.worker_overhead [--quick]

Times `runner.worker_tasks.run_trials` (simulate every replicate in the warm
child process and score each trial there, bringing back its score) against calling the
model's function for the same replicates in this process, best of several
rounds each (the stages take turns within a round, so a shared machine's load
weighs on them alike). The stages, each timed on its own in this process:
`encode` (the child's Arrow IPC encoding of the outputs), `simulate` (the
whole round trip to the child, model and encoding included: `protocol` is
what it adds to them), `in_process` (`run_simulation` here, as the child
calls it: each model's fresh tables encoded right after it, which costs more
than the two timed apart; `round_trip` is what `simulate` adds to it), `decode` and `score` (the two parts of `outcomes`, which
scores outputs that came back: a costly trial's groups, outputs a simulation cache holds).
Last line: {"overhead_ms", "scoring_ms", and each stage's "<stage>_ms"},
milliseconds per trial of 2 replicates.
"""

from __future__ import annotations

import json
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

TRIALS, ROUNDS = 400, 7
QUICK_TRIALS, QUICK_ROUNDS = 40, 2


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

    stages = {"model": (model, None), "encode": (encode, None), "in_process": (in_process, None), "simulate": (lambda: simulate_groups(work), None),
              "decode": (decode_all, None), "score": (score_all, fresh), "scoring": (scoring, None),
              "worker": (worker, None)}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(rounds + 1):  # the first warms imports and caches; stages take turns, so load hits all alike
        for name, (fn, setup) in stages.items():
            argument = () if setup is None else (setup(),)
            started = time.perf_counter()
            fn(*argument)
            times[name].append(time.perf_counter() - started)
    best = {name: min(spent[1:]) / trials * 1000 for name, spent in times.items()}
    best["protocol"] = best["simulate"] - best["model"] - best["encode"]
    best["round_trip"] = best["simulate"] - best["in_process"]
    overhead = best["worker"] - best["model"]
    print(f"per trial of 2 replicates: model {best['model']:.3f} ms, worker {best['worker']:.3f} ms "
          f"(overhead {overhead:.3f} ms)")  # fmt: skip
    print(f"  in the child: encode {best['encode']:.3f} ms; the round trip adds {best['protocol']:.3f} ms "
          f"(simulate {best['simulate']:.3f} ms in all)")  # fmt: skip
    print(f"  the child's own work done here takes {best['in_process']:.3f} ms: the round trip adds "
          f"{best['round_trip']:.3f} ms to it")  # fmt: skip
    print(f"  here: decode {best['decode']:.3f} ms, score {best['score']:.3f} ms (outcomes {best['scoring']:.3f} ms)")
    figures = {"overhead_ms": overhead, "scoring_ms": best["scoring"]}
    figures |= {f"{name}_ms": best[name] for name in ("model", "encode", "protocol", "in_process", "round_trip", "simulate", "decode", "score")}
    print(json.dumps({name: round(value, 3) for name, value in figures.items()}))


if __name__ == "__main__":
    main()
