"""The fake ARM's AKS answers the real ContainerServiceClient as ARM would, strictly: clusters,
their long-running operations, credentials, versions and agent pools."""

import base64

import pytest
import yaml
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fake_arm_clients import SUB, client, cluster_spec, create_cluster, paths, status_and_body
from tests.fakes.arm import FakeArm
from tests.fakes.arm_credentials import KubeAccess


@pytest.fixture
def arm() -> FakeArm:
    return FakeArm(lro_polls=2)


@pytest.fixture
def aks(arm) -> ContainerServiceClient:
    return client(ContainerServiceClient, arm)


@pytest.fixture
def group(arm) -> str:
    client(ResourceManagementClient, arm).resource_groups.create_or_update("rg", {"location": "eastus"})
    return "rg"


def test_aks_create_goes_creating_to_succeeded_through_the_async_operation_poller(arm, aks, group):
    arm.requests.clear()
    cluster = aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec()).result()

    assert paths(arm, "PUT") == [f"{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"]
    polls = [path for path in paths(arm, "GET") if "/locations/eastus/operations/" in path]
    assert len(polls) == 3  # InProgress, InProgress, Succeeded; then ARMPolling GETs the cluster
    assert paths(arm, "GET")[-1].endswith("/managedClusters/c1")
    properties = cluster.properties
    assert properties.provisioning_state == "Succeeded"
    assert properties.fqdn.startswith("calib-") and properties.fqdn.endswith(".hcp.eastus.azmk8s.io")
    assert properties.node_resource_group == "MC_rg_c1_eastus"
    assert properties.power_state.code == "Running"
    kubelet = properties.identity_profile["kubeletidentity"]
    assert kubelet.object_id and kubelet.client_id and kubelet.resource_id.endswith("/c1-agentpool")
    assert cluster.identity.principal_id
    assert [(p.name, p.count, p.mode, p.provisioning_state) for p in properties.agent_pool_profiles] == [
        ("system", 1, "System", "Succeeded"),
        ("work", 3, "User", "Succeeded"),
    ]


def test_aks_gets_show_the_provisioning_state_move_without_a_poller(aks, group):
    initial = aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec(), polling=False).result()
    assert initial.properties.provisioning_state == "Creating"
    states = [aks.managed_clusters.get(group, "c1").properties.provisioning_state for _ in range(3)]
    assert states == ["Creating", "Creating", "Succeeded"]


def test_aks_update_keeps_generated_fields_and_refuses_concurrent_or_immutable_changes(aks, group):
    created = create_cluster(aks, group)
    status, updating = aks.managed_clusters.begin_create_or_update(
        group, "c1", cluster_spec(kubernetesVersion="1.35.0"), polling=False, cls=status_and_body
    ).result()
    assert status == 200 and updating.properties.provisioning_state == "Updating"
    with pytest.raises(ResourceExistsError) as busy:
        aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec())
    assert busy.value.error.code == "OperationNotAllowed"
    states = [aks.managed_clusters.get(group, "c1").properties.provisioning_state for _ in range(3)]
    assert states == ["Updating", "Updating", "Succeeded"]
    updated = aks.managed_clusters.get(group, "c1")
    assert updated.properties.kubernetes_version == "1.35.0"
    assert updated.properties.fqdn == created.properties.fqdn
    with pytest.raises(HttpResponseError) as immutable:
        aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec(dnsPrefix="other"))
    assert immutable.value.status_code == 400 and immutable.value.error.code == "PropertyChangeNotAllowed"


