"""What a worker adds per trial on top of the model itself, in process.

    .venv/bin/python -m bench.worker_overhead [--quick]

Times `runner.worker_tasks.run_trials` (simulate every replicate in the warm
child process, bring its outputs back, score the trial) against calling the
model's function for the same replicates in this process, best of several
rounds each; and the part of it spent in this process (decoding and scoring
the outcomes: `outcome`). Last line: {"overhead_ms", "scoring_ms"}, extra
milliseconds per trial of 2 replicates.
"""

from __future__ import annotations

import json
import time

import polars as pl

from modelops.seeds import replicate_seeds
from modelops.spec import parse_spec
from modelops_contracts import SimTask, UniqueParameterSet
from modelops.services.executor import simulate_groups, warm
from runner.worker_tasks import outcome, run_trials

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

    def model_only() -> None:
        for tasks in work:
            for task in tasks:
                spin(dict(task.params.params), task.seed)

    def worker() -> None:
        outcomes = run_trials(work, observed, targets)
        assert all(o["status"] == "completed" for o in outcomes), outcomes[0]

    warm(spec.model.entrypoint)
    simulated = simulate_groups(work)

    def scoring() -> None:
        for tasks, replicates in zip(work, simulated):
            outcome(observed, targets, replicates, tasks[0].params.params)

    best = {}
    for name, fn in (("model", model_only), ("worker", worker), ("scoring", scoring)):
        fn()  # warm imports and caches
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        best[name] = min(times) / trials * 1000
    overhead = best["worker"] - best["model"]
    print(f"per trial of 2 replicates: model {best['model']:.3f} ms, worker {best['worker']:.3f} ms "
          f"(overhead {overhead:.3f} ms), of which scoring {best['scoring']:.3f} ms")  # fmt: skip
    print(json.dumps({"overhead_ms": round(overhead, 3), "scoring_ms": round(best["scoring"], 3)}))


if __name__ == "__main__":
    main()
