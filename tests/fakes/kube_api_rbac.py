"""Azure RBAC for Kubernetes, as an AKS cluster with Entra ID integration applies it to the app.

Each request is the data action Azure names it by (`Microsoft.ContainerService/managedClusters/
apps/deployments/write` for a server-side apply of a Deployment), allowed only when the app's
custom role in the Bicep (`workspaceOperator`, read with pycep) holds it; anything else is the
403 the AKS authorization webhook answers.
"""

from .kube_api_errors import KubeError
from .kube_api_resources import Route

PREFIX = "Microsoft.ContainerService/managedClusters"
VERBS = {"GET": "read", "POST": "write", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
ROLE = "workspaceOperator"


def data_action(method: str, target: Route) -> str:
    resource = target.resource
    group = f"{resource.group}/" if resource.group else ""
    return f"{PREFIX}/{group}{resource.plural}/{VERBS[method]}"


def operator_data_actions() -> frozenset[str]:
    """The data actions of the app's AKS role, as the Bicep defines it."""
    from tests.fakes.arm_authz import _parse

    role = _parse("modules/subscription-roles.bicep")["resources"][ROLE]["config"]["properties"]
    return frozenset(action for block in role["permissions"] for action in block.get("dataActions") or [])


def authorize(allowed: frozenset[str], method: str, target: Route) -> str:
    action = data_action(method, target)
    if action not in allowed:
        where = f' in the namespace "{target.namespace}"' if target.namespace else ""
        raise KubeError(403, f'User "app-identity" cannot {VERBS[method]} resource "{target.resource.plural}" in API '
                             f'group "{target.resource.group}"{where}: User does not have access to the resource in '
                             f"Azure ({action}). Update role assignment to allow access.", "Forbidden")
    return action
