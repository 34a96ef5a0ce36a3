"""The ARM calls behind the `azure` activities, one function per activity.

Activities run at least once, so each call looks before it creates and converges on the
same result when repeated. Names are checked before any request. Long operations (AKS,
resource group deletion) are started and left running: the orchestrator polls their state
with durable timers. The SDK retries throttling and server errors itself; what still fails
is raised as `AzureOperationError`, naming the resource and ARM's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from control_plane.azure import requests, versions
from control_plane.azure.clients import AzureClients
from modelops.naming import (
    check_cluster_name,
    check_dns_prefix,
    check_registry_name,
    check_identity_name,
    check_resource_group_name,
    credential_name,
    role_assignment_name,
)

T = TypeVar("T")
ABSENT = "Absent"
#: A cluster in one of these states is PUT again with its own spec: that is how AKS retries it.
REDRIVEN = ("Failed", "Canceled")


class AzureOperationError(RuntimeError):
    """An ARM request that failed for good, after the SDK's own retries."""


@contextmanager
def _failing_as(what: str) -> Iterator[None]:
    try:
        yield
    except HttpResponseError as error:
        detail = error.error
        code = getattr(detail, "code", None) or error.status_code
        message = getattr(detail, "message", None) or error.reason
        raise AzureOperationError(f"{what} failed: {code}: {message}") from error


def _existing(get: Callable[..., T], *args: str) -> T | None:
    try:
        return get(*args)
    except ResourceNotFoundError:  # the resource, or the group it would be in
        return None


def _text(value: Any) -> Any:
    """The SDK's string enums as plain strings, so outputs read the same after a JSON round trip."""
    return getattr(value, "value", value)


def _cluster(group: str, name: str) -> str:
    return f"AKS cluster {check_cluster_name(name)!r} in resource group {check_resource_group_name(group)!r}"


def _registry(group: str, name: str) -> str:
    return f"container registry {check_registry_name(name)!r} in resource group {check_resource_group_name(group)!r}"