def test_aks_credentials_are_a_kubeconfig_for_the_configured_server(aks, arm, group):
    create_cluster(aks, group)
    arm.kube.server, arm.kube.token, arm.kube.ca_data = "https://127.0.0.1:6443", "kube-token", b"CA PEM"

    user = aks.managed_clusters.list_cluster_user_credentials(group, "c1").kubeconfigs[0]
    admin = aks.managed_clusters.list_cluster_admin_credentials(group, "c1").kubeconfigs[0]

    assert (user.name, admin.name) == ("clusterUser", "clusterAdmin")
    config = yaml.safe_load(user.value)
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(b"CA PEM").decode(),
    }
    assert config["users"] == [{"name": "clusterUser_rg_c1", "user": {"token": "kube-token"}}]
    assert yaml.safe_load(admin.value)["current-context"] == "c1-admin"


def test_an_entra_cluster_hands_out_no_credential_and_refuses_the_admin_one(aks, arm, group):
    entra = {"aadProfile": {"managed": True, "enableAzureRBAC": True}, "disableLocalAccounts": True,
             "oidcIssuerProfile": {"enabled": True}, "securityProfile": {"workloadIdentity": {"enabled": True}}}
    cluster = aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec(**entra)).result()
    assert cluster.properties.oidc_issuer_profile.issuer_url.startswith("https://eastus.oic.prod-aks.azure.com/")
    config = yaml.safe_load(aks.managed_clusters.list_cluster_user_credentials(group, "c1").kubeconfigs[0].value)
    [user] = config["users"]
    assert set(user["user"]) == {"exec"} and user["user"]["exec"]["command"] == "kubelogin"
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.list_cluster_admin_credentials(group, "c1")
    assert refused.value.status_code == 400 and "disable local accounts" in refused.value.error.message


@pytest.mark.parametrize("change", [
    {"disableLocalAccounts": True},  # without Entra ID
    {"aadProfile": {"managed": False, "enableAzureRBAC": True}},
    {"securityProfile": {"workloadIdentity": {"enabled": True}}},  # without the OIDC issuer
])
def test_aks_refuses_access_settings_that_need_another(aks, group, change):
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec(**change))
    assert refused.value.status_code == 400


def test_aks_kubeconfig_defaults_to_the_cluster_fqdn():
    arm = FakeArm(lro_polls=0, kube=KubeAccess())
    client(ResourceManagementClient, arm).resource_groups.create_or_update("rg", {"location": "eastus"})
    aks = client(ContainerServiceClient, arm)
    cluster = create_cluster(aks, "rg")
    config = yaml.safe_load(aks.managed_clusters.list_cluster_user_credentials("rg", "c1").kubeconfigs[0].value)
    assert config["clusters"][0]["cluster"] == {"server": f"https://{cluster.properties.fqdn}:443"}


def test_aks_agent_pools_and_delete(arm, aks, group):
    create_cluster(aks, group)
    assert [pool.name for pool in aks.agent_pools.list(group, "c1")] == ["system", "work"]
    assert aks.agent_pools.get(group, "c1", "work").count == 3
    with pytest.raises(ResourceNotFoundError):
        aks.agent_pools.get(group, "c1", "gpu")

    aks.managed_clusters.begin_delete(group, "c1").result()

    with pytest.raises(ResourceNotFoundError) as missing:
        aks.managed_clusters.get(group, "c1")
    assert missing.value.error.code == "ResourceNotFound"
    assert arm.resource(f"{SUB}/resourceGroups/MC_rg_c1_eastus") is None
    aks.managed_clusters.begin_delete(group, "c1").result()  # 204: nothing left to delete


def test_aks_planned_failure_ends_the_operation_failed(arm, aks, group):
    arm.fail_operation("managedClusters/c1$", "QuotaExceeded", "Not enough cores.")
    with pytest.raises(HttpResponseError) as failed:
        create_cluster(aks, group)
    assert failed.value.error.code == "QuotaExceeded"  # from the operation body; status_code is the poll's 200
    assert aks.managed_clusters.get(group, "c1").properties.provisioning_state == "Failed"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"dnsPrefix": "-bad"}, "InvalidParameter"),
        ({"agentPoolProfiles": []}, "InvalidParameter"),
        ({"agentPoolProfiles": [{"name": "Pool_1", "count": 1, "vmSize": "x"}]}, "InvalidParameter"),
        ({"agentPoolProfiles": [{"name": "user", "count": 1, "vmSize": "x", "mode": "User"}]}, "MustDefineAtLeastOneSystemPool"),
    ],
)
def test_aks_refuses_invalid_clusters(aks, group, change, code):
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec(**change))
    assert refused.value.status_code == 400 and refused.value.error.code == code


