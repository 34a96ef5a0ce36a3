"""AKS managed clusters (Microsoft.ContainerService): the fields AKS fills in, and agent pools.

Creating or updating answers with `Azure-AsyncOperation`, deleting with that and a
`Location`, as AKS does. Credentials come from `arm_credentials`.
"""

import copy
import re
from typing import Any

from tests.fakes import arm_aks_versions as versions
from tests.fakes.arm_credentials import KubeAccess, credentials
from tests.fakes.arm_operations import provider_operation_routes
from tests.fakes.arm_requests import (
    GROUP,
    SUBSCRIPTION,
    Call,
    Route,
    begin_delete,
    check_idle,
    check_location_unchanged,
    existing,
    group_id,
    require_group,
    require_location,
    require_tags,
    route,
)
from tests.fakes.arm_state import ArmError, Reply, new_guid

NAMESPACE = "Microsoft.ContainerService"
#: What azure-mgmt-containerservice (as pinned) sends; another version is refused like ARM does.
API_VERSIONS = {"2026-08-01"}
_VERSION_ERROR = "NoRegisteredProviderFound"
_TYPE = "Microsoft.ContainerService/ManagedClusters"
_CLUSTER = GROUP + r"/providers/Microsoft[.]ContainerService/managedClusters/(?P<name>[^/]+)"
_NAME = re.compile(r"[a-zA-Z0-9]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?")
_DNS_PREFIX = re.compile(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,52}[a-zA-Z0-9])?")
_POOL_NAME = re.compile(r"[a-z][a-z0-9]{0,11}")
_IDENTITY_TYPES = {"SystemAssigned", "UserAssigned"}
_POOL_MODES = {None, "System", "User"}


def _invalid(target: str, message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target)


def _cluster_id(call: Call) -> str:
    return f"{group_id(call)}/providers/{NAMESPACE}/managedClusters/{call.params['name']}"


def _check_pools(properties: dict[str, Any]) -> list[dict[str, Any]]:
    pools = properties.get("agentPoolProfiles")
    if not isinstance(pools, list) or not pools:
        raise _invalid("agentPoolProfiles", "At least one agent pool profile is required.")
    names = set()
    for pool in pools:
        name = pool.get("name") if isinstance(pool, dict) else None
        if not isinstance(name, str) or not _POOL_NAME.fullmatch(name):
            raise _invalid(
                "agentPoolProfile.name",
                f"Agent pool name '{name}' must be 1-12 lowercase letters or digits, starting with a letter.",
            )
        if name in names:
            raise _invalid("agentPoolProfile.name", f"Agent pool name '{name}' is used twice.")
        names.add(name)
        count = pool.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1000:
            raise _invalid("agentPoolProfile.count", f"Agent pool '{name}' count must be an integer from 0 to 1000.")
        if not isinstance(pool.get("vmSize"), str):
            raise _invalid("agentPoolProfile.vmSize", f"Agent pool '{name}' needs a vmSize.")
        if pool.get("mode") not in _POOL_MODES:
            raise _invalid("agentPoolProfile.mode", f"Agent pool '{name}' mode must be 'System' or 'User'.")
        versions.check_autoscaling(pool)
    modes = [pool.get("mode") for pool in pools]
    if "System" not in modes and None not in modes:
        raise ArmError(400, "MustDefineAtLeastOneSystemPool", "Must define at least one system pool.")
    return pools


