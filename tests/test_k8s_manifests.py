"""Kubernetes manifests: valid for the oldest and newest schema we know, and wired as the pods need.

Schema checks are strict (kubernetes-validate), so a misspelt or misplaced field fails here
rather than being dropped by a cluster. The PostgreSQL init script runs against a real
PostgreSQL, twice, since "idempotent" is its whole point.
"""

from __future__ import annotations

import json
import os
import subprocess

import dask
import kubernetes_validate
import pytest
import yaml

from control_plane.k8s import manifests as m
from modelops.dask_settings import SETTINGS
from runner.config import RunnerConfig

VERSIONS = ("1.30", kubernetes_validate.latest_version())
WS, RUN_NS, RUN_ID = "modelops-dev", "run-calib-1", "calib-1"
IMAGE = "modelops-runner:test"
PG_IMAGE = f"modelopsdevada.azurecr.io/{m.POSTGRES_IMAGES['16']}"
PASSWORD, ADMIN_PASSWORD = "runner-pw-0123456789", "admin-pw-9876543210"
PLACEMENT = {
    "node_selector": {"modelops.io/role": "cpu"},
    "tolerations": [{"key": "modelops.io/role", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}],
    "image_pull_secrets": ["registry-credentials"],
}


def scheduler(**placement) -> dict:
    return m.dask_scheduler_deployment(WS, IMAGE, environment="dev", **placement)


def workers(cpu: str = "2", memory: str = "4Gi", **placement) -> dict:
    return m.dask_workers_deployment(WS, IMAGE, environment="dev", replicas=3, cpu=cpu, memory=memory, **placement)


def secret() -> dict:
    return m.postgres_secret(RUN_NS, password=PASSWORD, admin_password=ADMIN_PASSWORD)


def statefulset(storage_class: str | None = "managed-csi-premium") -> dict:
    return m.postgres_statefulset(RUN_NS, image=PG_IMAGE, size="20Gi", storage_class=storage_class)


BUNDLES = "https://results.example.invalid/results/_bundles"


def runner_job(**options) -> dict:
    return m.runner_job(RUN_NS, RUN_ID, IMAGE, scheduler_address=m.scheduler_address(WS),
                        results_url="https://results.example.invalid/runs/calib-1",
                        events_url="https://events.example.invalid/api/events", **options)


BUILDERS = {
    "namespace": lambda: m.namespace(WS, m.labels(environment="dev")),
    "scheduler": lambda: scheduler(**PLACEMENT),
    "scheduler service": lambda: m.dask_scheduler_service(WS, environment="dev"),
    "workers": lambda: workers(**PLACEMENT),
    "workers, no placement": workers,
    "postgres secret": secret,
    "postgres statefulset": statefulset,
    "postgres statefulset, default class": lambda: statefulset(None),
    "postgres service": lambda: m.postgres_service(RUN_NS),
    "postgres init job": lambda: m.postgres_init_job(RUN_NS, image=PG_IMAGE),
    "run document": lambda: m.runner_configmap(RUN_NS, RUN_ID, "name: calib\n"),
    "runner job": lambda: runner_job(postgres_secret=m.POSTGRES_SECRET, runners=3, bundle_store=BUNDLES, **PLACEMENT),
    "runner job, no postgres": runner_job,
    "service account": lambda: m.service_account(WS, m.WORKSPACE_ACCOUNT, CLIENT_ID, m.labels(environment="dev")),
    "scheduler, workload identity": lambda: scheduler(client_id=CLIENT_ID),
    "workers, workload identity": lambda: workers(client_id=CLIENT_ID, **PLACEMENT),
    "runner job, workload identity": lambda: runner_job(client_id=CLIENT_ID, postgres_secret=m.POSTGRES_SECRET),
}
CLIENT_ID = "0b6c3f2e-6f1d-4c3a-9a55-1d2e3f4a5b6c"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", BUILDERS)
def test_every_manifest_is_valid_strictly(name: str, version: str) -> None:
    kubernetes_validate.validate(BUILDERS[name](), version, strict=True)


