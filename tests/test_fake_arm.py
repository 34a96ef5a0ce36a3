"""The fake ARM answers the real Azure SDK management clients as ARM would, strictly."""

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fake_arm_clients import SUB, client, create_cluster, paths, status_and_body
from tests.fakes.arm import SUBSCRIPTION_ID, FakeArm
from tests.fakes.arm_roles import role_definition_id

PRINCIPAL = "0f9e8d7c-6b5a-4321-8fed-cba987654321"


@pytest.fixture
def arm() -> FakeArm:
    return FakeArm(lro_polls=2)


@pytest.fixture
def resources(arm) -> ResourceManagementClient:
    return client(ResourceManagementClient, arm)


@pytest.fixture
def aks(arm) -> ContainerServiceClient:
    return client(ContainerServiceClient, arm)


@pytest.fixture
def acr(arm) -> ContainerRegistryManagementClient:
    return client(ContainerRegistryManagementClient, arm)


@pytest.fixture
def auth(arm) -> AuthorizationManagementClient:
    return client(AuthorizationManagementClient, arm)


@pytest.fixture
def group(resources) -> str:
    resources.resource_groups.create_or_update("rg", {"location": "eastus"})
    return "rg"


# Resource groups


def test_resource_group_create_get_exists_and_delete_through_the_location_poller(arm, resources):
    groups = resources.resource_groups
    status, created = groups.create_or_update("Calib", {"location": "East US", "tags": {"run": "1"}}, cls=status_and_body)
    assert status == 201 and created.location == "eastus" and created.tags == {"run": "1"}
    status, updated = groups.create_or_update("calib", {"location": "eastus", "tags": {"run": "2"}}, cls=status_and_body)
    assert status == 200 and updated.name == "Calib" and updated.tags == {"run": "2"}
    assert groups.get("CALIB").id == f"{SUB}/resourceGroups/Calib"
    assert groups.check_existence("calib") and not groups.check_existence("other")

    groups.begin_delete("calib").result()

    polls = [path for path in paths(arm, "GET") if "/operationresults/" in path]
    assert len(polls) == 3  # two InProgress (202), then 200
    assert not groups.check_existence("calib")
    with pytest.raises(ResourceNotFoundError) as missing:
        groups.get("calib")
    assert missing.value.error.code == "ResourceGroupNotFound"


def test_a_group_keeps_its_location_and_refuses_changes_while_deleting(resources, group):
    with pytest.raises(ResourceExistsError) as moved:
        resources.resource_groups.create_or_update(group, {"location": "westus"})
    assert moved.value.error.code == "InvalidResourceGroupLocation"
    resources.resource_groups.begin_delete(group, polling=False)
    assert resources.resource_groups.get(group).properties.provisioning_state == "Deleting"
    with pytest.raises(ResourceExistsError) as deleting:
        resources.resource_groups.create_or_update(group, {"location": "eastus"})
    assert deleting.value.error.code == "ResourceGroupBeingDeleted"


def test_deleting_a_group_deletes_its_resources_and_the_cluster_node_group(arm, resources, aks, acr, group):
    cluster = create_cluster(aks, group)
    acr.registries.begin_create(group, "calibregistry", {"location": "eastus", "sku": {"name": "Basic"}}).result()
    node_group = arm.resource(f"{SUB}/resourceGroups/{cluster.properties.node_resource_group}")
    assert node_group["managedBy"] == cluster.id

    resources.resource_groups.begin_delete(group).result()

    assert arm.state.resources == {}


# ACR


def test_acr_create_get_and_delete_through_the_location_poller(arm, acr, group):
    spec = {"location": "eastus", "sku": {"name": "Standard"}}
    created = acr.registries.begin_create(group, "CalibRegistry", spec).result()
    status_polls = [p for p in paths(arm, "GET") if "/operationStatuses/" in p]
    assert len(status_polls) == 3  # under the registry itself, as ACR answers (its own read action)
    assert all(p.startswith(created.id + "/operationStatuses/") for p in status_polls)
    assert created.login_server == "calibregistry.azurecr.io" and created.sku.name == "Standard"
    assert created.provisioning_state == "Succeeded"
    assert acr.registries.get(group, "calibregistry").id.endswith("/registries/CalibRegistry")

    acr.registries.begin_delete(group, "calibregistry").result()

    assert len([p for p in paths(arm, "GET") if "/locations/eastus/operationresults/" in p]) == 3
    with pytest.raises(ResourceNotFoundError):
        acr.registries.get(group, "calibregistry")


