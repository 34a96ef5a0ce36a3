"""Run trials on Dask workers through one long-lived trial pump per worker (runner/trial_pump.py).

Why not a Dask task per trial: each costs ~7 ms of client and scheduler CPU
(graph packing, scheduling, the result's fetch) on a machine the simulations
need. A pump holds what every call needs (observed data, targets, timeout), so a
call carries only its trials, and calls go straight to the pump's own port on
its worker, past Dask's comm. The runner must therefore reach every worker's
address itself, not only the scheduler's.

Calls go down "lanes": one connection per worker thread, on which the pump
answers calls one at a time in the order they were written. So on a lane the
first unanswered call is the one running, and the calls behind it have not
started. A short call (`QUEUE_SECONDS`) may wait on a lane behind the running one:
the worker reads it the moment it answers the first, where a call that waited
in the runner would start only after a round trip (~6 ms of every ~100 ms call
measured, at the cost of CPU the simulations share). Long calls wait here
instead, for the first thread that frees up anywhere. A call lost with its
worker counts against its trials only if it was running, so a poison trial's
bystanders are never counted.

Faults: a call whose lane closed (its worker died, or lost its pump), whose
worker left the scheduler (a frozen process the scheduler removed: such a call
never returns by itself), or whose method raised, comes back as an exception for
the engine to count against its trials and run again; the pump it failed on is
avoided when another is ready. Every `SURVEY_SECONDS` the scheduler's worker list
is read (one call): workers that joined (or lost their pump) get a pump, pumps of
workers gone are dropped and their calls failed (running) or sent elsewhere
(waiting behind). Calls made while no pump is ready wait for one.

All pump and call state lives on the client's event loop; the engine's thread
only hands jobs over (`run`, `cancel`, `close`) and reads `threads`/`workers`.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
from distributed import Client

from modelops_contracts import SimTask

from . import trial_pump
from .trial_pump import HEADER, METHODS, OK, tune
from .worker_tasks import score_trial

# How often the scheduler's worker list is read: joined workers get a pump, gone ones lose theirs.
SURVEY_SECONDS = 1.0
# Calls a lane holds at most: the one running and those waiting behind it on the worker.
LANE_DEPTH = 2
# A call expected to simulate for at most this long may wait on a busy worker's lane. Longer calls wait here
# for whichever worker frees up first: a worker that finishes early never idles while one waits elsewhere.
QUEUE_SECONDS = 2.0
log = logging.getLogger(__name__)


def _short(call_seconds: float | None) -> bool:
    return call_seconds is not None and call_seconds <= QUEUE_SECONDS


class WorkerGone(RuntimeError):
    """A call's worker left the cluster (died, or frozen and removed by the scheduler) before it answered."""


