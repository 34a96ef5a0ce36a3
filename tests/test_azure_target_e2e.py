"""The azure target end to end through the replay driver, the real SDK clients and both fakes:
environment up → run → cancel → run down → environment down, with the status a local run gives."""

import json

import pytest
import yaml
from azure.mgmt.msi import ManagedServiceIdentityClient

from tests.azure_clouds import FAST, RESULTS_CONTAINER, TOPIC, azure_clouds
from tests.fakes.arm import SUBSCRIPTION_ID, FakeCredential
from tests.bundle_models import pushed_growth_doc
from tests.fakes.arm_roles import BUILTIN_ROLES
from tests.fakes.kube_api_rbac import operator_data_actions

#: Read only to say why a workload is not ready, when a wait times out.
POD_READ = "Microsoft.ContainerService/managedClusters/pods/read"
from tests.function_app_harness import AppHarness
from tests.test_cli import ROOT

GROUP_ID = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/modelops-dev-rg-ada/providers"
CLUSTER_ID = f"{GROUP_ID}/Microsoft.ContainerService/managedClusters/modelops-dev-aks"
IDENTITY_ID = f"{GROUP_ID}/Microsoft.ManagedIdentity/userAssignedIdentities/modelops-dev-id"
REGISTRY_ID = f"{GROUP_ID}/Microsoft.ContainerRegistry/registries/modelopsdevada"
SECRETS = ("password", "PGPASSWORD", "token", "client-key-data", "AccountKey=", "fake-kube-token")


@pytest.fixture
def clouds(monkeypatch):
    with azure_clouds(monkeypatch) as both:
        yield both


