"""Calling an orchestrator handle and reading its schema-V3 reply the way the extension does."""
import json
from dataclasses import dataclass
from typing import Callable, Optional

from azure.durable_functions.models.actions.ActionType import ActionType as A

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
COMPOUND = (A.WHEN_ALL, A.WHEN_ANY)
# Every yielded atomic task takes the next sequence id; so do the fire-and-forget
# continue_as_new and signal_entity. Waiting for an external event takes none.
TAKES_ID = (A.CALL_ACTIVITY, A.CALL_ACTIVITY_WITH_RETRY, A.CALL_SUB_ORCHESTRATOR,
            A.CALL_SUB_ORCHESTRATOR_WITH_RETRY, A.CONTINUE_AS_NEW, A.CREATE_TIMER,
            A.CALL_ENTITY, A.CALL_HTTP, A.SIGNAL_ENTITY)


@dataclass(frozen=True)
class Outcome:
    """One invocation's reply: the orchestrator state, plus the message if it raised."""
    state: dict
    error: Optional[str] = None

    @property
    def actions(self) -> list:
        return flatten(self.state.get("actions", []))


def invoke(handle: Callable[[str], str], context_json: str) -> Outcome:
    """Call the handle; an unhandled orchestrator exception carries its state after the marker."""
    try:
        return Outcome(json.loads(handle(context_json)))
    except Exception as exc:
        text = str(exc)
        if OUT_OF_PROC_MARKER not in text:
            raise
        message, _, state = text.partition(OUT_OF_PROC_MARKER)
        return Outcome(json.loads(state), message)


def flatten(actions: list) -> list:
    """Atomic actions in first-yield order: WhenAll/WhenAny children in list order."""
    flat = []
    for action in actions:
        if isinstance(action, list):
            flat.extend(flatten(action))
        elif action["actionType"] in COMPOUND:
            flat.extend(flatten(action["compoundActions"]))
        else:
            flat.append(action)
    return flat


def describe(action: Optional[dict]) -> str:
    if action is None:
        return "nothing"
    kind = A(action["actionType"]).name
    if action["actionType"] == A.CREATE_TIMER:
        return f"{kind}(fireAt={action['fireAt']})"
    if action["actionType"] == A.WAIT_FOR_EXTERNAL_EVENT:
        return f"{kind}(name={action['externalEventName']!r})"
    name = action.get("functionName")
    return f"{kind}(name={name!r}, input={action.get('input')!r})"
