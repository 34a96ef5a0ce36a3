"""The run orchestration's mailbox: progress and cancel are never lost, whatever arrives together.

The Azure Storage provider hands every pending message of an instance to one replay. The
Python SDK resumes the orchestrator on the first completed wait; an event that arrives while
nothing waits for its name is kept (one per name, the newest), and `continue_as_new` drops
whatever the replay had not yet handed out. So every yield of a run goes through the mailbox,
which keeps one wait for `progress` and one for `cancel` open beside the task it waits for,
and `settle()` takes every event this execution's history holds before the run continues as
new. Its count is replay-safe only when nothing but `continue_as_new` follows it: an
execution that found an event pending waits for it (and a replay, whose history only grew,
finds it pending too), and one that found none ended there, so it is never replayed.
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.history import HistoryEventType
from azure.durable_functions.models.Task import TaskState

from control_plane.intake import merge

PROGRESS, CANCEL = "progress", "cancel"


class Mailbox:
    """Open waits for `progress` and `cancel`; folds progress into `run` and remembers a cancel."""

    def __init__(self, context: df.DurableOrchestrationContext, run: dict[str, Any]):
        self._context, self._run = context, run
        self._taken = {PROGRESS: 0, CANCEL: 0}
        self._progress = context.wait_for_external_event(PROGRESS)
        self._cancel = context.wait_for_external_event(CANCEL)
        self.cancel: dict[str, Any] | None = None  # the cancel request, once one arrived

    def until(self, task):
        """Wait for `task` (its result, or its exception raised), taking every event meanwhile."""
        while True:
            woke = yield self._context.task_any([task, *self._waits()])
            if woke is task:
                return _outcome(task)
            self._take(woke)

    def next(self, task):
        """Wait for `task` or the first event, whichever comes first; True when `task` did."""
        woke = yield self._context.task_any([task, *self._waits()])
        if woke is task:
            return True
        self._take(woke)
        return False

    def settle(self):
        """Take every event the history already holds, so `continue_as_new` drops none."""
        while self._pending():
            self._take((yield self._context.task_any(self._waits())))

    def _waits(self) -> list:
        return [self._progress] if self.cancel is not None else [self._progress, self._cancel]

    def _take(self, woke) -> None:
        if woke is self._cancel:
            self._taken[CANCEL] += 1
            self.cancel = _payload(woke.result)
            return
        self._taken[PROGRESS] += 1
        self._run["progress"] = merge(self._run.get("progress"), _payload(woke.result))
        self._progress = self._context.wait_for_external_event(PROGRESS)

    def _pending(self) -> bool:
        raised = _raised(self._context.histories)
        return raised[PROGRESS] > self._taken[PROGRESS] or (
            self.cancel is None and raised[CANCEL] > self._taken[CANCEL])


def _raised(history: list) -> dict[str, int]:
    counts = {PROGRESS: 0, CANCEL: 0}
    for event in history:
        if event.event_type == HistoryEventType.EVENT_RAISED and getattr(event, "Name", None) in counts:
            counts[event.Name] += 1
    return counts


def _outcome(task) -> Any:
    """A task handed back by `task_any`: its result, or the exception it failed with."""
    if task.state is TaskState.FAILED:
        raise task.result
    return task.result


def _payload(value: Any) -> dict[str, Any]:
    """Event data as a dict (the Python client JSON-encodes `raise_event` data once more)."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}