def test_environment_up_run_cancel_and_down_on_azure(clouds, azurite, tmp_path, monkeypatch):
    """A model folder of the user's own, pushed as a bundle to the store (Azurite): the runner Job gets
    the digest (in its document) and the store URL, never a file path."""
    arm, kube = clouds
    store = f"{azurite.blob_endpoint}/results/_bundles"
    monkeypatch.setenv("MODELOPS_BUNDLE_STORE", store)
    monkeypatch.setenv("MODELOPS_STORAGE_CONNECTION_STRING", azurite.connection_string)
    app = AppHarness()
    code, _, _ = app.http("change_environment", "PUT", "/api/environments/dev", {"target": "azure"}, route={"env": "dev"})
    assert code == 202
    app.driver.drain()
    code, env, _ = app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})
    assert env["phase"] == "ready", env
    assert env["binding"]["cluster"]["resource_group"] == "modelops-dev-rg-ada"
    assert env["binding"]["workspace"]["scheduler_address"] == "tcp://dask-scheduler.modelops-dev:8786"
    assert kube.get("Deployment", "modelops-dev", "dask-workers") is not None
    identity = arm.resource(IDENTITY_ID)["properties"]
    client_id, principal = identity["clientId"], identity["principalId"]
    kubelet = arm.resource(CLUSTER_ID)["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
    bound = env["binding"]["identity"]
    assert (bound["identity_id"], bound["client_id"], bound["principal_id"]) == (IDENTITY_ID, client_id, principal)
    assert federated(arm) == {"modelops-dev-modelops-workspace": "system:serviceaccount:modelops-dev:modelops-workspace"}
    assert grants(arm) == {(REGISTRY_ID, "AcrPull", kubelet), (RESULTS_CONTAINER, "Storage Blob Data Contributor", principal),
                           (TOPIC, "EventGrid Data Sender", principal)}  # the kubelet only pulls; data to the workload's
    for kind, name in (("Deployment", "dask-workers"), ("Deployment", "dask-scheduler")):
        assert_acts_as(kube, kube.get(kind, "modelops-dev", name), "modelops-workspace", client_id)

    code, doctor, _ = app.http("environment_doctor", "GET", "/api/environments/dev/doctor", route={"env": "dev"})
    assert code == 200 and doctor["pools"] and isinstance(doctor["healthy"], bool)
    assert (doctor["kubernetes_version"], doctor["support"], doctor["upgrades"]) == ("1.35.1", "supported", [])

    spec, digest = pushed_growth_doc(tmp_path / "my-model", store)
    spec["central_store"] = {"size": "1Gi"}
    request = {"spec": spec, "target": "azure", "environment": "dev", "run_id": "sir-az"}
    code, accepted, _ = app.http("start_run", "POST", "/api/runs", request)
    assert code == 202, accepted
    app.driver.drain(fire_timers=False)
    code, run, _ = app.http("get_run", "GET", "/api/runs/sir-az", route={"run_id": "sir-az"})
    assert run["phase"] == "running", run
    assert run["results"] == "https://results.blob.core.windows.net/results/sir-az"
    job = kube.get("Job", "run-sir-az", "runner")
    env_vars = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "secretKeyRef" in env_vars["PGPASSWORD"]["valueFrom"]
    assert env_vars["MODELOPS_BUNDLE_STORE"]["value"] == store
    document = yaml.safe_load(kube.get("ConfigMap", "run-sir-az", "run-document")["data"]["run.yaml"])
    assert document["model"] == {"entrypoint": "growth:simulate", "bundle": digest, "timeout_seconds": None}
    assert document["targets"]["growth"]["data"] == "data/cases.csv"  # resolved in the bundle, not a path here
    assert str(tmp_path) not in json.dumps(job) + json.dumps(document)
    assert run["provenance"] == {"bundle": digest, "bundle_store": store, "spec_sha256": run["provenance"]["spec_sha256"]}
    assert_acts_as(kube, job, "runner", client_id)
    assert federated(arm)["run-sir-az-runner"] == "system:serviceaccount:run-sir-az:runner"  # this run's own

    assert app.http("cancel_run", "DELETE", "/api/runs/sir-az", route={"run_id": "sir-az"})[0] == 202
    app.driver.drain(fire_timers=False)
    code, run, _ = app.http("get_run", "GET", "/api/runs/sir-az", route={"run_id": "sir-az"})
    assert run["phase"] == "cancelled" and run["error"] is None
    assert kube.get("Job", "run-sir-az", "runner") is None
    assert kube.get("StatefulSet", "run-sir-az", "postgres") is None
    assert kube.get("Secret", "run-sir-az", "postgres-credentials") is not None  # the study is kept (no purge)
    assert list(federated(arm)) == ["modelops-dev-modelops-workspace"]  # the run's trust ended with it

    assert app.http("change_environment", "DELETE", "/api/environments/dev", route={"env": "dev"})[0] == 202
    app.driver.drain()
    code, env, _ = app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})
    assert env["phase"] == "removed", env
    assert kube.get("Namespace", None, "modelops-dev")["metadata"]["deletionTimestamp"]  # going
    assert arm.resource(CLUSTER_ID) is None and arm.resource(IDENTITY_ID) is None and federated(arm) == {}
    assert grants(arm) == set()  # revoked from both principals
    assert app.driver.replay_all_recorded() > 0
    assert arm.refused == []  # every request within the rights the Bicep grants the app
    used, refused = kube.data_actions_used
    assert refused == [] and used == operator_data_actions() - {POD_READ}, sorted(operator_data_actions() - used)
    posts = {r.path.rsplit("/", 1)[1] for r in arm.requests if r.method == "POST"}
    assert "listClusterAdminCredential" not in posts  # no cluster-admin certificate, ever
    hub = app.driver.task_hub_text()
    assert not [secret for secret in SECRETS if secret in hub]
    assert "apiVersion: v1" not in hub and "kubeconfig" not in json.dumps(env).lower()


def federated(arm) -> dict[str, str]:
    """The federated credentials the fake ARM holds: name -> subject, all for the cluster's issuer."""
    issuer = (arm.resource(CLUSTER_ID) or {}).get("properties", {}).get("oidcIssuerProfile", {}).get("issuerURL")
    found = [r for r in arm.state.resources.values() if r["type"].endswith("/federatedIdentityCredentials")]
    assert all(r["properties"]["issuer"] == issuer and r["properties"]["audiences"] == ["api://AzureADTokenExchange"]
               for r in found), found  # fmt: skip
    return {r["name"]: r["properties"]["subject"] for r in found}


