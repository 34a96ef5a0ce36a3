"""Activities of the `azure` and `existing` targets: the Dask workspace and a run's plane on Kubernetes.

Thin: read settings, build manifests (`control_plane.k8s.manifests`), apply them server-side and
wait (`control_plane.k8s.apply`). Every activity is safe to run again: applying converges and
stores nothing new. Cluster credentials are fetched here, per call, and never returned;
the PostgreSQL passwords are made here, kept in a Secret, and never returned or logged.
Shapes: docs/provisioning.md.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import yaml
from kubernetes.client import ApiClient

from control_plane.settings import setting
from control_plane.k8s import manifests as m
from control_plane.k8s.apply import apply, create_if_absent, delete, ensure_namespace, read, wait_ready
from control_plane.k8s.client import api_client_for
from modelops.spec.paths import absolute_data_paths

bp = df.Blueprint()

# What a run leaves behind without purge: its PostgreSQL claim and the Secret its data was made with.
RUN_OBJECTS = (("Job", m.RUNNER_JOB), ("ConfigMap", m.RUN_DOCUMENT), ("Job", m.POSTGRES_INIT),
               ("StatefulSet", m.POSTGRES), ("Service", m.POSTGRES))


@bp.activity_trigger(input_name="payload")
def k8s_ensure_workspace(payload: dict) -> dict:
    """`{cluster, environment, image?, workers, worker_cpu?, worker_memory?, node_selector?, tolerations?,
    image_pull_secret?, timeout_s?}` -> WorkspaceBinding, once the scheduler and every worker are ready."""
    env, workers = payload["environment"], int(payload["workers"])
    if workers < 1:
        raise ValueError(f"workers: {workers}; a workspace needs at least one worker")
    ns = m.workspace_namespace(env)
    placement = _placement(payload) | {"client_id": _client_id(payload)}
    image = _image(payload)
    with _api(payload) as api:
        ensure_namespace(api, m.namespace(ns, m.labels(environment=env)), _timeout(payload))
        if placement["client_id"]:
            apply(api, m.service_account(ns, m.WORKSPACE_ACCOUNT, placement["client_id"], m.labels(environment=env)))
        apply(api, m.dask_scheduler_deployment(ns, image, environment=env, **placement))
        apply(api, m.dask_scheduler_service(ns, environment=env))
        apply(api, m.dask_workers_deployment(ns, image, environment=env, replicas=workers,
                                             cpu=str(payload.get("worker_cpu") or "1"),
                                             memory=str(payload.get("worker_memory") or "2Gi"), **placement))
        wait_ready(api, ns, [("Deployment", m.SCHEDULER), ("Deployment", m.WORKERS)], _timeout(payload))
    return {"namespace": ns, "scheduler_address": m.scheduler_address(ns), "dashboard_url": m.dashboard_url(ns),
            "workers": workers}


@bp.activity_trigger(input_name="payload")
def k8s_ensure_run_namespace(payload: dict) -> dict:
    """`{cluster, run_id, environment?, image_pull_secret?}` -> `{namespace}`.

    A registry pull Secret lives in the workspace's namespace, and pods read Secrets of
    their own namespace only: it is copied into the run's, inside this activity."""
    ns = m.run_namespace(payload["run_id"])
    pull_secret = payload.get("image_pull_secret")
    with _api(payload) as api:
        ensure_namespace(api, m.namespace(ns, m.labels(run_id=payload["run_id"])), _timeout(payload))
        if pull_secret:
            source_ns = m.workspace_namespace(payload["environment"])
            found = read(api, "Secret", source_ns, pull_secret)
            if found is None:
                raise ValueError(f"image pull Secret {pull_secret!r} not found in namespace {source_ns}")
            create_if_absent(api, m.copied_secret(found, ns))
    return {"namespace": ns}


@bp.activity_trigger(input_name="payload")
def k8s_ensure_postgres(payload: dict) -> dict:
    """`{cluster, namespace, size?, storage_class?, version?, timeout_s?}` -> PostgresBinding, once serving.

    The Secret is made only when absent: the volume's data was initialised with its passwords.
    The image is the pinned one, from the environment's registry when the cluster has one."""
    ns, image = payload["namespace"], _postgres_image(payload)
    with _api(payload) as api:
        create_if_absent(api, m.postgres_secret(ns, password=secrets.token_urlsafe(24),
                                                admin_password=secrets.token_urlsafe(24)))
        apply(api, m.postgres_service(ns))
        apply(api, m.postgres_statefulset(ns, image=image, size=str(payload.get("size") or "10Gi"),
                                          storage_class=payload.get("storage_class")))
        apply(api, m.postgres_init_job(ns, image=image))
        wait_ready(api, ns, [("StatefulSet", m.POSTGRES), ("Job", m.POSTGRES_INIT)], _timeout(payload))
    return {"namespace": ns, "service": m.POSTGRES, "secret_name": m.POSTGRES_SECRET, "database": m.POSTGRES_DATABASE}


