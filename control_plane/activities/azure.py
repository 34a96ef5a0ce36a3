"""Activities of the `azure` target: resource group, registry, AKS and role grants through ARM.

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
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.ensure_resource_group(
            clients, payload["resource_group"], payload["location"], payload["tags"]
        )


@bp.activity_trigger(input_name="payload")
def azure_ensure_registry(payload: dict) -> dict:
    """`{subscription_id, resource_group, registry_name, location}` -> `{login_server}`."""
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.ensure_registry(
            clients, payload["resource_group"], payload["registry_name"], payload["location"]
        )


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
    -> `{provisioning_state | "Absent", kubernetes_version, pools: [{name, mode, labels, count}]}`."""
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.cluster_state(clients, payload["resource_group"], payload["cluster_name"])


@bp.activity_trigger(input_name="payload")
def azure_grant_roles(payload: dict) -> dict:
    """`{subscription_id, resource_group, cluster_name, grants: [{scope, role}]}` -> `{assignments: [name]}`,
    granted to the cluster's kubelet identity; `role` is a built-in role's name, e.g. AcrPull."""
    subscription_id = payload["subscription_id"]
    with clients_factory(subscription_id) as clients:
        return operations.grant_roles(
            clients, subscription_id, payload["resource_group"], payload["cluster_name"], payload["grants"]
        )


@bp.activity_trigger(input_name="payload")
def azure_revoke_roles(payload: dict) -> dict:
    """`{subscription_id, resource_group, cluster_name, grants: [{scope, role}]}` -> `{revoked: [name]}`:
    what `azure_grant_roles` granted, removed (before the cluster is deleted)."""
    subscription_id = payload["subscription_id"]
    with clients_factory(subscription_id) as clients:
        return operations.revoke_roles(
            clients, subscription_id, payload["resource_group"], payload["cluster_name"], payload["grants"]
        )


@bp.activity_trigger(input_name="payload")
def azure_begin_delete_cluster(payload: dict) -> dict:
    """`{subscription_id, resource_group, cluster_name}` -> `{deleted}`; starts the deletion, never waits."""
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.begin_delete_cluster(clients, payload["resource_group"], payload["cluster_name"])


@bp.activity_trigger(input_name="payload")
def azure_delete_registry(payload: dict) -> dict:
    """`{subscription_id, resource_group, registry_name}` -> `{deleted}`."""
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.delete_registry(clients, payload["resource_group"], payload["registry_name"])


@bp.activity_trigger(input_name="payload")
def azure_begin_delete_resource_group(payload: dict) -> dict:
    """`{subscription_id, resource_group}` -> `{deleted}`; starts the deletion, only of a group ModelOps made."""
    with clients_factory(payload["subscription_id"]) as clients:
        return operations.begin_delete_resource_group(clients, payload["resource_group"])