def grants(arm) -> set[tuple[str, str, str]]:
    """(scope, role name, principal) of every role assignment, all to service principals."""
    names = {guid: name for name, guid in BUILTIN_ROLES.items()}
    found = [r["properties"] for r in arm.state.resources.values() if r["type"] == "Microsoft.Authorization/roleAssignments"]
    assert {p["principalType"] for p in found} <= {"ServicePrincipal"}
    return {(p["scope"], names[p["roleDefinitionId"].rsplit("/", 1)[1]], p["principalId"]) for p in found}


def assert_acts_as(kube, workload: dict, account: str, client_id: str) -> None:
    """Pods of `workload` run as `account`, which names the identity, labelled for the webhook, with its client id."""
    namespace = workload["metadata"]["namespace"]
    annotations = kube.get("ServiceAccount", namespace, account)["metadata"]["annotations"]
    assert annotations == {"azure.workload.identity/client-id": client_id}
    pod = workload["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == account
    for container in pod["spec"]["containers"]:
        assert {"name": "AZURE_CLIENT_ID", "value": client_id} in container["env"]


def run_and_cancel(app: AppHarness, kube, target: str, run_id: str) -> None:
    """A run with PostgreSQL on the environment `dev`, then cancelled: its plane goes, its study stays."""
    ns = f"run-{run_id}"
    spec = yaml.safe_load((ROOT / "examples/sir/run.yaml").read_text())
    spec["central_store"] = {"size": "1Gi"}
    request = {"spec": spec, "target": target, "environment": "dev", "run_id": run_id,
               "base_dir": "/app/examples/sir"}  # fmt: skip
    code, accepted, _ = app.http("start_run", "POST", "/api/runs", request)
    assert code == 202, accepted
    app.driver.drain(fire_timers=False)
    code, run, _ = app.http("get_run", "GET", f"/api/runs/{run_id}", route={"run_id": run_id})
    assert run["phase"] == "running", run
    assert run["results"] == f"https://results.blob.core.windows.net/results/{run_id}"
    job = kube.get("Job", ns, "runner")
    env_vars = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "secretKeyRef" in env_vars["PGPASSWORD"]["valueFrom"]
    document = yaml.safe_load(kube.get("ConfigMap", ns, "run-document")["data"]["run.yaml"])
    assert document["targets"]["incidence"]["data"] == "/app/examples/sir/data/incidence.csv"

    assert app.http("cancel_run", "DELETE", f"/api/runs/{run_id}", route={"run_id": run_id})[0] == 202
    app.driver.drain(fire_timers=False)
    code, run, _ = app.http("get_run", "GET", f"/api/runs/{run_id}", route={"run_id": run_id})
    assert run["phase"] == "cancelled" and run["error"] is None
    assert kube.get("Job", ns, "runner") is None
    assert kube.get("StatefulSet", ns, "postgres") is None
    assert kube.get("Secret", ns, "postgres-credentials") is not None  # the study is kept (no purge)


def test_environment_up_run_cancel_down_and_up_again_on_an_existing_cluster(clouds):
    """The existing target with a kubeconfig for kubelogin (Entra ID): no ARM at all, and an
    environment brought straight back up waits for its old namespace to finish terminating."""
    arm, kube = clouds
    app = AppHarness()
    for attempt in range(2):
        assert app.http("change_environment", "PUT", "/api/environments/dev", {"target": "existing"},
                        route={"env": "dev"})[0] == 202  # fmt: skip
        app.driver.drain()
        env = app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})[1]
        assert env["phase"] == "ready", env
        assert not kube.get("Namespace", None, "modelops-dev")["metadata"].get("deletionTimestamp")
        if attempt == 0:
            run_and_cancel(app, kube, "existing", "sir-ex")
            assert app.http("change_environment", "DELETE", "/api/environments/dev", route={"env": "dev"})[0] == 202
            app.driver.drain()
            env = app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})[1]
            assert env["phase"] == "removed", env
            assert kube.get("Namespace", None, "modelops-dev")["metadata"]["deletionTimestamp"]
    assert arm.requests == []


