"""The environment orchestration: ensure or tear down a shared environment.

An environment is cluster → registry → workload identity → Dask workspace, shared by runs. Each
step is an idempotent activity, so ensuring an environment that exists only
reads it, and a replayed or restarted orchestration resumes where it stopped.
AKS takes many minutes: it is started by one activity and then polled with
durable timers, never by sleeping in an activity. Runs ensure their environment
as a sub-orchestration; `PUT/DELETE /api/environments/{env}` run it alone.

Input: {environment, target, action: "up" | "down", delete_rg, azure: {...}, workspace: {...}}
where `azure` holds the subscription, region, naming and version settings
(references, no secrets) and `workspace` the Dask image and sizes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from control_plane.k8s.manifests import WORKSPACE_ACCOUNT, workspace_namespace
from modelops.naming import cluster_name, identity_name, registry_id, registry_name, resource_group_name

from .steps import StepFailed, call

bp = df.Blueprint()

# AKS creation takes 5–15 minutes with a long tail: poll, backing off, for up to this long.
CLUSTER_WAIT = timedelta(minutes=90)
POLL_FIRST, POLL_MAX = timedelta(seconds=15), timedelta(minutes=2)
SETTLING = ("Creating", "Updating", "Upgrading", "Starting", "Scaling", "Deleting")
# (scope, role, to whom): the kubelet identity only pulls images (any pod can get its token from the
# node); what reaches data goes to the environment's workload identity, federated to its pods only.
ROLES = (("registry", "AcrPull", "kubelet"), ("results_container_id", "Storage Blob Data Contributor", "workload"),
         ("eventgrid_topic_id", "EventGrid Data Sender", "workload"))  # fmt: skip


@bp.orchestration_trigger(context_name="context", orchestration="environment")
def environment_orchestrator(context: df.DurableOrchestrationContext):
    request: dict[str, Any] = context.get_input()
    env, target = request["environment"], request["target"]
    status = {"environment": env, "target": target, "action": request["action"], "phase": "working"}
    try:
        if request["action"] == "up":
            binding = {"environment": env, "target": target}
            if target != "local":
                if target == "azure":
                    cluster, identity = yield from _ensure_cluster(context, request, status)
                    binding["identity"] = identity
                else:
                    cluster = _existing_binding()
                workspace = yield from _step(context, status, "workspace", "k8s_ensure_workspace",
                                             {"cluster": cluster, "environment": env, **request.get("workspace", {})})  # fmt: skip
                binding |= {"cluster": cluster, "workspace": workspace}
            result = {"phase": "ready", "binding": binding}
        else:
            if target != "local":
                yield from _tear_down(context, request, status)
            result = {"phase": "removed", "binding": {"environment": env, "target": target}}
    except StepFailed as failure:
        result = {"phase": "failed", "error": {"step": failure.step, "reason": failure.reason}}
    result = status | result
    context.set_custom_status(result)
    return result


def _names(request: dict[str, Any]) -> dict[str, str]:
    azure, env = request["azure"], request["environment"]
    try:
        return {
            "subscription_id": azure["subscription_id"],
            "resource_group": resource_group_name(env, azure["username"]),
            "registry_name": registry_name(env, azure["username"]),
            "cluster_name": cluster_name(env),
            "identity_name": identity_name(env),
        }
    except ValueError as exc:
        raise StepFailed("names", str(exc)) from None


def _ensure_cluster(context: df.DurableOrchestrationContext, request: dict[str, Any], status: dict[str, Any]):
    azure, names = request["azure"], _names(request)
    where = {"subscription_id": names["subscription_id"], "resource_group": names["resource_group"]}
    yield from _step(context, status, "resource_group", "azure_ensure_resource_group",
                     where | {"location": azure["location"], "tags": {"environment": request["environment"]}})  # fmt: skip
    registry = yield from _step(context, status, "registry", "azure_ensure_registry",
                                where | {"registry_name": names["registry_name"], "location": azure["location"]})  # fmt: skip
    cluster = where | {"cluster_name": names["cluster_name"]}
    state = yield from _step(context, status, "cluster", "azure_begin_cluster",
                             cluster | {"location": azure["location"], "kubernetes_version": azure["kubernetes_version"]})  # fmt: skip
    found = yield from _wait_for_cluster(context, status, cluster, state["provisioning_state"], "Succeeded")
    if found.get("kubelet_object_id") is None:  # it was ready before: nothing polled its state
        found = yield from _step(context, status, "cluster", "azure_cluster_state", cluster)
    if found.get("kubelet_object_id") is None:
        raise StepFailed("cluster", f"{names['cluster_name']} has no kubelet identity")
    identity = where | {"identity_name": names["identity_name"]}
    identity |= yield from _step(context, status, "identity", "azure_ensure_identity",
                                 identity | {"location": azure["location"]})  # fmt: skip
    yield from _step(context, status, "identity", "azure_federate", cluster | _workers(request, names))
    yield from _step(context, status, "roles", "azure_grant_roles", {
        "subscription_id": names["subscription_id"],
        "grants": _grants(request, names, found["kubelet_object_id"], identity["principal_id"])})  # fmt: skip
    return cluster | {
        "target": "azure",
        "location": azure["location"],
        "kubernetes_version": found.get("kubernetes_version") or azure["kubernetes_version"],
        "registry_login_server": registry["login_server"],
        "client_id": identity["client_id"],
    }, identity


def _workers(request: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """The Dask workers' service account, federated to the identity for as long as the environment lives."""
    return {"identity_name": names["identity_name"], "namespace": workspace_namespace(request["environment"]),
            "service_account": WORKSPACE_ACCOUNT}


