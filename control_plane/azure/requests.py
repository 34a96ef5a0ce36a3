"""What ModelOps asks ARM for: resource group, registry, AKS cluster, workload identity, its
federated credentials and role assignment bodies.

Pure (no HTTP), so the shape of the infrastructure is tested on its own and the calls in
`operations` stay about idempotency and errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
from azure.mgmt.containerregistry.models import Registry, Sku
from azure.mgmt.containerservice.models import (
    ContainerServiceNetworkProfile,
    ManagedCluster,
    ManagedClusterAADProfile,
    ManagedClusterAgentPoolProfile,
    ManagedClusterIdentity,
    ManagedClusterOIDCIssuerProfile,
    ManagedClusterSecurityProfile,
    ManagedClusterSecurityProfileWorkloadIdentity,
)
from azure.mgmt.msi.models import FederatedIdentityCredential, Identity
from azure.mgmt.resource.resources.models import ResourceGroup

#: On everything ModelOps creates; a resource group without it is never deleted by ModelOps.
MANAGED_BY = {"managed-by": "modelops"}
REGISTRY_SKU = "Basic"
#: The label the workload pool's nodes carry; Dask and runner pods select it.
WORKLOAD_LABELS = {"modelops.io/role": "cpu"}
SYSTEM_VM_SIZE = "Standard_D2s_v5"
#: The audience Entra's token exchange accepts; the AKS workload identity webhook projects tokens for it.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")

#: Built-in roles ModelOps grants, by the name Azure shows, to their fixed role definition GUIDs.
BUILTIN_ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}


@dataclass(frozen=True)
class WorkloadPool:
    """The autoscaling `cpu` pool that runs Dask workers and runners."""

    vm_size: str = "Standard_D4s_v5"
    min_count: int = 1
    max_count: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.min_count <= self.max_count:
            raise ValueError(
                f"workload pool needs 0 <= min_count <= max_count, got {self.min_count} and {self.max_count}"
            )


def resource_group(location: str, tags: dict[str, str]) -> ResourceGroup:
    """`tags` must name the `environment`, so a group found in the portal says what it is for."""
    if not tags.get("environment"):
        raise ValueError(f"resource group tags must include 'environment', got {sorted(tags)}")
    return ResourceGroup(location=location, tags={**tags, **MANAGED_BY})


def registry(location: str, sku: str = REGISTRY_SKU) -> Registry:
    """Basic is enough for one team's images; pulls use AcrPull on the kubelet identity, so no admin user."""
    return Registry(location=location, sku=Sku(name=sku), admin_user_enabled=False, tags=dict(MANAGED_BY))


def managed_cluster(
    location: str, kubernetes_version: str, dns_prefix: str, workload: WorkloadPool = WorkloadPool()
) -> ManagedCluster:
    """A pinned version on the control plane and both pools, so a recreated cluster is the same cluster.

    No long-lived credential exists for it: Entra ID integration with Azure RBAC decides who may
    call the API server, and local accounts (the static cluster-admin certificate) are off. The
    OIDC issuer and workload identity let pods act as an environment's own identity, so user
    code never needs the kubelet's, which only pulls images.
    """
    system = ManagedClusterAgentPoolProfile(
        name="system",
        mode="System",
        count=1,
        vm_size=SYSTEM_VM_SIZE,
        os_type="Linux",
        orchestrator_version=kubernetes_version,
    )
    cpu = ManagedClusterAgentPoolProfile(
        name="cpu",
        mode="User",
        count=workload.min_count,
        enable_auto_scaling=True,
        min_count=workload.min_count,
        max_count=workload.max_count,
        vm_size=workload.vm_size,
        os_type="Linux",
        orchestrator_version=kubernetes_version,
        node_labels=dict(WORKLOAD_LABELS),
    )
    return ManagedCluster(
        location=location,
        tags=dict(MANAGED_BY),
        identity=ManagedClusterIdentity(type="SystemAssigned"),
        kubernetes_version=kubernetes_version,
        dns_prefix=dns_prefix,
        agent_pool_profiles=[system, cpu],
        network_profile=ContainerServiceNetworkProfile(network_plugin="azure", network_plugin_mode="overlay"),
        aad_profile=ManagedClusterAADProfile(managed=True, enable_azure_rbac=True),
        disable_local_accounts=True,
        oidc_issuer_profile=ManagedClusterOIDCIssuerProfile(enabled=True),
        security_profile=ManagedClusterSecurityProfile(
            workload_identity=ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)),
    )


def workload_identity(location: str) -> Identity:
    """The environment's user-assigned identity: what its pods act as, never the kubelet's."""
    return Identity(location=location, tags=dict(MANAGED_BY))


def service_account_subject(namespace: str, service_account: str) -> str:
    """The `sub` claim of the tokens Kubernetes issues to a service account, which Entra matches exactly."""
    if not _DNS_LABEL.fullmatch(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS label")
    if not _DNS_SUBDOMAIN.fullmatch(service_account):
        raise ValueError(f"service account {service_account!r} is not a DNS subdomain name")
    return f"system:serviceaccount:{namespace}:{service_account}"


def federated_credential(issuer: str, namespace: str, service_account: str) -> FederatedIdentityCredential:
    """Trust, for the identity, the tokens the cluster's OIDC `issuer` gives one service account."""
    if not issuer.startswith("https://"):
        raise ValueError(f"the OIDC issuer must be an https URL, got {issuer!r}")
    return FederatedIdentityCredential(issuer=issuer, subject=service_account_subject(namespace, service_account),
                                       audiences=[TOKEN_EXCHANGE_AUDIENCE])


#: Roles that reach data: granted on one container, never on the account around it (which holds
#: the Function App's package and task hub: whoever may write those may replace the app's code).
DATA_ROLES = {"Storage Blob Data Contributor"}
CONTAINER_SCOPE = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/"
                             r"storageAccounts/[^/]+/blobServices/default/containers/[^/]+", re.IGNORECASE)


def check_grant(role: str, scope: str) -> None:
    """Refuse, before any call, a data role on anything wider than one blob container."""
    if role in DATA_ROLES and not CONTAINER_SCOPE.fullmatch(scope):
        raise ValueError(f"{role} is granted on one blob container only, not on {scope!r}")


def role_definition_id(subscription_id: str, role: str) -> str:
    """The subscription-scoped id of a built-in role, by its name; unknown names fail before any call."""
    if role not in BUILTIN_ROLES:
        raise ValueError(f"unknown role {role!r}: ModelOps grants only {sorted(BUILTIN_ROLES)}")
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{BUILTIN_ROLES[role]}"


def role_assignment(role_definition: str, principal_id: str) -> RoleAssignmentCreateParameters:
    """`ServicePrincipal` spares ARM the directory lookup that fails for an identity minutes old."""
    return RoleAssignmentCreateParameters(
        role_definition_id=role_definition, principal_id=principal_id, principal_type="ServicePrincipal"
    )
