"""Run trials on Dask workers through one long-lived actor per worker (a "trial pump").

Why not a Dask task per trial: each costs ~7 ms of client and scheduler CPU
(graph packing, scheduling, the result's fetch) on a machine the simulations
need. A call to an actor goes from the client straight to its worker (~1.2 ms),
and a pump holds what every call needs (observed data, targets, timeout), so a
call carries only its trials. The runner must therefore reach every worker's
address itself, not only the scheduler's.

A pump gets at most as many calls as its worker has threads, the rest wait
here for a free one (the next is sent as a reply arrives): so every call lost
with its worker was running there, and only its trials are counted as having
killed it (with calls queued on the worker, bystanders would be counted too),
and no call waits behind a slow one on a worker while another is idle.

Faults: a call whose worker died (its comm closed), whose worker left the
scheduler (a frozen process the scheduler removed: such a call never returns by
itself), or whose method raised, comes back as an exception for the engine to
count against its trials and run again; the pump it failed on is avoided when
another is ready. Every `SURVEY_SECONDS` the scheduler's worker list is read
(one call): workers that joined get a pump, pumps of workers gone are dropped
and their calls failed. Calls made while no pump is ready wait for one.

All pump and call state lives on the client's event loop; the engine's thread
only hands jobs over (`run`, `cancel`, `close`) and reads `threads`/`workers`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from distributed import Client, Future
from distributed.core import send_recv
from distributed.protocol import to_serialize

from modelops_contracts import SimTask

from .worker_tasks import run_trials, score_trial, simulate_group

# How often the scheduler's worker list is read: joined workers get a pump, gone ones lose theirs.
SURVEY_SECONDS = 1.0
log = logging.getLogger(__name__)


class WorkerGone(RuntimeError):
    """A call's worker left the cluster (died, or frozen and removed by the scheduler) before it answered."""


class TrialPump:
    """Lives on one worker and runs `worker_tasks` entry points for the calls it gets.

    Its methods are coroutines, so they run on the worker's event loop, which hands
    each call to the pump's own threads: as many calls at once as the worker has
    threads (a plain method would wait its turn on the worker's single actor thread).
    """

    def __init__(self, observed: Mapping[str, pl.DataFrame], targets: Mapping, timeout: float | None, threads: int):
        self.observed, self.targets, self.timeout = observed, targets, timeout
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="trial-pump")

    async def run_trials(self, trials: Sequence[Sequence[SimTask]]) -> list[dict[str, Any]]:
        return await self._in_pool(run_trials, trials, self.observed, self.targets, self.timeout)

    async def simulate_group(self, tasks: Sequence[SimTask]) -> list:
        return await self._in_pool(simulate_group, tasks, self.timeout)

    async def _in_pool(self, function: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)


class Job:
    """Trials handed over together: one `run_trials` call, or a costly trial's replicate groups (a call each)."""

    def __init__(self, method: str, payloads: list, params: Mapping | None, avoid: frozenset[str]):
        self.method, self.params, self.avoid = method, params, avoid
        self.calls = [_Call(self, index, payload) for index, payload in enumerate(payloads)]
        self.results: list[Any] = [None] * len(payloads)
        self.left = len(payloads)
        self.over = False
        self.where: set[str] = set()  # the workers its calls went to


class _Call:
    def __init__(self, job: Job, index: int, payload: Any):
        self.job, self.index, self.payload = job, index, payload
        self.task: asyncio.Task | None = None
        self.sent = False  # reached its worker: if that worker dies now, it counts against the trials


class _Pump:
    def __init__(self, address: str, threads: int, future: Future):
        self.address, self.threads, self.future = address, threads, future
        self.ready = False
        self.starting: asyncio.Task | None = None
        self.calls: set[_Call] = set()


