"""The `azure` activities, through the worker's own encoding, with the real SDK clients against a fake ARM."""

import json

import pytest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from control_plane.activities import azure as azure_activities
from control_plane.azure.clients import azure_clients
from modelops.naming import registry_id, role_assignment_name
from tests.durable.functions import FunctionIndex, run_activity
from tests.fakes.arm import SUBSCRIPTION_ID, FakeArm, FakeCredential
from tests.fakes.arm_roles import role_definition_id

FAST = {"polling_interval": 0, "retry_backoff_factor": 0}
SUB = f"/subscriptions/{SUBSCRIPTION_ID}"
RG, ACR, AKS = "modelops-dev-rg-alice", "modelopsdevalice", "modelops-dev-aks"
GROUP = {"subscription_id": SUBSCRIPTION_ID, "resource_group": RG}
REGISTRY = {**GROUP, "registry_name": ACR}
CLUSTER = {**GROUP, "cluster_name": AKS}
NEW_CLUSTER = {**CLUSTER, "location": "westeurope", "kubernetes_version": ""}  # the newest the region takes
NEW_GROUP = {**GROUP, "location": "westeurope", "tags": {"environment": "dev"}}
CLUSTER_ID = f"{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters/{AKS}"
PRINCIPAL = "0f9e8d7c-6b5a-4321-8fed-cba987654321"
ABSENT = {"provisioning_state": "Absent", "kubernetes_version": None, "pools": [], "kubelet_object_id": None}
ACTIVITIES = FunctionIndex.of(azure_activities.bp).activities


@pytest.fixture
def arm(monkeypatch) -> FakeArm:
    """A fake ARM the activities' clients talk to (the SDK sleeps nothing: the fake records sleeps)."""
    fake = FakeArm(lro_polls=2)
    monkeypatch.setattr(
        azure_activities, "clients_factory", lambda sub: azure_clients(sub, FakeCredential(), transport=fake, **FAST)
    )
    return fake


def outcome(name: str, payload: dict):
    result = run_activity(ACTIVITIES[name], json.dumps(payload))
    text = result.reason if result.failed else result.result_text
    assert "fake-token" not in text and "kubeconfig" not in text.lower()
    return result


def call(name: str, payload: dict) -> dict:
    result = outcome(name, payload)
    assert not result.failed, result.details
    return json.loads(result.result_text)


def failure(name: str, payload: dict) -> str:
    result = outcome(name, payload)
    assert result.failed, result.result_text
    return result.reason


def writes(arm: FakeArm, method: str = "PUT") -> list[str]:
    return [request.path for request in arm.requests if request.method == method]


def client(kind, arm: FakeArm):
    return kind(credential=FakeCredential(), subscription_id=SUBSCRIPTION_ID, transport=arm, **FAST)


def ensure_group(location: str = "westeurope") -> dict:
    return call("azure_ensure_resource_group", {**NEW_GROUP, "location": location})


def states_until_settled(limit: int = 10) -> list[str]:
    states = []
    while not states or states[-1] in ("Creating", "Updating", "Deleting"):
        assert len(states) < limit, states
        states.append(call("azure_cluster_state", CLUSTER)["provisioning_state"])
    return states


def test_the_blueprint_has_the_activities_of_the_contract():
    assert set(ACTIVITIES) == {
        "azure_ensure_resource_group",
        "azure_ensure_registry",
        "azure_begin_cluster",
        "azure_cluster_state",
        "azure_grant_roles",
        "azure_begin_delete_cluster",
        "azure_revoke_roles",
        "azure_delete_registry",
        "azure_begin_delete_resource_group",
        "azure_ensure_identity",
        "azure_identity_state",
        "azure_delete_identity",
        "azure_federate",
        "azure_unfederate",
    }


def test_resource_group_is_created_once_and_tagged(arm):
    payload = {**GROUP, "location": "West Europe", "tags": {"environment": "dev", "owner": "alice"}}
    first = call("azure_ensure_resource_group", payload)
    again = call("azure_ensure_resource_group", payload)
    assert first == again == {"resource_group": RG, "location": "westeurope"}
    assert writes(arm) == [f"{SUB}/resourcegroups/{RG}"]
    tags = arm.resource(f"{SUB}/resourceGroups/{RG}")["tags"]
    assert tags == {"environment": "dev", "owner": "alice", "managed-by": "modelops"}