def test_acr_names_are_checked_and_global(acr, resources, group):
    resources.resource_groups.create_or_update("other", {"location": "eastus"})
    acr.registries.begin_create(group, "calibregistry", {"location": "eastus", "sku": {"name": "Basic"}}).result()

    def check(name):
        return acr.registries.check_name_availability({"name": name, "type": "Microsoft.ContainerRegistry/registries"})

    assert check("freshname").name_available
    assert check("CalibRegistry").reason == "AlreadyExists"
    assert check("no-dashes").reason == "Invalid"
    with pytest.raises(ResourceExistsError) as taken:
        acr.registries.begin_create("other", "calibregistry", {"location": "eastus", "sku": {"name": "Basic"}})
    assert taken.value.error.code == "AlreadyInUse"
    for bad in ("abcd", "no-dashes", "x" * 51):
        with pytest.raises(HttpResponseError) as invalid:
            acr.registries.begin_create(group, bad, {"location": "eastus", "sku": {"name": "Basic"}})
        assert invalid.value.status_code == 400 and invalid.value.error.code == "InvalidResourceName"


# Role assignments


def test_role_assignment_create_is_idempotent_and_a_duplicate_conflicts(arm, auth, acr, group):
    registry = acr.registries.begin_create(group, "calibregistry", {"location": "eastus", "sku": {"name": "Basic"}}).result()
    grant = {
        "properties": {
            "roleDefinitionId": role_definition_id(SUBSCRIPTION_ID, "AcrPull"),
            "principalId": PRINCIPAL,
            "principalType": "ServicePrincipal",
        }
    }
    name = "3c1f0a52-7d0e-4b8e-9a57-1d2c3b4a5f60"
    first = auth.role_assignments.create(registry.id, name, grant)
    again = auth.role_assignments.create(registry.id, name, grant)
    assert first.id == again.id == f"{registry.id}/providers/Microsoft.Authorization/roleAssignments/{name}"
    assert first.scope == registry.id and first.principal_id == PRINCIPAL

    with pytest.raises(ResourceExistsError) as duplicate:
        auth.role_assignments.create(registry.id, "9b2e4c6d-1a3f-4e5b-8c7d-0e1f2a3b4c5d", grant)
    assert duplicate.value.status_code == 409 and duplicate.value.error.code == "RoleAssignmentExists"
    changed = {"properties": {**grant["properties"], "principalId": "11111111-2222-4333-8444-555555555555"}}
    with pytest.raises(ResourceExistsError) as update:
        auth.role_assignments.create(registry.id, name, changed)
    assert update.value.error.code == "RoleAssignmentUpdateNotPermitted"

    assert auth.role_assignments.get(registry.id, name).role_definition_id.endswith("7f951dda-4ed3-4680-a7ca-43fe172d538d")
    assert [a.name for a in auth.role_assignments.list_for_scope(SUB)] == [name]
    assert [a.name for a in auth.role_assignments.list_for_scope(SUB, filter="atScope()")] == []
    assert [a.name for a in auth.role_assignments.list_for_scope(registry.id, filter=f"principalId eq '{PRINCIPAL}'")] == [name]

    assert auth.role_assignments.delete(registry.id, name).name == name
    assert auth.role_assignments.delete(registry.id, name) is None
    with pytest.raises(ResourceNotFoundError) as gone:
        auth.role_assignments.get(registry.id, name)
    assert gone.value.error.code == "RoleAssignmentNotFound"


