"""The fake Kubernetes API answers the real `kubernetes` client the way a cluster does.

Server-side apply with the official client is a typed patch call with the apply content
type: `patch_namespaced_<kind>(name, namespace, manifest_dict, field_manager=...,
force=True, _content_type="application/apply-patch+yaml")`.
"""
import base64
import json
import urllib.error
import urllib.request

import kubernetes
import kubernetes_validate
import pytest
from kubernetes.client import ApiException, AppsV1Api, BatchV1Api, CoreV1Api

from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_api_errors import KubeError

APPLY = "application/apply-patch+yaml"
NS = "modelops-test"
IMAGE = "modelops/dask:test"


def template(app: str, **spec) -> dict:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": app, "image": IMAGE}], **spec}}


def deployment(name: str, replicas: int = 1, labels: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": labels or {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": template(name)}}


def statefulset(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": NS},
            "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": template(name)}}


def service(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [{"port": 8786, "targetPort": 8786}]}}


def secret(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "type": "Opaque", "stringData": {"password": "s3cret"}}


def job(name: str) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS},
            "spec": {"backoffLimit": 0, "template": template(name, restartPolicy="Never")}}


def apply(patch_call, manifest: dict, manager: str = "modelops", force: bool = True):
    """Server-side apply through a typed client method, as production code does it."""
    meta = manifest["metadata"]
    return patch_call(meta["name"], meta["namespace"], manifest, field_manager=manager,
                      force=force, _content_type=APPLY)


def refusal(call, *args, **kwargs) -> tuple[int, str, dict]:
    """The HTTP status, `Status.reason` and `Status` body of the ApiException a call raises."""
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    status = json.loads(caught.value.body)
    assert (status["kind"], status["status"], status["code"]) == ("Status", "Failure", caught.value.status)
    return caught.value.status, status["reason"], status


def fields_of(obj: dict, manager: str) -> dict:
    return {e["operation"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"] if e["manager"] == manager}


@pytest.fixture
def kube():
    with FakeKubeApi() as fake:
        yield fake


@pytest.fixture
def api(kube):
    client = kubernetes.config.new_client_from_config_dict(kube.kubeconfig())
    yield client
    client.close()


@pytest.fixture
def core(api):
    return CoreV1Api(api)


@pytest.fixture
def apps(api):
    return AppsV1Api(api)


@pytest.fixture
def batch(api):
    return BatchV1Api(api)


@pytest.fixture
def namespace(core):
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return NS


def test_apply_creates_the_workloads_with_server_populated_fields(kube, core, apps, batch, namespace):
    created = {"Deployment": apply(apps.patch_namespaced_deployment, deployment("dask-scheduler")),
               "Service": apply(core.patch_namespaced_service, service("dask-scheduler")),
               "Secret": apply(core.patch_namespaced_secret, secret("postgres")),
               "StatefulSet": apply(apps.patch_namespaced_stateful_set, statefulset("postgres")),
               "Job": apply(batch.patch_namespaced_job, job("runner"))}
    revisions = [int(obj.metadata.resource_version) for obj in created.values()]
    assert revisions == sorted(set(revisions))
    for kind, obj in created.items():
        assert obj.metadata.uid and obj.metadata.creation_timestamp
        assert obj.metadata.generation == (None if kind in ("Service", "Secret") else 1)
        assert [(f.manager, f.operation) for f in obj.metadata.managed_fields] == [("modelops", "Apply")]
        assert kube.get(kind, NS, obj.metadata.name).get("status") == {
            "Secret": None, "StatefulSet": {"replicas": 0, "availableReplicas": 0}}.get(kind, {})
    assert created["Secret"].data == {"password": base64.b64encode(b"s3cret").decode()}
    assert [r.status for r in kube.requests if r.content_type == APPLY] == [201] * 5


def test_reapplying_the_same_manifest_is_a_no_op(apps, namespace):
    first = apply(apps.patch_namespaced_deployment, deployment("dask"))
    again = apply(apps.patch_namespaced_deployment, deployment("dask"))
    assert (again.metadata.resource_version, again.metadata.generation) == (first.metadata.resource_version, 1)
    relabelled = apply(apps.patch_namespaced_deployment, deployment("dask", labels={"app": "dask", "tier": "a"}))
    assert int(relabelled.metadata.resource_version) > int(first.metadata.resource_version)
    assert relabelled.metadata.generation == 1  # metadata is not spec
    assert apply(apps.patch_namespaced_deployment, deployment("dask", replicas=2)).metadata.generation == 2


def test_apply_removes_fields_its_manager_stopped_applying(apps, namespace):
    apply(apps.patch_namespaced_deployment, deployment("dask", labels={"app": "dask", "tier": "a"}))
    assert apply(apps.patch_namespaced_deployment, deployment("dask")).metadata.labels == {"app": "dask"}


def test_a_conflicting_apply_by_another_manager_needs_force(kube, apps, namespace):
    apply(apps.patch_namespaced_deployment, deployment("dask", replicas=1))
    code, reason, status = refusal(apply, apps.patch_namespaced_deployment, deployment("dask", replicas=3),
                                   manager="autoscaler", force=False)
    assert (code, reason) == (409, "Conflict")
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                            "message": 'conflict with "modelops" using apps/v1'}]
    forced = apply(apps.patch_namespaced_deployment, deployment("dask", replicas=3), manager="autoscaler")
    assert forced.spec.replicas == 3
    stored = kube.get("Deployment", NS, "dask")
    assert "f:replicas" in fields_of(stored, "autoscaler")["Apply"]["f:spec"]
    assert "f:replicas" not in fields_of(stored, "modelops")["Apply"]["f:spec"]
    assert refusal(apply, apps.patch_namespaced_deployment, deployment("dask", replicas=1),
                   force=False)[:2] == (409, "Conflict")
    same_value = apply(apps.patch_namespaced_deployment, deployment("dask", replicas=3), force=False)
    assert same_value.spec.replicas == 3  # agreeing managers share the field


