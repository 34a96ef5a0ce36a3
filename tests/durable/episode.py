"""One orchestration episode, run as the extension runs it.

Build the history the SDK sees, call the orchestrator, check the replay, give new work its
sequence ids and record the scheduling events. Ids follow the SDK's order: a retry timer or
re-attempt caused by the episode's first event comes before any newly yielded action, and
`take_batch` never puts such an event behind another, so that order is always known.
"""
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from azure.durable_functions.models.actions.ActionType import ActionType as A
from azure.durable_functions.models.history import HistoryEventType as T

from . import history
from .actions import TAKES_ID, Outcome, invoke
from .determinism import check_replay
from .errors import DriverError, UnknownFunction
from .functions import FunctionIndex
from .store import Execution, Instance, Retry, Status

ACTIVITY_CALLS = (A.CALL_ACTIVITY, A.CALL_ACTIVITY_WITH_RETRY)
SUB_CALLS = (A.CALL_SUB_ORCHESTRATOR, A.CALL_SUB_ORCHESTRATOR_WITH_RETRY)
UNSUPPORTED = (A.CALL_ENTITY, A.CALL_HTTP, A.SIGNAL_ENTITY)
CUSTOM_STATUS_LIMIT_KB = 16


@dataclass(frozen=True)
class Work:
    """Something the extension starts once the episode is committed."""
    kind: str  # "activity", "timer" or "sub"
    seq: int
    name: Optional[str] = None
    input_text: Optional[str] = None
    instance_id: Optional[str] = None
    fire_at: Optional[str] = None


@dataclass
class Episode:
    """What one episode produced: the invocation to record, new work, and whether it ended."""
    context_json: str
    outcome: Outcome
    custom_status: Any
    work: list = field(default_factory=list)
    finish: Optional[tuple] = None  # (Status, output), or (ContinuedAsNew, new input text)


def take_batch(execution: Execution, inbox: list) -> list:
    """The events for the next episode: all waiting ones, cut before a retry-id-taking one."""
    batch = [inbox.pop(0)]
    while inbox and not _takes_retry_id(execution, inbox[0]):
        batch.append(inbox.pop(0))
    return batch


def failure_output(name: str, message: str) -> str:
    """The output the extension stores for a failed orchestration."""
    return f"Orchestrator function '{name}' failed: {message}"


def run_episode(instance: Instance, handle: Callable[[str], str], now: datetime, batch: list,
                functions: FunctionIndex) -> Episode:
    execution = instance.execution
    started = history.orchestrator_started(now)
    parent_id = instance.parent.instance_id if instance.parent else None
    context = history.context_json(execution.history + [started] + batch, execution.input_text,
                                   instance.instance_id, parent_id)
    outcome = invoke(handle, context)
    actions = outcome.actions
    check_replay(instance.instance_id, instance.name, execution, actions)
    episode = Episode(context, outcome, outcome.state.get("customStatus"))
    episode.finish = _finish(instance.name, outcome, actions)
    oversize = _oversize(episode.custom_status)
    if oversize:  # the extension refuses the status, which fails the orchestration
        episode.custom_status = instance.custom_status
        episode.finish = (Status.Failed, failure_output(instance.name, oversize))
    scheduled: list = []
    if episode.finish is None:
        try:
            scheduled = _retry_work(execution, batch[0], now, functions, episode.work)
            scheduled += _new_work(execution, actions, now, functions, episode.work)
        except UnknownFunction as err:
            scheduled, episode.work = [], []
            episode.finish = (Status.Failed, failure_output(instance.name, str(err)))
    final = [] if episode.finish is None else [_final_event(now, episode.finish)]
    execution.history.extend(history.played(
        [started, *batch, *scheduled, *final, history.orchestrator_completed(now)]))
    return episode


def _takes_retry_id(execution: Execution, event: dict) -> bool:
    kind = event["EventType"]
    if kind in (T.TASK_FAILED, T.SUB_ORCHESTRATION_INSTANCE_FAILED):
        return event["TaskScheduledId"] in execution.retry_of
    if kind == T.TIMER_FIRED and event["TimerId"] in execution.retry_of:
        retry = execution.retries[execution.retry_of[event["TimerId"]]]
        return retry.attempts < retry.max_attempts
    return False


