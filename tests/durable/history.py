"""Schema-V3 history events and the context JSON, shaped as the Durable extension sends them.

Events are plain dicts (the SDK does ``HistoryEvent(**event)``), so a recorded history
can be scanned, dumped or fed back to the orchestrator unchanged. The sequence id sits
in ``EventId`` of TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated and in
``TaskScheduledId`` / ``TimerId`` of the events that complete them; all others carry -1.
"""
import json
from datetime import datetime, timezone
from typing import Any, Optional

from azure.durable_functions.models.history import HistoryEventType as T

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
SCHEDULING_EVENTS = (T.TASK_SCHEDULED, T.SUB_ORCHESTRATION_INSTANCE_CREATED, T.TIMER_CREATED)


def iso(moment: datetime) -> str:
    """UTC text in the SDK's own DATETIME_STRING_FORMAT."""
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def _event(kind: T, at: datetime, event_id: int = -1, **fields: Any) -> dict:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
            "Timestamp": iso(at), **fields}


def orchestrator_started(at: datetime) -> dict:
    return _event(T.ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> dict:
    return _event(T.ORCHESTRATOR_COMPLETED, at)


def execution_started(at: datetime, name: str, input_text: Optional[str], instance_id: str,
                      execution_id: str, parent: Optional[dict] = None) -> dict:
    # `Version` is not optional: the SDK reads it on every replay and crashes without it.
    return _event(T.EXECUTION_STARTED, at, Name=name, Input=input_text, Version="",
                  OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
                  ParentInstance=parent, Tags=None)


def task_scheduled(at: datetime, seq: int, name: str, input_text: Optional[str]) -> dict:
    return _event(T.TASK_SCHEDULED, at, seq, Name=name, Version="", Input=input_text)


def task_completed(at: datetime, seq: int, result_text: Optional[str]) -> dict:
    return _event(T.TASK_COMPLETED, at, TaskScheduledId=seq, Result=result_text)


def task_failed(at: datetime, seq: int, reason: str, details: Optional[str]) -> dict:
    return _event(T.TASK_FAILED, at, TaskScheduledId=seq, Reason=reason, Details=details)


def timer_created(at: datetime, seq: int, fire_at: str) -> dict:
    return _event(T.TIMER_CREATED, at, seq, FireAt=fire_at)


def timer_fired(at: datetime, seq: int, fire_at: str) -> dict:
    return _event(T.TIMER_FIRED, at, TimerId=seq, FireAt=fire_at)


def sub_orchestration_created(at: datetime, seq: int, name: str, instance_id: str,
                              input_text: Optional[str]) -> dict:
    return _event(T.SUB_ORCHESTRATION_INSTANCE_CREATED, at, seq, Name=name, Version="",
                  InstanceId=instance_id, Input=input_text)


def sub_orchestration_completed(at: datetime, seq: int, result_text: Optional[str]) -> dict:
    return _event(T.SUB_ORCHESTRATION_INSTANCE_COMPLETED, at, TaskScheduledId=seq,
                  Result=result_text)


def sub_orchestration_failed(at: datetime, seq: int, reason: str, details: Optional[str]) -> dict:
    return _event(T.SUB_ORCHESTRATION_INSTANCE_FAILED, at, TaskScheduledId=seq,
                  Reason=reason, Details=details)


def event_raised(at: datetime, name: str, input_text: Optional[str]) -> dict:
    return _event(T.EVENT_RAISED, at, Name=name, Input=input_text)


def execution_completed(at: datetime, status: str, result_text: Optional[str]) -> dict:
    """End of an execution; status is Completed, Failed, ContinuedAsNew or Terminated."""
    return _event(T.EXECUTION_COMPLETED, at, OrchestrationStatus=status, Result=result_text)


def execution_terminated(at: datetime, reason: Optional[str]) -> dict:
    return _event(T.EXECUTION_TERMINATED, at, Input=reason)


def failure_details(message: str, stack: Optional[str] = None) -> str:
    """A compact stand-in for the serialized .NET exception the extension puts in Details."""
    return json.dumps({"Message": message, "StackTrace": stack})


def played(events: list) -> list:
    """Mark committed events as played; the extension never flags OrchestratorStarted."""
    return [{**e, "IsPlayed": e["EventType"] != T.ORCHESTRATOR_STARTED} for e in events]


def context_json(history: list, input_text: Optional[str], instance_id: str,
                 parent_instance_id: Optional[str]) -> str:
    """The orchestration trigger payload: `input` is JSON text, schema V3 negotiated."""
    return json.dumps({
        "history": history, "input": input_text, "instanceId": instance_id,
        "isReplaying": False, "parentInstanceId": parent_instance_id,
        "upperSchemaVersion": 1, "upperSchemaVersionNew": 2,
        "longRunningTimerIntervalDuration": "3.00:00:00",
        "maximumShortTimerDuration": "6.00:00:00",
    })