def test_apply_needs_a_field_manager(apps, namespace):
    code, reason, status = refusal(apps.patch_namespaced_deployment, "dask", NS, deployment("dask"),
                                   _content_type=APPLY)
    assert (code, reason, status["details"]["causes"][0]["field"]) == (422, "Invalid", "fieldManager")


def test_merge_patch_and_replace_take_ownership_of_what_they_change(kube, apps, namespace):
    apply(apps.patch_namespaced_deployment, deployment("dask"))
    scaled = apps.patch_namespaced_deployment("dask", NS, {"spec": {"replicas": 4}})
    assert scaled.spec.replicas == 4
    assert kube.requests[-1].content_type == "application/strategic-merge-patch+json"
    assert refusal(apply, apps.patch_namespaced_deployment, deployment("dask", replicas=1),
                   force=False)[:2] == (409, "Conflict")  # like `kubectl scale` then apply
    unlabelled = apps.patch_namespaced_deployment("dask", NS, {"metadata": {"labels": {"app": None}}},
                                                  _content_type="application/merge-patch+json")
    assert "app" not in (unlabelled.metadata.labels or {})
    current = apps.read_namespaced_deployment("dask", NS)
    current.spec.replicas = 5
    replaced = apps.replace_namespaced_deployment("dask", NS, current)
    assert (replaced.spec.replicas, replaced.metadata.generation) == (5, 3)
    assert refusal(apps.replace_namespaced_deployment, "dask", NS, current)[:2] == (409, "Conflict")
    assert refusal(apps.patch_namespaced_deployment, "dask", NS, {"status": {"replicas": 1}})[:2] == (400, "BadRequest")


def test_list_filters_by_every_label_selector_form(core, namespace):
    for name, labels in {"a": {"app": "dask", "tier": "scheduler"}, "b": {"app": "dask", "tier": "worker"},
                         "c": {"app": "postgres"}, "d": {}}.items():
        core.create_namespaced_config_map(NS, {"metadata": {"name": name, "labels": labels}})
    expected = {"": "abcd", "app=dask": "ab", "app==dask": "ab", "app!=dask": "cd",
                "tier in (scheduler, worker)": "ab", "tier notin (worker)": "acd", "tier": "ab",
                "!tier": "cd", "app=dask,tier!=worker": "a", "app in (dask,postgres),!tier": "c"}
    for selector, names in expected.items():
        found = core.list_namespaced_config_map(NS, label_selector=selector).items
        assert "".join(item.metadata.name for item in found) == names, selector
    assert len(core.list_config_map_for_all_namespaces(label_selector="app=dask").items) == 2
    assert refusal(core.list_namespaced_config_map, NS, label_selector="app in dask")[:2] == (400, "BadRequest")