def test_an_existing_group_is_used_as_it_is_and_never_deleted(arm):
    groups = client(ResourceManagementClient, arm).resource_groups
    groups.create_or_update(RG, {"location": "northeurope", "tags": {"team": "x"}})
    arm.requests.clear()
    assert ensure_group("westeurope") == {"resource_group": RG, "location": "northeurope"}
    assert writes(arm) == []
    reason = failure("azure_begin_delete_resource_group", GROUP)
    assert f"refusing to delete resource group '{RG}': it is not tagged managed-by=modelops" in reason
    assert writes(arm, "DELETE") == [] and arm.resource(f"{SUB}/resourceGroups/{RG}")["tags"] == {"team": "x"}


def test_registry_is_created_once(arm):
    ensure_group()
    payload = {**REGISTRY, "location": "westeurope"}
    first = call("azure_ensure_registry", payload)
    again = call("azure_ensure_registry", payload)
    assert first == again == {"login_server": "modelopsdevalice.azurecr.io", "sku": "Basic"}
    assert [path for path in writes(arm) if "registries" in path] == [registry_id(SUBSCRIPTION_ID, RG, ACR)]
    stored = arm.resource(registry_id(SUBSCRIPTION_ID, RG, ACR))
    assert stored["sku"]["name"] == "Basic" and stored["properties"]["adminUserEnabled"] is False


def test_a_registry_raised_to_a_higher_sku_is_never_downgraded(arm):
    ensure_group()
    acr = client(ContainerRegistryManagementClient, arm)
    acr.registries.begin_create(RG, ACR, {"location": "westeurope", "sku": {"name": "Premium"}}).result()
    arm.requests.clear()
    assert call("azure_ensure_registry", {**REGISTRY, "location": "westeurope"})["sku"] == "Premium"
    assert writes(arm) == [] and arm.resource(registry_id(SUBSCRIPTION_ID, RG, ACR))["sku"]["name"] == "Premium"


def test_a_failed_registry_is_put_again_with_its_own_sku(arm):
    ensure_group()
    arm.fail_operation(f"registries/{ACR}$", "InternalServerError", "Try again.")
    acr = client(ContainerRegistryManagementClient, arm)
    with pytest.raises(Exception):
        acr.registries.begin_create(RG, ACR, {"location": "westeurope", "sku": {"name": "Standard"}}).result()
    assert call("azure_ensure_registry", {**REGISTRY, "location": "westeurope"})["sku"] == "Standard"
    assert arm.resource(registry_id(SUBSCRIPTION_ID, RG, ACR))["properties"]["provisioningState"] == "Succeeded"


def test_cluster_creation_is_started_once_and_polled_to_succeeded(arm):
    ensure_group()
    payload = {**CLUSTER, "location": "westeurope", "kubernetes_version": "1.34", "workload_pool": {"max_count": 9}}
    assert call("azure_cluster_state", CLUSTER) == ABSENT

    first = call("azure_begin_cluster", payload)
    again = call("azure_begin_cluster", payload)

    assert first == again == {"provisioning_state": "Creating", "kubernetes_version": "1.34.3"}  # the pin's newest patch
    assert [path for path in writes(arm) if "managedClusters" in path] == [CLUSTER_ID]
    assert not [r for r in arm.requests if "/operations/" in r.path], "begin_cluster must not poll the operation"
    [put] = [r for r in arm.requests if r.method == "PUT" and "managedClusters" in r.path]
    cpu = put.body["properties"]["agentPoolProfiles"][1]
    assert (cpu["enableAutoScaling"], cpu["minCount"], cpu["maxCount"], cpu["nodeLabels"]) == (
        True,
        1,
        9,
        {"modelops.io/role": "cpu"},
    )
    assert states_until_settled() == ["Creating", "Succeeded"]
    assert call("azure_cluster_state", CLUSTER) == {
        "provisioning_state": "Succeeded",
        "kubernetes_version": "1.34.3",
        "pools": [
            {"name": "system", "mode": "System", "labels": {}, "count": 1},
            {"name": "cpu", "mode": "User", "labels": {"modelops.io/role": "cpu"}, "count": 1},
        ],
        "kubelet_object_id": arm.resource(CLUSTER_ID)["properties"]["identityProfile"]["kubeletidentity"]["objectId"],
    }
    assert call("azure_begin_cluster", payload) == {"provisioning_state": "Succeeded", "kubernetes_version": "1.34.3"}
    assert len([path for path in writes(arm) if "managedClusters" in path]) == 1


