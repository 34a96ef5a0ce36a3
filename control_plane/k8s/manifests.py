"""Kubernetes manifests for the Dask workspace and a run's plane, as plain dicts.

Pure builders, apart from the calls that send them (`apply.py`), so every manifest is
checked against the Kubernetes schema in tests without a cluster. Names follow the
contract in docs/provisioning.md; labels say what modelops manages, for which run or
environment. No secret value is ever written here except into the one Secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from modelops import dask_settings
from modelops.naming import check_run_id

SCHEDULER, WORKERS = "dask-scheduler", "dask-workers"
SCHEDULER_PORT, DASHBOARD_PORT = 8786, 8787
POSTGRES, POSTGRES_SECRET, POSTGRES_INIT = "postgres", "postgres-credentials", "postgres-init"
POSTGRES_PORT, POSTGRES_DATABASE, POSTGRES_USER = 5432, "optuna", "modelops"
#: The PostgreSQL image per major version a run document may ask for, pinned so every run's study
#: is served by the same server; an `azure` environment's registry holds them beside the runner
#: image (docs/deploy.md imports them), so clusters pull from no public registry.
POSTGRES_IMAGES = {"15": "postgres:15.14", "16": "postgres:16.10"}
POSTGRES_UID = 999  # the `postgres` user of the official image, which owns PGDATA
PG_KEYS = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")  # what libpq and the runner read
RUN_DOCUMENT, RUN_DOCUMENT_DIR, RUN_DOCUMENT_KEY = "run-document", "/etc/modelops/run", "run.yaml"
RUNNER_JOB = "runner"
RUNNER_FAILED_EXIT_CODES = (1, 2)  # calibration failed / bad input: retrying cannot help
#: The service accounts pods act as, through Azure workload identity when the environment has an identity.
WORKSPACE_ACCOUNT, RUNNER_ACCOUNT = "modelops-workspace", "runner"
CLIENT_ID_ANNOTATION, USE_LABEL = "azure.workload.identity/client-id", "azure.workload.identity/use"

_UNPRIVILEGED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def workspace_namespace(environment: str) -> str:
    return _dns_label(f"modelops-{environment}", "environment")


def run_namespace(run_id: str) -> str:
    return _dns_label(f"run-{check_run_id(run_id)}", "run id")


def scheduler_address(namespace: str) -> str:
    return f"tcp://{SCHEDULER}.{namespace}:{SCHEDULER_PORT}"


def dashboard_url(namespace: str) -> str:
    return f"http://{SCHEDULER}.{namespace}:{DASHBOARD_PORT}"


def labels(name: str | None = None, *, run_id: str | None = None, environment: str | None = None) -> dict:
    found = {"app.kubernetes.io/managed-by": "modelops"}
    if name:
        found["app.kubernetes.io/name"] = name
    if run_id:
        found["modelops.io/run-id"] = run_id
    if environment:
        found["modelops.io/environment"] = environment
    return found


def namespace(name: str, labels: Mapping[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def service_account(ns: str, name: str, client_id: str, object_labels: Mapping[str, str]) -> dict:
    """The account pods run as under workload identity: the webhook projects a token for this account,
    which Entra exchanges for one of the identity `client_id` names (a reference, never a secret)."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "automountServiceAccountToken": False,
            "metadata": {"name": name, "namespace": ns, "labels": dict(object_labels),
                         "annotations": {CLIENT_ID_ANNOTATION: client_id}}}