def _finish(name: str, outcome: Outcome, actions: list) -> Optional[tuple]:
    if outcome.error is not None:
        return Status.Failed, failure_output(name, outcome.error)
    if not outcome.state.get("isDone"):
        return None
    if actions and actions[-1]["actionType"] == A.CONTINUE_AS_NEW:
        return Status.ContinuedAsNew, actions[-1]["input"]
    return Status.Completed, outcome.state.get("output")


def _retry_work(execution: Execution, event: dict, now: datetime, functions: FunctionIndex,
                work: list) -> list:
    """A failed attempt gets a retry timer; a fired retry timer gets the next attempt."""
    if not _takes_retry_id(execution, event):
        return []
    if event["EventType"] == T.TIMER_FIRED:
        index = execution.retry_of[event["TimerId"]]
        execution.retries[index].attempts += 1
        return _schedule(execution, index, now, functions, work)
    index = execution.retry_of[event["TaskScheduledId"]]
    seq = execution.take_id(index)
    fire_at = history.iso(now + execution.retries[index].interval)
    work.append(Work("timer", seq, fire_at=fire_at))
    return [history.timer_created(now, seq, fire_at)]


def _new_work(execution: Execution, actions: list, now: datetime, functions: FunctionIndex,
              work: list) -> list:
    scheduled = []
    for index in range(len(execution.actions), len(actions)):
        execution.actions.append(actions[index])
        execution.action_ids.append([])
        if actions[index]["actionType"] in TAKES_ID:
            scheduled += _schedule(execution, index, now, functions, work)
    return scheduled


def _schedule(execution: Execution, index: int, now: datetime, functions: FunctionIndex,
              work: list) -> list:
    action = execution.actions[index]
    kind = action["actionType"]
    if kind in UNSUPPORTED:
        raise DriverError(f"the replay driver does not emulate {A(kind).name} actions")
    options = action.get("retryOptions")
    if options and index not in execution.retries:
        execution.retries[index] = Retry(
            timedelta(milliseconds=options["firstRetryIntervalInMilliseconds"]),
            options["maxNumberOfAttempts"])
    seq = execution.take_id(index)
    if kind == A.CREATE_TIMER:
        work.append(Work("timer", seq, fire_at=action["fireAt"]))
        return [history.timer_created(now, seq, action["fireAt"])]
    if kind in ACTIVITY_CALLS:
        name = _known(action["functionName"], functions.activities, "activity")
        work.append(Work("activity", seq, name, action["input"]))
        return [history.task_scheduled(now, seq, name, action["input"])]
    if kind in SUB_CALLS:
        name = _known(action["functionName"], functions.orchestrators, "orchestrator")
        # DTFx names an unnamed sub-orchestration after the parent execution and sequence id.
        child_id = action.get("instanceId") or f"{execution.execution_id}:{seq}"
        work.append(Work("sub", seq, name, action["input"], instance_id=child_id))
        return [history.sub_orchestration_created(now, seq, name, child_id, action["input"])]
    return []  # continue_as_new takes an id but schedules nothing


def _known(name: str, table: dict, kind: str) -> str:
    if name not in table:
        known = ", ".join(repr(n) for n in sorted(table)) or "none"
        raise UnknownFunction(f"The function '{name}' doesn't exist, is disabled, or is not an "
                              f"{kind} function. Additional info: the app's {kind} functions "
                              f"are {known}.")
    return name


def _oversize(custom_status: Any) -> Optional[str]:
    if custom_status is None:
        return None
    size_kb = int(len(json.dumps(custom_status).encode("utf-16-le")) / 1024.0)
    if size_kb <= CUSTOM_STATUS_LIMIT_KB:
        return None
    return (f"The UTF-16 size of the JSON-serialized payload must not exceed "
            f"{CUSTOM_STATUS_LIMIT_KB} KB. The current payload size is {size_kb} KB.")


def _final_event(now: datetime, finish: tuple) -> dict:
    status, value = finish
    text = json.dumps(value) if status is Status.Completed else value
    return history.execution_completed(now, status.value, text)
