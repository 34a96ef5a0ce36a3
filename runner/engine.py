"""The ask/tell loop on Dask.

Default ("busy") mode keeps `in_flight` trials running: whenever some finish
they are told and new ones are asked, so no worker waits for the slowest member
of a batch. Deterministic mode asks a batch, waits for all of it and tells in
ask order, so a fixed seed gives the same trials on every run.

Every proposal is leased in the `Ledger` before it is simulated, so runners
that share a run split its budget and never evaluate a parameter set twice;
leases of runners that died are reclaimed and evaluated again.

Job sizes follow the measured cost of a trial: cheap trials are packed
several to a job, costly ones have their replicates split over a job's calls,
both aiming at about `TASK_SECONDS` of simulation per call.

Trials reach the workers through `dispatch` (one pump per worker, no Dask
task per trial). Workers come and go: nothing the run needs lives only on one
worker (each pump gets the observed data from the runner), and a job whose
worker died or left, or that errored, runs again elsewhere; a trial whose jobs
failed `MAX_TASK_ATTEMPTS` times (it kills its worker, say) fails for good.
`stop` ends the run early (a signal): no more asks, in-flight trials get a
grace period, the rest are abandoned and keep their leases for a resume.
"""

from __future__ import annotations

import logging
import math
import queue
import time
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
from distributed import Client

from modelops.seeds import replicate_seeds
from modelops.spec import RunSpec
from modelops_contracts import AdaptiveAlgorithm, SimTask, TrialResult, TrialStatus, UniqueParameterSet

from .dispatch import Dispatcher, Job
from .ledger import Counts, Ledger
from .trials import TrialRecord

TASK_SECONDS = 0.1
# At most this many cheap trials share a task, so the algorithm keeps learning.
MAX_TRIALS_PER_TASK = 8
# A run whose first trials all fail stops instead of burning its budget.
FAIL_FAST_TRIALS = 10
# How often a runner with nothing running looks for finished or abandoned work of others.
POLL_SECONDS = 1.0
# A trial whose jobs fail this many times (its workers died under it, say) fails for good.
MAX_TASK_ATTEMPTS = 3
# How long a run waits with no Dask worker it can use (none in the cluster, or none it reaches) before it gives up.
WORKER_WAIT_SECONDS = 120.0
# How often a waiting engine wakes to check for a stop request or a workerless cluster.
WAKE_SECONDS = 0.5

