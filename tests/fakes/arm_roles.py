"""Role assignments (Microsoft.Authorization) at subscription, resource group or resource scope.

ARM keys an assignment by its GUID name, but refuses a second name for the same
principal, role and scope (409 RoleAssignmentExists): exactly what idempotent grant code
must cope with. Assignments live beneath their scope's id, so deleting the scope drops them.
"""

import re
from typing import Any

from tests.fakes.arm_requests import Call, route
from tests.fakes.arm_state import ArmError, Reply, now

#: What azure-mgmt-authorization (as pinned) sends for role assignments.
API_VERSIONS = {"2022-04-01"}
_VERSION_ERROR = "NoRegisteredProviderFound"
_TYPE = "Microsoft.Authorization/roleAssignments"
_DEFINITIONS = "Microsoft.Authorization/roleDefinitions"
_ASSIGNMENTS = r"(?P<scope>.*)/providers/Microsoft[.]Authorization/roleAssignments"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_ROLE_DEFINITION = re.compile(
    r"(/subscriptions/(?P<sub>[^/]+))?/providers/Microsoft[.]Authorization/roleDefinitions/(?P<role>[^/]+)",
    re.IGNORECASE,
)
_PRINCIPAL_TYPES = {"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"}
_PRINCIPAL_FILTER = re.compile(r"principalId eq '(?P<principal>[^']*)'")

#: Built-in role definitions the fake knows; any other role id is refused as not existing.
BUILTIN_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Azure Kubernetes Service Cluster User Role": "4abbcc35-e782-43d8-92c5-2d3f1bd2253f",
    "Azure Kubernetes Service Cluster Admin Role": "0ab0b1a8-8aac-4efd-b8c2-3ee1fb270be8",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
}
_KNOWN_ROLES = set(BUILTIN_ROLES.values())


def role_definition_id(subscription_id: str, role: str) -> str:
    """The id ARM gives a built-in role within a subscription, e.g. for `roleDefinitionId`."""
    return f"/subscriptions/{subscription_id}/providers/{_DEFINITIONS}/{BUILTIN_ROLES[role]}"


def _scope(call: Call) -> str:
    """The scope must be this subscription, or a resource group or resource that exists."""
    scope = call.params["scope"]
    match = re.fullmatch(r"/subscriptions/(?P<sub>[^/]+)(?P<rest>/.*)?", scope, re.IGNORECASE)
    if match is None:
        raise ArmError(400, "InvalidScope", f"The fake ARM serves role assignments at subscription scope or below: '{scope}'.")
    if match["sub"].lower() != call.state.subscription_id.lower():
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{match['sub']}' could not be found.")
    if match["rest"] and call.state.peek(scope) is None:
        group = re.fullmatch(r"/resourceGroups/([^/]+)", match["rest"], re.IGNORECASE)
        if group:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{group[1]}' could not be found.")
        raise ArmError(404, "ResourceNotFound", f"The Resource '{scope}' was not found.")
    return scope


def _assignment_id(call: Call, scope: str) -> str:
    name = call.params["name"]
    if not _GUID.fullmatch(name):
        raise ArmError(
            400,
            "InvalidRoleAssignmentId",
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
        )
    return f"{scope}/providers/{_TYPE}/{name}"


def _role(call: Call, properties: dict[str, Any]) -> str:
    """The role's GUID, from a subscription-scoped or tenant-scoped role definition id."""
    given = properties.get("roleDefinitionId")
    match = _ROLE_DEFINITION.fullmatch(given) if isinstance(given, str) else None
    if match is None or not _GUID.fullmatch(match["role"]):
        raise ArmError(400, "InvalidRoleDefinitionId", f"The role definition ID '{given}' is not valid.")
    if match["sub"] and match["sub"].lower() != call.state.subscription_id.lower():
        raise ArmError(400, "InvalidRoleDefinitionId", f"The role definition ID '{given}' is from another subscription.")
    if match["role"].lower() not in _KNOWN_ROLES:
        raise ArmError(400, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{match['role']}' does not exist.")
    return match["role"].lower()


def _key(assignment: dict[str, Any]) -> tuple[str, str, str]:
    properties = assignment["properties"]
    return properties["scope"].lower(), properties["roleDefinitionId"].lower(), properties["principalId"].lower()


def _assignments(call: Call) -> list[dict[str, Any]]:
    return [r for r in call.state.resources.values() if r["type"] == _TYPE]


def create(call: Call) -> Reply:
    """201 for a new assignment and for an identical repeat; 409 for a changed or second one."""
    scope = _scope(call)
    rid = _assignment_id(call, scope)
    properties = call.body().get("properties")
    if not isinstance(properties, dict):
        raise ArmError(400, "InvalidRequestContent", "The role assignment needs a 'properties' object.")
    role = _role(call, properties)
    principal = properties.get("principalId")
    if not isinstance(principal, str) or not _GUID.fullmatch(principal):
        raise ArmError(400, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment.")
    principal_type = properties.get("principalType")
    if principal_type is not None and principal_type not in _PRINCIPAL_TYPES:
        raise ArmError(400, "InvalidRequestContent", f"principalType must be one of {sorted(_PRINCIPAL_TYPES)}.")
    assignment = {
        "id": rid,
        "name": call.params["name"],
        "type": _TYPE,
        "properties": {
            "roleDefinitionId": f"/subscriptions/{call.state.subscription_id}/providers/{_DEFINITIONS}/{role}",
            "principalId": principal,
            "principalType": principal_type,
            "scope": scope,
            "description": properties.get("description"),
            "createdOn": now(),
        },
    }
    existing = call.state.peek(rid)
    if existing is not None:
        if _key(existing) != _key(assignment):
            raise ArmError(
                409,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        return Reply(201, existing)
    if any(_key(other) == _key(assignment) for other in _assignments(call)):
        raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
    return Reply(201, call.state.save(assignment))


def get(call: Call) -> Reply:
    assignment = call.state.peek(_assignment_id(call, _scope(call)))
    if assignment is None:
        raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{call.params['name']}' is not found.")
    return Reply(200, assignment)


def delete(call: Call) -> Reply:
    """200 with the removed assignment, 204 when there was none."""
    rid = _assignment_id(call, _scope(call))
    assignment = call.state.peek(rid)
    if assignment is None:
        return Reply(204)
    call.state.remove(rid)
    return Reply(200, assignment)


def list_for_scope(call: Call) -> Reply:
    """Assignments at, above and below the scope; `atScope()` keeps at and above only."""
    scope = _scope(call).lower()
    query = call.query.get("$filter")
    principal = _PRINCIPAL_FILTER.fullmatch(query) if query else None
    if query and query != "atScope()" and principal is None:
        raise ArmError(400, "UnsupportedQuery", f"The filter '{query}' is not supported: use atScope() or principalId eq '<id>'.")

    def wanted(assignment: dict[str, Any]) -> bool:
        at = assignment["properties"]["scope"].lower()
        above = scope == at or scope.startswith(at + "/")
        below = at.startswith(scope + "/")
        if principal and assignment["properties"]["principalId"].lower() != principal["principal"].lower():
            return False
        return above or (below and query != "atScope()")

    return Reply(200, {"value": [a for a in _assignments(call) if wanted(a)]})


ROUTES = [
    route(_ASSIGNMENTS, API_VERSIONS, _VERSION_ERROR, GET=list_for_scope),
    route(_ASSIGNMENTS + r"/(?P<name>[^/]+)", API_VERSIONS, _VERSION_ERROR, PUT=create, GET=get, DELETE=delete),
]