@pytest.mark.parametrize(
    ("name", "scope", "properties", "status", "code"),
    [
        ("not-a-guid", SUB, {}, 400, "InvalidRoleAssignmentId"),
        (PRINCIPAL, SUB, {"roleDefinitionId": "Reader", "principalId": PRINCIPAL}, 400, "InvalidRoleDefinitionId"),
        (
            PRINCIPAL,
            SUB,
            {"roleDefinitionId": f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{PRINCIPAL}", "principalId": PRINCIPAL},
            400,
            "RoleDefinitionDoesNotExist",
        ),
        (PRINCIPAL, SUB, {"roleDefinitionId": role_definition_id(SUBSCRIPTION_ID, "Reader"), "principalId": "me"}, 400, "InvalidPrincipalId"),
        (PRINCIPAL, f"{SUB}/resourceGroups/nogroup", {}, 404, "ResourceGroupNotFound"),
    ],
)
def test_role_assignments_refuse_invalid_grants(auth, name, scope, properties, status, code):
    with pytest.raises(HttpResponseError) as refused:
        auth.role_assignments.create(scope, name, {"properties": properties})
    assert (refused.value.status_code, refused.value.error.code) == (status, code)


# Faults, retries and polling delays


def test_an_injected_429_is_retried_by_the_sdk_after_its_retry_after(arm, resources):
    arm.inject("PUT", r"/resourcegroups/rg$", 429, headers={"Retry-After": "7"})
    resources.resource_groups.create_or_update("rg", {"location": "eastus"})
    assert len(paths(arm, "PUT")) == 2
    assert arm.sleeps == [7]  # the SDK asked the transport to wait; the fake does not


def test_an_injected_500_beyond_the_retries_surfaces_and_changes_nothing(arm):
    resources = client(ResourceManagementClient, arm, retry_total=2)
    arm.inject("PUT", "/resourcegroups/", 500, times=3)
    with pytest.raises(HttpResponseError) as failed:
        resources.resource_groups.create_or_update("rg", {"location": "eastus"})
    assert failed.value.status_code == 500 and failed.value.error.code == "InternalServerError"
    assert len(paths(arm, "PUT")) == 3
    assert not resources.resource_groups.check_existence("rg")


@pytest.mark.parametrize(("retry_after", "expected"), [(0, 30), (5, 5)])
def test_armpolling_waits_retry_after_but_treats_zero_as_absent(retry_after, expected):
    arm = FakeArm(lro_polls=2, retry_after=retry_after)
    client(ResourceManagementClient, arm).resource_groups.create_or_update("rg", {"location": "eastus"})
    aks = client(ContainerServiceClient, arm, polling_interval=30)
    create_cluster(aks, "rg")
    assert arm.sleeps == [expected, expected]


# Strictness


def raw(resources, method: str, url: str, **options):
    return resources.send_request(HttpRequest(method, url, **options))


@pytest.mark.parametrize(
    ("method", "url", "options", "status", "code"),
    [
        ("GET", f"{SUB}/resourcegroups/rg", {}, 400, "MissingApiVersionParameter"),
        ("GET", f"{SUB}/resourcegroups/rg?api-version=2019-01-01", {}, 400, "InvalidApiVersionParameter"),
        ("GET", f"{SUB}/resourcegroups/rg/providers/Microsoft.Web/sites/x?api-version=2025-04-01", {}, 404, "NoRegisteredProviderFound"),
        ("GET", f"{SUB}/resourcegroups/rg/providers/Microsoft.ContainerService/managedClusters/c?api-version=2019-01-01", {}, 400, "NoRegisteredProviderFound"),
        ("PATCH", f"{SUB}/resourcegroups/rg?api-version=2025-04-01", {"json": {}}, 405, "MethodNotAllowed"),
        ("GET", "/subscriptions/other/resourcegroups/rg?api-version=2025-04-01", {}, 404, "SubscriptionNotFound"),
        ("PUT", f"{SUB}/resourcegroups/bad!name?api-version=2025-04-01", {"json": {"location": "eastus"}}, 400, "InvalidResourceGroup"),
        ("PUT", f"{SUB}/resourcegroups/rg.?api-version=2025-04-01", {"json": {"location": "eastus"}}, 400, "InvalidResourceGroup"),
        ("PUT", f"{SUB}/resourcegroups/rg?api-version=2025-04-01", {"json": {}}, 400, "LocationRequired"),
        ("PUT", f"{SUB}/resourcegroups/rg?api-version=2025-04-01", {"json": ["eastus"]}, 400, "InvalidRequestContent"),
        (
            "PUT",
            f"{SUB}/resourcegroups/rg?api-version=2025-04-01",
            {"content": b'{"location": ', "headers": {"Content-Type": "application/json"}},
            400,
            "InvalidRequestContent",
        ),
        (
            "PUT",
            f"{SUB}/resourcegroups/rg?api-version=2025-04-01",
            {"content": b"location=eastus", "headers": {"Content-Type": "text/plain"}},
            415,
            "UnsupportedMediaType",
        ),
    ],
)
def test_requests_arm_would_refuse_are_refused(resources, method, url, options, status, code):
    response = raw(resources, method, url, **options)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_requests_without_the_arm_token_are_refused(arm):
    response = arm.send(HttpRequest("GET", f"https://management.azure.com{SUB}/resourcegroups?api-version=2025-04-01"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "AuthenticationFailed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    wrong_audience = client(ResourceManagementClient, arm, credential_scopes=["https://storage.azure.com/.default"])
    with pytest.raises(ClientAuthenticationError) as refused:
        wrong_audience.resource_groups.get("rg")
    assert refused.value.error.code == "InvalidAuthenticationToken"


def test_only_the_arm_host_is_served(arm):
    elsewhere = client(ResourceManagementClient, arm, base_url="https://example.invalid", retry_total=0)
    with pytest.raises(ServiceRequestError):
        elsewhere.resource_groups.get("rg")


def test_every_request_is_recorded_with_its_body(arm, resources):
    resources.resource_groups.create_or_update("rg", {"location": "eastus", "tags": {"a": "b"}})
    [put] = arm.requests
    assert put.method == "PUT" and put.path == f"{SUB}/resourcegroups/rg"
    assert put.body == {"location": "eastus", "tags": {"a": "b"}}
    assert "api-version=2025-04-01" in put.url