class Dispatcher:
    """Hands jobs to the pumps and reports each job's end to `done(job, outcomes | exception)`."""

    def __init__(
        self,
        client: Client,
        observed: Mapping[str, pl.DataFrame],
        targets: Mapping[str, Mapping],
        timeout: float | None,
        done: Callable[[Job, Any], None],
    ):
        self.client = client
        self._observed, self._targets, self._timeout = dict(observed), targets, timeout
        self._done = done
        nthreads = client.nthreads()
        self.threads = sum(nthreads.values()) or 1  # the cluster's worker threads at the last survey
        self.workers = len(nthreads)
        self.usable_at = time.monotonic()  # when a worker last took (or could take) a call: see `_survey`
        self._pumps: dict[str, _Pump] = {}
        self._warned: set[str] = set()  # workers whose trouble was logged once: a retry each survey never floods
        self._waiting: list[_Call] = []
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._surveyor: asyncio.Task | None = None
        client.loop.add_callback(self._start)

    def run(self, trials: list[list[SimTask]], split: int, avoid: frozenset[str] = frozenset()) -> Job:
        """A job for whole `trials`, or for one trial's replicates in groups of `split` (scored here)."""
        if len(trials) == 1 and split < len(trials[0]):
            tasks = trials[0]
            groups = [tasks[i : i + split] for i in range(0, len(tasks), split)]
            job = Job("simulate_group", groups, tasks[0].params.params, avoid)
        else:
            job = Job("run_trials", [trials], None, avoid)
        self.client.loop.add_callback(self._send, job.calls)
        return job

    def cancel(self, jobs: list[Job]) -> None:
        """Stop waiting for `jobs` (a simulation already running on a worker runs to its end)."""
        self.client.loop.add_callback(self._cancel, jobs)

    def close(self) -> None:
        """Drop every pump (their actors are released on the workers) and whatever still runs."""
        self.client.loop.add_callback(self._close)

    async def _start(self) -> None:
        self._wake = asyncio.Event()
        self._surveyor = asyncio.ensure_future(self._survey_forever())

    async def _survey_forever(self) -> None:
        while not self._closed:
            try:
                self._survey(await self.client.scheduler.ncores())
            except Exception:  # the scheduler unreachable for a moment: the next survey sees
                log.debug("could not read the scheduler's workers", exc_info=True)
            try:
                await asyncio.wait_for(self._wake.wait(), SURVEY_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    def _survey(self, nthreads: Mapping[str, int]) -> None:
        if self._closed:
            return
        self.threads = sum(nthreads.values()) or self.threads  # none: keep the last count for in_flight
        self.workers = len(nthreads)
        if any(p.ready and (not self._waiting or any(c.sent for c in p.calls)) for p in self._pumps.values()):
            self.usable_at = time.monotonic()  # a pump is running calls, or idle with none waiting
        for address in [a for a in self._pumps if a not in nthreads]:
            self._drop(address, WorkerGone(f"Dask worker {address} left the cluster"))
        for address, threads in nthreads.items():
            if address not in self._pumps:
                future = self.client.submit(
                    TrialPump, self._observed, self._targets, self._timeout, threads, actor=True, workers=[address],
                    allow_other_workers=False, pure=False, key=f"trial-pump-{time.time_ns()}",
                )  # fmt: skip
                self._pumps[address] = pump = _Pump(address, threads, future)
                pump.starting = asyncio.ensure_future(self._ready(pump))

    async def _ready(self, pump: _Pump) -> None:
        try:
            await self.client.gather([pump.future], asynchronous=True)
        except asyncio.CancelledError:  # dropped while starting
            return
        except Exception as exc:
            self._warn(pump.address, "no trial pump on Dask worker %s: %s", exc)
            if self._pumps.get(pump.address) is pump:  # the next survey tries again
                del self._pumps[pump.address]
                pump.future.release()
            return
        if self._pumps.get(pump.address) is pump:
            pump.ready = True
            waiting, self._waiting = self._waiting, []
            self._send(waiting)

    def _drop(self, address: str, error: BaseException) -> None:
        """Forget the pump on `address`: calls it was running fail with `error`, the others go elsewhere."""
        pump = self._pumps.pop(address, None)
        if pump is None:
            return
        pump.future.release()
        if pump.starting is not None and not pump.ready:
            pump.starting.cancel()
        unsent = []
        for call in list(pump.calls):
            if call.task is not None:
                call.task.cancel()
            if call.sent:
                self._fail(call, error)
            else:
                unsent.append(call)
        self._send(unsent)

    def _send(self, calls: list[_Call]) -> None:
        """Each call to a pump with a thread free (else it waits), avoiding the workers its job failed on."""
        for call in calls:
            if call.job.over:
                continue
            ready = [p for p in self._pumps.values() if p.ready]
            preferred = [p for p in ready if p.address not in call.job.avoid] or ready
            free = [p for p in preferred if len(p.calls) < p.threads]
            if not free:
                self._waiting.append(call)
                continue
            pump = min(free, key=lambda p: len(p.calls) / p.threads)
            pump.calls.add(call)
            call.job.where.add(pump.address)
            call.sent = False
            call.task = asyncio.ensure_future(self._call(pump, call))

    async def _call(self, pump: _Pump, call: _Call) -> None:
        pool = self.client.rpc
        try:
            try:
                comm = await pool.connect(pump.address)
            except Exception as exc:  # the call never reached the worker: not its trials' doing
                self._warn(pump.address, "cannot reach Dask worker %s (the runner must reach every worker): %s", exc)
                pump.calls.discard(call)
                self._drop(pump.address, exc)
                self._send([call])
                return
            call.sent = True
            self.usable_at = time.monotonic()
            try:
                reply = await send_recv(
                    comm, op="actor_execute", actor=pump.future.key, function=call.job.method,
                    args=[to_serialize(call.payload)], kwargs={},
                )  # fmt: skip
            finally:
                pool.reuse(pump.address, comm)
        except asyncio.CancelledError:
            return
        except Exception as exc:  # the comm closed under the call: its worker died, most likely
            pump.calls.discard(call)
            self._fail(call, exc)
            self._drop(pump.address, exc)  # no more calls there; if it lives, the next survey starts a pump
            self._wake.set()  # its replacement, if any, gets a pump soon
            return
        finally:
            pump.calls.discard(call)
            waiting, self._waiting = self._waiting, []
            self._send(waiting)  # the freed thread's next call
        if reply["status"] != "OK":
            self._fail(call, reply["exception"])
            return
        job = call.job
        if job.over:
            return
        job.results[call.index] = reply["result"]
        job.left -= 1
        if job.left == 0:
            job.over = True
            if job.method == "run_trials":
                self._done(job, job.results[0])
            else:  # a costly trial's groups meet here, where the observed data is
                self._done(job, score_trial(self._observed, self._targets, job.params, *job.results))

    def _warn(self, address: str, message: str, exc: BaseException) -> None:
        log.log(logging.DEBUG if address in self._warned else logging.WARNING, message, address, exc)
        self._warned.add(address)

    def _fail(self, call: _Call, error: BaseException) -> None:
        if call.job.over:
            return
        call.job.over = True
        for other in call.job.calls:
            if other.task is not None and other is not call:
                other.task.cancel()
        self._done(call.job, error)

    def _cancel(self, jobs: list[Job]) -> None:
        for job in jobs:
            job.over = True
            for call in job.calls:
                if call.task is not None:
                    call.task.cancel()
        self._waiting = [call for call in self._waiting if not call.job.over]

    def _close(self) -> None:
        self._closed = True
        if self._surveyor is not None:
            self._surveyor.cancel()
        for address in list(self._pumps):
            pump = self._pumps.pop(address)
            pump.future.release()
            for call in pump.calls:
                call.job.over = True
                if call.task is not None:
                    call.task.cancel()
        self._waiting = []