def test_throttling_and_server_errors_are_retried_and_a_permanent_failure_names_its_step(clouds):
    arm, kube = clouds
    arm.inject("PUT", r"/resourcegroups/modelops-dev-rg-ada$", 429, headers={"Retry-After": "1"})
    arm.inject("GET", r"/managedClusters/modelops-dev-aks$", 500, times=2)
    app = AppHarness()
    app.http("change_environment", "PUT", "/api/environments/dev", {"target": "azure"}, route={"env": "dev"})
    app.driver.drain()
    assert app.http("get_environment", "GET", "/api/environments/dev", route={"env": "dev"})[1]["phase"] == "ready"
    assert 1 in arm.sleeps  # the 429's Retry-After was honoured
    assert arm.pending_faults == 0  # every injected fault was answered, and retried past

    kube.fail_next("PATCH", r"/namespaces/run-sir-bad/jobs/runner", 403, times=10)
    spec = yaml.safe_load((ROOT / "examples/sir/run.yaml").read_text())
    request = {"spec": spec, "target": "azure", "environment": "dev", "run_id": "sir-bad"}
    assert app.http("start_run", "POST", "/api/runs", request)[0] == 202
    app.driver.drain()
    code, run, _ = app.http("get_run", "GET", "/api/runs/sir-bad", route={"run_id": "sir-bad"})
    assert run["phase"] == "failed" and run["error"]["step"] == "runner", run
    assert "403" in run["error"]["reason"]
    assert kube.get("ConfigMap", "run-sir-bad", "run-document") is None  # the run's own resources are removed
    assert kube.get("Deployment", "modelops-dev", "dask-workers") is not None  # the shared environment is not


def test_a_run_past_the_identitys_20_credentials_fails_at_its_identity_step(clouds):
    """19 runs in flight hold 19 credentials beside the workers' one: the next run is refused by
    Azure's limit, fails naming it before its runner starts, and leaves no credential behind."""
    arm, kube = clouds
    app = AppHarness()
    app.http("change_environment", "PUT", "/api/environments/dev", {"target": "azure"}, route={"env": "dev"})
    app.driver.drain()
    msi = ManagedServiceIdentityClient(FakeCredential(), SUBSCRIPTION_ID, transport=arm, **FAST)
    issuer = arm.resource(CLUSTER_ID)["properties"]["oidcIssuerProfile"]["issuerURL"]
    for i in range(19):
        msi.federated_identity_credentials.create_or_update("modelops-dev-rg-ada", "modelops-dev-id", f"run-r{i}-runner", {
            "properties": {"issuer": issuer, "subject": f"system:serviceaccount:run-r{i}:runner",
                           "audiences": ["api://AzureADTokenExchange"]}})  # fmt: skip
    spec = yaml.safe_load((ROOT / "examples/sir/run.yaml").read_text())
    request = {"spec": spec, "target": "azure", "environment": "dev", "run_id": "sir-20"}
    assert app.http("start_run", "POST", "/api/runs", request)[0] == 202
    app.driver.drain()
    run = app.http("get_run", "GET", "/api/runs/sir-20", route={"run_id": "sir-20"})[1]
    assert run["phase"] == "failed" and run["error"]["step"] == "identity", run
    assert "at most 20" in run["error"]["reason"]
    assert kube.get("Job", "run-sir-20", "runner") is None
    assert len(federated(arm)) == 20 and "run-sir-20-runner" not in federated(arm)


def test_a_run_whose_plane_fails_to_stop_still_releases_its_credential(clouds):
    arm, kube = clouds
    app = AppHarness()
    app.http("change_environment", "PUT", "/api/environments/dev", {"target": "azure"}, route={"env": "dev"})
    app.driver.drain()
    spec = yaml.safe_load((ROOT / "examples/sir/run.yaml").read_text())
    request = {"spec": spec, "target": "azure", "environment": "dev", "run_id": "sir-st"}
    assert app.http("start_run", "POST", "/api/runs", request)[0] == 202
    app.driver.drain(fire_timers=False)
    assert "run-sir-st-runner" in federated(arm)
    kube.fail_next("DELETE", r"/namespaces/run-sir-st/jobs/runner", 500, times=50)
    assert app.http("cancel_run", "DELETE", "/api/runs/sir-st", route={"run_id": "sir-st"})[0] == 202
    app.driver.drain()  # the cleanup step's retries wait on timers
    run = app.http("get_run", "GET", "/api/runs/sir-st", route={"run_id": "sir-st"})[1]
    assert run["phase"] == "failed" and run["error"]["step"] == "cleanup", run
    assert list(federated(arm)) == ["modelops-dev-modelops-workspace"]