def dask_scheduler_deployment(ns: str, image: str, *, environment: str, cpu: str = "1", memory: str = "2Gi",
                              node_selector: Mapping[str, str] | None = None, tolerations: Sequence[dict] = (),
                              image_pull_secrets: Sequence[str] = (), client_id: str | None = None) -> dict:
    """One scheduler, replaced rather than rolled: two at once would split the workers.

    It and the workers run with the runner's Dask settings, as `mops run --local` does."""
    container = {
        "name": "scheduler", "image": image,
        "args": ["dask", "scheduler", "--port", str(SCHEDULER_PORT), "--dashboard-address", f":{DASHBOARD_PORT}"],
        "env": dask_settings.as_env(),
        "ports": [{"name": "scheduler", "containerPort": SCHEDULER_PORT},
                  {"name": "dashboard", "containerPort": DASHBOARD_PORT}],
        # /health on the dashboard's HTTP server, as the dask-kubernetes operator probes it: ready
        # once the scheduler serves, restarted when it stops answering.
        "readinessProbe": {"httpGet": {"path": "/health", "port": "dashboard"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "dashboard"}, "initialDelaySeconds": 15,
                          "periodSeconds": 20, "failureThreshold": 3},
        "resources": _resources(cpu, memory),
    }
    spec = _modelops_pod([container], node_selector, tolerations, image_pull_secrets)
    deployment = _workload("Deployment", ns, SCHEDULER, 1, spec, labels(SCHEDULER, environment=environment))
    deployment["spec"]["strategy"] = {"type": "Recreate"}
    return _as_identity(deployment, WORKSPACE_ACCOUNT, client_id)


def dask_scheduler_service(ns: str, *, environment: str) -> dict:
    return _service(ns, SCHEDULER, labels(SCHEDULER, environment=environment),
                    [("scheduler", SCHEDULER_PORT), ("dashboard", DASHBOARD_PORT)])


def dask_workers_deployment(ns: str, image: str, *, environment: str, replicas: int, cpu: str, memory: str,
                            node_selector: Mapping[str, str] | None = None, tolerations: Sequence[dict] = (),
                            image_pull_secrets: Sequence[str] = (), client_id: str | None = None) -> dict:
    """Workers with a thread per whole CPU, Dask's memory limit at the container's, spilling to /tmp.

    Each worker is reached at the pod address it registers with the scheduler, by the
    scheduler and by runners too: a runner calls its trial pump on every worker directly
    (runner/dispatch.py). No NetworkPolicy is written; one added later must let runner
    pods of any run namespace reach worker pods on every TCP port (the worker's port
    and its trial pump's are random).
    """
    container = {
        "name": "worker", "image": image,
        "args": ["dask", "worker", scheduler_address(ns), "--nthreads", str(_threads(cpu)),
                    "--memory-limit", memory, "--local-directory", "/tmp"],
        "env": dask_settings.as_env(),
        "resources": _resources(cpu, memory),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    spec = _modelops_pod([container], node_selector, tolerations, image_pull_secrets)
    spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    deployment = _workload("Deployment", ns, WORKERS, replicas, spec, labels(WORKERS, environment=environment))
    return _as_identity(deployment, WORKSPACE_ACCOUNT, client_id)


def postgres_secret(ns: str, password: str, admin_password: str) -> dict:
    """The runner's role (PG*, as libpq reads them) and the server's superuser password."""
    host = f"{POSTGRES}.{ns}.svc"
    values = dict(zip(PG_KEYS, (host, str(POSTGRES_PORT), POSTGRES_DATABASE, POSTGRES_USER, password)))
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": POSTGRES_SECRET, "namespace": ns, "labels": labels(POSTGRES)},
            "stringData": values | {"POSTGRES_PASSWORD": admin_password}}


def postgres_statefulset(ns: str, *, image: str, size: str, storage_class: str | None) -> dict:
    """Data on a claim that outlives the set; PGDATA below the mount (lost+found, PostgreSQL 18 layout).

    Unprivileged: the image's entrypoint runs as its `postgres` user when started as that uid,
    and `fsGroup` makes the fresh volume writable to it."""
    container = {
        "name": "postgres", "image": image,
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
        "env": [_from_secret("POSTGRES_PASSWORD"), {"name": "PGDATA", "value": "/var/lib/postgresql/pgdata"}],
        # TCP, not the socket: during initdb the image's temporary server listens on the socket only.
        "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"]},
                           "periodSeconds": 5},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}],
        "securityContext": _UNPRIVILEGED,
    }
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        claim["storageClassName"] = storage_class
    spec = _pod_spec([container], None, (), ()) | {"securityContext": _postgres_pod_security()}
    statefulset = _workload("StatefulSet", ns, POSTGRES, 1, spec, labels(POSTGRES))
    statefulset["spec"] |= {
        "serviceName": POSTGRES,
        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": labels(POSTGRES)}, "spec": claim}],
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    }
    return statefulset


