"""How the fake ARM's resource modules see a request, declare their routes, and check inputs.

Each resource type's module lists `Route`s (path pattern, API versions, one handler per
method); a handler gets a parsed `Call` and returns a `Reply` or raises `ArmError`.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.arm_state import ARM_ENDPOINT, ArmError, ArmState, Operation, Reply

SUBSCRIPTION = r"/subscriptions/(?P<sub>[^/]+)"
GROUP = SUBSCRIPTION + r"/resourceGroups/(?P<group>[^/]+)"


@dataclass
class Call:
    """One request after the shared checks (auth, api-version, subscription, JSON) passed."""

    method: str
    path: str
    query: dict[str, str]
    api_version: str
    content: Any
    params: dict[str, str]
    state: ArmState

    def body(self) -> dict[str, Any]:
        """The JSON object the request must carry."""
        if not isinstance(self.content, dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: a JSON object is required.",
            )
        return self.content

    @property
    def url(self) -> str:
        return f"{ARM_ENDPOINT}{self.path}?api-version={self.api_version}"

    def operation_url(self, collection: str, operation: Operation) -> str:
        """A status URL under the subscription, at the API version the operation began with."""
        return (
            f"{ARM_ENDPOINT}/subscriptions/{self.state.subscription_id}/{collection}/{operation.name}"
            f"?api-version={self.api_version}"
        )

    def async_headers(self, operation: Operation, namespace: str, location: str) -> dict[str, str]:
        """Headers that make ARMPolling follow an Azure-AsyncOperation status URL."""
        url = self.operation_url(f"providers/{namespace}/locations/{location}/operations", operation)
        return {"Azure-AsyncOperation": url, "Retry-After": str(self.state.retry_after)}

    def location_headers(self, operation: Operation, namespace: str, location: str) -> dict[str, str]:
        """Headers that make ARMPolling poll a Location URL until it stops answering 202."""
        url = self.operation_url(f"providers/{namespace}/locations/{location}/operationresults", operation)
        return {"Location": url, "Retry-After": str(self.state.retry_after)}


Handler = Callable[[Call], Reply]


@dataclass
class Route:
    """A path pattern, the API versions it is served at, and a handler per HTTP method."""

    pattern: re.Pattern[str]
    api_versions: frozenset[str]
    version_error: str
    methods: dict[str, Handler]


def route(template: str, api_versions: set[str], version_error: str, **methods: Handler) -> Route:
    return Route(re.compile(template, re.IGNORECASE), frozenset(api_versions), version_error, methods)


def group_id(call: Call) -> str:
    return f"/subscriptions/{call.state.subscription_id}/resourceGroups/{call.params['group']}"


def require_group(call: Call) -> dict[str, Any]:
    """ARM checks the resource group before the provider ever sees the request."""
    group = call.state.peek(group_id(call))
    if group is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{call.params['group']}' could not be found.")
    if call.method != "GET" and group["properties"]["provisioningState"] == "Deleting":
        raise ArmError(
            409,
            "ResourceGroupBeingDeleted",
            f"The resource group '{group['name']}' is in deprovisioning state and cannot perform this operation.",
        )
    return group


def not_found(resource_type: str, name: str, group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found.",
    )


def existing(call: Call, resource_id: str, resource_type: str, look: bool = True) -> dict[str, Any]:
    """The resource a request names, in a group that exists; 404 as ARM answers when it is not there.

    `look`: as a GET sees it (advancing its running operation), else as stored."""
    require_group(call)
    resource = call.state.get(resource_id) if look else call.state.peek(resource_id)
    if resource is None:
        raise not_found(resource_type, call.params["name"], call.params["group"])
    return resource


def require_location(body: dict[str, Any]) -> str:
    """ARM's normalised location ('East US' -> 'eastus'); tracked resources must have one."""
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    normalised = location.replace(" ", "").lower()
    if not normalised.isalnum():
        raise ArmError(400, "LocationNotAvailableForResourceType", f"The provided location '{location}' is not available.")
    return normalised


def check_location_unchanged(existing: dict[str, Any], location: str) -> None:
    """ARM refuses to move a resource by PUTting it again elsewhere."""
    if existing["location"] != location:
        raise ArmError(
            409,
            "InvalidResourceLocation",
            f"The resource '{existing['name']}' already exists in location '{existing['location']}'. "
            f"A resource with the same name cannot be created in location '{location}'.",
        )


def check_idle(call: Call, resource_id: str) -> None:
    """Providers refuse a change while another operation on the resource is still running."""
    if call.state.running(resource_id):
        raise ArmError(
            409,
            "OperationNotAllowed",
            "Operation is not allowed because there's an in progress operation on this resource.",
        )


def begin_delete(call: Call, resource_id: str):
    """Start (or join) the deletion of a stored resource: the operation, or None when it is absent."""
    require_group(call)
    resource = call.state.peek(resource_id)
    if resource is None:
        return None
    operation = call.state.running(resource_id)
    if operation is None or resource["properties"]["provisioningState"] != "Deleting":
        check_idle(call, resource_id)
        resource["properties"]["provisioningState"] = "Deleting"
        operation = call.state.start(resource_id, lambda: call.state.remove(resource_id))
    return operation


def require_tags(body: dict[str, Any]) -> dict[str, str]:
    tags = body.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ArmError(400, "InvalidTag", "Tags must be a JSON object of string values.")
    return tags
