"""The extension's non-determinism check: a replay must re-issue what its history recorded.

The SDK never notices a changed orchestrator; the extension does, by matching the actions
returned for already-scheduled sequence ids with the TaskScheduled / TimerCreated /
SubOrchestrationInstanceCreated events it wrote for them. This is that check, made strict:
inputs and timer deadlines must match too, and so must id-less actions (event waits).
"""
from azure.durable_functions.models.actions.ActionType import ActionType as A
from azure.durable_functions.models.history import HistoryEventType as T

from .actions import describe
from .errors import NonDeterminismError
from .history import SCHEDULING_EVENTS
from .store import Execution

RECORDED_AS = {A.CALL_ACTIVITY: T.TASK_SCHEDULED, A.CALL_ACTIVITY_WITH_RETRY: T.TASK_SCHEDULED,
               A.CALL_SUB_ORCHESTRATOR: T.SUB_ORCHESTRATION_INSTANCE_CREATED,
               A.CALL_SUB_ORCHESTRATOR_WITH_RETRY: T.SUB_ORCHESTRATION_INSTANCE_CREATED,
               A.CREATE_TIMER: T.TIMER_CREATED}


def check_replay(instance_id: str, name: str, execution: Execution, actions: list) -> None:
    """Raise NonDeterminismError unless `actions` starts with everything already scheduled."""
    recorded = {e["EventId"]: e for e in execution.history if e["EventType"] in SCHEDULING_EVENTS}
    for index, (first, ids) in enumerate(zip(execution.actions, execution.action_ids)):
        got = actions[index] if index < len(actions) else None
        event = recorded.get(ids[0]) if ids else None
        if event is not None:
            if not _matches(got, event):
                raise NonDeterminismError(
                    f"{_who(name, instance_id)}: sequence id {ids[0]} was recorded as "
                    f"{_describe_event(event)} but the replay produced {describe(got)}")
        elif got is None or _identity(got) != _identity(first):
            raise NonDeterminismError(
                f"{_who(name, instance_id)}: action #{index} was {describe(first)} but the "
                f"replay produced {describe(got)}")


def _who(name: str, instance_id: str) -> str:
    return f"non-deterministic orchestrator '{name}' (instance '{instance_id}')"


def _matches(action, event: dict) -> bool:
    if action is None or RECORDED_AS.get(action["actionType"]) != event["EventType"]:
        return False
    if event["EventType"] == T.TIMER_CREATED:
        return action["fireAt"] == event["FireAt"]
    same_call = action["functionName"] == event["Name"] and action.get("input") == event["Input"]
    if event["EventType"] == T.SUB_ORCHESTRATION_INSTANCE_CREATED:
        return same_call and action.get("instanceId") in (None, event["InstanceId"])
    return same_call


def _identity(action: dict) -> tuple:
    return action["actionType"], action.get("externalEventName"), action.get("input")


def _describe_event(event: dict) -> str:
    kind = T(event["EventType"]).name
    if event["EventType"] == T.TIMER_CREATED:
        return f"{kind}(fireAt={event['FireAt']})"
    return f"{kind}(name={event['Name']!r}, input={event['Input']!r})"
