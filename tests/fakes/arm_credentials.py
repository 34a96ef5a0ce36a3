"""The kubeconfigs AKS hands out, pointed wherever a test's fake Kubernetes API listens.

AKS's own kubeconfigs name `https://<fqdn>:443`, which no test can reach; `KubeAccess`
lets a test aim them at a loopback fake API server with its token and CA.
"""

import base64
from dataclasses import dataclass
from typing import Any

import yaml

from tests.fakes.arm_requests import Call
from tests.fakes.arm_state import Reply


@dataclass
class KubeAccess:
    """Where returned kubeconfigs point. `server=None` means AKS's own `https://<fqdn>:443`."""

    server: str | None = None
    token: str = "fake-kube-token"
    ca_data: bytes | None = None


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
        "users": [{"name": user, "user": {"token": kube.token}}],
    }
    return yaml.safe_dump(config, sort_keys=False)


def credentials(call: Call, cluster: dict[str, Any], kube: KubeAccess, role: str) -> Reply:
    """listCluster{User,Admin}Credential: one base64 kubeconfig named clusterUser/clusterAdmin."""
    value = base64.b64encode(_kubeconfig(call, cluster, kube, role).encode()).decode()
    return Reply(200, {"kubeconfigs": [{"name": f"cluster{role}", "value": value}]})
