"""The fake ARM's memory: resources by case-insensitive ARM id, and long-running operations.

Kept apart from the HTTP plumbing so each resource type's module only says how that type
behaves. Time does not pass here: an operation advances each time someone looks at it
(its status URL, or a GET of its resource), so tests are deterministic and never wait.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ARM_ENDPOINT = "https://management.azure.com"


@dataclass
class Reply:
    """What the fake answers: a status, a JSON body (or none) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ArmError(Exception):
    """An ARM error answer; raise it anywhere in a handler to reply `{"error": {...}}`."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.target = status, code, message, target

    def reply(self, headers: dict[str, str] | None = None) -> Reply:
        error = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return Reply(self.status, {"error": error}, dict(headers or {}))


def now() -> str:
    """A timestamp in ARM's ISO 8601 form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass
class Operation:
    """One long-running operation, reporting InProgress for `polls_left` looks, then ending."""

    name: str
    resource_id: str
    polls_left: int
    on_success: Callable[[], None]
    error: dict[str, str] | None
    ending: str = "Failed"  # the state an operation with an error ends in
    status: str = "InProgress"
    start_time: str = field(default_factory=now)
    end_time: str | None = None


@dataclass
class PlannedFailure:
    pattern: re.Pattern[str]
    code: str
    message: str
    state: str = "Failed"  # or "Canceled": ARM's two unsuccessful terminal states


class ArmState:
    """Resources keyed by lower-cased id, the operations running on them, and planned failures."""

    def __init__(self, subscription_id: str, tenant_id: str, lro_polls: int, retry_after: int):
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.lro_polls = lro_polls
        self.retry_after = retry_after
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.failures: list[PlannedFailure] = []
        #: What AKS's listKubernetesVersions answers, in every region (FakeArm fills it in).
        self.kubernetes_versions: list[dict[str, Any]] = []
        self._running: dict[str, Operation] = {}

    def peek(self, resource_id: str) -> dict[str, Any] | None:
        """The stored resource, without advancing anything."""
        return self.resources.get(resource_id.lower())

    def get(self, resource_id: str) -> dict[str, Any] | None:
        """The resource as a GET sees it: looking advances its running operation."""
        running = self.running(resource_id)
        if running:
            self.advance(running)
        return self.peek(resource_id)

    def save(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources[resource["id"].lower()] = resource
        return resource

    def running(self, resource_id: str) -> Operation | None:
        return self._running.get(resource_id.lower())

    def remove(self, resource_id: str) -> None:
        """Remove a resource, everything beneath its id, and groups it manages (AKS node groups)."""
        prefix = resource_id.lower()
        gone = [key for key in self.resources if key == prefix or key.startswith(prefix + "/")]
        for key in gone:
            del self.resources[key]
            self._running.pop(key, None)
        for key, resource in list(self.resources.items()):
            if key in self.resources and (resource.get("managedBy") or "").lower() in gone:
                self.remove(resource["id"])

    def start(self, resource_id: str, on_success: Callable[[], None]) -> Operation:
        """Begin an operation on a resource; a planned failure matching its id makes it fail."""
        error = None
        for failure in self.failures:
            if failure.pattern.search(resource_id):
                self.failures.remove(failure)
                error = {"code": failure.code, "message": failure.message}
                ending = failure.state
                break
        else:
            ending = "Failed"
        operation = Operation(new_guid(), resource_id, self.lro_polls, on_success, error, ending=ending)
        self.operations[operation.name] = operation
        self._running[resource_id.lower()] = operation
        return operation

    def advance(self, operation: Operation) -> str:
        """One look at an operation: count down, then succeed (applying its effect) or fail."""
        if operation.status != "InProgress":
            return operation.status
        if operation.polls_left > 0:
            operation.polls_left -= 1
            return operation.status
        operation.end_time = now()
        self._running.pop(operation.resource_id.lower(), None)
        if operation.error:
            operation.status = operation.ending
            resource = self.peek(operation.resource_id)
            if resource is not None:
                resource["properties"]["provisioningState"] = operation.ending
        else:
            operation.status = "Succeeded"
            operation.on_success()
        return operation.status
