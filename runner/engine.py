"""The ask/tell loop on Dask.

Default ("busy") mode keeps `in_flight` trials running: whenever one finishes
it is told and a new one is asked, so no worker waits for the slowest member of
a batch. Deterministic mode asks a batch, waits for all of it and tells in ask
order, so a fixed seed gives the same trials on every run.

Every proposal is leased in the `Ledger` before it is simulated, so runners
that share a run split its budget and never evaluate a parameter set twice;
leases of runners that died are reclaimed and evaluated again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
from distributed import Client, Future, wait

from modelops.seeds import replicate_seeds
from modelops.spec import RunSpec
from modelops_contracts import AdaptiveAlgorithm, SimTask, TrialResult, TrialStatus, UniqueParameterSet

from .ledger import Counts, Ledger
from .trials import TrialRecord
from .worker_tasks import score_trial, simulate_and_score, simulate_group

# Grouping aims for tasks of about this many seconds of simulation.
TASK_SECONDS = 0.5
# A run whose first trials all fail stops instead of burning its budget.
FAIL_FAST_TRIALS = 10
# How often a waiting runner looks for finished or abandoned work of others.
POLL_SECONDS = 1.0


class CalibrationError(RuntimeError):
    """The calibration cannot go on (e.g. every trial fails)."""


class Engine:
    def __init__(
        self,
        client: Client,
        spec: RunSpec,
        observed: Mapping[str, pl.DataFrame],
        algorithm: AdaptiveAlgorithm,
        ledger: Ledger,
        *,
        deterministic: bool = False,
        on_trial: Callable[[TrialRecord, Counts], None] | None = None,
    ):
        self.client = client
        self.spec = spec
        self.algorithm = algorithm
        self.ledger = ledger
        self.deterministic = deterministic
        self.on_trial = on_trial
        self.evaluated: list[TrialRecord] = []  # by this runner, in submission order
        self._targets = {name: t.model_dump() | {"output": spec.target_output(name)} for name, t in spec.targets.items()}
        self._outputs = tuple(sorted({spec.target_output(name) for name in spec.targets}))
        self._observed = client.scatter([dict(observed)], broadcast=True, hash=False)[0]
        self._seconds_per_replicate: float | None = None
        self._watched: dict[str, UniqueParameterSet] = {}  # proposals leased by other runners
        threads = sum(client.nthreads().values())
        self.in_flight = spec.compute.in_flight or max(1, 2 * threads)

    def run(self) -> Counts:
        running = {future: record for future, record in map(self._submit_record, self.ledger.reclaim())}
        if self.deterministic:
            self._run_batches(running)
        else:
            self._run_busy(running)
        for pset in self._watched.values():  # stopped (target loss) before other runners finished them
            self._untold(pset, "evaluated by another runner")
        counts = self.ledger.counts()
        if counts.done and counts.failed == counts.done:
            self._fail_all_failed(counts)
        return counts

    def _run_busy(self, running: dict[Future, TrialRecord]) -> None:
        idle = 0.0
        while True:
            counts = self.ledger.counts()
            stopping = self._target_reached(counts)
            if not stopping and len(running) < self.in_flight:
                running |= self._ask(self.in_flight - len(running), counts)
            if not running:
                if stopping or counts.done >= counts.budget or (self.algorithm.finished() and not counts.leased):
                    return
                idle = min(POLL_SECONDS, idle * 2 or 0.01)  # others hold the rest, or nothing proposed yet
                time.sleep(idle)
                self._tell_watched()
                running |= dict(map(self._submit_record, self.ledger.reclaim()))
                continue
            idle = 0.0
            done, _ = wait(list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            for future in done:
                self._finish(running.pop(future), future.result())
            self._tell_watched()

    def _run_batches(self, running: dict[Future, TrialRecord]) -> None:
        while True:
            counts = self.ledger.counts()
            if not running:
                if self._target_reached(counts) or counts.done >= counts.budget or self.algorithm.finished():
                    return
                running = self._ask(self.in_flight, counts)
                if not running:
                    time.sleep(0.05)
                    continue
            wait(list(running))
            for future, record in sorted(running.items(), key=lambda item: item[1].number):
                self._finish(record, future.result())
            running = {}

    def _ask(self, wanted: int, counts: Counts) -> dict[Future, TrialRecord]:
        room = counts.budget - counts.done - counts.leased
        submitted: dict[Future, TrialRecord] = {}
        for pset in self.algorithm.ask(min(wanted, room)) if room > 0 else []:
            lease = self.ledger.lease(pset.param_id, dict(pset.params))
            if lease.outcome == "new":
                future, record = self._submit(pset.param_id, dict(pset.params), lease.number)
                submitted[future] = record
            elif lease.outcome == "finished":
                self.algorithm.tell([lease.record.to_result()])  # known result: nothing is simulated twice
            elif lease.outcome == "leased":
                self._watched[pset.param_id] = pset
            else:  # other runners took the rest of the budget meanwhile
                self._untold(pset, "the budget was taken by other runners")
        return submitted

    def _untold(self, pset: UniqueParameterSet, reason: str) -> None:
        """Close a proposal this runner will not evaluate, so no trial stays open in the study."""
        self.algorithm.tell([TrialResult(pset.param_id, math.nan, {"not_evaluated": reason}, TrialStatus.FAILED)])

    def _tell_watched(self) -> None:
        for record in self.ledger.finished(list(self._watched)):
            del self._watched[record.param_id]
            self.algorithm.tell([record.to_result()])

    def _submit_record(self, record: TrialRecord) -> tuple[Future, TrialRecord]:
        self._watched.pop(record.param_id, None)  # reclaimed: ours to evaluate now
        return self._submit(record.param_id, record.params, record.number)

    def _submit(self, param_id: str, params: dict[str, Any], number: int) -> tuple[Future, TrialRecord]:
        pset = UniqueParameterSet(params, param_id)
        seeds = replicate_seeds(param_id, self.spec.replicates)
        record = TrialRecord(number, param_id, params, seeds, time.time())
        self.evaluated.append(record)
        model = self.spec.model
        tasks = [SimTask(model.bundle, model.entrypoint, pset, seed, outputs=self._outputs) for seed in seeds]
        size = self._group_size()
        groups = [tasks[i : i + size] for i in range(0, len(tasks), size)]
        key = f"trial-{param_id[:16]}-{number}"
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
        if not self.ledger.complete(record):
            return  # our lease was reclaimed by another runner, which reports this trial
        self.algorithm.tell([record.to_result()])
        counts = self.ledger.counts()
        if self.on_trial is not None:
            self.on_trial(record, counts)
        if counts.failed == counts.done == min(FAIL_FAST_TRIALS, counts.budget):
            self._fail_all_failed(counts)

    def _target_reached(self, counts: Counts) -> bool:
        target = self.spec.budget.target_loss
        return target is not None and counts.best is not None and counts.best.loss <= target

    def _fail_all_failed(self, counts: Counts) -> None:
        failed = [r for r in self.ledger.records() if r.error]
        first = failed[0].error if failed else {"type": "?", "message": "no trial finished"}
        raise CalibrationError(
            f"all {counts.done} trials failed; first error ({first.get('stage', '?')}): "
            f"{first['type']}: {first['message']}"
        )