def ensure_resource_group(clients: AzureClients, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
    """Create the group if absent; an existing one is used as it is (its tags and location are its owner's)."""
    body = requests.resource_group(location, tags)
    with _failing_as(f"ensuring resource group {check_resource_group_name(name)!r}"):
        group = _existing(clients.resources.resource_groups.get, name)
        if group is None:
            group = clients.resources.resource_groups.create_or_update(name, body)
    return {"resource_group": group.name, "location": group.location}


def ensure_registry(clients: AzureClients, group: str, name: str, location: str) -> dict[str, Any]:
    """Create (and wait for, it is quick) the registry unless it exists healthy.

    A registry someone raised to Standard or Premium keeps its SKU: a PUT with Basic would
    downgrade it, losing what the higher tier holds (geo-replicas, private endpoints)."""
    with _failing_as(f"ensuring {_registry(group, name)}"):
        registry = _existing(clients.registries.registries.get, group, name)
        if registry is None or registry.provisioning_state in REDRIVEN:
            sku = _text(registry.sku.name) if registry is not None else requests.REGISTRY_SKU
            body = requests.registry(location, sku)
            registry = clients.registries.registries.begin_create(group, name, body).result()
    return {"login_server": registry.login_server, "sku": _text(registry.sku.name)}


def region_versions(clients: AzureClients, location: str) -> list[dict[str, Any]]:
    """The Kubernetes versions AKS offers in `location` today, as `versions` reads them."""
    with _failing_as(f"listing the Kubernetes versions AKS offers in {location!r}"):
        found = clients.containers.managed_clusters.list_kubernetes_versions(location)
    return [
        {
            "version": minor.version,
            "preview": bool(minor.is_preview),
            "plans": [_text(plan) for plan in ((minor.capabilities and minor.capabilities.support_plan) or [])],
            "patches": {patch: list(found_patch.upgrades or []) for patch, found_patch in
                        (minor.patch_versions or {}).items()},
        }
        for minor in found.values_property or []
    ]


def begin_cluster(
    clients: AzureClients,
    group: str,
    name: str,
    location: str,
    kubernetes_version: str,
    workload: requests.WorkloadPool = requests.WorkloadPool(),
) -> dict[str, Any]:
    """Start creating the cluster if absent and return at once; a healthy one is left as it is.

    A new cluster gets the version `versions.resolve` picks from the region's offer (`kubernetes_version`
    is the pin, empty for the newest). A Failed or Canceled cluster is PUT again on its own
    version, which is how AKS retries it. `polling=False`: otherwise the SDK's poller keeps
    polling ARM from a background thread.
    """
    what, dns_prefix = _cluster(group, name), check_dns_prefix(name)
    with _failing_as(f"starting {what}"):
        clusters = clients.containers.managed_clusters
        cluster = _existing(clusters.get, group, name)
        if cluster is not None and cluster.properties.provisioning_state not in REDRIVEN:
            return {"provisioning_state": cluster.properties.provisioning_state,
                    "kubernetes_version": cluster.properties.kubernetes_version}
        if cluster is None:
            try:
                version = versions.resolve(kubernetes_version, region_versions(clients, location), location)
            except versions.VersionNotOffered as refused:
                raise AzureOperationError(f"starting {what} failed: {refused}") from None
        else:
            version = cluster.properties.kubernetes_version
        body = requests.managed_cluster(location, version, dns_prefix, workload)
        cluster = clusters.begin_create_or_update(group, name, body, polling=False).result()
    return {"provisioning_state": cluster.properties.provisioning_state, "kubernetes_version": version}


def cluster_state(clients: AzureClients, group: str, name: str) -> dict[str, Any]:
    """Provisioning state ("Absent" when there is no cluster), running version and pools (what a doctor
    checks), and the kubelet identity's object id, the principal of the image pull grant."""
    with _failing_as(f"reading {_cluster(group, name)}"):
        cluster = _existing(clients.containers.managed_clusters.get, group, name)
    if cluster is None:
        return {"provisioning_state": ABSENT, "kubernetes_version": None, "pools": [], "kubelet_object_id": None}
    properties = cluster.properties
    pools = [
        {"name": pool.name, "mode": _text(pool.mode), "labels": dict(pool.node_labels or {}), "count": pool.count}
        for pool in properties.agent_pool_profiles or []
    ]
    version = properties.current_kubernetes_version or properties.kubernetes_version
    kubelet = (properties.identity_profile or {}).get("kubeletidentity")
    return {"provisioning_state": properties.provisioning_state, "kubernetes_version": version, "pools": pools,
            "kubelet_object_id": kubelet.object_id if kubelet else None}


def grant_roles(clients: AzureClients, subscription_id: str, grants: list[dict[str, str]]) -> dict[str, Any]:
    """Grant each `{scope, role, principal_id}`; principals are managed identities (service principals).

    Assignment names are derived from scope, principal and role, so a repeat PUTs the same
    assignment; one made earlier under another name (409 RoleAssignmentExists) counts as granted.
    """
    for grant in grants:
        requests.check_grant(grant["role"], grant["scope"])
    names = []
    for grant in grants:
        definition = requests.role_definition_id(subscription_id, grant["role"])
        with _failing_as(f"granting {grant['role']} on {grant['scope']!r} to principal {grant['principal_id']}"):
            names.append(_assign(clients, grant["scope"], definition, grant["principal_id"]))
    return {"assignments": names}


def revoke_roles(clients: AzureClients, subscription_id: str, grants: list[dict[str, str]]) -> dict[str, Any]:
    """Remove what `grant_roles` granted: each `{scope, role, principal_id}` held, whatever the assignment's name."""
    revoked = []
    for grant in grants:
        role = requests.role_definition_id(subscription_id, grant["role"]).rsplit("/", 1)[1].lower()
        with _failing_as(f"revoking {grant['role']} on {grant['scope']!r} from principal {grant['principal_id']}"):
            revoked += _revoke(clients, grant["scope"], role, grant["principal_id"])
    return {"revoked": revoked}


def _held(clients: AzureClients, scope: str, role: str, principal_id: str) -> list[str]:
    """Names of the assignments of `role` (its GUID) to the principal at exactly `scope`."""
    found = clients.authorization.role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal_id}'")
    return [a.name for a in found if a.scope.lower() == scope.lower() and a.role_definition_id.lower().endswith(role)]


def _revoke(clients: AzureClients, scope: str, role: str, principal_id: str) -> list[str]:
    try:
        names = _held(clients, scope, role, principal_id)
    except ResourceNotFoundError:  # the scope itself is gone, and its assignments with it
        return []
    for name in names:
        clients.authorization.role_assignments.delete(scope, name)
    return names


def _assign(clients: AzureClients, scope: str, definition: str, principal_id: str) -> str:
    assignments = clients.authorization.role_assignments
    name = role_assignment_name(scope, principal_id, definition)
    try:
        assignments.create(scope, name, requests.role_assignment(definition, principal_id))
    except ResourceExistsError as error:
        if getattr(error.error, "code", None) != "RoleAssignmentExists":
            raise
        role = definition.rsplit("/", 1)[1].lower()  # the GUID: ARM may spell the definition id's prefix otherwise
        earlier = _held(clients, scope, role, principal_id)
        if not earlier:
            raise
        return earlier[0]
    return name


def _identity(group: str, name: str) -> str:
    return f"managed identity {check_identity_name(name)!r} in resource group {check_resource_group_name(group)!r}"


