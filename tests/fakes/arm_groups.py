"""Resource groups (Microsoft.Resources), answered as ARM itself answers them."""

import re

from tests.fakes.arm_operations import operation_result
from tests.fakes.arm_requests import (
    GROUP,
    SUBSCRIPTION,
    Call,
    group_id,
    require_group,
    require_location,
    require_tags,
    route,
)
from tests.fakes.arm_state import ArmError, Reply

#: What azure-mgmt-resource (as pinned) sends; another version is refused like ARM does.
API_VERSIONS = {"2025-04-01"}
_VERSION_ERROR = "InvalidApiVersionParameter"
_TYPE = "Microsoft.Resources/resourceGroups"
_NAME_CHAR = re.compile(r"[-\w.()]")


def _check_name(name: str) -> None:
    bad = "".join(sorted({c for c in name if not _NAME_CHAR.fullmatch(c)}))
    if bad:
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' has these invalid characters: '{bad}'. "
            "The name can only be a letter, digit, '-', '.', '(', ')' or '_'.",
        )
    if len(name) > 90 or name.endswith("."):
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' is invalid: at most 90 characters, not ending in '.'.",
        )


def _not_found(call: Call) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{call.params['group']}' could not be found.")


def create_or_update(call: Call) -> Reply:
    """201 for a new group, 200 for an existing one (tags replaced); the location is fixed."""
    _check_name(call.params["group"])
    body = call.body()
    location, tags = require_location(body), require_tags(body)
    existing = call.state.peek(group_id(call))
    if existing is None:
        group = {"id": group_id(call), "name": call.params["group"], "type": _TYPE, "location": location}
        status = 201
    else:
        group = require_group(call)
        if group["location"] != location:
            raise ArmError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{location}'. "
                f"The Resource group already exists in location '{group['location']}'.",
            )
        status = 200
    group.pop("tags", None)
    if tags:
        group["tags"] = tags
    if body.get("managedBy"):
        group["managedBy"] = body["managedBy"]
    group["properties"] = {"provisioningState": "Succeeded"}
    return Reply(status, call.state.save(group))


def get(call: Call) -> Reply:
    group = call.state.get(group_id(call))
    if group is None:
        raise _not_found(call)
    return Reply(200, group)


def check_existence(call: Call) -> Reply:
    return Reply(204 if call.state.get(group_id(call)) else 404)


def delete(call: Call) -> Reply:
    """202 with a Location to poll; the group and all it holds go when the operation ends."""
    gid = group_id(call)
    group = call.state.peek(gid)
    if group is None:
        raise _not_found(call)
    operation = call.state.running(gid)
    if operation is None:
        group["properties"]["provisioningState"] = "Deleting"
        operation = call.state.start(gid, lambda: call.state.remove(gid))
    location = call.operation_url("operationresults", operation)
    return Reply(202, None, {"Location": location, "Retry-After": str(call.state.retry_after)})


def list_groups(call: Call) -> Reply:
    groups = [r for r in call.state.resources.values() if r["type"] == _TYPE]
    return Reply(200, {"value": groups})


ROUTES = [
    route(SUBSCRIPTION + "/resourcegroups", API_VERSIONS, _VERSION_ERROR, GET=list_groups),
    route(
        GROUP,
        API_VERSIONS,
        _VERSION_ERROR,
        PUT=create_or_update,
        GET=get,
        HEAD=check_existence,
        DELETE=delete,
    ),
    route(
        SUBSCRIPTION + r"/operationresults/(?P<operation>[^/]+)",
        API_VERSIONS,
        _VERSION_ERROR,
        GET=lambda call: operation_result(call, done_status=200),
    ),
]
