"""The environment orchestration through the replay driver, with scripted Azure and Kubernetes activities."""

from datetime import timedelta

import azure.durable_functions as df
import pytest

from control_plane.orchestrators.environment import bp as environment_bp
from tests.durable import ReplayDriver
from tests.scripted_activities import ScriptedActivities

fake = ScriptedActivities((
    "azure_ensure_resource_group", "azure_ensure_registry", "azure_begin_cluster", "azure_cluster_state",
    "azure_grant_roles", "azure_revoke_roles", "azure_begin_delete_cluster", "azure_delete_registry",
    "azure_begin_delete_resource_group", "k8s_ensure_workspace", "k8s_delete_workspace",
    "azure_ensure_identity", "azure_identity_state", "azure_federate", "azure_unfederate", "azure_delete_identity",
))  # fmt: skip
calls, script = fake.calls, fake.script

AZURE = {"subscription_id": "00000000-0000-0000-0000-000000000000", "location": "westeurope", "username": "ada",
         "kubernetes_version": "1.30", "results_container_id": "/subscriptions/0/resourceGroups/b/providers/"
         "Microsoft.Storage/storageAccounts/results/blobServices/default/containers/results", "eventgrid_topic_id": ""}  # fmt: skip
KUBELET, WORKLOAD = "kubelet-object-id", "workload-principal-id"
IDENTITY = {"identity_id": "/subscriptions/0/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i",
            "client_id": "workload-client-id", "principal_id": WORKLOAD}
WORKSPACE = {"scheduler_address": "tcp://dask-scheduler.modelops-dev:8786",
             "dashboard_url": "http://dask-scheduler.modelops-dev:8787", "namespace": "modelops-dev", "workers": 2}  # fmt: skip


@pytest.fixture
def driver():
    states = iter(["Creating", "Creating", "Succeeded"])
    fake.reset(
        azure_ensure_resource_group={"resource_group": "modelops-dev-rg-ada", "location": "westeurope"},
        azure_ensure_registry={"login_server": "modelopsdevada.azurecr.io"},
        azure_begin_cluster={"provisioning_state": "Creating"},
        azure_cluster_state=lambda payload: {"provisioning_state": next(states), "kubernetes_version": "1.30.4",
                                             "pools": [], "kubelet_object_id": KUBELET},  # fmt: skip
        azure_ensure_identity=IDENTITY,
        azure_identity_state=IDENTITY,
        azure_federate={"credential": "c"},
        azure_unfederate={"deleted": True},
        azure_delete_identity={"deleted": True},
        azure_grant_roles={"assignments": ["a"]},
        azure_revoke_roles={"revoked": ["a"]},
        azure_begin_delete_cluster={"deleted": True},
        azure_delete_registry={"deleted": True},
        azure_begin_delete_resource_group={"deleted": True},
        k8s_ensure_workspace=WORKSPACE,
        k8s_delete_workspace={"deleted": True},
    )
    app = df.DFApp()
    app.register_functions(environment_bp)
    app.register_functions(fake.bp)
    return ReplayDriver(app)


def up(driver, target="azure"):
    request = {"environment": "dev", "target": target, "action": "up", "azure": AZURE,
               "workspace": {"image": "registry.invalid/modelops-runner:test", "workers": 2}}  # fmt: skip
    driver.start_new("environment", "environment-dev", request)
    driver.drain()
    return driver.get_status("environment-dev").output


def test_azure_up_creates_group_registry_cluster_roles_and_workspace_polling_with_timers(driver):
    result = up(driver)
    assert result["phase"] == "ready", result
    names = [name for name, _ in calls]
    assert names == ["azure_ensure_resource_group", "azure_ensure_registry", "azure_begin_cluster",
                     "azure_cluster_state", "azure_cluster_state", "azure_cluster_state",
                     "azure_ensure_identity", "azure_federate", "azure_grant_roles", "k8s_ensure_workspace"]  # fmt: skip
    group = calls[0][1]
    assert group["resource_group"] == "modelops-dev-rg-ada" and group["tags"] == {"environment": "dev"}
    assert calls[6][1]["identity_name"] == "modelops-dev-id"
    federated = calls[7][1]
    assert (federated["namespace"], federated["service_account"]) == ("modelops-dev", "modelops-workspace")
    grants = calls[8][1]["grants"]
    assert [(g["role"], g["principal_id"]) for g in grants] == [
        ("AcrPull", KUBELET), ("Storage Blob Data Contributor", WORKLOAD)]  # no topic configured; data to the workload's
    cluster = result["binding"]["cluster"]
    assert cluster["client_id"] == "workload-client-id" and calls[9][1]["cluster"]["client_id"] == "workload-client-id"
    assert result["binding"]["identity"]["principal_id"] == WORKLOAD
    assert cluster["target"] == "azure" and cluster["registry_login_server"] == "modelopsdevada.azurecr.io"
    assert cluster["kubernetes_version"] == "1.30.4" and "kubeconfig" not in str(result)
    assert result["binding"]["workspace"] == WORKSPACE
    timers = [e for h in driver.histories("environment-dev") for e in h if e["EventType"] == 10]
    assert len(timers) == 3  # waited on durable timers, backing off, not in an activity
    assert driver.replay_all_recorded() > 0