def _check_access(properties: dict[str, Any]) -> None:
    """Entra ID, local accounts and workload identity depend on each other as AKS says."""
    aad = properties.get("aadProfile") or {}
    if aad.get("enableAzureRBAC") and not aad.get("managed"):
        raise _invalid("aadProfile.enableAzureRBAC", "Azure RBAC for Kubernetes needs managed Entra ID integration.")
    if properties.get("disableLocalAccounts") and not aad.get("managed"):
        raise ArmError(400, "BadRequest", "DisableLocalAccounts requires managed Entra ID integration (aadProfile).")
    workload = ((properties.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled")
    if workload and not (properties.get("oidcIssuerProfile") or {}).get("enabled"):
        raise _invalid("securityProfile.workloadIdentity",
                       "Enabling workload identity requires enabling the OIDC issuer (oidcIssuerProfile.enabled).")


def _issuer(call: Call, location: str, old: dict[str, Any] | None) -> dict[str, Any]:
    """The OIDC issuer profile AKS reports: its URL is made once, when the issuer is first enabled."""
    profile = dict(call.body()["properties"].get("oidcIssuerProfile") or {"enabled": False})
    known = (old or {}).get("oidcIssuerProfile", {}).get("issuerURL")
    if profile.get("enabled"):
        profile["issuerURL"] = known or f"https://{location}.oic.prod-aks.azure.com/{call.state.tenant_id}/{new_guid()}/"
    return profile


def _check_identity(body: dict[str, Any], properties: dict[str, Any]) -> None:
    identity = body.get("identity")
    if identity is None and properties.get("servicePrincipalProfile") is None:
        raise _invalid("servicePrincipalProfile", "Required parameter servicePrincipalProfile is missing (null).")
    if identity is not None and (not isinstance(identity, dict) or identity.get("type") not in _IDENTITY_TYPES):
        raise _invalid("identity.type", f"identity.type must be one of {sorted(_IDENTITY_TYPES)}.")


def _pool_profiles(pools: list[dict[str, Any]], version: str, state: str) -> list[dict[str, Any]]:
    """Pools echoed back with the defaults AKS fills in; if none says System, the first unsaid is."""
    profiles = []
    implicit_system = "System" not in [pool.get("mode") for pool in pools]
    for pool in pools:
        mode = pool.get("mode")
        if mode is None:
            mode, implicit_system = ("System" if implicit_system else "User"), False
        profiles.append(
            {
                "type": "VirtualMachineScaleSets",
                "osType": "Linux",
                "osSKU": "Ubuntu",
                "osDiskSizeGB": 128,
                "maxPods": 110,
                **pool,
                "mode": mode,
                "orchestratorVersion": pool.get("orchestratorVersion") or version,
                "currentOrchestratorVersion": pool.get("orchestratorVersion") or version,
                "provisioningState": state,
                "powerState": {"code": "Running"},
            }
        )
    return profiles


def _generated(call: Call, body: dict[str, Any], location: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fields AKS makes once, at creation: FQDNs, node resource group, identities."""
    name, properties = call.params["name"], body["properties"]
    suffix = new_guid()[:8]
    dns = properties["dnsPrefix"]
    node_group = properties.get("nodeResourceGroup") or f"MC_{call.params['group']}_{name}_{location}"
    kubelet = {
        "resourceId": f"/subscriptions/{call.state.subscription_id}/resourcegroups/{node_group}"
        f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
        "clientId": new_guid(),
        "objectId": new_guid(),
    }
    fields = {
        "fqdn": f"{dns}-{suffix}.hcp.{location}.azmk8s.io",
        "azurePortalFQDN": f"{dns}-{suffix}.portal.hcp.{location}.azmk8s.io",
        "nodeResourceGroup": node_group,
        "identityProfile": {"kubeletidentity": kubelet},
    }
    identity = copy.deepcopy(body.get("identity"))
    if identity and identity["type"] == "SystemAssigned":
        identity |= {"principalId": new_guid(), "tenantId": call.state.tenant_id}
    elif identity:
        for entry in (identity.get("userAssignedIdentities") or {}).values():
            entry |= {"principalId": new_guid(), "clientId": new_guid()}
    return fields, identity


def create_or_update(call: Call) -> Reply:
    """201 'Creating' for a new cluster, 200 'Updating' for an existing one; both run an LRO."""
    if not _NAME.fullmatch(call.params["name"]):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"Resource name '{call.params['name']}' is invalid: 1-63 letters, digits, '-' or '_', "
            "starting and ending with a letter or digit.",
        )
    require_group(call)
    body = call.body()
    location, tags = require_location(body), require_tags(body)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise _invalid("properties", "The managed cluster properties are required.")
    pools = _check_pools(properties)
    _check_identity(body, properties)
    _check_access(properties)
    if not isinstance(properties.get("dnsPrefix"), str) or not _DNS_PREFIX.fullmatch(properties["dnsPrefix"]):
        raise _invalid("dnsPrefix", f"The value of parameter dnsPrefix '{properties.get('dnsPrefix')}' is invalid.")
    cid = _cluster_id(call)
    existing = call.state.peek(cid)
    if existing is None:
        fields, identity = _generated(call, body, location)
        cluster = {"id": cid, "name": call.params["name"], "type": _TYPE, "location": location}
        status, state = 201, "Creating"
    else:
        check_location_unchanged(existing, location)
        check_idle(call, cid)
        old = existing["properties"]
        for immutable in ("dnsPrefix", "nodeResourceGroup"):
            if properties.get(immutable, old[immutable]) != old[immutable]:
                raise ArmError(400, "PropertyChangeNotAllowed", f"Changing property '{immutable}' is not allowed.", immutable)
        fields = {key: old[key] for key in ("fqdn", "azurePortalFQDN", "nodeResourceGroup", "identityProfile")}
        cluster, identity = existing, existing.get("identity")
        status, state = 200, "Updating"
    if existing is None or properties.get("kubernetesVersion") != existing["properties"]["kubernetesVersion"]:
        version = properties.get("kubernetesVersion") or versions.default_version(call.state.kubernetes_versions)
        tier = (body.get("sku") or {}).get("tier") or "Free"
        versions.check_version(call.state.kubernetes_versions, version, tier, "kubernetesVersion")
    else:
        version = existing["properties"]["kubernetesVersion"]
    for pool in pools:
        versions.check_pool_version(pool.get("orchestratorVersion") or version, version, pool["name"])
    cluster["properties"] = {
        "enableRBAC": True,
        **properties,
        **fields,
        "provisioningState": state,
        "powerState": {"code": "Running"},
        "kubernetesVersion": version,
        "currentKubernetesVersion": version,
        "maxAgentPools": 100,
        "agentPoolProfiles": _pool_profiles(pools, version, state),
        "oidcIssuerProfile": _issuer(call, location, existing and existing["properties"]),
    }
    cluster["sku"] = body.get("sku") or {"name": "Base", "tier": "Free"}
    cluster.pop("tags", None)
    if tags:
        cluster["tags"] = tags
    if identity:
        cluster["identity"] = identity
    call.state.save(cluster)
    operation = call.state.start(cid, lambda: _succeeded(call, cluster))
    return Reply(status, cluster, call.async_headers(operation, NAMESPACE, location))


def _succeeded(call: Call, cluster: dict[str, Any]) -> None:
    """The cluster is up: it and its pools succeed, and its node resource group exists."""
    cluster["properties"]["provisioningState"] = "Succeeded"
    for pool in cluster["properties"]["agentPoolProfiles"]:
        pool["provisioningState"] = "Succeeded"
    node_group = cluster["properties"]["nodeResourceGroup"]
    node_group_id = f"/subscriptions/{call.state.subscription_id}/resourceGroups/{node_group}"
    if call.state.peek(node_group_id) is None:
        call.state.save(
            {
                "id": node_group_id,
                "name": node_group,
                "type": "Microsoft.Resources/resourceGroups",
                "location": cluster["location"],
                "managedBy": cluster["id"],
                "properties": {"provisioningState": "Succeeded"},
            }
        )


def _require_cluster(call: Call, look: bool = False) -> dict[str, Any]:
    return existing(call, _cluster_id(call), "Microsoft.ContainerService/managedClusters", look)


def get(call: Call) -> Reply:
    return Reply(200, _require_cluster(call, look=True))


def delete(call: Call) -> Reply:
    """202 with both status headers; 204 when there is nothing to delete."""
    cid = _cluster_id(call)
    operation = begin_delete(call, cid)
    if operation is None:
        return Reply(204)
    location = call.state.peek(cid)["location"]
    headers = call.async_headers(operation, NAMESPACE, location) | call.location_headers(operation, NAMESPACE, location)
    return Reply(202, None, headers)


def _pool_resource(cluster: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    properties = {key: value for key, value in profile.items() if key != "name"}
    return {
        "id": f"{cluster['id']}/agentPools/{profile['name']}",
        "name": profile["name"],
        "type": "Microsoft.ContainerService/managedClusters/agentPools",
        "properties": properties,
    }


def get_pool(call: Call) -> Reply:
    cluster = _require_cluster(call)
    for profile in cluster["properties"]["agentPoolProfiles"]:
        if profile["name"].lower() == call.params["pool"].lower():
            return Reply(200, _pool_resource(cluster, profile))
    raise ArmError(404, "NotFound", f"Agent pool '{call.params['pool']}' was not found in managed cluster '{cluster['name']}'.")


def list_pools(call: Call) -> Reply:
    cluster = _require_cluster(call)
    pools = [_pool_resource(cluster, profile) for profile in cluster["properties"]["agentPoolProfiles"]]
    return Reply(200, {"value": pools})


def routes(kube: KubeAccess) -> list[Route]:
    """AKS's routes, with credentials answered from `kube` (read at request time)."""
    return [
        route(_CLUSTER, API_VERSIONS, _VERSION_ERROR, PUT=create_or_update, GET=get, DELETE=delete),
        route(
            _CLUSTER + "/listClusterUserCredential",
            API_VERSIONS,
            _VERSION_ERROR,
            POST=lambda call: credentials(call, _require_cluster(call), kube, "User"),
        ),
        route(
            _CLUSTER + "/listClusterAdminCredential",
            API_VERSIONS,
            _VERSION_ERROR,
            POST=lambda call: credentials(call, _require_cluster(call), kube, "Admin"),
        ),
        route(_CLUSTER + "/agentPools", API_VERSIONS, _VERSION_ERROR, GET=list_pools),
        route(SUBSCRIPTION + r"/providers/Microsoft[.]ContainerService/locations/(?P<location>[^/]+)/kubernetesVersions",
              API_VERSIONS, _VERSION_ERROR, GET=versions.list_versions),
        route(_CLUSTER + r"/agentPools/(?P<pool>[^/]+)", API_VERSIONS, _VERSION_ERROR, GET=get_pool),
        *provider_operation_routes(NAMESPACE, API_VERSIONS),
    ]