def test_without_a_pin_a_new_cluster_gets_the_newest_ga_version_the_region_offers_today(arm):
    ensure_group()
    assert call("azure_begin_cluster", NEW_CLUSTER)["kubernetes_version"] == "1.35.1"  # not 1.36, a preview
    [listing] = [r.path for r in arm.requests if r.path.endswith("/kubernetesVersions")]
    assert listing == f"{SUB}/providers/Microsoft.ContainerService/locations/westeurope/kubernetesVersions"
    arm.state.kubernetes_versions[-1].pop("isPreview")  # months later: 1.36 is generally available
    other = {**NEW_CLUSTER, "cluster_name": "modelops-prod-aks"}
    assert call("azure_begin_cluster", other)["kubernetes_version"] == "1.36.0"


@pytest.mark.parametrize("pin", ["1.33", "1.30.7", "1.34.9", "1.36"])
def test_a_pin_aks_no_longer_accepts_fails_listing_the_accepted_versions(arm, pin):
    ensure_group()
    reason = failure("azure_begin_cluster", {**NEW_CLUSTER, "kubernetes_version": pin})
    assert f"Kubernetes {pin} is not accepted by AKS for new clusters in westeurope" in reason
    assert "accepted now: 1.34 (1.34.2, 1.34.3), 1.35 (1.35.0, 1.35.1)" in reason
    assert not [r for r in arm.requests if r.method == "PUT" and "managedClusters" in r.path]


@pytest.mark.parametrize("ending", ["Failed", "Canceled"])
def test_a_failed_or_canceled_cluster_is_put_again_on_its_own_version(arm, ending):
    ensure_group()
    arm.fail_operation(f"managedClusters/{AKS}$", "OperationCanceled", "Stopped.", state=ending)
    call("azure_begin_cluster", {**NEW_CLUSTER, "kubernetes_version": "1.34.2"})
    assert states_until_settled()[-1] == ending
    again = call("azure_begin_cluster", NEW_CLUSTER)
    assert again == {"provisioning_state": "Updating", "kubernetes_version": "1.34.2"}
    assert len([r for r in arm.requests if r.method == "PUT" and "managedClusters" in r.path]) == 2
    assert states_until_settled()[-1] == "Succeeded"


def test_a_cluster_whose_creation_fails_reports_failed(arm):
    ensure_group()
    arm.fail_operation(f"managedClusters/{AKS}$", "QuotaExceeded", "Not enough cores.")
    begun = call("azure_begin_cluster", NEW_CLUSTER)
    assert begun["provisioning_state"] == "Creating"
    assert states_until_settled()[-1] == "Failed"


def begin_succeeded_cluster() -> None:
    ensure_group()
    call("azure_ensure_registry", {**REGISTRY, "location": "westeurope"})
    call("azure_begin_cluster", NEW_CLUSTER)
    states_until_settled()


