"""Container registries (Microsoft.ContainerRegistry), with their globally unique names.

Creating answers with `Azure-AsyncOperation` pointing under the registry itself
(`.../registries/{name}/operationStatuses/{id}`, so polling needs
`registries/operationStatuses/read`); deleting with a `Location` only, as ACR does,
so the two ARMPolling strategies are both exercised.
"""

import re
from typing import Any

from tests.fakes.arm_operations import provider_operation_routes, resource_operation_route
from tests.fakes.arm_requests import (
    GROUP,
    SUBSCRIPTION,
    Call,
    begin_delete,
    check_idle,
    check_location_unchanged,
    existing,
    group_id,
    require_group,
    require_location,
    require_tags,
    route,
)
from tests.fakes.arm_state import ArmError, ArmState, Reply, now

NAMESPACE = "Microsoft.ContainerRegistry"
#: What azure-mgmt-containerregistry (as pinned) sends; another version is refused like ARM does.
API_VERSIONS = {"2025-11-01"}
_VERSION_ERROR = "NoRegisteredProviderFound"
_TYPE = "Microsoft.ContainerRegistry/registries"
_REGISTRY = GROUP + r"/providers/Microsoft[.]ContainerRegistry/registries/(?P<name>[^/]+)"
_NAME = re.compile(r"[a-zA-Z0-9]{5,50}")
_SKUS = {"Basic", "Standard", "Premium"}


def _name_problem(name: str) -> str | None:
    if _NAME.fullmatch(name):
        return None
    return f"The registry name '{name}' is invalid: it must be 5-50 alphanumeric characters."


def _holder(state: ArmState, name: str) -> dict[str, Any] | None:
    """The registry already holding a name: names are global, as they are DNS names."""
    for resource in state.resources.values():
        if resource["type"] == _TYPE and resource["name"].lower() == name.lower():
            return resource
    return None


def _registry_id(call: Call) -> str:
    return f"{group_id(call)}/providers/{NAMESPACE}/registries/{call.params['name']}"


def create(call: Call) -> Reply:
    """201 'Creating' for a new registry, 200 'Updating' for an existing one; both run an LRO."""
    name = call.params["name"]
    problem = _name_problem(name)
    if problem:
        raise ArmError(400, "InvalidResourceName", problem)
    require_group(call)
    body = call.body()
    location, tags = require_location(body), require_tags(body)
    sku = (body.get("sku") or {}).get("name")
    if sku not in _SKUS:
        raise ArmError(400, "InvalidParameter", f"The sku name '{sku}' is invalid: one of {sorted(_SKUS)}.", "sku.name")
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise ArmError(400, "InvalidRequestContent", "The registry properties must be a JSON object.")
    rid = _registry_id(call)
    existing = call.state.peek(rid)
    if existing is None:
        holder = _holder(call.state, name)
        if holder is not None:
            raise ArmError(409, "AlreadyInUse", f"The registry DNS name {name.lower()}.azurecr.io is already in use.")
        registry = {"id": rid, "name": name, "type": _TYPE, "location": location}
        created, status, state = now(), 201, "Creating"
    else:
        check_location_unchanged(existing, location)
        check_idle(call, rid)
        registry, created = existing, existing["properties"]["creationDate"]
        status, state = 200, "Updating"
    registry["sku"] = {"name": sku, "tier": sku}
    registry["properties"] = {
        "adminUserEnabled": False,
        "publicNetworkAccess": "Enabled",
        "zoneRedundancy": "Disabled",
        "anonymousPullEnabled": False,
        "dataEndpointEnabled": False,
        "networkRuleBypassOptions": "AzureServices",
        **properties,
        "loginServer": f"{name.lower()}.azurecr.io",
        "creationDate": created,
        "provisioningState": state,
    }
    registry.pop("tags", None)
    if tags:
        registry["tags"] = tags
    call.state.save(registry)
    operation = call.state.start(rid, lambda: registry["properties"].update(provisioningState="Succeeded"))
    status_url = f"{call.url.split('?')[0]}/operationStatuses/{operation.name}?api-version={call.api_version}"
    return Reply(status, registry, {"Azure-AsyncOperation": status_url, "Retry-After": str(call.state.retry_after)})


def get(call: Call) -> Reply:
    return Reply(200, existing(call, _registry_id(call), _TYPE))


def delete(call: Call) -> Reply:
    """202 with a Location to poll; 204 when there is nothing to delete."""
    rid = _registry_id(call)
    operation = begin_delete(call, rid)
    if operation is None:
        return Reply(204)
    return Reply(202, None, call.location_headers(operation, NAMESPACE, call.state.peek(rid)["location"]))


def check_name_availability(call: Call) -> Reply:
    body = call.body()
    name, kind = body.get("name"), body.get("type")
    if not isinstance(name, str) or not isinstance(kind, str) or kind.lower() != _TYPE.lower():
        raise ArmError(400, "InvalidParameter", f"checkNameAvailability needs a name and type '{_TYPE}'.")
    problem = _name_problem(name)
    if problem:
        return Reply(200, {"nameAvailable": False, "reason": "Invalid", "message": problem})
    if _holder(call.state, name) is not None:
        message = f"The registry {name} is already in use."
        return Reply(200, {"nameAvailable": False, "reason": "AlreadyExists", "message": message})
    return Reply(200, {"nameAvailable": True})


ROUTES = [
    route(_REGISTRY, API_VERSIONS, _VERSION_ERROR, PUT=create, GET=get, DELETE=delete),
    route(
        SUBSCRIPTION + r"/providers/Microsoft[.]ContainerRegistry/checkNameAvailability",
        API_VERSIONS,
        _VERSION_ERROR,
        POST=check_name_availability,
    ),
    resource_operation_route(_REGISTRY, API_VERSIONS),
    *provider_operation_routes(NAMESPACE, API_VERSIONS),
]