def test_deleting_a_namespace_deletes_what_is_in_it(kube, core, apps, namespace):
    core.create_namespace({"metadata": {"name": "other"}})
    core.create_namespaced_config_map("other", {"metadata": {"name": "kept"}})
    apply(apps.patch_namespaced_deployment, deployment("dask"))
    apply(core.patch_namespaced_secret, secret("postgres"))
    core.delete_namespace(NS, propagation_policy="Foreground")
    assert kube.objects("Deployment") == kube.objects("Secret") == []
    assert [cm["metadata"]["name"] for cm in kube.objects("ConfigMap")] == ["kept"]
    assert refusal(apps.read_namespaced_deployment, "dask", NS)[:2] == (404, "NotFound")
    terminating = core.read_namespace(NS)  # a while Terminating: new content refused
    assert terminating.metadata.deletion_timestamp and terminating.status.phase == "Terminating"
    code, reason, status = refusal(apply, apps.patch_namespaced_deployment, deployment("dask"))
    assert (code, reason) == (403, "Forbidden") and "because it is being terminated" in status["message"]
    core.read_namespace(NS)
    assert refusal(core.read_namespace, NS)[:2] == (404, "NotFound")  # then gone
    code, reason, status = refusal(apply, apps.patch_namespaced_deployment, deployment("dask"))
    assert (code, reason, status["details"]) == (404, "NotFound", {"name": NS, "kind": "namespaces"})


def test_a_changed_immutable_field_is_refused_as_the_api_server_refuses_it(kube, core, apps, batch, namespace):
    apply(batch.patch_namespaced_job, job("runner"))
    changed = job("runner")
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "other:2"
    code, reason, status = refusal(apply, batch.patch_namespaced_job, changed)
    assert (code, reason) == (422, "Invalid") and "spec.template" in status["message"]
    assert "field is immutable" in status["message"]
    claimed = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pg", "namespace": NS},
               "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}}
    apply(core.patch_namespaced_service, claimed)
    claimed["spec"]["clusterIP"] = ""
    assert refusal(apply, core.patch_namespaced_service, claimed)[0] == 422


def test_a_jobs_pods_go_with_it_only_when_deletion_propagates(kube, core, batch, namespace):
    for name in ("propagated", "orphaning"):
        owner = apply(batch.patch_namespaced_job, job(name))
        reference = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": owner.metadata.uid,
                     "controller": True}
        core.create_namespaced_pod(NS, {"metadata": {"name": f"{name}-pod", "ownerReferences": [reference]},
                                        "spec": template(name)["spec"]})
    batch.delete_namespaced_job("propagated", NS, propagation_policy="Background")
    batch.delete_namespaced_job("orphaning", NS)  # batch/v1 Jobs orphan by default
    pods = kube.objects("Pod", NS)
    assert [pod["metadata"]["name"] for pod in pods] == ["orphaning-pod"]
    assert "ownerReferences" not in pods[0]["metadata"]


