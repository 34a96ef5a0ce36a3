"""What AKS accepts: the region's Kubernetes versions, and the rules a cluster's pools follow.

`OFFER` is a region's `listKubernetesVersions` answer as of late 2026: 1.32 and 1.33 are past
community support (LTS only, which needs the Premium tier), 1.34 and 1.35 are generally
available, 1.36 is in preview. Tests change `ArmState.kubernetes_versions` to age the offer.
Creating a cluster on a version the region does not accept is refused as AKS refuses it.
"""

import copy
from typing import Any

from tests.fakes.arm_requests import Call
from tests.fakes.arm_state import ArmError, Reply

COMMUNITY, LTS = "KubernetesOfficial", "AKSLongTermSupport"
OFFER: list[dict[str, Any]] = [
    {"version": "1.32", "capabilities": {"supportPlan": [LTS]},
     "patchVersions": {"1.32.9": {"upgrades": ["1.33.5"]}}},
    {"version": "1.33", "capabilities": {"supportPlan": [LTS]},
     "patchVersions": {"1.33.5": {"upgrades": ["1.34.3"]}}},
    {"version": "1.34", "capabilities": {"supportPlan": [COMMUNITY, LTS]},
     "patchVersions": {"1.34.2": {"upgrades": ["1.34.3", "1.35.1"]}, "1.34.3": {"upgrades": ["1.35.1"]}}},
    {"version": "1.35", "isDefault": True, "capabilities": {"supportPlan": [COMMUNITY, LTS]},
     "patchVersions": {"1.35.0": {"upgrades": ["1.35.1"]}, "1.35.1": {"upgrades": []}}},
    {"version": "1.36", "isPreview": True, "capabilities": {"supportPlan": [COMMUNITY]},
     "patchVersions": {"1.36.0": {"upgrades": []}}},
]


def list_versions(call: Call) -> Reply:
    return Reply(200, {"values": copy.deepcopy(call.state.kubernetes_versions)})


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def default_version(offer: list[dict[str, Any]]) -> str:
    """What AKS picks when a request names no version: its default minor's newest patch."""
    minor = next(m for m in offer if m.get("isDefault"))
    return max(minor["patchVersions"], key=lambda v: tuple(map(int, v.split("."))))


def check_version(offer: list[dict[str, Any]], version: str, tier: str, target: str) -> None:
    """A new cluster's version must be offered, GA or preview, under a plan its tier has."""
    for minor in offer:
        if minor["version"] != _minor(version) or (version != minor["version"] and version not in minor["patchVersions"]):
            continue
        plans = minor["capabilities"]["supportPlan"]
        if COMMUNITY in plans or (tier == "Premium" and LTS in plans):
            return
        raise ArmError(400, "K8sVersionNotSupported",
                       f"Managed cluster version {version} is past community support: it needs the Premium tier "
                       "with supportPlan AKSLongTermSupport.", target)  # fmt: skip
    accepted = [m["version"] for m in offer if COMMUNITY in m["capabilities"]["supportPlan"]]
    raise ArmError(400, "K8sVersionNotSupported",
                   f"Version {version} is not supported in this region. Supported versions: {', '.join(accepted)}. "
                   "Please use [az aks get-versions] command to get the supported version list in this region.",
                   target)  # fmt: skip


def check_pool_version(pool_version: str, cluster_version: str, name: str) -> None:
    """A pool runs the control plane's minor or one up to three minors older, never newer."""
    pool_minor, plane_minor = (tuple(map(int, _minor(v).split("."))) for v in (pool_version, cluster_version))
    if pool_minor > plane_minor or plane_minor[1] - pool_minor[1] > 3 or pool_minor[0] != plane_minor[0]:
        raise ArmError(400, "InvalidParameter",
                       f"Agent pool '{name}' orchestratorVersion {pool_version} must not be newer than the control "
                       f"plane's {cluster_version}, nor more than three minors older.",
                       "agentPoolProfile.orchestratorVersion")  # fmt: skip


def check_autoscaling(pool: dict[str, Any]) -> None:
    """The cluster autoscaler's count rules, as AKS checks them."""
    name, count = pool["name"], pool["count"]
    low, high = pool.get("minCount"), pool.get("maxCount")
    if not pool.get("enableAutoScaling"):
        if low is not None or high is not None:
            raise ArmError(400, "InvalidParameter", f"Agent pool '{name}': minCount and maxCount need "
                                                   "enableAutoScaling.", "agentPoolProfile.minCount")  # fmt: skip
        return
    if not isinstance(low, int) or not isinstance(high, int):
        raise ArmError(400, "InvalidParameter", f"Agent pool '{name}': autoscaling needs minCount and maxCount.",
                       "agentPoolProfile.minCount")  # fmt: skip
    if not 0 <= low <= high <= 1000:
        raise ArmError(400, "InvalidParameter", f"Agent pool '{name}': minCount {low} must not exceed maxCount "
                                               f"{high}, within 0 to 1000.", "agentPoolProfile.maxCount")  # fmt: skip
    if not low <= count <= high:
        raise ArmError(400, "InvalidParameter", f"Agent pool '{name}': count {count} must be between minCount "
                                               f"{low} and maxCount {high}.", "agentPoolProfile.count")  # fmt: skip
    if pool.get("mode") == "System" and low < 1:
        raise ArmError(400, "InvalidParameter", f"System pool '{name}' needs minCount of at least 1.",
                       "agentPoolProfile.minCount")  # fmt: skip