def test_aks_lists_the_regions_versions_and_creates_only_on_accepted_ones(aks, group):
    offered = {v.version: v for v in aks.managed_clusters.list_kubernetes_versions("eastus").values_property}
    assert offered["1.35"].is_default and offered["1.36"].is_preview
    assert offered["1.33"].capabilities.support_plan == ["AKSLongTermSupport"]
    assert offered["1.34"].patch_versions["1.34.2"].upgrades == ["1.34.3", "1.35.1"]
    for version in ("1.33", "1.33.5", "9.99", "1.34.9"):  # past community support, unknown, unknown patch
        with pytest.raises(HttpResponseError) as refused:
            aks.managed_clusters.begin_create_or_update(group, "c1", cluster_spec(kubernetesVersion=version))
        assert refused.value.status_code == 400 and refused.value.error.code == "K8sVersionNotSupported"
    lts = cluster_spec(kubernetesVersion="1.33") | {"sku": {"name": "Base", "tier": "Premium"}}
    assert aks.managed_clusters.begin_create_or_update(group, "c1", lts, polling=False).result()
    no_version = cluster_spec()
    del no_version["properties"]["kubernetesVersion"]
    made = aks.managed_clusters.begin_create_or_update(group, "c2", no_version).result()
    assert made.properties.kubernetes_version == "1.35.1"


@pytest.mark.parametrize(
    "pool",
    [
        {"count": 3, "minCount": 1},  # counts without autoscaling
        {"count": 3, "enableAutoScaling": True, "minCount": 1},  # no maxCount
        {"count": 9, "enableAutoScaling": True, "minCount": 1, "maxCount": 5},  # count above max
        {"count": 1, "enableAutoScaling": True, "minCount": 4, "maxCount": 2},  # min above max
        {"count": 3, "orchestratorVersion": "1.35.1"},  # newer than the control plane
    ],
)
def test_aks_refuses_pools_the_autoscaler_or_the_version_skew_rules_refuse(aks, group, pool):
    spec = cluster_spec()
    spec["properties"]["agentPoolProfiles"][1] |= pool
    with pytest.raises(HttpResponseError) as refused:
        aks.managed_clusters.begin_create_or_update(group, "c1", spec)
    assert refused.value.status_code == 400 and refused.value.error.code == "InvalidParameter"


def test_aks_planned_cancel_ends_the_operation_canceled(arm, aks, group):
    arm.fail_operation("managedClusters/c1$", "OperationCanceled", "Canceled by a newer request.", state="Canceled")
    with pytest.raises(HttpResponseError):
        create_cluster(aks, group)
    assert aks.managed_clusters.get(group, "c1").properties.provisioning_state == "Canceled"


def test_aks_needs_an_identity_and_a_valid_name_in_an_existing_group(aks, group):
    spec = cluster_spec()
    del spec["identity"]
    with pytest.raises(HttpResponseError) as no_identity:
        aks.managed_clusters.begin_create_or_update(group, "c1", spec)
    assert no_identity.value.error.code == "InvalidParameter"
    with pytest.raises(HttpResponseError) as bad_name:
        aks.managed_clusters.begin_create_or_update(group, "-c1", cluster_spec())
    assert bad_name.value.error.code == "InvalidResourceName"
    with pytest.raises(ResourceNotFoundError) as no_group:
        aks.managed_clusters.begin_create_or_update("nogroup", "c1", cluster_spec())
    assert no_group.value.error.code == "ResourceGroupNotFound"