def postgres_service(ns: str) -> dict:
    """Headless, as a StatefulSet's governing Service must be: the name resolves to the pod itself."""
    service = _service(ns, POSTGRES, labels(POSTGRES), [("postgres", POSTGRES_PORT)])
    service["spec"]["clusterIP"] = "None"
    return service


# Runs at every ensure: creates the runner's role and database only when missing.
_INIT_SQL = """until pg_isready -q; do sleep 2; done
psql -v ON_ERROR_STOP=1 -d postgres -v role="$APP_USER" -v password="$APP_PASSWORD" -v db="$APP_DATABASE" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec
SQL
"""


def postgres_init_job(ns: str, *, image: str) -> dict:
    env = [_from_secret("PGHOST"), _from_secret("PGPORT"), {"name": "PGUSER", "value": "postgres"},
           _from_secret("POSTGRES_PASSWORD", as_name="PGPASSWORD"), _from_secret("PGUSER", as_name="APP_USER"),
           _from_secret("PGPASSWORD", as_name="APP_PASSWORD"), _from_secret("PGDATABASE", as_name="APP_DATABASE")]
    container = {"name": "init", "image": image, "command": ["sh", "-c", _INIT_SQL], "env": env,
                 "securityContext": _UNPRIVILEGED}
    spec = _pod_spec([container], None, (), ()) | {"restartPolicy": "OnFailure",
                                                    "securityContext": _postgres_pod_security()}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": POSTGRES_INIT, "namespace": ns, "labels": labels(POSTGRES_INIT)},
            "spec": {"backoffLimit": 6, "activeDeadlineSeconds": 900,
                     "template": {"metadata": {"labels": labels(POSTGRES_INIT)}, "spec": spec}}}


def runner_configmap(ns: str, run_id: str, document_yaml: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": RUN_DOCUMENT, "namespace": ns, "labels": labels(RUN_DOCUMENT, run_id=run_id)},
            "data": {RUN_DOCUMENT_KEY: document_yaml}}


def runner_job(ns: str, run_id: str, image: str, *, scheduler_address: str, results_url: str,
               events_url: str | None = None, bundle_store: str | None = None,
               postgres_secret: str | None = None, runners: int = 1,
               cpu: str = "1", memory: str = "2Gi", node_selector: Mapping[str, str] | None = None,
               tolerations: Sequence[dict] = (), image_pull_secrets: Sequence[str] = (),
               client_id: str | None = None, backoff_limit: int = 2, ttl_seconds: int = 86_400) -> dict:
    """`python -m runner` as an Indexed Job of `runners` pods sharing one run.

    Each pod's runner id is its pod name, unique per attempt, so a replacement never meets the
    advisory lock of the pod it replaces. Crashes and evictions are retried; the runner's own
    failure exit codes end the Job at once. PostgreSQL credentials come from the Secret only.
    A runner reaches the scheduler's Service and every worker pod's own address (it calls
    the trial pump on each worker directly, not through the scheduler).
    """
    env = [{"name": "MODELOPS_RUN_ID", "value": run_id},
           {"name": "MODELOPS_RUN_SPEC", "value": f"{RUN_DOCUMENT_DIR}/{RUN_DOCUMENT_KEY}"},
           {"name": "MODELOPS_RESULTS_URL", "value": results_url},
           {"name": "DASK_SCHEDULER_ADDRESS", "value": scheduler_address},
           {"name": "MODELOPS_RUNNER_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    if events_url:
        env.append({"name": "MODELOPS_EVENTS_URL", "value": events_url})
    if bundle_store:  # the document names its bundle by digest; the runner and its workers fetch it from here
        env.append({"name": "MODELOPS_BUNDLE_STORE", "value": bundle_store})
    if postgres_secret:
        env += [_from_secret(key, secret=postgres_secret) for key in PG_KEYS]
    container = {"name": "runner", "image": image, "args": ["python", "-m", "runner"], "env": env,
                 "resources": _resources(cpu, memory),
                 "volumeMounts": [{"name": "run-document", "mountPath": RUN_DOCUMENT_DIR, "readOnly": True}]}
    spec = _modelops_pod([container], node_selector, tolerations, image_pull_secrets) | {
        "restartPolicy": "Never", "volumes": [{"name": "run-document", "configMap": {"name": RUN_DOCUMENT}}]}
    failure_policy = {"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "runner", "operator": "In",
                                              "values": list(RUNNER_FAILED_EXIT_CODES)}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]}
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": RUNNER_JOB, "namespace": ns, "labels": labels(RUNNER_JOB, run_id=run_id)},
           "spec": {"completions": runners, "parallelism": runners, "completionMode": "Indexed",
                    "backoffLimit": backoff_limit, "ttlSecondsAfterFinished": ttl_seconds,
                    "podFailurePolicy": failure_policy,
                    "template": {"metadata": {"labels": labels(RUNNER_JOB, run_id=run_id)}, "spec": spec}}}
    return _as_identity(job, RUNNER_ACCOUNT, client_id)


