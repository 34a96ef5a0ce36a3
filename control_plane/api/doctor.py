"""`GET /api/environments/{env}/doctor`: is the environment's cluster what ModelOps expects?

The original `infra doctor` promise: report the cluster's Kubernetes version, its
support state in the region today and the versions it can be upgraded to, and its
node pools' labels, and say what is wrong (a version AKS no longer supports, one
other than the pinned one, no pool labelled for workloads). It reads ARM directly: a doctor must work
when orchestrations do not.
"""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from control_plane.activities import azure as azure_activities
from control_plane.settings import setting
from control_plane.azure import operations, versions

from .environments import instance_id
from .responses import json_response, problem

bp = df.Blueprint()
WORKLOAD_LABEL = ("modelops.io/role", "cpu")


@bp.route(route="environments/{env}/doctor", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def environment_doctor(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    env = req.route_params["env"]
    status = await client.get_status(instance_id(env))
    output = json.loads(status.output) if status and isinstance(status.output, str) else (status.output if status else None)
    if not output or output.get("phase") != "ready":
        return problem(404, "No ready environment", f"environment {env!r} is not up; PUT /api/environments/{env} first")
    cluster = output["binding"].get("cluster")
    if not cluster or cluster["target"] != "azure":
        return json_response({"environment": env, "target": output["binding"]["target"], "healthy": True,
                              "problems": [], "note": "no Azure cluster to inspect for this target"})  # fmt: skip
    with azure_activities.clients_factory(cluster["subscription_id"]) as clients:
        found = operations.cluster_state(clients, cluster["resource_group"], cluster["cluster_name"])
        offered = operations.region_versions(clients, cluster["location"])
    support = versions.support(found.get("kubernetes_version"), offered)
    return json_response({"environment": env, "target": "azure",
                          **diagnose(found, support, setting("MODELOPS_KUBERNETES_VERSION"))})


def diagnose(found: dict[str, Any], support: dict[str, Any], pinned: str) -> dict[str, Any]:
    """Pure: the checks on a cluster's state and on its version's support (`versions.support`)."""
    problems = []
    if found["provisioning_state"] != "Succeeded":
        problems.append(f"cluster is {found['provisioning_state']}")
    version = found.get("kubernetes_version") or ""
    if version and pinned and not (version == pinned or version.startswith(pinned + ".")):
        problems.append(f"Kubernetes {version}, not the pinned {pinned}")
    if support["state"] in ("unsupported", "lts-only"):
        problems.append(f"Kubernetes {version} is past AKS community support in this region: upgrade it")
    key, value = WORKLOAD_LABEL
    if not any(pool["labels"].get(key) == value for pool in found["pools"]):
        problems.append(f"no node pool labelled {key}={value} for Dask workers")
    return {
        "kubernetes_version": version or None,
        "support": support["state"],
        "upgrades": support["upgrades"],
        "pools": found["pools"],
        "healthy": not problems,
        "problems": problems,
    }