def _grants(request: dict[str, Any], names: dict[str, str], kubelet: str | None,
            workload: str | None) -> list[dict[str, str]]:  # fmt: skip
    """What the environment's identities are granted (by their object ids), and its teardown revokes;
    a principal that is not there (None) holds nothing."""
    azure = request["azure"]
    scopes = {
        "registry": registry_id(names["subscription_id"], names["resource_group"], names["registry_name"]),
        "results_container_id": azure.get("results_container_id"),
        "eventgrid_topic_id": azure.get("eventgrid_topic_id"),
    }
    principals = {"kubelet": kubelet, "workload": workload}
    return [{"scope": scopes[key], "role": role, "principal_id": principals[to]}
            for key, role, to in ROLES if scopes[key] and principals[to]]


def _wait_for_cluster(context, status: dict[str, Any], cluster: dict[str, str], state: str, wanted: str):
    """Poll the cluster's state on durable timers until it settles as `wanted` (or is gone)."""
    started, pause = context.current_utc_datetime, POLL_FIRST
    found: dict[str, Any] = {"provisioning_state": state}
    while found["provisioning_state"] in SETTLING:
        if context.current_utc_datetime - started > CLUSTER_WAIT:
            raise StepFailed("cluster", f"{cluster['cluster_name']} still {found['provisioning_state']} "
                                        f"after {CLUSTER_WAIT}")  # fmt: skip
        yield context.create_timer(context.current_utc_datetime + pause)
        pause = min(pause * 2, POLL_MAX)
        found = yield from _step(context, status, "cluster", "azure_cluster_state", cluster)
    if found["provisioning_state"] != wanted:
        raise StepFailed("cluster", f"{cluster['cluster_name']} ended {found['provisioning_state']}, not {wanted}")
    return found


def _tear_down(context: df.DurableOrchestrationContext, request: dict[str, Any], status: dict[str, Any]):
    """Workspace, then (azure) role grants, workload identity, cluster and registry; the resource group only
    with delete_rg. The workers' credential is removed on its own, with their namespace, though the
    identity's deletion would take it: no trust outlives the account it was made for."""
    if request["target"] == "existing":
        yield from _step(context, status, "workspace", "k8s_delete_workspace",
                         {"cluster": _existing_binding(), "environment": request["environment"]})  # fmt: skip
        return
    names = _names(request)
    where = {"subscription_id": names["subscription_id"], "resource_group": names["resource_group"]}
    cluster = where | {"cluster_name": names["cluster_name"]}
    found = yield from _step(context, status, "cluster", "azure_cluster_state", cluster)
    identity = yield from _step(context, status, "identity", "azure_identity_state",
                                where | {"identity_name": names["identity_name"]})  # fmt: skip
    if found["provisioning_state"] != "Absent":
        yield from _step(context, status, "workspace", "k8s_delete_workspace",
                         {"cluster": cluster | {"target": "azure"}, "environment": request["environment"]})  # fmt: skip
    grants = _grants(request, names, found["kubelet_object_id"], identity["principal_id"])
    if grants:  # before the identities go: an assignment outlives its principal
        yield from _step(context, status, "roles", "azure_revoke_roles",
                         {"subscription_id": names["subscription_id"], "grants": grants})  # fmt: skip
    if identity["principal_id"]:
        yield from _step(context, status, "identity", "azure_unfederate", where | _workers(request, names))
        yield from _step(context, status, "identity", "azure_delete_identity",
                         where | {"identity_name": names["identity_name"]})  # fmt: skip
    if found["provisioning_state"] != "Absent":
        deleting = yield from _step(context, status, "cluster", "azure_begin_delete_cluster", cluster)
        yield from _wait_for_cluster(context, status, cluster, "Deleting" if deleting["deleted"] else "Absent", "Absent")
    yield from _step(context, status, "registry", "azure_delete_registry", where | {"registry_name": names["registry_name"]})
    if request.get("delete_rg"):
        yield from _step(context, status, "resource_group", "azure_begin_delete_resource_group", where)


def _existing_binding() -> dict[str, str]:
    """A cluster the user already has: its kubeconfig comes from an app setting, never a request."""
    return {"target": "existing", "kubeconfig_setting": "MODELOPS_EXISTING_KUBECONFIG"}


def _step(context, status: dict[str, Any], step: str, activity: str, payload: dict[str, Any]):
    status["step"] = step
    context.set_custom_status(status)
    return (yield from call(context, step, activity, payload))
