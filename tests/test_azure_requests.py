"""The `azure` target's names and ARM request bodies, checked without any HTTP."""

import uuid

import pytest

from modelops import naming
from control_plane.azure import requests, versions
from control_plane.azure.requests import WorkloadPool

SUB = "00000000-0000-4000-8000-000000000001"  # obviously fake


# Names


def test_names_follow_the_contract():
    assert naming.resource_group_name("dev", "alice") == "modelops-dev-rg-alice"
    assert naming.registry_name("dev", "alice") == "modelopsdevalice"
    assert naming.cluster_name("dev") == "modelops-dev-aks"
    assert naming.identity_name("dev") == "modelops-dev-id"
    assert naming.credential_name("run-r1", "runner") == "run-r1-runner"
    assert naming.registry_id(SUB, "modelops-dev-rg-alice", "modelopsdevalice") == (
        f"/subscriptions/{SUB}/resourceGroups/modelops-dev-rg-alice"
        "/providers/Microsoft.ContainerRegistry/registries/modelopsdevalice"
    )


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda: naming.resource_group_name("dev", "al ice"), "invalid resource group name"),
        (lambda: naming.resource_group_name("dev", "alice" * 20), "1-90"),
        (lambda: naming.check_resource_group_name("rg."), "not ending in '.'"),
        (lambda: naming.check_resource_group_name("rg\n"), "invalid resource group name"),
        (lambda: naming.check_registry_name("modelops-my-env"), "letters and digits only"),
        (lambda: naming.registry_name("dev", "x" * 40), "5-50"),
        (lambda: naming.check_registry_name("abcd"), "5-50"),
        (lambda: naming.cluster_name("dev/x"), "invalid AKS cluster name"),
        (lambda: naming.check_cluster_name("-aks"), "starting and ending with a letter or digit"),
        (lambda: naming.check_cluster_name("a" * 64), "1-63"),
        (lambda: naming.check_dns_prefix("my_cluster"), "invalid AKS DNS prefix"),
        (lambda: naming.check_dns_prefix("a" * 55), "1-54"),
        (lambda: naming.check_identity_name("id"), "3-128"),
        (lambda: naming.check_identity_name("_id" + "a" * 10), "starting with a letter or digit"),
        (lambda: naming.credential_name("ns", "a.b"), "invalid federated credential name"),
        (lambda: naming.check_credential_name("a" * 121), "3-120"),
    ],
)
def test_names_breaking_azure_rules_are_refused_with_the_rule(make, rule):
    with pytest.raises(ValueError, match=rule):
        make()


def test_azure_allows_these_edge_names():
    assert naming.check_resource_group_name("a" * 90) and naming.check_resource_group_name("(rg)_x.y")
    assert naming.check_registry_name("Abc12") and naming.check_cluster_name("a_b-c")


def test_role_assignment_names_are_fixed_uuids_per_scope_principal_and_role():
    scope, principal, role = f"/subscriptions/{SUB}/resourceGroups/rg", "11111111-2222-4333-8444-555555555555", "r1"
    name = naming.role_assignment_name(scope, principal, role)
    assert uuid.UUID(name).version == 5
    assert name == naming.role_assignment_name(scope.upper(), principal.upper(), role)  # ARM ids ignore case
    others = {
        naming.role_assignment_name(scope + "2", principal, role),
        naming.role_assignment_name(scope, principal.replace("1", "9"), role),
        naming.role_assignment_name(scope, principal, "r2"),
    }
    assert name not in others and len(others) == 3


# Request bodies, as the SDK will send them


def test_resource_group_is_tagged_managed_by_modelops_with_its_environment():
    body = requests.resource_group("westeurope", {"environment": "dev", "managed-by": "someone"}).as_dict()
    assert body == {"location": "westeurope", "tags": {"environment": "dev", "managed-by": "modelops"}}
    with pytest.raises(ValueError, match="must include 'environment'"):
        requests.resource_group("westeurope", {"owner": "alice"})


def test_registry_is_basic_without_an_admin_user():
    body = requests.registry("westeurope").as_dict()
    assert body["sku"] == {"name": "Basic"} and body["location"] == "westeurope"
    assert body["properties"] == {"adminUserEnabled": False}
    assert body["tags"] == {"managed-by": "modelops"}


def test_cluster_pins_its_version_and_has_a_system_and_an_autoscaling_cpu_pool():
    body = requests.managed_cluster("westeurope", "1.30.7", "modelops-dev-aks", WorkloadPool("Standard_F8s_v2", 0, 7))
    wire = body.as_dict()
    properties = wire["properties"]
    assert wire["identity"] == {"type": "SystemAssigned"}
    assert properties["kubernetesVersion"] == "1.30.7" and properties["dnsPrefix"] == "modelops-dev-aks"
    assert properties["networkProfile"] == {"networkPlugin": "azure", "networkPluginMode": "overlay"}
    system, cpu = properties["agentPoolProfiles"]
    assert system["name"] == "system" and system["mode"] == "System" and system["count"] == 1
    assert "nodeLabels" not in system and "enableAutoScaling" not in system
    assert cpu == {
        "name": "cpu",
        "mode": "User",
        "count": 0,
        "enableAutoScaling": True,
        "minCount": 0,
        "maxCount": 7,
        "vmSize": "Standard_F8s_v2",
        "osType": "Linux",
        "orchestratorVersion": "1.30.7",
        "nodeLabels": {"modelops.io/role": "cpu"},
    }
    assert system["orchestratorVersion"] == "1.30.7"