Running = dict[Job, list[TrialRecord]]
Done = tuple[Job, Any]  # a job that ended, and its outcomes (one per trial) or why it failed
log = logging.getLogger(__name__)


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
        seeds: Callable[[str], tuple[int, ...]] | None = None,
        stop_at_target: bool = True,
    ):
        self.spec = spec
        self.algorithm = algorithm
        self.ledger = ledger
        self.deterministic = deterministic
        self.on_trial = on_trial
        self.seeds = seeds or (lambda param_id: replicate_seeds(param_id, spec.replicates))
        self.target_loss = spec.budget.target_loss if stop_at_target else None
        self.evaluated: list[TrialRecord] = []  # by this runner, in submission order
        self._targets = {name: t.model_dump() | {"output": spec.target_output(name)} for name, t in spec.targets.items()}
        self._outputs = tuple(sorted({spec.target_output(name) for name in spec.targets}))
        self._timeout = spec.model.timeout_seconds
        self._done: queue.SimpleQueue[Done | None] = queue.SimpleQueue()  # ended jobs; None wakes
        self._dispatch = Dispatcher(client, observed, self._targets, self._timeout, lambda *done: self._done.put(done))
        self._trial_seconds: float | None = None  # moving average of simulation time per trial
        self._watched: dict[str, UniqueParameterSet] = {}  # proposals leased by other runners
        self._attempts: dict[str, int] = {}  # failed jobs per trial (param_id)
        self._open: set[str] = set()  # param_ids being evaluated here
        self._stop_at: float | None = None  # monotonic deadline of the grace period once stopping

    @property
    def threads(self) -> int:
        """The cluster's worker threads, counted again every `dispatch.SURVEY_SECONDS`."""
        return self._dispatch.threads

    @property
    def interrupted(self) -> bool:
        return self._stop_at is not None

    def stop(self, grace: float) -> None:
        """Stop asking; cancel what is still running after `grace` seconds. Safe in a signal handler."""
        if self._stop_at is None:
            self._stop_at = time.monotonic() + grace
        self._done.put(None)

    @property
    def in_flight(self) -> int:
        """Trials kept running: the document's setting, else per worker thread one task and a trial more.

        Enough that no worker waits for the next proposal, and no more: every trial in flight is one the
        sampler proposes without its result (TPE's constant liar counts them, but they teach it nothing).
        Packing cheap trials into tasks does not double what is in flight.
        """
        if self.spec.compute.in_flight:
            return self.spec.compute.in_flight
        per_task = 1 if self.deterministic else self._trials_per_task()
        return max(1, self.threads * (per_task + 1))

    def run(self) -> Counts:
        try:
            return self._run()
        finally:
            self._dispatch.close()

    def _run(self) -> Counts:
        finished = self.ledger.records()
        if finished:  # resuming: the algorithm learns what is known, and no trial stays open in its study
            self.algorithm.tell([record.to_result() for record in finished])
        running = {} if self._stop_at is not None else self._reclaim()
        if self.deterministic:
            self._run_batches(running)
        else:
            self._run_busy(running)
        for pset in self._watched.values():  # stopped (target loss) before other runners finished them
            self._untold(pset, "evaluated by another runner")
        counts = self.ledger.counts()
        close_abandoned = getattr(self.algorithm, "close_abandoned", None)  # an optional part of the protocol
        if close_abandoned is not None and not self.interrupted and not counts.leased:
            close_abandoned()
        if counts.done and counts.failed == counts.done:
            self._fail_all_failed(counts)
        return counts

    def _run_busy(self, running: Running) -> None:
        idle = 0.0
        while True:
            counts = self.ledger.counts()
            stopping = self._target_reached(counts) or self._stop_at is not None
            pending = sum(map(len, running.values()))
            if not stopping and pending < self.in_flight:
                running |= self._ask(self.in_flight - pending, counts)
            if not running:
                if stopping or counts.done >= counts.budget or (self.algorithm.finished() and not counts.leased):
                    return
                idle = min(POLL_SECONDS, idle * 2 or 0.01)  # others hold the rest, or nothing proposed yet
                self._wait_for_any(idle)
                self._tell_watched()
                running |= self._reclaim()
                continue
            idle = 0.0
            if self._grace_over(running):
                return
            self._finish(self._collect(running, self._wait_for_any(None)))
            self._tell_watched()

    def _run_batches(self, running: Running) -> None:
        while True:
            if not running:
                counts = self.ledger.counts()
                if self._target_reached(counts) or counts.done >= counts.budget or self.algorithm.finished():
                    return
                if self._stop_at is not None:
                    return
                running = self._ask(self.in_flight, counts)
                if not running:
                    time.sleep(0.05)
                    continue
            finished: list[tuple[TrialRecord, dict[str, Any]]] = []
            while running:
                if self._grace_over(running):
                    return
                finished += self._collect(running, self._wait_for_any(None))
            self._finish(sorted(finished, key=lambda pair: pair[0].number))

    def _wait_for_any(self, timeout: float | None) -> list[Done]:
        """Jobs that ended (at least one unless woken); waits at most `timeout` s (None: until one does)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = WAKE_SECONDS if deadline is None else max(0.0, min(WAKE_SECONDS, deadline - time.monotonic()))
            try:
                first = self._done.get(timeout=wait)
            except queue.Empty:
                self._check_workers()
                now = time.monotonic()
                if (deadline is not None and now >= deadline) or (self._stop_at is not None and now >= self._stop_at):
                    return []
                continue
            ready = [] if first is None else [first]
            while not self._done.empty():
                done = self._done.get()
                if done is not None:
                    ready.append(done)
            if ready or first is None:
                return ready

    def _collect(self, running: Running, ready: list[Done]) -> list[tuple[TrialRecord, dict[str, Any]]]:
        """Outcomes of the ended jobs among `ready`; the trials of failed ones run again, elsewhere if possible."""
        pairs: list[tuple[TrialRecord, dict[str, Any]]] = []
        retry: dict[frozenset[str], list[TrialRecord]] = {}
        for job, result in ready:
            if job not in running:
                continue  # abandoned at the end of a grace period
            records = running.pop(job)
            if not isinstance(result, BaseException):
                pairs += zip(records, result)
                continue
            for record in records:
                self._attempts[record.param_id] = attempts = self._attempts.get(record.param_id, 0) + 1
                if attempts < MAX_TASK_ATTEMPTS:
                    retry.setdefault(frozenset(job.where), []).append(record)
                else:
                    pairs.append((record, _task_failure(result, attempts)))
        for avoid, records in retry.items():
            log.info("running %d trial(s) again after their job failed", len(records))
            running |= self._submit(records, fresh=False, avoid=avoid)
        return pairs

    def _grace_over(self, running: Running) -> bool:
        """Once stopping and the grace period is over, abandon what still runs (its leases stay, for a resume)."""
        if self._stop_at is None or time.monotonic() < self._stop_at:
            return False
        self._dispatch.cancel(list(running))
        running.clear()
        return True

    def _check_workers(self) -> None:
        if time.monotonic() - self._dispatch.usable_at <= WORKER_WAIT_SECONDS:
            return
        if self._dispatch.workers:  # e.g. a network policy that lets workers reach the scheduler, not the runner
            raise CalibrationError(
                f"no Dask worker took a trial for {WORKER_WAIT_SECONDS:.0f} s: the cluster has "
                f"{self._dispatch.workers}, but the runner cannot reach them "
                "(it must reach every worker's address, on any port)"
            )
        raise CalibrationError(f"no Dask worker for {WORKER_WAIT_SECONDS:.0f} s; the cluster has lost them all")

    def _ask(self, wanted: int, counts: Counts) -> Running:
        room = counts.budget - counts.done - counts.leased
        proposals = self.algorithm.ask(min(wanted, room)) if room > 0 else []
        leases = self.ledger.lease([(pset.param_id, dict(pset.params)) for pset in proposals])
        new = []
        for pset, lease in zip(proposals, leases):
            if lease.outcome == "new":
                new.append(self._record(pset.param_id, dict(pset.params), lease.number))
            elif lease.outcome == "finished":
                self.algorithm.tell([lease.record.to_result()])  # known result: nothing is simulated twice
            elif lease.outcome == "leased" or (lease.outcome == "mine" and pset.param_id in self._open):
                self._watched[pset.param_id] = pset  # told when whoever evaluates it finishes
            elif lease.outcome == "mine":  # leased by a try whose commit the storage did not confirm
                new.append(self._record(pset.param_id, dict(pset.params), lease.number))
            else:  # other runners took the rest of the budget meanwhile
                self._untold(pset, "the budget was taken by other runners")
        return self._submit(new)

    def _reclaim(self) -> Running:
        """Evaluate again what runners that are gone had leased (this one before a restart included)."""
        return self._submit([self._record(r.param_id, r.params, r.number) for r in self.ledger.reclaim()])

    def _untold(self, pset: UniqueParameterSet, reason: str) -> None:
        """Close a proposal this runner will not evaluate, so no trial stays open in the study."""
        self.algorithm.tell([TrialResult(pset.param_id, math.nan, {"not_evaluated": reason}, TrialStatus.FAILED)])

    def _tell_watched(self) -> None:
        for record in self.ledger.finished(list(self._watched)):
            del self._watched[record.param_id]
            self.algorithm.tell([record.to_result()])

    def _record(self, param_id: str, params: dict[str, Any], number: int) -> TrialRecord:
        self._watched.pop(param_id, None)  # a reclaimed lease is ours to evaluate now
        self._open.add(param_id)
        record = TrialRecord(number, param_id, params, self.seeds(param_id), time.time())
        self.evaluated.append(record)
        return record

    def _submit(self, records: list[TrialRecord], fresh: bool = True, avoid: frozenset[str] = frozenset()) -> Running:
        """Jobs for `records`, packed or split by the measured cost of a trial."""
        per_task = self._trials_per_task() if fresh else 1
        split = self._replicates_per_task()
        running: Running = {}
        for start in range(0, len(records), per_task):
            chunk = records[start : start + per_task]
            tasks = [self._tasks(record) for record in chunk]
            running[self._dispatch.run(tasks, split, avoid, self._trial_seconds)] = chunk
        return running

    def _tasks(self, record: TrialRecord) -> list[SimTask]:
        model = self.spec.model
        pset = UniqueParameterSet(record.params, record.param_id)
        return [SimTask(model.bundle_ref, model.entrypoint, pset, seed, outputs=self._outputs) for seed in record.seeds]

    def _trials_per_task(self) -> int:
        if self.spec.compute.replicates_per_task != "auto" or self._trial_seconds is None:
            return 1
        return max(1, min(MAX_TRIALS_PER_TASK, int(TASK_SECONDS / max(self._trial_seconds, 1e-6))))

    def _replicates_per_task(self) -> int:
        setting = self.spec.compute.replicates_per_task
        if setting != "auto":
            return setting
        if self._trial_seconds is None:
            return self.spec.replicates  # unknown cost: one task per trial until measured
        per_replicate = self._trial_seconds / self.spec.replicates
        return max(1, min(self.spec.replicates, math.ceil(TASK_SECONDS / max(per_replicate, 1e-6))))

    def _finish(self, finished: list[tuple[TrialRecord, dict[str, Any]]]) -> None:
        now = time.time()
        for record, outcome in finished:
            record.finish(outcome, now)
            self._open.discard(record.param_id)
            seconds = outcome["sim_seconds"]
            previous = self._trial_seconds
            self._trial_seconds = seconds if previous is None else 0.8 * previous + 0.2 * seconds
        stored = self.ledger.complete([record for record, _ in finished])
        ours = [record for (record, _), kept in zip(finished, stored) if kept]  # others report reclaimed ones
        self.algorithm.tell([record.to_result() for record in ours])
        counts = self.ledger.counts()
        if self.on_trial is not None:
            for index, record in enumerate(ours):  # each trial is reported with the counts up to itself
                later = ours[index + 1 :]
                failed_later = sum(r.status == "failed" for r in later)
                self.on_trial(
                    record,
                    Counts(counts.budget, counts.leased, counts.done - len(later), counts.failed - failed_later, counts.best),
                )
        if counts.failed == counts.done >= min(FAIL_FAST_TRIALS, counts.budget):
            self._fail_all_failed(counts)

    def _target_reached(self, counts: Counts) -> bool:
        target = self.target_loss
        return target is not None and counts.best is not None and counts.best.loss <= target

    def _fail_all_failed(self, counts: Counts) -> None:
        failed = [r for r in self.ledger.records() if r.error]
        first = failed[0].error if failed else {"type": "?", "message": "no trial finished"}
        raise CalibrationError(
            f"all {counts.done} trials failed; first error ({first.get('stage', '?')}): "
            f"{first['type']}: {first['message']}"
        )


def _task_failure(error: BaseException, attempts: int) -> dict[str, Any]:
    """The outcome of a trial whose jobs kept failing outside the model (e.g. it killed its workers)."""
    return {
        "status": "failed",
        "sim_seconds": 0.0,
        "error": {
            "stage": "worker",
            "type": type(error).__name__,
            "message": f"its Dask job failed {attempts} times: {type(error).__name__}: {error}",
            "traceback": None,
        },
    }
