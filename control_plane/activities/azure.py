"""Activities of the `azure` target: resource group, registry, AKS, the workload identity and its
federated credentials, and role grants through ARM.

Thin over `control_plane.azure.operations`, plain dicts in and out (docs/provisioning.md), nothing
secret returned. Each builds its clients with `clients_factory`, which tests replace to aim
the real SDK clients at a fake ARM.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.durable_functions as df

from control_plane.azure import operations
from control_plane.azure.clients import AzureClients, azure_clients
from control_plane.azure.requests import WorkloadPool

bp = df.Blueprint()

#: subscription id -> its ARM clients.
clients_factory: Callable[[str], AzureClients] = azure_clients


@bp.activity_trigger(input_name="payload")
def azure_ensure_resource_group(payload: dict) -> dict:
    """`{subscription_id, resource_group, location, tags: {environment, ...}}` -> `{resource_group, location}`."""
    return _call(operations.ensure_resource_group, payload, "resource_group", "location", "tags")


@bp.activity_trigger(input_name="payload")
def azure_ensure_registry(payload: dict) -> dict:
    """`{subscription_id, resource_group, registry_name, location}` -> `{login_server}`."""
    return _call(operations.ensure_registry, payload, "resource_group", "registry_name", "location")


@bp.activity_trigger(input_name="payload")
def azure_begin_cluster(payload: dict) -> dict:
    """`{subscription_id, resource_group, cluster_name, location, kubernetes_version, workload_pool?}`
    -> `{provisioning_state}`; starts the creation, never waits for it.

    `workload_pool`: `{vm_size?, min_count?, max_count?}` of the autoscaling `cpu` pool.
    """
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.begin_cluster(
            clients,
            payload["resource_group"],
            payload["cluster_name"],
            payload["location"],
            payload["kubernetes_version"],
            WorkloadPool(**payload.get("workload_pool", {})),
        )


@bp.activity_trigger(input_name="payload")
def azure_cluster_state(payload: dict) -> dict:
    """`{subscription_id, resource_group, cluster_name}`
    -> `{provisioning_state | "Absent", kubernetes_version, pools: [{name, mode, labels, count}], kubelet_object_id}`."""
    return _call(operations.cluster_state, payload, "resource_group", "cluster_name")


@bp.activity_trigger(input_name="payload")
def azure_grant_roles(payload: dict) -> dict:
    """`{subscription_id, grants: [{scope, role, principal_id}]}` -> `{assignments: [name]}`;
    `role` is a built-in role's name, e.g. AcrPull, `principal_id` a managed identity's object id."""
    return _call(operations.grant_roles, payload, "subscription_id", "grants")


@bp.activity_trigger(input_name="payload")
def azure_revoke_roles(payload: dict) -> dict:
    """`{subscription_id, grants: [{scope, role, principal_id}]}` -> `{revoked: [name]}`: what
    `azure_grant_roles` granted, removed."""
    return _call(operations.revoke_roles, payload, "subscription_id", "grants")


@bp.activity_trigger(input_name="payload")
def azure_ensure_identity(payload: dict) -> dict:
    """`{subscription_id, resource_group, identity_name, location}` -> `{identity_id, client_id, principal_id}`."""
    return _call(operations.ensure_identity, payload, "resource_group", "identity_name", "location")


@bp.activity_trigger(input_name="payload")
def azure_identity_state(payload: dict) -> dict:
    """`{subscription_id, resource_group, identity_name}` -> `{identity_id, client_id, principal_id}`, None when absent."""
    return _call(operations.identity_state, payload, "resource_group", "identity_name")


@bp.activity_trigger(input_name="payload")
def azure_delete_identity(payload: dict) -> dict:
    """`{subscription_id, resource_group, identity_name}` -> `{deleted}`; its federated credentials go with it."""
    return _call(operations.delete_identity, payload, "resource_group", "identity_name")


@bp.activity_trigger(input_name="payload")
def azure_federate(payload: dict) -> dict:
    """`{subscription_id, resource_group, identity_name, cluster_name, namespace, service_account}`
    -> `{credential, issuer, subject}`: that service account's pods may act as the identity."""
    return _call(operations.federate, payload, "resource_group", "identity_name", "cluster_name", "namespace",
                 "service_account")


@bp.activity_trigger(input_name="payload")
def azure_unfederate(payload: dict) -> dict:
    """`{subscription_id, resource_group, identity_name, namespace, service_account}` -> `{deleted}`."""
    return _call(operations.unfederate, payload, "resource_group", "identity_name", "namespace", "service_account")


@bp.activity_trigger(input_name="payload")
def azure_begin_delete_cluster(payload: dict) -> dict:
    """`{subscription_id, resource_group, cluster_name}` -> `{deleted}`; starts the deletion, never waits."""
    return _call(operations.begin_delete_cluster, payload, "resource_group", "cluster_name")


@bp.activity_trigger(input_name="payload")
def azure_delete_registry(payload: dict) -> dict:
    """`{subscription_id, resource_group, registry_name}` -> `{deleted}`."""
    return _call(operations.delete_registry, payload, "resource_group", "registry_name")


@bp.activity_trigger(input_name="payload")
def azure_begin_delete_resource_group(payload: dict) -> dict:
    """`{subscription_id, resource_group}` -> `{deleted}`; starts the deletion, only of a group ModelOps made."""
    return _call(operations.begin_delete_resource_group, payload, "resource_group")


def _call(operation: Callable[..., dict], payload: dict, *keys: str) -> dict:
    """`operation` with the subscription's clients and the payload's `keys`, in that order."""
    with clients_factory(payload["subscription_id"]) as clients:
        return operation(clients, *(payload[key] for key in keys))