@pytest.mark.parametrize("name", BUILDERS)
def test_every_object_is_labelled_as_managed_by_modelops(name: str) -> None:
    manifest = BUILDERS[name]()
    assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelops"
    if "template" in manifest.get("spec", {}):
        assert manifest["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelops"


def test_namespaces_follow_the_contract_and_refuse_what_kubernetes_would() -> None:
    assert (m.workspace_namespace("dev"), m.run_namespace("calib-1")) == ("modelops-dev", "run-calib-1")
    with pytest.raises(ValueError, match="DNS-1123"):
        m.workspace_namespace("Dev")
    assert m.run_namespace("r" * 59) == "run-" + "r" * 59  # the longest run id still makes a namespace
    with pytest.raises(ValueError, match="at most 59 characters"):
        m.run_namespace("r" * 60)
    with pytest.raises(ValueError, match="invalid run id"):
        m.run_namespace("Bad_Id")


@pytest.mark.parametrize("workload", [scheduler, workers, statefulset])
def test_workload_selectors_match_their_pods_and_services(workload) -> None:
    manifest = workload()
    selector = manifest["spec"]["selector"]["matchLabels"]
    assert selector.items() <= manifest["spec"]["template"]["metadata"]["labels"].items()
    service = {"dask-scheduler": lambda: m.dask_scheduler_service(WS, environment="dev"),
               "postgres": lambda: m.postgres_service(RUN_NS)}.get(manifest["metadata"]["name"])
    if service:
        assert service()["spec"]["selector"] == selector


def test_the_scheduler_serves_8786_and_8787_through_its_service() -> None:
    service = m.dask_scheduler_service(WS, environment="dev")
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        ("scheduler", 8786, 8786), ("dashboard", 8787, 8787)}
    container = scheduler()["spec"]["template"]["spec"]["containers"][0]
    assert {p["containerPort"] for p in container["ports"]} == {8786, 8787}
    for probe in ("readinessProbe", "livenessProbe"):  # /health, as the dask-kubernetes operator probes
        assert container[probe]["httpGet"] == {"path": "/health", "port": "dashboard"}
    assert container["livenessProbe"]["initialDelaySeconds"] > 0
    assert scheduler()["spec"]["strategy"] == {"type": "Recreate"}
    assert (m.scheduler_address(WS), m.dashboard_url(WS)) == (
        "tcp://dask-scheduler.modelops-dev:8786", "http://dask-scheduler.modelops-dev:8787")


@pytest.mark.parametrize(("cpu", "threads"), [("2", 2), ("1.5", 1), ("500m", 1), ("4000m", 4)])
def test_workers_connect_to_the_scheduler_with_their_resources(cpu: str, threads: int) -> None:
    pod = workers(cpu=cpu, memory="6Gi")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["dask", "worker", "tcp://dask-scheduler.modelops-dev:8786", "--nthreads",
                                    str(threads), "--memory-limit", "6Gi", "--local-directory", "/tmp"]
    wanted = {"cpu": cpu, "memory": "6Gi"}
    assert container["resources"] == {"requests": wanted, "limits": wanted}
    assert workers()["spec"]["replicas"] == 3