@bp.activity_trigger(input_name="payload")
def k8s_start_runner(payload: dict) -> dict:
    """`{cluster, namespace, run_id, image?, spec, spec_dir, bundle_store?, scheduler_address, results_url, postgres, runners?,
    runner_cpu?, runner_memory?, node_selector?, tolerations?, image_pull_secret?}` -> RunnerBinding.

    Progress events go to the app's `MODELOPS_EVENTS_URL`; the runner is started, not awaited."""
    ns, run_id, runners = payload["namespace"], payload["run_id"], int(payload.get("runners") or 1)
    client_id = _client_id(payload)
    postgres = payload.get("postgres")
    if runners > 1 and not postgres:
        raise ValueError(f"runners: {runners} runners share their study through PostgreSQL, and this run has none")
    if postgres and postgres["namespace"] != ns:
        raise ValueError(f"PostgreSQL is in {postgres['namespace']}, but a pod reads Secrets of its own namespace {ns}")
    job = m.runner_job(ns, run_id, _image(payload), scheduler_address=payload["scheduler_address"],
                       results_url=payload["results_url"], events_url=setting("MODELOPS_EVENTS_URL") or None,
                       bundle_store=payload.get("bundle_store"),
                       postgres_secret=postgres and postgres["secret_name"], runners=runners,
                       cpu=str(payload.get("runner_cpu") or "1"), memory=str(payload.get("runner_memory") or "2Gi"),
                       client_id=client_id, **_placement(payload))
    with _api(payload) as api:
        if client_id:
            apply(api, m.service_account(ns, m.RUNNER_ACCOUNT, client_id, m.labels(run_id=run_id)))
        spec = absolute_data_paths(payload["spec"], payload["spec_dir"])  # the ConfigMap holds only the document
        apply(api, m.runner_configmap(ns, run_id, yaml.safe_dump(spec, sort_keys=False)))
        apply(api, job)
    return {"namespace": ns, "job_name": m.RUNNER_JOB}


@bp.activity_trigger(input_name="payload")
def k8s_runner_status(payload: dict) -> dict:
    """`{cluster, namespace, job_name}` -> `{state: running|exited|missing, exit_code, summary: None}`."""
    with _api(payload) as api:
        job = read(api, "Job", payload["namespace"], payload["job_name"])
    if job is None:
        return {"state": "missing", "exit_code": None, "summary": None}
    status = job.get("status") or {}
    ended = {c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"}
    if ended & {"Failed", "FailureTarget"}:
        return {"state": "exited", "exit_code": 1, "summary": None}
    if ended & {"Complete", "SuccessCriteriaMet"}:
        return {"state": "exited", "exit_code": 0, "summary": None}
    return {"state": "running", "exit_code": None, "summary": None}


@bp.activity_trigger(input_name="payload")
def k8s_delete_run(payload: dict) -> dict:
    """`{cluster, namespace, purge?}` -> `{deleted: ["Kind/name", ...]}`; purge deletes the whole namespace."""
    ns = payload["namespace"]
    with _api(payload) as api:
        if payload.get("purge"):
            return {"deleted": [f"Namespace/{ns}"] if delete(api, "Namespace", None, ns) else []}
        return {"deleted": [f"{kind}/{name}" for kind, name in RUN_OBJECTS if delete(api, kind, ns, name)]}


@bp.activity_trigger(input_name="payload")
def k8s_delete_workspace(payload: dict) -> dict:
    """`{cluster, environment}` -> `{deleted: bool}` (the workspace namespace and all in it)."""
    with _api(payload) as api:
        return {"deleted": delete(api, "Namespace", None, m.workspace_namespace(payload["environment"]))}


def _default_client(cluster: dict) -> ApiClient:
    return api_client_for(cluster, os.environ)


# Builds the API client for a ClusterBinding; tests swap it to reach their fake ARM.
client_factory: Callable[[dict], ApiClient] = _default_client


def _api(payload: dict) -> ApiClient:
    return client_factory(payload["cluster"])


def _image(payload: dict) -> str:
    image = payload.get("image") or setting("MODELOPS_RUNNER_IMAGE")
    if not image:
        raise ValueError("no image: pass one, or set the app setting MODELOPS_RUNNER_IMAGE")
    return image


def _postgres_image(payload: dict) -> str:
    version = str(payload.get("version") or "16")
    if version not in m.POSTGRES_IMAGES:
        raise ValueError(f"PostgreSQL {version}: ModelOps serves versions {sorted(m.POSTGRES_IMAGES)}")
    registry = payload["cluster"].get("registry_login_server")
    return f"{registry}/{m.POSTGRES_IMAGES[version]}" if registry else m.POSTGRES_IMAGES[version]


def _client_id(payload: dict) -> str | None:
    """The workload identity pods act as: an `azure` environment's own (its binding names it), on an
    `existing` cluster the one its app setting names, if any."""
    cluster = payload["cluster"]
    if cluster.get("target") == "existing":
        return setting("MODELOPS_EXISTING_CLIENT_ID") or None
    return cluster.get("client_id") or None


def _placement(payload: dict) -> dict[str, Any]:
    pull_secret = payload.get("image_pull_secret")
    return {"node_selector": payload.get("node_selector") or None, "tolerations": payload.get("tolerations") or (),
            "image_pull_secrets": [pull_secret] if pull_secret else []}


def _timeout(payload: dict) -> float:
    return float(payload.get("timeout_s") or 300)
