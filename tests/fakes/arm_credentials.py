"""The kubeconfigs AKS hands out, pointed wherever a test's fake Kubernetes API listens.

AKS's own kubeconfigs name `https://<fqdn>:443`, which no test can reach; `KubeAccess`
lets a test aim them at a loopback fake API server with its token and CA. A cluster with
Entra ID integration (`aadProfile.managed`) hands out a user kubeconfig that holds no
credential, only kubelogin's exec plugin for the AKS server audience; with local accounts
disabled, the admin credential (a static cluster-admin one) is refused, as AKS refuses it.
"""

import base64
from dataclasses import dataclass
from typing import Any

import yaml

from tests.fakes.arm_requests import Call
from tests.fakes.arm_state import ArmError, Reply


@dataclass
class KubeAccess:
    """Where returned kubeconfigs point. `server=None` means AKS's own `https://<fqdn>:443`."""

    server: str | None = None
    token: str = "fake-kube-token"
    ca_data: bytes | None = None


#: The Entra application id of the AKS API server: the audience of tokens for Entra clusters.
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"


def _kubelogin(tenant_id: str) -> dict[str, Any]:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
                     "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id", AKS_SERVER_APP_ID,
                              "--client-id", "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id", tenant_id,
                              "--login", "devicecode"],
                     "interactiveMode": "IfAvailable", "provideClusterInfo": False}}


def _kubeconfig(call: Call, cluster: dict[str, Any], kube: KubeAccess, role: str) -> str:
    name = cluster["name"]
    user = f"cluster{role}_{call.params['group']}_{name}"
    context = f"{name}-admin" if role == "Admin" else name
    server = {"server": kube.server or f"https://{cluster['properties']['fqdn']}:443"}
    if kube.ca_data:
        server["certificate-authority-data"] = base64.b64encode(kube.ca_data).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": server}],
        "contexts": [{"name": context, "context": {"cluster": name, "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": _user(call, cluster, kube, role)}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _user(call: Call, cluster: dict[str, Any], kube: KubeAccess, role: str) -> dict[str, Any]:
    if role == "User" and (cluster["properties"].get("aadProfile") or {}).get("managed"):
        return _kubelogin(call.state.tenant_id)
    return {"token": kube.token}


def credentials(call: Call, cluster: dict[str, Any], kube: KubeAccess, role: str) -> Reply:
    """listCluster{User,Admin}Credential: one base64 kubeconfig named clusterUser/clusterAdmin."""
    if role == "Admin" and cluster["properties"].get("disableLocalAccounts"):
        raise ArmError(400, "BadRequest", "Getting static credential is not allowed because this cluster is set "
                                          "to disable local accounts.")
    value = base64.b64encode(_kubeconfig(call, cluster, kube, role).encode()).decode()
    return Reply(200, {"kubeconfigs": [{"name": f"cluster{role}", "value": value}]})
