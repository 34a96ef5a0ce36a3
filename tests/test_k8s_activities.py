"""The Kubernetes activities against the strict fake API server, through the `existing` target.

No controllers run in the fake: `controllers()` plays them from a thread, marking workloads
ready as soon as they exist, so the activities' real readiness waits are what is tested.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import kubernetes
import pytest
import yaml
from kubernetes.client import CoreV1Api

from control_plane.activities.kubernetes import bp
from control_plane.k8s import apply as k8s_apply
from tests.durable.functions import FunctionIndex, run_activity
from tests.fakes.kube_api import FakeKubeApi

CLUSTER = {"target": "existing", "kubeconfig_setting": "MODELOPS_EXISTING_KUBECONFIG"}
WS, RUN_ID, RUN_NS = "modelops-dev", "calib-1", "run-calib-1"
WORKSPACE = {"cluster": CLUSTER, "environment": "dev", "workers": 3, "worker_cpu": "2", "worker_memory": "4Gi",
             "node_selector": {"modelops.io/role": "cpu"}, "image_pull_secret": "registry-credentials", "timeout_s": 10}
POSTGRES = {"cluster": CLUSTER, "namespace": RUN_NS, "size": "5Gi", "storage_class": "managed-csi",
            "version": "16", "timeout_s": 10}
SPEC = {"apiVersion": "modelops/v1", "kind": "Calibration", "name": "calib", "budget": {"trials": 8}}
EVENTS_URL = "https://events.example.invalid/api/events"
ACTIVITIES = FunctionIndex.of(bp).activities
COMPLETE = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
FAILED = {"failed": 7, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                       "message": "Job has reached the specified backoff limit"}]}


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    with FakeKubeApi() as fake:
        monkeypatch.setenv("MODELOPS_EXISTING_KUBECONFIG", yaml.safe_dump(fake.kubeconfig()))
        monkeypatch.setenv("MODELOPS_RUNNER_IMAGE", "modelops-runner:test")
        monkeypatch.setenv("MODELOPS_EVENTS_URL", EVENTS_URL)
        monkeypatch.setattr(k8s_apply, "POLL_SECONDS", 0.02)
        yield fake


def call(name: str, payload: dict) -> dict:
    result = run_activity(ACTIVITIES[name], json.dumps(payload))
    assert not result.failed, result.details
    return json.loads(result.result_text)


def failure(name: str, payload: dict) -> str:
    result = run_activity(ACTIVITIES[name], json.dumps(payload))
    assert result.failed, result.result_text
    return result.reason


def ready_status(obj: dict, jobs: dict[str, dict]) -> dict | None:
    """What the object's controller would report once its pods are up; None: leave it be."""
    if obj["kind"] == "Job":
        return jobs.get(obj["metadata"]["name"])
    n = obj["spec"].get("replicas", 1)
    return {"observedGeneration": obj["metadata"]["generation"], "replicas": n, "readyReplicas": n,
            "updatedReplicas": n, "availableReplicas": n}


