"""`/api/environments/{env}`: ensure, inspect or tear down a shared environment."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from control_plane.run_request import TARGETS

from .responses import json_response, problem
from .targets import target_settings

bp = df.Blueprint()
LIVE = {df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running}


def instance_id(env: str) -> str:
    return f"environment-{env}"


@bp.route(route="environments/{env}", methods=["PUT", "DELETE"])
@bp.durable_client_input(client_name="client")
async def change_environment(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    env = req.route_params["env"]
    if req.method == "PUT":
        try:
            body = req.get_json() if req.get_body() else {}
        except ValueError:
            return problem(400, "The body is not JSON")
        target = (body or {}).get("target", "local")
        if target not in TARGETS:
            return problem(400, "Unknown target", f"target {target!r} is not one of {list(TARGETS)}")
        request: dict[str, Any] = {"environment": env, "target": target, "action": "up"} | target_settings(target)
    else:
        current = await client.get_status(instance_id(env))
        if not current:
            return problem(404, "No such environment", f"there is no environment {env!r}")
        previous = json.loads(current.input_) if isinstance(current.input_, str) else current.input_
        target = (previous or {}).get("target", "local")
        request = {
            "environment": env,
            "target": target,
            "action": "down",
            "delete_rg": req.params.get("delete_rg", "").lower() == "true",
        } | target_settings(target)
    existing = await client.get_status(instance_id(env))
    if existing and existing.runtime_status in LIVE:
        return problem(409, "The environment is changing", f"environment {env!r} has an operation in progress")
    await client.start_new("environment", instance_id(env), request)
    return json_response({"environment": env, "action": request["action"]}, 202, {"Location": f"/api/environments/{env}"})


@bp.route(route="environments/{env}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_environment(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    env = req.route_params["env"]
    status = await client.get_status(instance_id(env))
    if not status:
        return problem(404, "No such environment", f"there is no environment {env!r}")
    view = status.output if isinstance(status.output, dict) else (status.custom_status or {"phase": "pending"})
    return json_response({"environment": env, "runtime_status": status.runtime_status.value} | view)