def _as_identity(workload: dict, account: str, client_id: str | None) -> dict:
    """Pods of `workload` as `account`, through workload identity when there is a `client_id`.

    The `use` label (on pods only) makes the webhook mount the projected token; AZURE_CLIENT_ID is
    written here too, so the Azure SDK in the pod picks that identity whatever the webhook injects."""
    if not client_id:
        return workload
    template = workload["spec"]["template"]
    template["metadata"]["labels"] = {**template["metadata"]["labels"], USE_LABEL: "true"}
    template["spec"]["serviceAccountName"] = account
    for container in template["spec"]["containers"]:
        container["env"] = [*container.get("env", []), {"name": "AZURE_CLIENT_ID", "value": client_id}]
    return workload


def _workload(kind: str, ns: str, name: str, replicas: int, pod_spec: dict, object_labels: dict) -> dict:
    selector = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns, "labels": object_labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": object_labels}, "spec": pod_spec}}}


def _service(ns: str, name: str, object_labels: dict, ports: list[tuple[str, int]]) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": object_labels},
            "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                               for port_name, port in ports]}}


def _modelops_pod(containers: list[dict], node_selector: Mapping[str, str] | None, tolerations: Sequence[dict],
                  image_pull_secrets: Sequence[str]) -> dict:
    """A pod of the modelops image, unprivileged (Pod Security "restricted"). Its containers give
    `args`, not `command`, so the image's entrypoint (tini, which forwards SIGTERM) stays PID 1."""
    spec = _pod_spec([c | {"securityContext": _UNPRIVILEGED} for c in containers], node_selector, tolerations,
                     image_pull_secrets)
    spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return spec


def _postgres_pod_security() -> dict:
    """Pod Security "restricted" for the official PostgreSQL image, as its own `postgres` user."""
    return {"runAsNonRoot": True, "runAsUser": POSTGRES_UID, "runAsGroup": POSTGRES_UID, "fsGroup": POSTGRES_UID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _pod_spec(containers: list[dict], node_selector: Mapping[str, str] | None, tolerations: Sequence[dict],
              image_pull_secrets: Sequence[str]) -> dict:
    """No pod here talks to the Kubernetes API, so none gets a service account token (the workload
    identity webhook projects its own, for Entra's token exchange only)."""
    spec: dict = {"automountServiceAccountToken": False, "containers": containers}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = [dict(toleration) for toleration in tolerations]
    if image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in image_pull_secrets]
    return spec


def _resources(cpu: str, memory: str) -> dict:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def _from_secret(key: str, *, as_name: str | None = None, secret: str = POSTGRES_SECRET) -> dict:
    return {"name": as_name or key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _threads(cpu: str) -> int:
    """Kubernetes CPU quantity ("2", "1.5", "500m") as a thread count of at least one."""
    cores = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    return max(1, int(cores))


def _dns_label(name: str, what: str) -> str:
    if not _DNS_LABEL.match(name):
        raise ValueError(f"namespace {name!r} (from the {what}) is not a DNS-1123 label of at most 63 characters")
    return name


def copied_secret(secret: dict, namespace: str) -> dict:
    """A Secret as read from the API, for another namespace: its data and type, nothing server-set."""
    meta = secret["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": meta["name"], "namespace": namespace, "labels": labels()},
        "type": secret.get("type", "Opaque"),
        "data": dict(secret.get("data") or {}),
    }