@contextmanager
def controllers(kube: FakeKubeApi, jobs: dict[str, dict] | None = None) -> Iterator[None]:
    """Mark every Deployment and StatefulSet ready, and the Jobs named in `jobs`, once they exist."""
    jobs = {"postgres-init": COMPLETE} if jobs is None else jobs
    stop = threading.Event()

    def play() -> None:
        while not stop.wait(0.01):
            for kind in ("Deployment", "StatefulSet", "Job"):
                for obj in kube.objects(kind):
                    status = ready_status(obj, jobs)
                    if status is not None and obj.get("status") != status:
                        with suppress(KeyError):  # deleted meanwhile
                            kube.set_status(kind, obj["metadata"]["namespace"], obj["metadata"]["name"], status)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def versions(kube: FakeKubeApi) -> dict:
    kinds = ("Namespace", "Service", "Secret", "ConfigMap", "Deployment", "StatefulSet", "Job")
    return {(kind, o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for kind in kinds for o in kube.objects(kind)}


def writes_since(kube: FakeKubeApi, start: int) -> list:
    return [r for r in kube.requests[start:] if r.method != "GET"]


def test_the_blueprint_has_the_contracts_activities() -> None:
    assert set(ACTIVITIES) == {"k8s_ensure_workspace", "k8s_ensure_run_namespace", "k8s_ensure_postgres",
                               "k8s_start_runner", "k8s_runner_status", "k8s_delete_run", "k8s_delete_workspace"}


def test_ensure_workspace_waits_for_ready_and_a_second_run_changes_nothing(kube: FakeKubeApi) -> None:
    with controllers(kube):
        binding = call("k8s_ensure_workspace", WORKSPACE)
        assert binding == {"namespace": WS, "scheduler_address": "tcp://dask-scheduler.modelops-dev:8786",
                           "dashboard_url": "http://dask-scheduler.modelops-dev:8787", "workers": 3}
        before, start = versions(kube), len(kube.requests)
        assert call("k8s_ensure_workspace", WORKSPACE) == binding
    assert versions(kube) == before
    assert {(r.method, r.content_type, r.status) for r in writes_since(kube, start)} == {
        ("PATCH", "application/apply-patch+yaml", 200)}
    assert {r.query["fieldManager"] for r in writes_since(kube, 0)} == {"modelops"}
    pod = kube.get("Deployment", WS, "dask-workers")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"modelops.io/role": "cpu"}
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["containers"][0]["image"] == "modelops-runner:test"  # the app's default image
    assert kube.get("Namespace", None, WS)["metadata"]["labels"]["modelops.io/environment"] == "dev"