def _identity_refs(identity: Any) -> dict[str, Any]:
    """References only: an identity has no secret, and its pods get tokens by federation."""
    return {"identity_id": identity.id, "client_id": identity.client_id, "principal_id": identity.principal_id}


def ensure_identity(clients: AzureClients, group: str, name: str, location: str) -> dict[str, Any]:
    """Create the environment's workload identity unless it exists; an existing one keeps its ids."""
    with _failing_as(f"ensuring {_identity(group, name)}"):
        identities = clients.identities.user_assigned_identities
        identity = _existing(identities.get, group, name)
        if identity is None:
            identity = identities.create_or_update(group, name, requests.workload_identity(location))
    return _identity_refs(identity)


def identity_state(clients: AzureClients, group: str, name: str) -> dict[str, Any]:
    """The identity's references, all None when there is none (teardown revokes what its principal holds)."""
    with _failing_as(f"reading {_identity(group, name)}"):
        identity = _existing(clients.identities.user_assigned_identities.get, group, name)
    return _identity_refs(identity) if identity is not None else dict.fromkeys(("identity_id", "client_id", "principal_id"))


def delete_identity(clients: AzureClients, group: str, name: str) -> dict[str, Any]:
    """Delete the identity, and with it its federated credentials; `deleted` says whether there was one.
    Its role assignments are not deleted with it: revoke them first."""
    with _failing_as(f"deleting {_identity(group, name)}"):
        status = clients.identities.user_assigned_identities.delete(group, name, cls=_status)
    return {"deleted": status == 200}


def federate(clients: AzureClients, group: str, identity_name: str, cluster_name: str, namespace: str,
             service_account: str) -> dict[str, Any]:  # fmt: skip
    """Let one service account of the cluster act as the identity: a federated credential for the
    cluster's OIDC issuer and the account's subject, named for the account so a repeat PUTs the same one."""
    name = credential_name(namespace, service_account)
    what = f"federating {namespace}/{service_account} of {_cluster(group, cluster_name)} to {_identity(group, identity_name)}"
    with _failing_as(what):
        cluster = clients.containers.managed_clusters.get(group, cluster_name)
        issuer = cluster.properties.oidc_issuer_profile and cluster.properties.oidc_issuer_profile.issuer_url
        if not issuer:
            raise AzureOperationError(f"{what} failed: the cluster has no OIDC issuer URL")
        body = requests.federated_credential(issuer, namespace, service_account)
        clients.identities.federated_identity_credentials.create_or_update(group, identity_name, name, body)
    return {"credential": name, "issuer": issuer, "subject": body.subject}


def unfederate(clients: AzureClients, group: str, identity_name: str, namespace: str,
               service_account: str) -> dict[str, Any]:  # fmt: skip
    """Remove the service account's credential; `deleted` says whether there was one (or an identity)."""
    name = credential_name(namespace, service_account)
    with _failing_as(f"removing the federated credential {name!r} of {_identity(group, identity_name)}"):
        try:
            status = clients.identities.federated_identity_credentials.delete(group, identity_name, name, cls=_status)
        except ResourceNotFoundError:  # the identity is gone, and its credentials with it
            return {"deleted": False}
    return {"deleted": status == 200}


def _status(pipeline_response: Any, *_: Any) -> int:
    """The HTTP status of a delete: 200 removed something, 204 found nothing."""
    return pipeline_response.http_response.status_code


def begin_delete_cluster(clients: AzureClients, group: str, name: str) -> dict[str, Any]:
    """Start deleting the cluster and return at once; `deleted` says whether there was one."""
    with _failing_as(f"deleting {_cluster(group, name)}"):
        clusters = clients.containers.managed_clusters
        if _existing(clusters.get, group, name) is None:
            return {"deleted": False}
        clusters.begin_delete(group, name, polling=False)
    return {"deleted": True}


def delete_registry(clients: AzureClients, group: str, name: str) -> dict[str, Any]:
    """Delete the registry and wait (it is quick); `deleted` says whether there was one."""
    with _failing_as(f"deleting {_registry(group, name)}"):
        registries = clients.registries.registries
        if _existing(registries.get, group, name) is None:
            return {"deleted": False}
        registries.begin_delete(group, name).result()
    return {"deleted": True}


def begin_delete_resource_group(clients: AzureClients, name: str) -> dict[str, Any]:
    """Start deleting the group, everything in it too, only if ModelOps made it (its `managed-by` tag)."""
    what = f"resource group {check_resource_group_name(name)!r}"
    with _failing_as(f"deleting {what}"):
        groups = clients.resources.resource_groups
        group = _existing(groups.get, name)
        if group is None:
            return {"deleted": False}
        if not requests.MANAGED_BY.items() <= (group.tags or {}).items():
            raise AzureOperationError(f"refusing to delete {what}: it is not tagged managed-by=modelops")
        groups.begin_delete(name, polling=False)
    return {"deleted": True}