def test_workload_pool_defaults_and_bounds():
    pool = requests.managed_cluster("eastus", "1.30", "c").agent_pool_profiles[1]
    assert (pool.count, pool.min_count, pool.max_count) == (1, 1, 5)
    for low, high in [(-1, 3), (4, 3)]:
        with pytest.raises(ValueError, match="min_count <= max_count"):
            WorkloadPool(min_count=low, max_count=high)


def test_roles_by_name_to_their_builtin_ids():
    assert requests.role_definition_id(SUB, "AcrPull") == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
    )
    storage = requests.role_definition_id(SUB, "Storage Blob Data Contributor")
    assert storage.endswith("/ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    assert requests.role_definition_id(SUB, "EventGrid Data Sender").endswith("d5a91429-5739-47e2-a06b-3470a27159e7")
    with pytest.raises(ValueError, match="unknown role 'Owner'"):
        requests.role_definition_id(SUB, "Owner")


def test_role_assignment_names_a_service_principal():
    definition = requests.role_definition_id(SUB, "AcrPull")
    body = requests.role_assignment(definition, "11111111-2222-4333-8444-555555555555").serialize()
    assert body == {
        "properties": {
            "roleDefinitionId": definition,
            "principalId": "11111111-2222-4333-8444-555555555555",
            "principalType": "ServicePrincipal",
        }
    }


def test_registry_names_keep_only_what_azure_allows():
    assert naming.registry_name("my-env", "Ada_L") == "modelopsmyenvadal"


def _offer(*minors: tuple[str, list[str], bool, dict[str, list[str]]]) -> list[dict]:
    return [{"version": v, "plans": plans, "preview": preview, "patches": patches} for v, plans, preview, patches in minors]


AGED = _offer(("1.33", ["AKSLongTermSupport"], False, {"1.33.5": ["1.34.3"]}),
              ("1.34", ["KubernetesOfficial"], False, {"1.34.2": ["1.34.3", "1.35.1"], "1.34.3": ["1.35.1"]}),
              ("1.35", ["KubernetesOfficial"], True, {"1.35.0": []}))


@pytest.mark.parametrize(("version", "state", "upgrades"), [
    ("1.34.2", "supported", ["1.34.3", "1.35.1"]), ("1.33.5", "lts-only", ["1.34.3"]),
    ("1.35.0", "preview", []), ("1.31.9", "unsupported", []), (None, "unknown", []),
])
def test_the_doctor_reads_a_running_versions_support_and_upgrades_from_the_offer(version, state, upgrades):
    assert versions.support(version, AGED) == {"state": state, "upgrades": upgrades}


def test_the_newest_ga_minor_wins_and_previews_never_do():
    assert versions.resolve("", AGED, "westeurope") == "1.34.3"
    assert versions.resolve("1.34.2", AGED, "westeurope") == "1.34.2"
    with pytest.raises(versions.VersionNotOffered, match="accepted now: 1.34 \\(1.34.2, 1.34.3\\)"):
        versions.resolve("1.35", AGED, "westeurope")
    with pytest.raises(versions.VersionNotOffered, match="offers no generally available"):
        versions.resolve("", AGED[:1], "westeurope")


def test_the_workload_identity_is_a_tagged_identity_in_the_region():
    assert requests.workload_identity("westeurope").serialize() == {"location": "westeurope",
                                                                    "tags": {"managed-by": "modelops"}}


def test_a_federated_credential_trusts_one_service_account_for_the_token_exchange():
    issuer = "https://westeurope.oic.prod-aks.azure.com/tenant/issuer/"
    body = requests.federated_credential(issuer, "run-r1", "runner").serialize()
    assert body == {"properties": {"issuer": issuer, "subject": "system:serviceaccount:run-r1:runner",
                                   "audiences": ["api://AzureADTokenExchange"]}}


@pytest.mark.parametrize(("issuer", "namespace", "account", "rule"), [
    ("http://issuer/", "ns", "sa", "https URL"),
    ("https://issuer/", "Run_1", "sa", "DNS label"),
    ("https://issuer/", "ns", "SA", "DNS subdomain"),
    ("https://issuer/", "ns", "sa:x", "DNS subdomain"),
])  # fmt: skip
def test_a_federated_credential_refuses_what_would_never_match_a_token(issuer, namespace, account, rule):
    with pytest.raises(ValueError, match=rule):
        requests.federated_credential(issuer, namespace, account)