@pytest.mark.parametrize("build", [scheduler, workers])
def test_scheduler_and_workers_read_the_runners_dask_settings_from_their_env(build) -> None:
    env = {e["name"]: e["value"] for e in build()["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert all(name.startswith("DASK_") for name in env)
    read = dask.config.collect_env(env)  # as dask does in the pod, from its environment
    assert {key: dask.config.get(key, config=read) for key in SETTINGS} == SETTINGS


def test_workers_have_a_writable_tmp() -> None:
    pod = workers()["spec"]["template"]["spec"]
    assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


@pytest.mark.parametrize("build", [scheduler, workers, runner_job])
def test_placement_and_pull_secrets_are_there_only_when_asked(build) -> None:
    placed = build(**PLACEMENT)["spec"]["template"]["spec"]
    assert placed["nodeSelector"] == {"modelops.io/role": "cpu"}
    assert placed["tolerations"] == PLACEMENT["tolerations"]
    assert placed["imagePullSecrets"] == [{"name": "registry-credentials"}]
    plain = build()["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "imagePullSecrets"} & set(plain)
    assert plain["automountServiceAccountToken"] is False


@pytest.mark.parametrize("build", [scheduler, workers, runner_job])
def test_modelops_pods_keep_the_image_entrypoint_and_run_unprivileged(build) -> None:
    pod = build()["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for container in pod["containers"]:
        assert "command" not in container and container["args"]  # `command` would replace tini
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_postgres_keeps_its_data_on_a_claim_of_the_asked_class_and_size() -> None:
    spec = statefulset()["spec"]
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "managed-csi-premium"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "storageClassName" not in statefulset(None)["spec"]["volumeClaimTemplates"][0]["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    container = spec["template"]["spec"]["containers"][0]
    mount = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}[claim["metadata"]["name"]]
    pgdata = next(e["value"] for e in container["env"] if e["name"] == "PGDATA")
    assert pgdata.startswith(mount + "/")  # a subfolder: a fresh volume's root holds lost+found
    assert container["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert spec["serviceName"] == "postgres" and container["image"] == PG_IMAGE


def test_postgres_is_governed_by_a_headless_service() -> None:
    service = m.postgres_service(RUN_NS)
    assert service["spec"]["clusterIP"] == "None"
    assert statefulset()["spec"]["serviceName"] == service["metadata"]["name"]


@pytest.mark.parametrize("build", [statefulset, lambda: m.postgres_init_job(RUN_NS, image=PG_IMAGE)])
def test_postgres_pods_run_unprivileged_as_the_images_postgres_user(build) -> None:
    pod = build()["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    for container in pod["containers"]:
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_postgres_images_are_pinned_to_a_minor_version() -> None:
    for major, image in m.POSTGRES_IMAGES.items():
        name, _, tag = image.partition(":")
        assert name == "postgres" and tag.split(".")[0] == major and len(tag.split(".")) == 2


def test_passwords_live_in_the_secret_only_and_are_referenced_elsewhere() -> None:
    assert set(secret()["stringData"]) == {*m.PG_KEYS, "POSTGRES_PASSWORD"}
    assert secret()["stringData"]["PGPASSWORD"] == PASSWORD
    others = [statefulset(), m.postgres_service(RUN_NS), m.postgres_init_job(RUN_NS, image=PG_IMAGE),
              runner_job(postgres_secret=m.POSTGRES_SECRET)]
    text = json.dumps(others)
    assert PASSWORD not in text and ADMIN_PASSWORD not in text
    workloads = [o for o in others if o["kind"] != "Service"]
    password_envs = [e for o in workloads for c in containers(o) for e in c.get("env", []) if "PASSWORD" in e["name"]]
    assert password_envs and all(e["valueFrom"]["secretKeyRef"]["name"] == m.POSTGRES_SECRET for e in password_envs)


def test_the_runner_job_gives_the_runner_its_configuration() -> None:
    job = runner_job(postgres_secret=m.POSTGRES_SECRET, runners=3, bundle_store=BUNDLES)
    env = resolve(job, secret(), pod_name="runner-1-x7k2p")
    config = RunnerConfig.from_env(env)
    assert config.bundle_store == BUNDLES  # the document names the bundle's digest; this is where it is
    assert (config.run_id, config.runner_id) == (RUN_ID, "runner-1-x7k2p")
    assert config.scheduler_address == "tcp://dask-scheduler.modelops-dev:8786"
    assert config.results_url == "https://results.example.invalid/runs/calib-1"
    assert config.events == ("https://events.example.invalid/api/events",)
    assert config.storage_url == f"postgresql://modelops:{PASSWORD}@postgres.run-calib-1.svc:5432/optuna"
    container = containers(job)[0]
    assert container["args"] == ["python", "-m", "runner"]
    assert all("valueFrom" in e for e in container["env"] if e["name"].startswith("PG"))
    mount = container["volumeMounts"][0]
    assert config.spec_path == f"{mount['mountPath']}/{m.RUN_DOCUMENT_KEY}"
    volume = job["spec"]["template"]["spec"]["volumes"][0]
    configmap = m.runner_configmap(RUN_NS, RUN_ID, "")
    assert volume == {"name": mount["name"], "configMap": {"name": configmap["metadata"]["name"]}}


def test_runners_are_indexed_completions_that_are_not_retried_after_their_own_failure() -> None:
    spec = runner_job(postgres_secret=m.POSTGRES_SECRET, runners=3)["spec"]
    assert (spec["completions"], spec["parallelism"], spec["completionMode"]) == (3, 3, "Indexed")
    assert spec["backoffLimit"] >= 1 and spec["ttlSecondsAfterFinished"] > 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    fail_job = spec["podFailurePolicy"]["rules"][0]
    assert fail_job["action"] == "FailJob" and fail_job["onExitCodes"]["values"] == [1, 2]


def test_without_postgres_the_runner_gets_no_pg_variables() -> None:
    env = resolve(runner_job(), None, pod_name="runner-0-abcde")
    assert not [name for name in env if name.startswith("PG")]
    assert RunnerConfig.from_env(env).storage_url == "memory"


def test_the_run_document_is_carried_as_yaml() -> None:
    document = {"name": "calib", "budget": {"trials": 10}}
    configmap = m.runner_configmap(RUN_NS, RUN_ID, yaml.safe_dump(document))
    assert yaml.safe_load(configmap["data"][m.RUN_DOCUMENT_KEY]) == document
    assert configmap["metadata"]["labels"]["modelops.io/run-id"] == RUN_ID


def test_the_init_job_creates_the_role_and_database_once(postgres) -> None:
    import psycopg

    env = resolve(m.postgres_init_job(RUN_NS, image=PG_IMAGE), secret(), pod_name="postgres-init-abcde")
    env |= {"PGHOST": postgres.host, "PGPORT": str(postgres.port), "PATH": os.environ["PATH"]}
    script = containers(m.postgres_init_job(RUN_NS, image=PG_IMAGE))[0]["command"]
    admin = {"host": postgres.host, "port": postgres.port, "user": postgres.user, "dbname": postgres.dbname,
             "autocommit": True}
    try:
        for _ in range(2):
            done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        with psycopg.connect(**admin) as conn:
            owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'optuna'").fetchall()
            login = conn.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'modelops'").fetchall()
        assert (owner, login) == ([("modelops",)], [(True, False)])
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute("DROP DATABASE IF EXISTS optuna")
            conn.execute("DROP ROLE IF EXISTS modelops")


def containers(manifest: dict) -> list[dict]:
    return manifest["spec"]["template"]["spec"]["containers"]


def resolve(manifest: dict, secret_manifest: dict | None, pod_name: str) -> dict[str, str]:
    """The first container's environment as the kubelet would set it (Secret keys, the pod's name)."""
    values = {}
    for entry in containers(manifest)[0]["env"]:
        source = entry.get("valueFrom", {})
        if "value" in entry:
            values[entry["name"]] = entry["value"]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert secret_manifest and ref["name"] == secret_manifest["metadata"]["name"]
            values[entry["name"]] = secret_manifest["stringData"][ref["key"]]
        else:
            assert source == {"fieldRef": {"fieldPath": "metadata.name"}}
            values[entry["name"]] = pod_name
    return values



def test_workload_identity_pods_run_as_their_annotated_account_with_the_label_and_client_id() -> None:
    account = BUILDERS["service account"]()
    assert account["metadata"]["annotations"] == {"azure.workload.identity/client-id": CLIENT_ID}
    for workload, name in ((scheduler(client_id=CLIENT_ID), m.WORKSPACE_ACCOUNT),
                           (workers(client_id=CLIENT_ID), m.WORKSPACE_ACCOUNT),
                           (runner_job(client_id=CLIENT_ID), m.RUNNER_ACCOUNT)):
        template = workload["spec"]["template"]
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        assert "azure.workload.identity/use" not in workload["metadata"]["labels"]  # the webhook reads pods only
        assert template["spec"]["serviceAccountName"] == name
        for container in template["spec"]["containers"]:
            assert {"name": "AZURE_CLIENT_ID", "value": CLIENT_ID} in container["env"]
    for workload in (scheduler(), workers(), runner_job()):  # no identity: the default account, no label
        template = workload["spec"]["template"]
        assert "serviceAccountName" not in template["spec"]
        assert "azure.workload.identity/use" not in template["metadata"]["labels"]
        assert "AZURE_CLIENT_ID" not in json.dumps(workload)
