"""The ask/tell loop on Dask.

Default ("busy") mode keeps `in_flight` trials running: whenever one finishes
it is told and a new one is asked, so no worker waits for the slowest member of
a batch. Deterministic mode asks a batch, waits for all of it and tells in ask
order, so a fixed seed gives the same trials on every run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
from distributed import Client, as_completed, wait

from modelops.seeds import replicate_seeds
from modelops.spec import RunSpec
from modelops_contracts import AdaptiveAlgorithm, SimTask, UniqueParameterSet

from .trials import Progress, TrialRecord
from .worker_tasks import score_trial, simulate_and_score, simulate_group

# Grouping aims for tasks of about this many seconds of simulation.
TASK_SECONDS = 0.5
# A run whose first trials all fail stops instead of burning its budget.
FAIL_FAST_TRIALS = 10


class CalibrationError(RuntimeError):
    """The calibration cannot go on (e.g. every trial fails)."""


class Engine:
    def __init__(
        self,
        client: Client,
        spec: RunSpec,
        observed: Mapping[str, pl.DataFrame],
        algorithm: AdaptiveAlgorithm,
        *,
        deterministic: bool = False,
        on_trial: Callable[[TrialRecord, Progress], None] | None = None,
    ):
        self.client = client
        self.spec = spec
        self.algorithm = algorithm
        self.deterministic = deterministic
        self.on_trial = on_trial
        self.progress = Progress(budget=spec.budget.trials)
        self.records: list[TrialRecord] = []
        self._targets = {name: t.model_dump() | {"output": spec.target_output(name)} for name, t in spec.targets.items()}
        self._outputs = tuple(sorted({spec.target_output(name) for name in spec.targets}))
        self._observed = client.scatter([dict(observed)], broadcast=True, hash=False)[0]
        self._seconds_per_replicate: float | None = None
        threads = sum(client.nthreads().values())
        self.in_flight = spec.compute.in_flight or max(1, 2 * threads)

    def run(self) -> list[TrialRecord]:
        if self.deterministic:
            self._run_batches()
        else:
            self._run_busy()
        if not any(r.status == "completed" for r in self.records):
            self._fail_all_failed()
        return self.records

    def _run_busy(self) -> None:
        running: dict[str, TrialRecord] = {}
        completed = as_completed()
        idle = 0.0
        while True:
            if not self.algorithm.finished() and len(running) < self.in_flight:
                for pset in self.algorithm.ask(self.in_flight - len(running)):
                    future, record = self._submit(pset)
                    running[future.key] = record
                    completed.add(future)
            if not running:
                if self.algorithm.finished():
                    return
                idle = min(1.0, idle * 2 or 0.01)  # nothing proposed yet: back off, don't spin
                time.sleep(idle)
                continue
            idle = 0.0
            future = next(completed)
            self._finish(running.pop(future.key), future.result())

    def _run_batches(self) -> None:
        while not self.algorithm.finished():
            batch = [self._submit(pset) for pset in self.algorithm.ask(self.in_flight)]
            if not batch:
                time.sleep(0.05)
                continue
            wait([future for future, _ in batch])
            for future, record in batch:
                self._finish(record, future.result())

    def _submit(self, pset: UniqueParameterSet) -> tuple[Any, TrialRecord]:
        seeds = replicate_seeds(pset.param_id, self.spec.replicates)
        record = TrialRecord(len(self.records), pset.param_id, dict(pset.params), seeds, time.time())
        self.records.append(record)
        model = self.spec.model
        tasks = [SimTask(model.bundle, model.entrypoint, pset, seed, outputs=self._outputs) for seed in seeds]
        size = self._group_size()
        groups = [tasks[i : i + size] for i in range(0, len(tasks), size)]
        key = f"trial-{pset.param_id[:16]}-{record.number}"
        if len(groups) == 1:
            future = self.client.submit(simulate_and_score, tasks, self._observed, self._targets, key=key)
        else:
            sims = [
                self.client.submit(simulate_group, group, key=f"{key}-sims-{i}") for i, group in enumerate(groups)
            ]
            future = self.client.submit(score_trial, self._observed, self._targets, *sims, key=key)
        return future, record

    def _group_size(self) -> int:
        setting = self.spec.compute.replicates_per_task
        if setting != "auto":
            return setting
        if self._seconds_per_replicate is None:
            return self.spec.replicates  # unknown cost: one task per trial until measured
        wanted = math.ceil(TASK_SECONDS / max(self._seconds_per_replicate, 1e-6))
        return max(1, min(self.spec.replicates, wanted))

    def _finish(self, record: TrialRecord, outcome: dict[str, Any]) -> None:
        record.finish(outcome, time.time())
        per_replicate = outcome["sim_seconds"] / max(1, outcome["replicates"])
        previous = self._seconds_per_replicate
        self._seconds_per_replicate = per_replicate if previous is None else 0.8 * previous + 0.2 * per_replicate
        self.algorithm.tell([record.to_result()])
        self.progress.add(record)
        if self.on_trial is not None:
            self.on_trial(record, self.progress)
        if self.progress.failed == self.progress.done == min(FAIL_FAST_TRIALS, self.spec.budget.trials):
            self._fail_all_failed()

    def _fail_all_failed(self) -> None:
        failed = [r for r in self.records if r.error]
        first = failed[0].error if failed else {"type": "?", "message": "no trial finished"}
        raise CalibrationError(
            f"all {self.progress.done} trials failed; first error ({first.get('stage', '?')}): "
            f"{first['type']}: {first['message']}"
        )
