"""The replay driver: plays the Durable extension's part for a DFApp, on a virtual clock.

Work runs only when asked (`drain`, `run_until_idle`, `advance`), so a test sees the same
in-between states a real task hub has: Pending after start, Running while waiting, and
events raised before an orchestrator waits for them.
"""
import json
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.history import HistoryEventType as T
from azure.durable_functions.models.utils.df_serialization import df_dumps
from dateutil.parser import isoparse

from . import history
from .client import DurableClientDouble
from .clock import TimerQueue, VirtualClock
from .episode import Work, failure_output, run_episode, take_batch
from .errors import (DriverError, InstanceAlreadyExists, InstanceGone, InstanceNotFound,
                     NonDeterminismError, StillBusy, UnknownFunction)
from .functions import FunctionIndex, run_activity
from .recording import Recording, replay_all
from .store import Execution, Instance, Parent, Status, parse_stored

DEFAULT_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


class ReplayDriver:
    """Starts, signals and runs orchestration instances of one app, recording every episode."""

    def __init__(self, app: Any, start: datetime = DEFAULT_START):
        self.functions = FunctionIndex.of(app)
        self.clock = VirtualClock(start)
        self.recordings: list = []
        self._instances: dict = {}
        self._timers = TimerQueue()
        self._queue: deque = deque()
        self._queued: set = set()

    # -- what clients do ---------------------------------------------------
    def start_new(self, name: str, instance_id: Optional[str] = None,
                  client_input: Any = None) -> str:
        """Create a Pending instance; `client_input` is serialized as the client does."""
        input_text = None if client_input is None else df_dumps(client_input)
        return self.start_with_text(name, instance_id or uuid.uuid4().hex, input_text)

    def start_with_text(self, name: str, instance_id: str, input_text: Optional[str],
                        parent: Optional[Parent] = None) -> str:
        """Start with the input already JSON text, as the HTTP API and sub-orchestrations do."""
        existing = self._instances.get(instance_id)
        if existing is not None and not existing.finished:
            raise InstanceAlreadyExists(f"An Orchestration instance with the status "
                                        f"{existing.status.value} already exists.")
        if name not in self.functions.orchestrators:
            raise UnknownFunction(f"The function '{name}' doesn't exist, is disabled, or is not "
                                  f"an orchestrator function.")
        now = self.clock.now
        instance = Instance(instance_id, name, created=now, updated=now, parent=parent)
        self._instances[instance_id] = instance  # a finished instance is overwritten
        self._begin_execution(instance, input_text)
        return instance_id

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Deliver an event whose payload the orchestrator receives as `data`."""
        self.raise_event_text(instance_id, name, df_dumps(data))

    def raise_event_text(self, instance_id: str, name: str, input_text: Optional[str]) -> None:
        """Append an EventRaised whose Input is `input_text`; the next episode replays it."""
        instance = self._active(instance_id)
        instance.inbox.append(history.event_raised(self.clock.now, name, input_text))
        self._schedule(instance_id)

    def terminate(self, instance_id: str, reason: Optional[str]) -> None:
        """Queue a termination; like the real one it takes effect at the next episode."""
        instance = self._active(instance_id)
        instance.inbox.append(history.execution_terminated(self.clock.now, reason))
        self._schedule(instance_id)

    def purge(self, instance_id: str) -> None:
        """Forget a finished instance (recordings stay, so replay_all_recorded still covers it)."""
        instance = self._instances.get(instance_id)
        if instance is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' found.")
        if not instance.finished:
            raise DriverError(f"Only orchestrations in a terminal state can be purged, but the "
                               f"orchestration with instance ID {instance_id} has status "
                               f"{instance.status.value}")
        del self._instances[instance_id]

    # -- running ------------------------------------------------------------
    def drain(self, fire_timers: bool = True, max_episodes: int = 10_000) -> None:
        """Run queued work until nothing can progress, then (if allowed) fire the next timers."""
        episodes = 0
        while True:
            if self._queue:
                kind, payload = self._queue.popleft()
                if kind == "activity":
                    self._run_activity(*payload)
                    continue
                episodes += 1
                if episodes > max_episodes:
                    raise StillBusy(f"still busy after {max_episodes} episodes; use advance()")
                self._queued.discard(payload)
                self._run_episode(payload)
            elif fire_timers and self._live_timers():
                self._fire_timers(self._timers.next_time())
            else:
                return

    async def run_until_idle(self, fire_timers: bool = True) -> None:
        """drain() for async tests that drive HTTP functions."""
        self.drain(fire_timers)

    def advance(self, delta: timedelta) -> None:
        """Let `delta` of virtual time pass, firing the timers due in it along the way."""
        until = self.clock.now + delta
        self.drain(fire_timers=False)
        while self._live_timers() and self._timers.next_time() <= until:
            self._fire_timers(self._timers.next_time())
            self.drain(fire_timers=False)
        self.clock.advance_to(until)

    # -- inspecting -----------------------------------------------------------
    def instance(self, instance_id: str) -> Instance:
        if instance_id not in self._instances:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' found.")
        return self._instances[instance_id]

    def instances(self) -> list:
        return list(self._instances.values())

    def get_status(self, instance_id: str) -> DurableOrchestrationStatus:
        """The SDK's status object, falsy for an unknown id, as the client would return it."""
        instance = self._instances.get(instance_id)
        payload = "" if instance is None else json.loads(json.dumps(instance.status_json()))
        return DurableOrchestrationStatus.from_json(payload)

    def histories(self, instance_id: str) -> list:
        """Every execution's history, oldest first (continue_as_new starts a new one)."""
        return [list(e.history) for e in self.instance(instance_id).executions]

    def task_hub_text(self) -> str:
        """Everything the task hub would store in plain text, for scanning (e.g. for secrets)."""
        return json.dumps([{"status": i.status_json(),
                            "histories": [e.history for e in i.executions]}
                           for i in self._instances.values()])

    def replay_all_recorded(self) -> int:
        """Re-run every recorded episode and require identical replies; returns how many."""
        return replay_all(self.recordings, self.functions.orchestrators)

    def client(self) -> DurableClientDouble:
        """A DurableOrchestrationClient whose HTTP calls this driver answers."""
        return DurableClientDouble(self)

    async def call_client(self, name: str, **kwargs: Any) -> Any:
        """Await a durable-client function's raw coroutine with a client double injected."""
        function = self.functions.clients[name]
        return await function.fn(**{function.param: self.client()}, **kwargs)

    # -- the extension's side -------------------------------------------------
    def _active(self, instance_id: str) -> Instance:
        instance = self._instances.get(instance_id)
        if instance is None:
            raise InstanceNotFound(f"No instance with ID '{instance_id}' found.")
        if instance.finished:
            raise InstanceGone(f"Instance with ID {instance_id} is gone: "
                               f"either completed or failed")
        return instance

    def _schedule(self, instance_id: str) -> None:
        if instance_id not in self._queued:
            self._queued.add(instance_id)
            self._queue.append(("episode", instance_id))

    def _receives(self, instance_id: str, execution_id: str) -> bool:
        instance = self._instances.get(instance_id)
        return instance is not None and not instance.finished \
            and instance.execution.execution_id == execution_id

    def _deliver(self, instance_id: str, execution_id: str, event: dict) -> None:
        """Completions for a finished, replaced or continued execution are dropped, as in DTFx."""
        if self._receives(instance_id, execution_id):
            self._instances[instance_id].inbox.append(event)
            self._schedule(instance_id)

    def _live_timers(self) -> bool:
        self._timers.prune(lambda timer: self._receives(timer[0], timer[1]))
        return bool(self._timers)

    def _begin_execution(self, instance: Instance, input_text: Optional[str]) -> None:
        execution = Execution(uuid.uuid4().hex, input_text)
        instance.executions.append(execution)
        parent = instance.parent and {"InstanceId": instance.parent.instance_id,
                                      "TaskScheduleId": instance.parent.seq}
        instance.inbox.insert(0, history.execution_started(
            self.clock.now, instance.name, input_text, instance.instance_id,
            execution.execution_id, parent))
        self._schedule(instance.instance_id)

    def _run_episode(self, instance_id: str) -> None:
        instance = self._instances.get(instance_id)
        if instance is None or instance.finished or not instance.inbox:
            return
        terminate = next((e for e in instance.inbox
                          if e["EventType"] == T.EXECUTION_TERMINATED), None)
        if terminate is not None:
            return self._terminate_now(instance, terminate)
        batch = take_batch(instance.execution, instance.inbox)
        if instance.inbox:
            self._schedule(instance_id)
        handle = self.functions.orchestrators[instance.name]
        try:
            episode = run_episode(instance, handle, self.clock.now, batch, self.functions)
        except NonDeterminismError as err:
            self._finish(instance, Status.Failed, failure_output(instance.name, str(err)))
            raise
        self.recordings.append(Recording(instance_id, instance.name, episode.context_json,
                                         episode.outcome))
        instance.status, instance.updated = Status.Running, self.clock.now
        instance.custom_status = episode.custom_status
        for work in episode.work:
            self._start_work(instance, work)
        if episode.finish is not None:
            self._finish(instance, *episode.finish)

    def _start_work(self, instance: Instance, work: Work) -> None:
        execution_id = instance.execution.execution_id
        if work.kind == "activity":
            self._queue.append(("activity", (instance.instance_id, execution_id, work)))
        elif work.kind == "timer":
            self._timers.push(isoparse(work.fire_at), (instance.instance_id, execution_id, work))
        else:
            parent = Parent(instance.instance_id, execution_id, work.seq)
            try:
                self.start_with_text(work.name, work.instance_id, work.input_text, parent)
            except InstanceAlreadyExists as err:
                self._deliver(instance.instance_id, execution_id, history.sub_orchestration_failed(
                    self.clock.now, work.seq, str(err), history.failure_details(str(err))))

    def _run_activity(self, instance_id: str, execution_id: str, work: Work) -> None:
        # Activities run even when their orchestration has moved on; only the result is dropped.
        result = run_activity(self.functions.activities[work.name], work.input_text)
        now = self.clock.now
        event = (history.task_failed(now, work.seq, result.reason, result.details) if result.failed
                 else history.task_completed(now, work.seq, result.result_text))
        self._deliver(instance_id, execution_id, event)

    def _fire_timers(self, moment: datetime) -> None:
        self.clock.advance_to(moment)
        for instance_id, execution_id, work in self._timers.pop_due(moment):
            self._deliver(instance_id, execution_id,
                          history.timer_fired(self.clock.now, work.seq, work.fire_at))

    def _terminate_now(self, instance: Instance, event: dict) -> None:
        now = self.clock.now
        unstarted = [e for e in instance.inbox if e["EventType"] == T.EXECUTION_STARTED]
        instance.execution.history.extend(history.played([
            history.orchestrator_started(now), *unstarted, event,
            history.execution_completed(now, Status.Terminated.value, event["Input"]),
            history.orchestrator_completed(now)]))
        self._finish(instance, Status.Terminated, parse_stored(event["Input"]))

    def _finish(self, instance: Instance, status: Status, value: Any) -> None:
        now = self.clock.now
        instance.status, instance.updated = status, now
        if status is Status.ContinuedAsNew:
            # External events target the instance, so queued ones carry over; completions do not.
            instance.inbox = [e for e in instance.inbox if e["EventType"] == T.EVENT_RAISED]
            return self._begin_execution(instance, value)
        instance.output, instance.inbox = value, []
        parent = instance.parent
        if parent is None:
            return
        if status is Status.Completed:
            event = history.sub_orchestration_completed(now, parent.seq, json.dumps(value))
        else:
            reason = value if isinstance(value, str) else json.dumps(value)
            event = history.sub_orchestration_failed(now, parent.seq, reason,
                                                     history.failure_details(reason))
        self._deliver(parent.instance_id, parent.execution_id, event)