def test_roles_are_granted_to_the_principals_named_under_fixed_names(arm):
    begin_succeeded_cluster()
    registry = registry_id(SUBSCRIPTION_ID, RG, ACR)
    group = f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/res/blobServices/default/containers/r"
    arm.seed(group, "Microsoft.Storage/storageAccounts/blobServices/containers")
    kubelet = arm.resource(CLUSTER_ID)["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
    grants = [{"scope": registry, "role": "AcrPull", "principal_id": kubelet},
              {"scope": group, "role": "Storage Blob Data Contributor", "principal_id": PRINCIPAL}]
    expected = [
        role_assignment_name(registry, kubelet, role_definition_id(SUBSCRIPTION_ID, "AcrPull")),
        role_assignment_name(group, PRINCIPAL, role_definition_id(SUBSCRIPTION_ID, "Storage Blob Data Contributor")),
    ]
    arm.requests.clear()

    first = call("azure_grant_roles", {**GROUP, "grants": grants})
    again = call("azure_grant_roles", {**GROUP, "grants": grants})

    assert first == again == {"assignments": expected}
    assert [path.rsplit("/", 1)[1] for path in writes(arm)] == expected * 2  # the same assignment, PUT again
    stored = [r for r in arm.state.resources.values() if r["type"] == "Microsoft.Authorization/roleAssignments"]
    assert sorted(r["name"] for r in stored) == sorted(expected)
    assert {(r["properties"]["principalId"], r["properties"]["principalType"]) for r in stored} == {
        (kubelet, "ServicePrincipal"), (PRINCIPAL, "ServicePrincipal")}


def test_teardown_revokes_what_was_granted_whatever_its_name_and_nothing_else(arm):
    begin_succeeded_cluster()
    registry = registry_id(SUBSCRIPTION_ID, RG, ACR)
    kubelet = arm.resource(CLUSTER_ID)["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
    assignments = client(AuthorizationManagementClient, arm).role_assignments
    earlier, someone_else = "9b2e4c6d-1a3f-4e5b-8c7d-0e1f2a3b4c5d", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    pull = role_definition_id(SUBSCRIPTION_ID, "AcrPull")
    assignments.create(registry, earlier, {"properties": {"roleDefinitionId": pull, "principalId": kubelet}})
    assignments.create(registry, someone_else, {"properties": {"roleDefinitionId": pull, "principalId": PRINCIPAL}})
    grants = [{"scope": registry, "role": "AcrPull", "principal_id": kubelet}]

    assert call("azure_revoke_roles", {**GROUP, "grants": grants}) == {"revoked": [earlier]}
    assert call("azure_revoke_roles", {**GROUP, "grants": grants}) == {"revoked": []}
    left = [r["name"] for r in arm.state.resources.values() if r["type"] == "Microsoft.Authorization/roleAssignments"]
    assert left == [someone_else]
    call("azure_delete_registry", REGISTRY)
    assert call("azure_revoke_roles", {**GROUP, "grants": grants}) == {"revoked": []}  # the scope is gone


def test_a_grant_made_earlier_under_another_name_counts(arm):
    begin_succeeded_cluster()
    registry = registry_id(SUBSCRIPTION_ID, RG, ACR)
    kubelet = arm.resource(CLUSTER_ID)["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
    earlier = "9b2e4c6d-1a3f-4e5b-8c7d-0e1f2a3b4c5d"
    properties = {"roleDefinitionId": role_definition_id(SUBSCRIPTION_ID, "AcrPull"), "principalId": kubelet}
    client(AuthorizationManagementClient, arm).role_assignments.create(registry, earlier, {"properties": properties})

    grant = {"scope": registry, "role": "AcrPull", "principal_id": kubelet}
    assert call("azure_grant_roles", {**GROUP, "grants": [grant]}) == {"assignments": [earlier]}


@pytest.mark.parametrize("scope", [
    f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/appstore",
    f"{SUB}/resourceGroups/{RG}",
    SUB,
    f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/appstore/blobServices/default",
])
def test_data_roles_are_refused_on_anything_wider_than_a_container(arm, scope):
    grant = {"scope": scope, "role": "Storage Blob Data Contributor", "principal_id": PRINCIPAL}
    reason = failure("azure_grant_roles", {**GROUP, "grants": [grant]})
    assert "granted on one blob container only" in reason and arm.requests == []


def test_grants_need_known_roles_and_a_scope_that_exists(arm):
    registry = registry_id(SUBSCRIPTION_ID, RG, ACR)
    reason = failure("azure_grant_roles", {**GROUP, "grants": [{"scope": registry, "role": "Owner", "principal_id": PRINCIPAL}]})
    assert "unknown role 'Owner'" in reason and arm.requests == []
    ensure_group()
    reason = failure("azure_grant_roles", {**GROUP, "grants": [{"scope": registry, "role": "AcrPull", "principal_id": PRINCIPAL}]})
    assert f"granting AcrPull on '{registry}' to principal {PRINCIPAL} failed: ResourceNotFound" in reason


def test_throttling_and_server_errors_are_retried_by_the_sdk(arm):
    arm.inject("PUT", f"/resourcegroups/{RG}$", 429, headers={"Retry-After": "7"})
    arm.inject("GET", f"/resourcegroups/{RG}$", 500)
    arm.inject("PUT", "/registries/", 500, times=2)
    assert ensure_group() == {"resource_group": RG, "location": "westeurope"}
    assert call("azure_ensure_registry", {**REGISTRY, "location": "westeurope"})["login_server"]
    assert 7 in arm.sleeps
    assert len(writes(arm)) == 2 + 3  # group: 429 then 201; registry: 500, 500, 201


def test_a_permanent_refusal_names_the_resource_and_arms_reason(arm):
    ensure_group()
    arm.inject("PUT", "/managedClusters/", 403, code="AuthorizationFailed")
    reason = failure("azure_begin_cluster", NEW_CLUSTER)
    assert f"starting AKS cluster '{AKS}' in resource group '{RG}' failed: AuthorizationFailed" in reason
    assert len(writes(arm, "PUT")) == 2  # the group, and one refused cluster PUT: 403 is not retried


def test_a_failing_registry_operation_names_the_registry(arm):
    ensure_group()
    arm.fail_operation(f"registries/{ACR}$", "QuotaExceeded", "Registry quota reached.")
    reason = failure("azure_ensure_registry", {**REGISTRY, "location": "westeurope"})
    what = f"ensuring container registry '{ACR}' in resource group '{RG}'"
    assert f"{what} failed: QuotaExceeded: Registry quota reached." in reason


@pytest.mark.parametrize(
    ("name", "payload", "rule"),
    [
        ("azure_ensure_resource_group", {**NEW_GROUP, "resource_group": "my group"}, "invalid resource group name"),
        ("azure_ensure_registry", {**REGISTRY, "registry_name": "modelops-dev", "location": "x"}, "letters and digits"),
        ("azure_begin_cluster", {**NEW_CLUSTER, "cluster_name": "-aks"}, "invalid AKS cluster name"),
        ("azure_begin_cluster", {**NEW_CLUSTER, "cluster_name": "my_aks"}, "invalid AKS DNS prefix"),
        ("azure_begin_cluster", {**NEW_CLUSTER, "workload_pool": {"min_count": 3, "max_count": 2}}, "min_count <="),
        ("azure_ensure_resource_group", {**NEW_GROUP, "tags": {}}, "must include 'environment'"),
        ("azure_cluster_state", {**CLUSTER, "resource_group": "rg."}, "not ending in '.'"),
        ("azure_ensure_identity", {**GROUP, "identity_name": "id", "location": "westeurope"}, "3-128"),
        ("azure_federate", {**CLUSTER, "identity_name": "modelops-dev-id", "namespace": "ns", "service_account": "a.b"},
         "invalid federated credential name"),
        ("azure_begin_delete_cluster", {**CLUSTER, "cluster_name": "aks!"}, "invalid AKS cluster name"),
        ("azure_delete_registry", {**REGISTRY, "registry_name": "acr"}, "5-50"),
        ("azure_begin_delete_resource_group", {**GROUP, "resource_group": "x" * 91}, "1-90"),
    ],
)
def test_bad_names_are_refused_before_any_request(arm, name, payload, rule):
    assert rule in failure(name, payload)
    assert arm.requests == []


def test_deletions_start_and_report_whether_there_was_something(arm):
    begin_succeeded_cluster()

    assert call("azure_begin_delete_cluster", CLUSTER) == {"deleted": True}
    assert call("azure_cluster_state", CLUSTER)["provisioning_state"] == "Deleting"  # started, not waited for
    assert call("azure_begin_delete_cluster", CLUSTER) == {"deleted": True}  # still going
    assert states_until_settled()[-1] == "Absent"
    assert call("azure_begin_delete_cluster", CLUSTER) == {"deleted": False}

    assert call("azure_delete_registry", REGISTRY) == {"deleted": True}
    assert arm.resource(registry_id(SUBSCRIPTION_ID, RG, ACR)) is None  # waited for
    assert call("azure_delete_registry", REGISTRY) == {"deleted": False}

    assert call("azure_begin_delete_resource_group", GROUP) == {"deleted": True}
    assert arm.resource(f"{SUB}/resourceGroups/{RG}")["properties"]["provisioningState"] == "Deleting"
    repeats = [call("azure_begin_delete_resource_group", GROUP)["deleted"] for _ in range(4)]
    assert repeats == [True, True, False, False]  # still going, then gone with all it held
    assert arm.state.resources == {}
