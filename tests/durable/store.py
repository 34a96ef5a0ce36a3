"""The task hub's instance store: one record per instance id, with its executions and status."""
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional

from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as Status)

FINISHED = (Status.Completed, Status.Failed, Status.Terminated, Status.Canceled)


@dataclass
class Retry:
    """A with-retry call's policy and how many attempts the extension has scheduled."""
    interval: timedelta
    max_attempts: int
    attempts: int = 1


@dataclass
class Execution:
    """One execution of an instance: continue_as_new starts the next with a fresh history."""
    execution_id: str
    input_text: Optional[str]
    history: list = field(default_factory=list)
    actions: list = field(default_factory=list)      # flattened SDK actions, as first returned
    action_ids: list = field(default_factory=list)   # sequence ids each action has taken
    retries: dict = field(default_factory=dict)      # action index -> Retry
    retry_of: dict = field(default_factory=dict)     # sequence id -> action index of its retry
    next_id: int = 0

    def take_id(self, action_index: int) -> int:
        seq, self.next_id = self.next_id, self.next_id + 1
        self.action_ids[action_index].append(seq)
        if action_index in self.retries:
            self.retry_of[seq] = action_index
        return seq


@dataclass(frozen=True)
class Parent:
    instance_id: str
    execution_id: str
    seq: int


@dataclass
class Instance:
    instance_id: str
    name: str
    created: datetime
    updated: datetime
    parent: Optional[Parent] = None
    status: Status = Status.Pending
    executions: list = field(default_factory=list)
    inbox: list = field(default_factory=list)        # events waiting for the next episode
    custom_status: Any = None
    output: Any = None

    @property
    def execution(self) -> Execution:
        return self.executions[-1]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def status_json(self, show_input: bool = True) -> dict:
        """The extension's status payload; `input` is the JSON *text* sent, not an object."""
        return {
            "name": self.name, "instanceId": self.instance_id,
            "runtimeStatus": self.status.value,
            "input": self.execution.input_text if show_input else None,
            "customStatus": self.custom_status, "output": self.output,
            "createdTime": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastUpdatedTime": self.updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def parse_stored(text: Optional[str]) -> Any:
    """What the extension's ParseToJToken makes of stored text: JSON if it parses, else text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