def test_readiness_timeout_names_what_is_not_ready_and_why(kube: FakeKubeApi) -> None:
    quick = WORKSPACE | {"timeout_s": 0.2}
    reason = failure("k8s_ensure_workspace", quick)
    assert "dask-scheduler: 0 of 1 replicas ready; dask-workers: 0 of 3 replicas ready after 0.2 s" in reason

    kube.set_status("Deployment", WS, "dask-scheduler", ready_status(kube.get("Deployment", WS, "dask-scheduler"), {}))
    kube.set_status("Deployment", WS, "dask-workers", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 1,
                                                       "updatedReplicas": 3})
    core = CoreV1Api(kubernetes.config.new_client_from_config_dict(kube.kubeconfig()))
    labels = kube.get("Deployment", WS, "dask-workers")["spec"]["template"]["metadata"]["labels"]
    core.create_namespaced_pod(WS, {"metadata": {"name": "dask-workers-7d9f-x2", "labels": labels},
                                    "spec": {"containers": [{"name": "worker", "image": "modelops-runner:test"}]}})
    kube.set_status("Pod", WS, "dask-workers-7d9f-x2", {"phase": "Running", "containerStatuses": [
        {"name": "worker", "image": "modelops-runner:test", "imageID": "", "ready": False, "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
    reason = failure("k8s_ensure_workspace", quick)
    assert reason.endswith("failed: NotReady: dask-workers: 1 of 3 replicas ready "
                           "(dask-workers-7d9f-x2: CrashLoopBackOff) after 0.2 s")


def test_a_status_from_before_a_change_does_not_count_as_ready(kube: FakeKubeApi) -> None:
    with controllers(kube):
        call("k8s_ensure_workspace", WORKSPACE)
    reason = failure("k8s_ensure_workspace", WORKSPACE | {"workers": 4, "timeout_s": 0.2})
    assert reason.endswith("dask-workers: 0 of 4 replicas ready (its controller has not seen the latest change yet) "
                           "after 0.2 s")


def test_postgres_secret_is_made_once_and_its_passwords_go_nowhere(kube, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    outputs = [call("k8s_ensure_run_namespace", {"cluster": CLUSTER, "run_id": RUN_ID})]
    with controllers(kube):
        outputs.append(call("k8s_ensure_postgres", POSTGRES))
        before, start = versions(kube), len(kube.requests)
        outputs.append(call("k8s_ensure_postgres", POSTGRES))
    assert outputs[1:] == [{"namespace": RUN_NS, "service": "postgres", "secret_name": "postgres-credentials",
                            "database": "optuna"}] * 2
    assert versions(kube) == before
    assert {(r.method, r.status) for r in writes_since(kube, start)} == {("PATCH", 200)}
    created = [(r.path, r.query["fieldManager"]) for r in kube.requests if r.method == "POST"]
    assert created == [(f"/api/v1/namespaces/{RUN_NS}/secrets", "modelops")]
    data = kube.get("Secret", RUN_NS, "postgres-credentials")["data"]
    passwords = [base64.b64decode(data[key]).decode() for key in ("PGPASSWORD", "POSTGRES_PASSWORD")]
    seen = json.dumps(outputs) + caplog.text
    assert all(len(p) >= 24 and p not in seen and data_of(p) not in seen for p in passwords)
    claim = kube.get("StatefulSet", RUN_NS, "postgres")["spec"]["volumeClaimTemplates"][0]["spec"]
    assert (claim["storageClassName"], claim["resources"]["requests"]["storage"]) == ("managed-csi", "5Gi")


def test_a_failed_init_job_ends_the_wait_at_once(kube: FakeKubeApi) -> None:
    call("k8s_ensure_run_namespace", {"cluster": CLUSTER, "run_id": RUN_ID})
    with controllers(kube, jobs={"postgres-init": FAILED}):
        reason = failure("k8s_ensure_postgres", POSTGRES | {"timeout_s": 60})
    assert reason.endswith("postgres-init failed in run-calib-1: BackoffLimitExceeded: "
                           "Job has reached the specified backoff limit")


def test_the_runner_job_reads_postgres_from_the_secret(kube: FakeKubeApi) -> None:
    postgres = start_run(kube, runners=2)
    job = kube.get("Job", RUN_NS, "runner")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    for key in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
        assert env[key] == {"name": key, "valueFrom": {"secretKeyRef": {"name": postgres["secret_name"], "key": key}}}
    assert env["MODELOPS_EVENTS_URL"]["value"] == EVENTS_URL
    assert env["MODELOPS_RESULTS_URL"]["value"] == "runs/calib-1"
    assert env["DASK_SCHEDULER_ADDRESS"]["value"] == "tcp://dask-scheduler.modelops-dev:8786"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (2, 2)
    password = base64.b64decode(kube.get("Secret", RUN_NS, "postgres-credentials")["data"]["PGPASSWORD"]).decode()
    assert password not in json.dumps(job)
    assert yaml.safe_load(kube.get("ConfigMap", RUN_NS, "run-document")["data"]["run.yaml"]) == SPEC


def test_many_runners_need_postgres_and_postgres_must_be_in_the_runs_namespace(kube: FakeKubeApi) -> None:
    call("k8s_ensure_run_namespace", {"cluster": CLUSTER, "run_id": RUN_ID})
    assert "2 runners share their study through PostgreSQL" in failure("k8s_start_runner", runner_payload(None, 2))
    elsewhere = {"namespace": "run-other", "service": "postgres", "secret_name": "postgres-credentials",
                 "database": "optuna"}
    assert "reads Secrets of its own namespace" in failure("k8s_start_runner", runner_payload(elsewhere, 1))
    assert not kube.objects("Job")


@pytest.mark.parametrize(("status", "expected"), [
    (None, {"state": "running", "exit_code": None, "summary": None}),
    ({"active": 2}, {"state": "running", "exit_code": None, "summary": None}),
    ({"succeeded": 2, "conditions": [{"type": "Complete", "status": "True"}]},
     {"state": "exited", "exit_code": 0, "summary": None}),
    (FAILED, {"state": "exited", "exit_code": 1, "summary": None}),
])
def test_runner_status_maps_the_job(kube: FakeKubeApi, status: dict | None, expected: dict) -> None:
    where = {"cluster": CLUSTER, "namespace": RUN_NS, "job_name": "runner"}
    call("k8s_ensure_run_namespace", {"cluster": CLUSTER, "run_id": RUN_ID})
    assert call("k8s_runner_status", where) == {"state": "missing", "exit_code": None, "summary": None}
    runner = call("k8s_start_runner", runner_payload(None, 1))
    assert runner == {"namespace": RUN_NS, "job_name": "runner"}
    if status is not None:
        kube.set_status("Job", RUN_NS, "runner", status)
    assert call("k8s_runner_status", where) == expected


def test_deleting_a_run_keeps_its_postgres_volume_and_secret_unless_purged(kube: FakeKubeApi) -> None:
    start_run(kube, runners=1)
    core = CoreV1Api(kubernetes.config.new_client_from_config_dict(kube.kubeconfig()))
    claim = kube.get("StatefulSet", RUN_NS, "postgres")["spec"]["volumeClaimTemplates"][0]
    core.create_namespaced_persistent_volume_claim(RUN_NS, {  # as the StatefulSet controller makes it
        "metadata": {"name": "data-postgres-0", "labels": claim["metadata"]["labels"]}, "spec": claim["spec"]})
    where = {"cluster": CLUSTER, "namespace": RUN_NS}

    assert call("k8s_delete_run", where) == {"deleted": ["Job/runner", "ConfigMap/run-document", "Job/postgres-init",
                                                         "StatefulSet/postgres", "Service/postgres"]}
    assert call("k8s_delete_run", where) == {"deleted": []}
    left = {(kind, o["metadata"]["name"]) for kind in ("Secret", "PersistentVolumeClaim", "Job", "StatefulSet",
                                                       "Service", "ConfigMap") for o in kube.objects(kind, RUN_NS)}
    assert left == {("Secret", "postgres-credentials"), ("PersistentVolumeClaim", "data-postgres-0")}
    job_deletes = [r for r in kube.requests if r.method == "DELETE" and "/jobs/" in r.path]
    assert {r.query.get("propagationPolicy") for r in job_deletes} == {"Background"}  # pods go with their Job

    assert call("k8s_delete_run", where | {"purge": True}) == {"deleted": [f"Namespace/{RUN_NS}"]}
    assert going(kube, RUN_NS) and not kube.objects("PersistentVolumeClaim")
    assert call("k8s_delete_run", where | {"purge": True}) == {"deleted": []}


def test_deleting_the_workspace_deletes_its_namespace_once(kube: FakeKubeApi) -> None:
    with controllers(kube):
        call("k8s_ensure_workspace", WORKSPACE)
    payload = {"cluster": CLUSTER, "environment": "dev"}
    assert call("k8s_delete_workspace", payload) == {"deleted": True}
    assert not kube.objects("Deployment") and going(kube, WS)
    assert call("k8s_delete_workspace", payload) == {"deleted": False}


def going(kube: FakeKubeApi, namespace: str) -> bool:
    """Gone, or Terminating (empty, with a deletion timestamp) on its way."""
    found = kube.get("Namespace", None, namespace)
    return found is None or (bool(found["metadata"].get("deletionTimestamp")) and not [
        o for kind in ("Deployment", "StatefulSet", "Job", "Service", "Secret", "ConfigMap")
        for o in kube.objects(kind, namespace)])


def test_a_workspace_taken_down_and_straight_back_up_waits_for_its_namespace_to_go(kube: FakeKubeApi) -> None:
    with controllers(kube):
        call("k8s_ensure_workspace", WORKSPACE)
        call("k8s_delete_workspace", {"cluster": CLUSTER, "environment": "dev"})
        assert kube.get("Namespace", None, WS)["metadata"].get("deletionTimestamp")
        assert call("k8s_ensure_workspace", WORKSPACE)["workers"] == 3
    assert not kube.get("Namespace", None, WS)["metadata"].get("deletionTimestamp")
    assert kube.get("Deployment", WS, "dask-workers") is not None


def test_a_changed_runner_job_is_replaced_not_refused(kube: FakeKubeApi) -> None:
    start_run(kube, runners=1)
    first = kube.get("Job", RUN_NS, "runner")["metadata"]["uid"]
    call("k8s_start_runner", runner_payload(None, 1) | {"image": "modelops-runner:fixed"})  # a retry with another image
    job = kube.get("Job", RUN_NS, "runner")
    assert job["metadata"]["uid"] != first
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "modelops-runner:fixed"
    deletes = [r for r in kube.requests if r.method == "DELETE" and r.path.endswith("/jobs/runner")]
    assert [r.query.get("propagationPolicy") for r in deletes] == ["Background"]


def test_a_larger_postgres_claim_replaces_the_set_and_keeps_its_pods_and_claims(kube: FakeKubeApi) -> None:
    start_run(kube, runners=1)
    with controllers(kube):
        call("k8s_ensure_postgres", POSTGRES | {"size": "50Gi"})
    claim = kube.get("StatefulSet", RUN_NS, "postgres")["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    deletes = [r for r in kube.requests if r.method == "DELETE" and r.path.endswith("/statefulsets/postgres")]
    assert [r.query.get("propagationPolicy") for r in deletes] == ["Orphan"]


def test_a_server_error_fails_the_activity_clearly_and_a_retry_converges(kube: FakeKubeApi) -> None:
    kube.fail_next("PATCH", "/deployments/dask-workers$", 500)
    reason = failure("k8s_ensure_workspace", WORKSPACE)
    assert "\n" not in reason
    assert reason.endswith("apply Deployment modelops-dev/dask-workers: HTTP 500 Internal Server Error: "
                           "injected by FakeKubeApi.fail_next for PATCH "
                           "/apis/apps/v1/namespaces/modelops-dev/deployments/dask-workers")
    with controllers(kube):  # the orchestrator's retry of the same activity
        assert call("k8s_ensure_workspace", WORKSPACE)["workers"] == 3
    assert [o["metadata"]["name"] for o in kube.objects("Deployment")] == ["dask-scheduler", "dask-workers"]


def start_run(kube: FakeKubeApi, runners: int) -> dict:
    call("k8s_ensure_run_namespace", {"cluster": CLUSTER, "run_id": RUN_ID})
    with controllers(kube):
        postgres = call("k8s_ensure_postgres", POSTGRES)
    call("k8s_start_runner", runner_payload(postgres, runners))
    return postgres


def runner_payload(postgres: dict | None, runners: int) -> dict:
    return {"cluster": CLUSTER, "namespace": RUN_NS, "run_id": RUN_ID, "spec": SPEC, "spec_dir": "/app/examples/sir",
            "scheduler_address": "tcp://dask-scheduler.modelops-dev:8786", "results_url": "runs/calib-1",
            "postgres": postgres, "runners": runners}


def data_of(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_registry_pull_secret_is_copied_into_the_run_namespace(kube: FakeKubeApi) -> None:
    core = CoreV1Api(kubernetes.config.new_client_from_config_dict(kube.kubeconfig()))
    core.create_namespace({"metadata": {"name": WS}})
    registry = {".dockerconfigjson": data_of('{"auths": {"registry.invalid": {"auth": "dGVzdDp0ZXN0"}}}')}
    core.create_namespaced_secret(WS, {"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
                                       "data": registry})  # fmt: skip
    payload = {"cluster": CLUSTER, "run_id": RUN_ID, "environment": "dev", "image_pull_secret": "regcred"}
    result = call("k8s_ensure_run_namespace", payload)
    assert result == {"namespace": RUN_NS} and "auths" not in json.dumps(result)
    copied = kube.get("Secret", RUN_NS, "regcred")
    assert copied["type"] == "kubernetes.io/dockerconfigjson" and copied["data"] == registry
    assert call("k8s_ensure_run_namespace", payload) == result  # a second run changes nothing
    missing = failure("k8s_ensure_run_namespace", payload | {"image_pull_secret": "nope"})
    assert "image pull Secret 'nope' not found in namespace modelops-dev" in missing


def test_an_existing_cluster_with_a_client_id_runs_workspace_and_runner_as_that_workload_identity(
        kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    client_id = "0b6c3f2e-6f1d-4c3a-9a55-1d2e3f4a5b6c"
    monkeypatch.setenv("MODELOPS_EXISTING_CLIENT_ID", client_id)
    with controllers(kube):
        call("k8s_ensure_workspace", {"cluster": CLUSTER, "environment": "dev", "workers": 1, "timeout_s": 60})
    start_run(kube, runners=1)
    for ns, account, workloads in ((WS, "modelops-workspace", (("Deployment", "dask-scheduler"),
                                                               ("Deployment", "dask-workers"))),
                                   (RUN_NS, "runner", (("Job", "runner"),))):
        found = kube.get("ServiceAccount", ns, account)
        assert found["metadata"]["annotations"]["azure.workload.identity/client-id"] == client_id
        for kind, name in workloads:
            template = kube.get(kind, ns, name)["spec"]["template"]
            assert template["spec"]["serviceAccountName"] == account
            assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
            env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
            assert env["AZURE_CLIENT_ID"] == client_id
