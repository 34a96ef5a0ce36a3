"""The app identity's rights, read from the Bicep itself, and ARM's authorization of each request.

`AppRights.from_bicep()` parses `bicep_bootstrap` with pycep: every role assignment made to
`appPrincipalId`, the actions of its role definition (the custom roles defined there), its
scope (the subscription, or a control plane resource a test names) and its ABAC condition
(the one role a role-assignment writer may hand out, to service principals only). Nothing
is copied: delete an action from the Bicep and the fake refuses the request that needed it.

`action_of` names the operation a request performs the way ARM's RBAC does
(`Microsoft.ContainerService/managedClusters/write`, `.../listClusterUserCredential/action`,
`.../registries/operationStatuses/read`). Refusals are ARM's `403 AuthorizationFailed`.
Built-in roles other than those defined here grant nothing the fake serves (data roles).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

from tests.fakes.arm_state import ArmError

BICEP_DIR = Path(__file__).resolve().parents[2] / "bicep_bootstrap"
APP_PRINCIPAL = "appPrincipalId"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


@dataclass(frozen=True)
class Grant:
    """One role assignment to the app: at `scope` (an ARM id, lower-cased), these actions; a
    role-assignment write or delete there only for `grantable` role GUIDs when it is conditioned."""

    name: str
    role: str  # the custom role's symbolic name in the Bicep
    scope: str
    actions: tuple[str, ...]
    grantable: frozenset[str] | None

    def allows(self, action: str, path: str) -> bool:
        lowered = path.lower()
        within = lowered == self.scope or lowered.startswith(self.scope + "/")
        return within and any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)


def action_of(method: str, path: str) -> str:
    """The RBAC operation of a request, e.g. PUT .../managedClusters/c -> Microsoft.ContainerService/managedClusters/write."""
    head, _, tail = path.rpartition("/providers/")
    if not head:  # Microsoft.Resources: /subscriptions/{s}[/resourceGroups/{g} | /operationresults/{id}]
        namespace, segments = "Microsoft.Resources", path.strip("/").split("/")
    else:
        namespace, *segments = tail.strip("/").split("/")
    types = segments[0::2]
    if method == "POST":
        return f"{namespace}/{'/'.join(types[:-1])}/{segments[-1]}/action" if len(segments) % 2 else \
            f"{namespace}/{'/'.join(types)}/action"
    return f"{namespace}/{'/'.join(types)}/{_VERBS[method]}"


@functools.cache
def _parse(name: str) -> dict[str, Any]:
    return BicepParser().parse(file_path=BICEP_DIR / name)


def _path(expr: Any) -> list[str]:
    """`a.b.c` as ["a", "b", "c"]; a plain name as [name]."""
    if isinstance(expr, str):
        return [expr]
    if isinstance(expr, dict) and expr.get("operator", {}).get("type") == "property_accessor":
        operands = expr["operator"]["operands"]
        return _path(operands["operand_1"]) + _path(operands["operand_2"])
    return []


def _role_definitions(parsed: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Custom roles defined in a file: symbolic name -> actions."""
    found = {}
    for name, resource in parsed["resources"].items():
        if resource["type"] == "Microsoft.Authorization/roleDefinitions":
            permissions = resource["config"]["properties"]["permissions"]
            found[name] = tuple(action for block in permissions for action in block.get("actions") or [])
    return found


def _variable(parsed: dict[str, Any], path: list[str]) -> Any:
    value = parsed["variables"][path[0]]["value"]
    for key in path[1:]:
        value = value[key]
    return value


def _granter_param(param: str) -> str:
    """The role a resource-group module's parameter names, following main.bicep to the output that sets it."""
    main = _parse("main.bicep")
    for module in main["modules"].values():
        if Path(module["detail"]["path"]).name == "resource-roles.bicep":
            module_name, outputs, output = _path(module["config"]["params"][param])
            assert outputs == "outputs", f"{param} is not a module output"
            source = main["modules"][module_name]["detail"]["path"]
            return _path(_parse(source)["outputs"][output]["value"])[0]
    raise AssertionError("main.bicep has no resource-roles module")