class Job:
    """Trials handed over together: one `run_trials` call, or a costly trial's replicate groups (a call each).

    `queue`: its calls are short enough to wait on a busy worker's lane (see the module's docstring).
    """

    def __init__(self, method: str, payloads: list, params: Mapping | None, avoid: frozenset[str], queue: bool):
        self.method, self.params, self.avoid, self.queue = method, params, avoid, queue
        self.calls = [_Call(self, index, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
                      for index, payload in enumerate(payloads)]  # fmt: skip
        self.results: list[Any] = [None] * len(payloads)
        self.left = len(payloads)
        self.over = False
        self.where: set[str] = set()  # the workers its calls went to


class _Call:
    def __init__(self, job: Job, index: int, payload: bytes):
        self.job, self.index, self.payload = job, index, payload


class _Lane(asyncio.Protocol):
    """One connection to a pump, which answers its calls in the order written; hands each answer to `answered`."""

    def __init__(self, pump: _Pump, answered: Callable[[_Lane, int, bytearray], None], lost: Callable):
        self.pump, self._answered, self._lost = pump, answered, lost
        self.calls: deque[_Call] = deque()  # unanswered: the first runs, the rest wait behind it
        self.transport: asyncio.Transport | None = None
        self.since = time.monotonic()  # when its first call became first: the oldest frees up soonest
        self.closed = False
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            status, size = HEADER.unpack_from(self._buffer)
            end = HEADER.size + size
            if len(self._buffer) < end:
                return
            body = self._buffer[HEADER.size : end]
            del self._buffer[:end]
            self._answered(self, status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(self, exc or ConnectionResetError(f"the trial pump on Dask worker {self.pump.address} closed"))


class _Pump:
    def __init__(self, address: str, threads: int):
        self.address, self.threads = address, threads
        self.ready = False
        self.starting: asyncio.Task | None = None
        self.lanes: list[_Lane] = []  # connected once the pump has started

    @property
    def calls(self) -> list[_Call]:
        return [call for lane in self.lanes for call in lane.calls]


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

    def run(
        self, trials: list[list[SimTask]], split: int, avoid: frozenset[str] = frozenset(),
        trial_seconds: float | None = None,
    ) -> Job:  # fmt: skip
        """A job for whole `trials`, or for one trial's replicates in groups of `split` (scored here).

        `trial_seconds`: a trial's measured simulation time (None: not known yet), which says whether
        the job's calls are short enough to wait on a busy worker."""
        if len(trials) == 1 and split < len(trials[0]):
            tasks = trials[0]
            groups = [tasks[i : i + split] for i in range(0, len(tasks), split)]
            seconds = None if trial_seconds is None else trial_seconds * split / len(tasks)
            job = Job("simulate_group", groups, tasks[0].params.params, avoid, _short(seconds))
        else:
            seconds = None if trial_seconds is None else trial_seconds * len(trials)
            job = Job("run_trials", [trials], None, avoid, _short(seconds))
        self.client.loop.add_callback(self._send, job.calls)
        return job

    def cancel(self, jobs: list[Job]) -> None:
        """Stop waiting for `jobs` (a simulation already running on a worker runs to its end)."""
        self.client.loop.add_callback(self._cancel, jobs)

    def close(self) -> None:
        """Close every lane (a pump ends with its lanes) and drop whatever still runs."""
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
        if any(p.ready and (not self._waiting or p.calls) for p in self._pumps.values()):
            self.usable_at = time.monotonic()  # a pump is running calls, or idle with none waiting
        for address in [a for a in self._pumps if a not in nthreads]:
            self._drop(self._pumps[address], WorkerGone(f"Dask worker {address} left the cluster"))
        for address, threads in nthreads.items():
            if address not in self._pumps:
                self._pumps[address] = pump = _Pump(address, threads)
                pump.starting = asyncio.ensure_future(self._ready(pump))

    async def _ready(self, pump: _Pump) -> None:
        """Start a pump on its worker, then connect its lanes; a failure leaves the worker to the next survey."""
        try:
            started = await self.client.run(
                trial_pump.start, self._observed, self._targets, self._timeout, pump.threads, workers=[pump.address],
                asynchronous=True,
            )  # fmt: skip
        except asyncio.CancelledError:  # dropped while starting
            return
        except Exception as exc:
            self._warn(pump.address, "no trial pump on Dask worker %s: %s", exc)
            self._drop(pump, exc)
            return
        try:  # the runner's first contact with the worker itself
            host, port, token = started[pump.address]
            for _ in range(pump.threads):
                lane = _Lane(pump, self._answered, self._lost)
                pump.lanes.append(lane)
                await asyncio.get_running_loop().create_connection(lambda lane=lane: lane, host, port)
                tune(lane.transport.get_extra_info("socket"))  # type: ignore[union-attr]
                lane.transport.write(token)  # type: ignore[union-attr]
        except asyncio.CancelledError:
            return
        except Exception as exc:
            self._warn(pump.address, "cannot reach Dask worker %s (the runner must reach every worker, on any port): %s",
                       exc)  # fmt: skip
            self._drop(pump, exc)
            return
        if self._pumps.get(pump.address) is pump:
            pump.ready = True
            waiting, self._waiting = self._waiting, []
            self._send(waiting)

    def _drop(self, pump: _Pump, error: BaseException) -> None:
        """Forget `pump`: the calls running on it fail with `error`, those behind them go elsewhere."""
        if self._pumps.get(pump.address) is not pump:
            return
        del self._pumps[pump.address]
        elsewhere = []
        for calls in self._stop(pump):
            if calls:
                self._fail(calls.pop(0), error)
            elsewhere += calls
        self._send(elsewhere)

    def _stop(self, pump: _Pump) -> list[list[_Call]]:
        """Stop `pump` starting (it would connect lanes no one closes) and shut its lanes; each lane's calls."""
        if pump.starting is not None and not pump.ready:
            pump.starting.cancel()
        held = []
        for lane in pump.lanes:
            self._shut(lane)
            held.append(list(lane.calls))
            lane.calls = deque()
        return held

    def _shut(self, lane: _Lane) -> None:
        lane.closed = True
        if lane.transport is not None:
            lane.transport.abort()

    def _send(self, calls: list[_Call]) -> None:
        """Each call onto a lane (else it waits): an idle one, or behind a running call if its job may queue."""
        for call in calls:
            if call.job.over:
                continue
            ready = [p for p in self._pumps.values() if p.ready]
            preferred = [p for p in ready if p.address not in call.job.avoid] or ready
            lanes = [lane for p in preferred for lane in p.lanes]
            idle = [lane for lane in lanes if not lane.calls]
            if idle:
                lane = min(idle, key=lambda lane: len(lane.pump.calls) / lane.pump.threads)
            elif call.job.queue and (room := [lane for lane in lanes if len(lane.calls) < LANE_DEPTH]):
                lane = min(room, key=lambda lane: (len(lane.calls), lane.since))
            else:
                self._waiting.append(call)
                continue
            self._write(lane, call)

    def _write(self, lane: _Lane, call: _Call) -> None:
        try:
            lane.transport.write(HEADER.pack(METHODS.index(call.job.method), len(call.payload)) + call.payload)  # type: ignore[union-attr]
        except Exception as exc:  # a fault of the runner's own: the call never left, and its job ends with it
            log.exception("sending a call to Dask worker %s failed", lane.pump.address)
            self._fail(call, exc)
            return
        if not lane.calls:
            lane.since = time.monotonic()
        lane.calls.append(call)
        call.job.where.add(lane.pump.address)
        self.usable_at = time.monotonic()

    def _answered(self, lane: _Lane, status: int, body: bytearray) -> None:
        """A lane's next answer, which is its first call's."""
        call = lane.calls.popleft()
        lane.since = time.monotonic()
        try:
            self._settle(call, status, body)
        except Exception as exc:  # a fault of the runner's own (scoring, say) ends the job, never hangs it
            log.exception("handling the answer of a call to Dask worker %s failed", lane.pump.address)
            self._fail(call, exc)
        waiting, self._waiting = self._waiting, []
        self._send(waiting)  # the freed room's next call

    def _lost(self, lane: _Lane, error: BaseException) -> None:
        if lane.closed:
            return
        self._drop(lane.pump, error)  # no more calls there; if it lives, the next survey starts a pump
        self._wake.set()  # its replacement, if any, gets a pump soon

    def _settle(self, call: _Call, status: int, body: bytearray) -> None:
        if status != OK:  # the pump's method raised
            self._fail(call, pickle.loads(body))
            return
        job = call.job
        if job.over:
            return
        job.results[call.index] = pickle.loads(body)
        job.left -= 1
        if job.left == 0:
            if job.method == "run_trials":
                outcomes = job.results[0]
            else:  # a costly trial's groups meet here, where the observed data is
                outcomes = score_trial(self._observed, self._targets, job.params, *job.results)
            job.over = True
            self._done(job, outcomes)

    def _warn(self, address: str, message: str, exc: BaseException) -> None:
        log.log(logging.DEBUG if address in self._warned else logging.WARNING, message, address, exc)
        self._warned.add(address)

    def _fail(self, call: _Call, error: BaseException) -> None:
        if call.job.over:
            return
        call.job.over = True  # its other calls' answers, if any come, are dropped
        self._done(call.job, error)

    def _cancel(self, jobs: list[Job]) -> None:
        for job in jobs:
            job.over = True  # a call already on a lane runs there; its answer is dropped
        self._waiting = [call for call in self._waiting if not call.job.over]

    def _close(self) -> None:
        self._closed = True
        if self._surveyor is not None:
            self._surveyor.cancel()
        pumps, self._pumps = list(self._pumps.values()), {}
        for pump in pumps:
            for calls in self._stop(pump):
                for call in calls:
                    call.job.over = True
        self._waiting = []