def test_a_cluster_that_never_settles_fails_the_step_naming_it(driver):
    script["azure_cluster_state"] = {"provisioning_state": "Creating", "kubernetes_version": None, "pools": []}
    result = up(driver)
    assert result["phase"] == "failed" and result["error"]["step"] == "cluster"
    assert "still Creating" in result["error"]["reason"]


def test_a_permanently_failing_activity_fails_the_step_after_retries(driver):
    script["azure_ensure_registry"] = RuntimeError("registry name modelopsdevada is already taken")
    result = up(driver)
    assert result["phase"] == "failed"
    assert result["error"] == {"step": "registry", "reason": "RuntimeError: registry name modelopsdevada is already taken"}
    assert [name for name, _ in calls].count("azure_ensure_registry") == 3


def test_existing_target_uses_the_configured_kubeconfig_setting(driver):
    result = up(driver, target="existing")
    assert result["binding"]["cluster"] == {"target": "existing", "kubeconfig_setting": "MODELOPS_EXISTING_KUBECONFIG"}
    assert [name for name, _ in calls] == ["k8s_ensure_workspace"]


def test_down_removes_workspace_cluster_and_registry_and_the_group_only_when_asked(driver):
    up(driver)
    calls.clear()
    states = iter(["Succeeded", "Deleting", "Absent"])
    script["azure_cluster_state"] = lambda payload: {"provisioning_state": next(states), "kubernetes_version": None,
                                                     "pools": [], "kubelet_object_id": KUBELET}  # fmt: skip
    request = {"environment": "dev", "target": "azure", "action": "down", "delete_rg": False, "azure": AZURE}
    driver.start_new("environment", "environment-dev", request)
    driver.drain()
    assert driver.get_status("environment-dev").output["phase"] == "removed"
    assert [name for name, _ in calls] == ["azure_cluster_state", "azure_identity_state", "k8s_delete_workspace",
                                           "azure_revoke_roles", "azure_unfederate", "azure_delete_identity",
                                           "azure_begin_delete_cluster", "azure_cluster_state", "azure_cluster_state",
                                           "azure_delete_registry"]  # fmt: skip
    revoked = dict(calls)["azure_revoke_roles"]["grants"]
    assert [(g["role"], g["principal_id"]) for g in revoked] == [
        ("AcrPull", KUBELET), ("Storage Blob Data Contributor", WORKLOAD)]  # what up granted
    calls.clear()
    script["azure_cluster_state"] = {"provisioning_state": "Absent", "kubernetes_version": None, "pools": [],
                                     "kubelet_object_id": None}
    script["azure_identity_state"] = dict.fromkeys(IDENTITY)
    driver.start_new("environment", "environment-dev", request | {"delete_rg": True})
    driver.drain()
    assert [name for name, _ in calls] == ["azure_cluster_state", "azure_identity_state", "azure_delete_registry",
                                           "azure_begin_delete_resource_group"]  # nothing left to revoke or delete


def test_bad_names_fail_before_any_activity(driver):
    request = {"environment": "dev", "target": "azure", "action": "up", "azure": AZURE | {"username": "Ada Lovelace!"}}
    driver.start_new("environment", "environment-dev", request)
    driver.drain()
    result = driver.get_status("environment-dev").output
    assert result["phase"] == "failed" and result["error"]["step"] == "names" and calls == []


def test_the_cluster_wait_gives_up_after_its_deadline(driver):
    script["azure_cluster_state"] = {"provisioning_state": "Creating", "kubernetes_version": None, "pools": []}
    up(driver)
    assert driver.clock.now - driver.get_status("environment-dev").created_time >= timedelta(minutes=90)


def test_a_cluster_ready_before_is_read_once_for_its_kubelet_identity(driver):
    script["azure_begin_cluster"] = {"provisioning_state": "Succeeded", "kubernetes_version": "1.30.4"}
    script["azure_cluster_state"] = {"provisioning_state": "Succeeded", "kubernetes_version": "1.30.4", "pools": [],
                                     "kubelet_object_id": KUBELET}  # fmt: skip
    assert up(driver)["phase"] == "ready"
    assert [name for name, _ in calls].count("azure_cluster_state") == 1
    assert dict(calls)["azure_grant_roles"]["grants"][0]["principal_id"] == KUBELET