def test_refusals_surface_as_api_exceptions_with_the_servers_reasons(core, apps, namespace):
    apply(apps.patch_namespaced_deployment, deployment("dask"))
    unknown_field = deployment("dask")
    unknown_field["spec"]["replica"] = 2
    no_containers = deployment("dask")
    del no_containers["spec"]["template"]["spec"]["containers"]  # pruned: modelops applied them before
    bad_label = deployment("dask", labels={"app": "not a label value"})
    cases = [
        (apps.read_namespaced_deployment, ("missing", NS), {}, 404, "NotFound"),
        (core.create_namespace, ({"metadata": {"name": NS}},), {}, 409, "AlreadyExists"),
        (core.create_namespace, ({"metadata": {"name": "Bad_Name"}},), {}, 422, "Invalid"),
        (apply, (core.patch_namespaced_service, service("1-starts-with-a-digit")), {}, 422, "Invalid"),
        (apply, (apps.patch_namespaced_deployment, bad_label), {}, 422, "Invalid"),
        (apply, (apps.patch_namespaced_deployment, no_containers), {}, 422, "Invalid"),
        (apply, (apps.patch_namespaced_deployment, unknown_field), {}, 400, "BadRequest"),
        (apps.patch_namespaced_deployment, ("other-name", NS, deployment("dask")),
         {"field_manager": "modelops", "_content_type": APPLY}, 400, "BadRequest"),
        (core.create_namespaced_config_map, (NS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
         {}, 400, "BadRequest"),
        (core.list_namespaced_pod, (NS,), {"watch": True}, 400, "BadRequest"),
        (apps.patch_namespaced_deployment, ("dask", NS, [{"op": "add", "path": "/spec/paused", "value": True}]),
         {}, 415, "UnsupportedMediaType"),
    ]
    for call, args, kwargs, code, reason in cases:
        assert refusal(call, *args, **kwargs)[:2] == (code, reason), (call.__name__, args)
    status = refusal(core.create_namespace, {"metadata": {"name": "Bad_Name"}})[2]
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_paths_the_fake_does_not_serve_are_not_found(kube):
    for path in ("/apis/apps/v1/namespaces/x/replicasets", "/apis/apps/v1/namespaces/x/deployments/d/status",
                 "/api/v1/nodes", "/version"):
        request = urllib.request.Request(kube.url + path, headers={"Authorization": f"Bearer {kube.token}"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert (caught.value.code, json.loads(caught.value.read())["reason"]) == (404, "NotFound"), path


def test_a_kubeconfig_file_loads_and_a_wrong_token_is_unauthorized(kube, tmp_path):
    kube.kubeconfig(tmp_path / "config")
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(tmp_path / "config"), client_configuration=configuration)
    with kubernetes.client.ApiClient(configuration) as client:
        assert CoreV1Api(client).list_namespace().items == []
    stolen = kube.kubeconfig()
    stolen["users"][0]["user"]["token"] = "wrong"
    with kubernetes.config.new_client_from_config_dict(stolen) as client:
        assert refusal(CoreV1Api(client).list_namespace)[:2] == (401, "Unauthorized")


def test_set_status_is_what_clients_read(kube, apps, batch, namespace):
    applied = apply(apps.patch_namespaced_deployment, deployment("dask"))
    kube.set_status("Deployment", NS, "dask", {"replicas": 1, "readyReplicas": 1, "observedGeneration": 1})
    ready = apps.read_namespaced_deployment("dask", NS)
    assert (ready.status.ready_replicas, ready.metadata.generation) == (1, 1)
    assert int(ready.metadata.resource_version) > int(applied.metadata.resource_version)
    assert apply(apps.patch_namespaced_deployment, deployment("dask")).status.ready_replicas == 1
    apply(batch.patch_namespaced_job, job("runner"))
    kube.set_status("Job", NS, "runner", {"succeeded": 1})
    assert batch.read_namespaced_job("runner", NS).status.succeeded == 1
    apply(apps.patch_namespaced_stateful_set, statefulset("postgres"))
    kube.set_status("StatefulSet", NS, "postgres", {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1})
    assert apps.read_namespaced_stateful_set("postgres", NS).status.ready_replicas == 1
    with pytest.raises(KubeError, match="readyReplica"):
        kube.set_status("Deployment", NS, "dask", {"readyReplica": 1})
    with pytest.raises(KeyError):
        kube.set_status("Job", NS, "missing", {"failed": 1})
    with pytest.raises(KeyError):
        kube.objects("ReplicaSet")


def test_injected_faults_surface_and_then_clear(kube, apps, namespace):
    kube.fail_next("PATCH", r"/deployments/dask$", 500, times=2)
    for _ in range(2):
        assert refusal(apply, apps.patch_namespaced_deployment, deployment("dask"))[:2] == (500, "InternalError")
    assert kube.get("Deployment", NS, "dask") is None
    assert apply(apps.patch_namespaced_deployment, deployment("dask")).metadata.generation == 1
    assert [r.status for r in kube.requests if r.method == "PATCH"] == [500, 500, 201]


@pytest.mark.parametrize("version", ["1.30", kubernetes_validate.latest_version()])
def test_the_sample_manifests_are_valid_kubernetes_in_strict_mode(version):
    for manifest in (deployment("dask"), statefulset("postgres"), service("dask"), job("runner")):
        assert kubernetes_validate.validate(manifest, version, strict=True) == ".".join(version.split(".")[:2])


def test_strict_validation_rejects_an_unknown_field():
    manifest = deployment("dask")
    manifest["spec"]["replica"] = 2
    kubernetes_validate.validate(manifest, "1.30", strict=False)  # what strict mode is for
    with pytest.raises(kubernetes_validate.ValidationError, match="'replica' was unexpected"):
        kubernetes_validate.validate(manifest, "1.30", strict=True)


def test_with_azure_rbac_a_call_outside_the_roles_data_actions_is_forbidden():
    allowed = frozenset({"Microsoft.ContainerService/managedClusters/namespaces/write"})
    with FakeKubeApi(data_actions=allowed) as rbac:
        api = CoreV1Api(kubernetes.config.new_client_from_config_dict(rbac.kubeconfig()))
        api.create_namespace({"metadata": {"name": "allowed"}})
        code, reason, status = refusal(api.read_namespace, "allowed")
        assert (code, reason) == (403, "Forbidden") and "namespaces/read" in status["message"]
        assert rbac.data_actions_used == (set(allowed), ["Microsoft.ContainerService/managedClusters/namespaces/read"])