def _grants(file: str, scopes: dict[str, str], subscription: str) -> list[Grant]:
    parsed = _parse(file)
    custom = _role_definitions(_parse("modules/subscription-roles.bicep"))
    grants = []
    for name, resource in parsed["resources"].items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = resource["config"].get("config", resource["config"])
        properties = config["properties"]
        if properties.get("principalId") != APP_PRINCIPAL:
            continue
        definition = _path(properties["roleDefinitionId"])
        role = definition[0] if definition[-1:] == ["id"] else (_granter_param(definition[0]) if definition else None)
        if role not in custom:
            continue  # a built-in data role: nothing the fake ARM serves
        symbolic = config.get("scope")
        scope = subscription if symbolic is None else scopes.get(symbolic)
        if scope is None:
            continue  # a control plane resource the test did not name
        grantable = None
        if "condition" in properties:
            replaced = properties["condition"]["function"]["parameters"]["new_string"]
            grantable = frozenset({str(_variable(parsed, _path(replaced))).lower()})
        grants.append(Grant(name, role, scope.lower(), custom[role], grantable))
    return grants


@dataclass(frozen=True)
class AppRights:
    """Every grant to the app's identity; `authorize` refuses what none of them allows."""

    grants: tuple[Grant, ...]
    #: (role, action as the Bicep spells it) of every grant that allowed a request.
    used: set[tuple[str, str]] = field(default_factory=set, compare=False)

    @property
    def actions(self) -> set[tuple[str, str]]:
        """(role, action) of every action the roles assigned to the app hold."""
        return {(grant.role, action) for grant in self.grants for action in grant.actions}

    @classmethod
    def from_bicep(cls, subscription_id: str, scopes: dict[str, str] | None = None) -> AppRights:
        """`scopes`: the ids of control plane resources grants are scoped to, by their Bicep symbolic names
        (e.g. `results`, `topic`); grants on resources not named are left out."""
        subscription = f"/subscriptions/{subscription_id}"
        found = [*_grants("modules/subscription-roles.bicep", {}, subscription),
                 *_grants("modules/resource-roles.bicep", dict(scopes or {}), subscription)]
        return cls(tuple(found))

    def without(self, role: str, action: str) -> AppRights:
        """The same rights with one action deleted from one role definition, so from all its assignments."""
        return AppRights(tuple(Grant(g.name, g.role, g.scope, tuple(a for a in g.actions if a != action), g.grantable)
                               if g.role == role else g for g in self.grants))

    def authorize(self, method: str, path: str, body: Any, stored: dict[str, Any] | None) -> None:
        action = action_of(method, path)
        for grant in self.grants:
            if grant.allows(action, path) and _condition_holds(grant, action, body, stored):
                self.used.add((grant.role, next(a for a in grant.actions
                                                if fnmatch.fnmatchcase(action.lower(), a.lower()))))
                return
        scope = path.rsplit("/", 1)[0] if action.endswith("/action") else path
        raise ArmError(403, "AuthorizationFailed",
                       f"The client with object id 'app-identity' does not have authorization to perform action "
                       f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
                       "please refresh your credentials.")  # fmt: skip


def _condition_holds(grant: Grant, action: str, body: Any, stored: dict[str, Any] | None) -> bool:
    """The grant-only condition: role-assignment writes (the request) and deletes (the stored
    assignment) only of the grantable role, to service principals."""
    if grant.grantable is None or action.lower() not in ("microsoft.authorization/roleassignments/write",
                                                          "microsoft.authorization/roleassignments/delete"):
        return True
    source = body if action.lower().endswith("/write") else stored
    properties = (source or {}).get("properties") or {}
    role = _GUID.findall(str(properties.get("roleDefinitionId", "")))
    return bool(role) and role[-1].lower() in grant.grantable and \
        str(properties.get("principalType", "")).lower() == "serviceprincipal"
