"""How the Kubernetes activities reach a cluster: an existing kubeconfig app setting, or AKS with Entra ID.

Through the real Azure SDK clients on the fake ARM and the real Kubernetes client on the fake API server.
"""

from __future__ import annotations

import pytest
import yaml
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.resource.resources import ResourceManagementClient
from kubernetes.client import CoreV1Api

from control_plane.k8s.client import AKS_SERVER_APP_ID, api_client_for
from tests.fakes.arm import SUBSCRIPTION_ID, FakeArm, FakeCredential, token_for
from tests.fakes.arm_credentials import KubeAccess
from tests.fakes.kube_api import FakeKubeApi

CLUSTER = {"target": "existing", "kubeconfig_setting": "MODELOPS_EXISTING_KUBECONFIG"}


def test_the_existing_kubeconfig_must_be_an_app_setting_holding_a_kubeconfig(monkeypatch) -> None:
    def refused(cluster: dict, env: dict) -> str:
        with pytest.raises(ValueError) as caught:
            api_client_for(cluster, env)
        return str(caught.value)

    assert "not an app setting" in refused({"target": "existing", "kubeconfig_setting": "PATH"}, {"PATH": "/bin"})
    assert "is empty" in refused(CLUSTER, {})
    leaky = "users: [{name: u, user: {token: fake-token-abc}]\n  : : ["
    message = refused(CLUSTER, {"MODELOPS_EXISTING_KUBECONFIG": leaky})
    assert "not YAML" in message and "fake-token-abc" not in message
    assert "not a usable kubeconfig" in refused(CLUSTER, {"MODELOPS_EXISTING_KUBECONFIG": "apiVersion: v1\n"})
    assert "not a Kubernetes target" in refused({"target": "local"}, {})


def entra_cluster(arm: FakeArm, **properties) -> dict:
    cluster = {"target": "azure", "subscription_id": SUBSCRIPTION_ID, "resource_group": "modelops-dev-rg-ada",
               "cluster_name": "modelops-dev-aks"}
    options = {"credential": FakeCredential(), "subscription_id": SUBSCRIPTION_ID, "transport": arm}
    ResourceManagementClient(**options).resource_groups.create_or_update(cluster["resource_group"],
                                                                         {"location": "eastus"})
    pool = {"name": "system", "count": 1, "vmSize": "Standard_D2s_v3", "mode": "System"}
    body = {"location": "eastus", "identity": {"type": "SystemAssigned"},
            "properties": {"dnsPrefix": "dev", "kubernetesVersion": "1.34", "agentPoolProfiles": [pool], **properties}}
    aks = ContainerServiceClient(**options).managed_clusters
    aks.begin_create_or_update(cluster["resource_group"], cluster["cluster_name"], body).result()
    return cluster


ENTRA = {"aadProfile": {"managed": True, "enableAzureRBAC": True}, "disableLocalAccounts": True}


def test_the_azure_target_reaches_the_api_server_with_an_entra_token_for_the_aks_audience() -> None:
    with FakeKubeApi(token=token_for(f"{AKS_SERVER_APP_ID}/.default")) as kube:
        arm = FakeArm(lro_polls=0, kube=KubeAccess(server=kube.url, token="never-handed-out"))
        cluster = entra_cluster(arm, **ENTRA)
        with api_client_for(cluster, {}, credential=FakeCredential(), transport=arm) as api:
            CoreV1Api(api).create_namespace({"metadata": {"name": "reached"}})
        assert kube.get("Namespace", None, "reached") is not None
    assert [r.path.rsplit("/", 1)[-1] for r in arm.requests if r.method == "POST"] == ["listClusterUserCredential"]


def test_the_azure_target_refuses_a_cluster_with_local_accounts() -> None:
    with FakeKubeApi() as kube:
        arm = FakeArm(lro_polls=0, kube=KubeAccess(server=kube.url, token=kube.token))
        cluster = entra_cluster(arm)  # no Entra ID: AKS hands out a static token
        with pytest.raises(ValueError) as refused:
            api_client_for(cluster, {}, credential=FakeCredential(), transport=arm)
    assert "not for Entra ID" in str(refused.value) and kube.token not in str(refused.value)


def test_an_existing_kubeconfig_for_kubelogin_gets_an_entra_token_for_its_server_id() -> None:
    with FakeKubeApi(token=token_for("5e2c0b7e-0000-4000-8000-00000000c0de/.default")) as kube:
        config = kube.kubeconfig()
        config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                               "command": "kubelogin", "args": [
                                                   "get-token", "--server-id", "5e2c0b7e-0000-4000-8000-00000000c0de",
                                                   "--login", "devicecode"]}}  # fmt: skip
        env = {"MODELOPS_EXISTING_KUBECONFIG": yaml.safe_dump(config)}
        with api_client_for(CLUSTER, env, credential=FakeCredential()) as api:
            CoreV1Api(api).create_namespace({"metadata": {"name": "reached"}})
        assert kube.get("Namespace", None, "reached") is not None
